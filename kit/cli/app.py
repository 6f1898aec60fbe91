"""The ``kit`` command line: parses, calls the library, prints.

It holds no logic of its own. Every :class:`~kit.core.errors.KitError` is
caught in :func:`main` and printed as one line (exit 2); Ctrl-C exits 130.
Heavy modules (cookiecutter, questionary, devpi) are imported inside the
commands so that ``kit --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from kit import __version__
from kit.site.answers import QUESTIONS  # stdlib only: cheap to import


class _KitGroup(TyperGroup):
    """Lists each command with its whole first line of help, never cut at 45 characters."""

    def format_commands(self, ctx, formatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, (command.help or "").strip().split("\n\n")[0].replace("\n", " ")))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


app = typer.Typer(
    name="kit",
    cls=_KitGroup,
    help="Ready-to-run configurations for a Python package mirror, private team indexes, "
    "client settings and a local master + mirror + edge cluster. Commands that work on a site "
    "find it like git finds a repository: in the current folder or one above it, unless SITE_DIR is given.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)

ANSWER_KEYS_HELP = "Answer keys: " + ", ".join(q.key for q in QUESTIONS) + " (see the reference docs)."


def _say(message: str) -> None:
    typer.echo(message)


def _warn(message: str) -> None:
    typer.echo(f"kit: warning: {message}", err=True)


def _stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _version(value: bool) -> None:
    if value:
        _say(f"kit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show kit's version."),
) -> None:
    pass


@app.command("init")
def init_command(
    # A str, not a Path: Path("") is ".", and an empty SITE_DIR must be refused, not read as here.
    site_dir: Optional[str] = typer.Argument(
        None, help="Folder of the site to create or update (default: the site you are in, else ./kit-site).",
        show_default=False,
    ),
    no_input: bool = typer.Option(False, "--no-input", help="Ask nothing: take every default (or the site's answers)."),
    answers: Optional[Path] = typer.Option(None, "--answers", metavar="FILE", help="TOML answer file, e.g. a site's kit.toml."),
    set_: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="Set one answer (repeatable). " + ANSWER_KEYS_HELP),
    yes: bool = typer.Option(False, "--yes", "-y", help="Write without the summary and its confirmation."),
    force: bool = typer.Option(False, "--force", help="Overwrite generated files even if edited by hand."),
) -> None:
    """Generate (or update) a site: server, team client settings and cluster files.

    The wizard asks each question (Enter takes the [default], ? shows help),
    then shows a summary of the answers and files and asks before writing.
    """
    from kit.core.errors import NotATerminalError
    from kit.cli.wizard import TerminalIniter, init_site, resolve_preset
    from kit.core.report import change_counts, print_changes
    from kit.site.folder import shown_path
    from kit.site.validate import path as valid_path

    site_dir = valid_path("SITE_DIR", site_dir, what="site folder") if site_dir is not None else None
    preset = resolve_preset(answers, set_)
    make_initer = None
    if not (no_input or answers is not None):
        if not _stdin_is_terminal():
            raise NotATerminalError(
                "standard input is not a terminal, so the wizard cannot ask; "
                "pass --no-input for the defaults or --answers FILE"
            )
        make_initer = TerminalIniter
    result = init_site(site_dir, preset=preset, make_initer=make_initer, force=force, confirm=not yes, warn=_warn)
    shown = shown_path(result.site_dir, site_dir)
    if result.changes is None:
        _say("nothing written")
        raise typer.Exit(1)
    if result.confirmed_interactively:
        if result.changes.changed:
            # The summary said what would be written; now say what was.
            _say(f"written to {shown}: {change_counts(result.changes)}")
    else:
        print_changes(shown, result.changes)
    if result.changes.changed:
        _say(_next_steps(result))


def _next_steps(result) -> str:
    from kit.site.folder import shown_path, site_command

    site = result.site_dir.absolute()
    readme = Path(shown_path(site), "README.md")
    if "cluster" in result.answers.setups:
        return f"Site ready. Next: {site_command(site, 'up')}   (then read {readme})"
    return f"Site ready. Next: read {readme}"


@app.command("clients")
def clients_command(
    index_url: str = typer.Option(..., "--index-url", metavar="URL", help="Simple index URL, e.g. http://host:3141/team/private/+simple/"),
    team: Optional[str] = typer.Option(None, "--team", metavar="NAME", help="Team name (default: the index's user)."),
    tool: list[str] = typer.Option(["all"], "--tool", help="pip, uv, buildout, setuptools, poetry, pdm, twine, env or all (repeatable)."),
    upload_url: Optional[str] = typer.Option(None, "--upload-url", metavar="URL", help="Upload URL for twine (default: derived from a devpi index URL)."),
    out: Optional[str] = typer.Option(None, "--out", metavar="DIR", help="Write the files, and a README on using them, into DIR."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files in DIR."),
) -> None:
    """Print (or write) client settings for any existing index, no wizard.

    With one --tool, standard output is exactly that file: kit clients --tool pip > pip.conf
    """
    from kit.site.answers import parse_tools
    from kit.site.clients import index_context, render_clients, write_clients
    from kit.core.errors import AnswerError, ClientsError, OutDirError
    from kit.core.report import plural
    from kit.site.validate import path as valid_path

    try:
        tools = parse_tools(tool, key="--tool")
    except AnswerError as exc:
        raise ClientsError(str(exc)) from None
    if out is not None:
        try:
            out = valid_path("--out", out)  # before anything is rendered: a bad DIR is said first
        except AnswerError as exc:
            raise OutDirError(str(exc)) from None
    context = index_context(index_url, team=team, tools=tools, upload_url=upload_url)
    if out is None:
        files = render_clients(context, readme=False)
        if len(files) == 1:
            sys.stdout.write(next(iter(files.values())))  # exactly the file: pipe it into place
            return
        for name, text in files.items():
            _say(f"# ---- {name} ----")
            _say(text.rstrip("\n"))
        return
    written = write_clients(render_clients(context), out, force=force)
    _say(f"wrote {plural(len(written), 'file')} to {out}: " + ", ".join(written))


SITE_ARG = typer.Argument(
    None, help="Folder of the site (default: the site you are in: this folder or one above it).", show_default=False
)


def _site_path(site_dir: str | None) -> Path | None:
    """SITE_DIR as typed: None for "the site I am in"; '' is refused, not read as '.'."""
    from kit.site.validate import path as valid_path

    return None if site_dir is None else valid_path("SITE_DIR", site_dir, folder=False, what="site folder")


@app.command("up")
def up_command(site_dir: Optional[str] = SITE_ARG) -> None:
    """Start the site's cluster (master, mirror, edge) detached; return when all answer."""
    site_dir = _site_path(site_dir)
    from kit.cluster.lifecycle import Cluster
    from kit.core.report import progress

    cluster = Cluster.load(site_dir)
    with progress("starting the cluster") as say:
        cluster.up(say=say)


@app.command("down")
def down_command(site_dir: Optional[str] = SITE_ARG) -> None:
    """Stop everything kit up started."""
    site_dir = _site_path(site_dir)
    from kit.cluster.lifecycle import Cluster
    from kit.core.report import progress

    cluster = Cluster.load(site_dir)
    with progress("stopping the cluster") as say:
        stopped = cluster.down(say=say)
    if not stopped:
        _say(f"nothing is running in {cluster.site}; nothing to stop")


@app.command("status")
def status_command(
    site_dir: Optional[str] = SITE_ARG,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    wait: float = typer.Option(0, "--wait", metavar="SECONDS", min=0, help="Wait up to SECONDS for running services to be healthy and the mirror in sync."),
) -> None:
    """Show each service: URL, pid, health, and how far the mirror is behind.

    Exit code: 0 all healthy (or degraded: serving, with a reason shown),
    1 some service down, 3 nothing running.
    """
    from kit.cluster.lifecycle import Cluster, status_json

    cluster = Cluster.load(_site_path(site_dir))
    rows = cluster.wait_ready(wait) if wait else cluster.status()
    if as_json:
        _say(status_json(rows))
    else:
        from kit.core.tables import Column, table_lines

        columns = [Column("service", 9), Column("url", 32), Column("pid", 7, right=True),
                   Column("state", 9, gap=2), Column("notes")]
        lines = table_lines(columns, ([r.name, r.url, r.pid or "-", _state(r), r.detail or r.role] for r in rows))
        _say("\n".join(lines))
        if "public-mirror" in cluster.answers.setups:
            from kit.mirror.sync import mirror_status

            _say(f"public mirror: {mirror_status(cluster.site.path).summary()}")
    if not any(r.running for r in rows):
        if not as_json:
            _say(f"nothing is running; start it with: {cluster.site.command('up')}")
        raise typer.Exit(3)
    if not all(r.healthy for r in rows):
        raise typer.Exit(1)


def _state(row) -> str:
    """A service's state as `kit status` names it."""
    return ("degraded" if row.degraded else "healthy") if row.healthy else "unhealthy" if row.running else "stopped"


@app.command("logs")
def logs_command(
    site_dir: Optional[str] = SITE_ARG,
    service: Optional[str] = typer.Argument(None, help="upstream, master, mirror or edge (default: all)."),
    lines: int = typer.Option(40, "--lines", "-n", min=1, help="How many of the last lines to show."),
) -> None:
    """Show the service logs kept under SITE_DIR/cluster/run/logs."""
    from kit.cluster.lifecycle import Cluster

    site_dir = _site_path(site_dir)
    if site_dir is not None and service is None and not site_dir.exists() and site_dir.name in _SERVICE_NAMES:
        site_dir, service = None, str(site_dir)  # `kit logs edge` inside a site
    cluster = Cluster.load(site_dir)
    names = [cluster.service(service).name] if service else [s.name for s in cluster.services()]
    for name in names:
        path = cluster.log_path(name)
        if len(names) > 1:
            _say(f"==> {name} ({path}) <==")
        if not path.is_file():
            _say(f"(no log yet: {name} has not been started)")
            continue
        text = path.read_text(errors="replace").splitlines()
        _say("\n".join(text[-lines:]))


_SERVICE_NAMES = {"upstream", "master", "mirror", "edge"}


@app.command("check")
def check_command(
    site_dir: Optional[str] = SITE_ARG,
    package: Optional[str] = typer.Option(None, "--package", metavar="NAME", help="A package every index should resolve (default: one from the upstream folder, else pip)."),
    lint_only: bool = typer.Option(False, "--lint-only", help="Only read the files; contact no server."),
    strict: bool = typer.Option(False, "--strict", help="Fail (exit 1) on a warning that lets another source's "
                                "package in: an overriding variable, a project on two teams. For CI."),
) -> None:
    """Check the site's cluster and each team's client files; print the fix for each failure.

    The cluster: each service's health (a stopped one fails, with the command
    that starts it), how many changes the mirror is behind the master, the
    origins the edge uses or skips, and the age of the static copy the edge
    serves when master and mirror are down. With nothing running, one
    finding says so (the checks that need a server are not made). Also warns
    about variables in this shell (PIP_EXTRA_INDEX_URL, UV_INDEX…) that
    would override the team's files, and about a project published by two
    teams. Exit code: 0 when every check passes (warnings included, unless
    --strict), 1 otherwise.
    """
    from kit.ops.check import check_site
    from kit.core.report import plural

    findings = check_site(_site_path(site_dir), package=package, live=not lint_only, strict=strict)
    if not findings:
        _say("this site has no team folders to check (setups without clients)")
        return
    from kit.core.tables import Column, table_lines

    columns = [Column("team", 10), Column("check", 28), Column("result", 6), Column("detail")]
    rows: list[list[str]] = []
    for f in findings:
        rows.append([f.team, f.check, f.result, f.detail])
        if not f.ok:
            rows.append(["", "", "", f"fix: {f.fix}"])
    _say("\n".join(table_lines(columns, rows)))
    failed = sum(not f.ok and not f.warning for f in findings)
    warned = sum(f.warning for f in findings)
    _say(f"{len(findings) - failed - warned} passed, {failed} failed" + (f", {plural(warned, 'warning')}" if warned else ""))
    if failed:
        raise typer.Exit(1)


@app.command("tour")
def tour_command(
    keep: Optional[Path] = typer.Option(None, "--keep", metavar="DIR", help="Keep the tour's site in DIR (must be new)."),
) -> None:
    """Watch the whole architecture work: init, up, upload, install, kill the master, install again, down."""
    from kit.ops.tour import run_tour

    run_tour(say=_say, keep=keep)


@app.command("catch-up")
def catch_up_command(
    chapter: int = typer.Argument(..., help="The tutorial chapter you want to start at (1 to 7)."),
) -> None:
    """Make what the tutorial's chapters before CHAPTER leave in your home folder, to start there."""
    from kit.ops.catchup import catch_up
    from kit.core.report import progress

    with progress(f"catching up to chapter {chapter}") as say:
        catch_up(chapter, say=say)


@app.command("sample")
def sample_command(
    folder: str = typer.Argument(..., help="Folder to write the wheel into (created if missing)."),
    name: str = typer.Option("kit-sample", "--name", help="Project name."),
    version: str = typer.Option("1.0", "--version", help="Version."),
    says: str = typer.Option("hello", "--says", help="What the module's WHO attribute says once installed."),
) -> None:
    """Write a tiny sample wheel: a package to upload or mirror, with no network and no build tool."""
    from kit.ops.sample import make_sample

    _say(str(make_sample(folder, name, version, says)))  # make_sample checks every value


@app.command("wheelhouse")
def wheelhouse_command(
    folder: str = typer.Argument(..., help="Folder to fill with wheels (created if missing; re-running adds to it)."),
    python: list[str] = typer.Option([], "--python", metavar="X.Y", help="A Python version the attendees have (repeatable; default: this one)."),
    platform: list[str] = typer.Option([], "--platform", metavar="TAG", help="A platform tag as pip spells it, e.g. macosx_11_0_arm64, manylinux2014_x86_64, win_amd64 (repeatable; default: this machine)."),
    index_url: Optional[str] = typer.Option(None, "--index-url", metavar="URL", help="Where to get the wheels (default: pip's own settings)."),
    find_links: list[Path] = typer.Option([], "--find-links", metavar="FOLDER", help="A folder of wheels to take too, e.g. kit's own wheel before it is on an index (repeatable)."),
    no_input: bool = typer.Option(False, "--no-input", help="Ask nothing: this machine's Python and platform unless given."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show every line pip prints."),
) -> None:
    """Write every wheel a room needs to install kit and the tutorial's clients with no network.

    Run it the day before, with the network; hand the folder out (USB stick,
    a share). Its README holds the one install line. Each --python and
    --platform is a kind of attendee laptop; the folder is checked to
    install offline for each before kit says it is ready.
    """
    from kit.site.validate import path as valid_path
    from kit.ops.wheelhouse import install_command, make_wheelhouse, parse_targets

    dest = valid_path("FOLDER", folder, what="wheelhouse folder")
    if index_url is not None:
        from kit.site.validate import url as valid_url

        index_url = valid_url("--index-url", index_url)
    for link in find_links:
        valid_path("--find-links", str(link), must_exist=True, what="folder of wheels")
    if not (python or platform or no_input) and _stdin_is_terminal():
        python, platform = _ask_targets()
    targets = parse_targets(python, platform)
    wheels = make_wheelhouse(dest, targets, index_url=index_url, find_links=list(find_links),
                             say=lambda line: typer.echo(line, err=True),
                             log=lambda line: _pip_progress(line, verbose))
    size = sum(w.stat().st_size for w in wheels)
    _say(f"{dest}: {len(wheels)} wheels, {size / 1e6:.0f} MB, for {', '.join(str(t) for t in targets)}")
    _say(f"attendees copy it to ~/kit-wheelhouse and run, in a fresh virtual environment: "
         f"{install_command('~/kit-wheelhouse')}  (also in {dest}/README)")


def _pip_progress(line: str, verbose: bool) -> None:
    """pip's lines on standard error: every one with --verbose, else one per project it collects."""
    if verbose or line.startswith("Collecting "):
        typer.echo(f"  pip: {line}", err=True)


def _ask_targets() -> tuple[list[str], list[str]]:
    """The wheelhouse's question: which Pythons and platforms the room has (Enter: this machine's)."""
    import questionary

    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    pythons = questionary.text(f"Python versions the attendees have, comma-separated [{here}]:").unsafe_ask()
    platforms = questionary.text(
        "Platforms besides this one, as pip tags, comma-separated (e.g. macosx_11_0_arm64, win_amd64) [none]:"
    ).unsafe_ask()
    split = lambda text: [part.strip() for part in (text or "").split(",") if part.strip()]  # noqa: E731
    return split(pythons), split(platforms)


@app.command("bench")
def bench_command(
    site_dir: Optional[str] = SITE_ARG,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    chart: Optional[str] = typer.Option(None, "--chart", metavar="PATH.svg", help="Also write the numbers as an SVG bar chart."),
    uploads: Optional[int] = typer.Option(None, "--uploads", metavar="N", min=1, help="Uploads per edge for upload→listed (default 25; 5 with --quick)."),
    quick: bool = typer.Option(False, "--quick", help="Fewer requests and uploads, 1 s of req/s per target: for tests."),
) -> None:
    """Measure the edges side by side on a running site: Python edge, Varnish edge, master, nginx.

    Latency over keep-alive, req/s on a warm page (wrk when installed), 23
    pages + 23 files, upload→listed, and installs while the master is killed
    (kit bench kills it once and brings it back). Works on a bench index,
    root/kit-bench, deleted at the end. Progress goes to standard error, the
    result alone to standard output (kit bench > bench.txt). Exit code: 0, or
    1 when a request, upload or install failed.
    """
    import json

    from kit.ops.bench import Settings, chart_svg, run_bench, table_lines
    from kit.cluster.lifecycle import Cluster
    from kit.core.report import plural, progress

    cluster = Cluster.load(_site_path(site_dir))
    chart_path = _chart_path(chart) if chart is not None else None
    # Progress on standard error, always: `kit bench > bench.txt` shows it while the file gets the table.
    with progress("benchmarking", file=sys.stderr) as say:
        result = run_bench(cluster, say=say, settings=Settings.of(quick=quick, uploads=uploads))
    if chart_path is not None:
        chart_path.write_text(chart_svg(result), encoding="utf-8")
    if as_json:
        _say(json.dumps(result.as_dict(), indent=1, ensure_ascii=False))
    else:
        _say("\n".join(table_lines(result)))
        if chart_path is not None:
            _say(f"chart: {chart_path}")
    if result.failed:
        failed = plural(result.failed, "request, upload or install", "requests, uploads or installs")
        typer.echo(f"kit: bench: {failed} failed", err=True)
        raise typer.Exit(1)


def _chart_path(chart: str) -> Path:
    """--chart checked before the run: an .svg file in a folder that exists and can be written."""
    import os

    from kit.core.errors import AnswerError
    from kit.site.validate import path as valid_path

    path = valid_path("--chart", chart, folder=False, what="chart file")
    if path.suffix.lower() != ".svg":
        raise AnswerError("--chart", f"{chart} does not end in .svg; kit bench writes an SVG chart, e.g. --chart bench.svg")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir() or not os.access(folder, os.W_OK) or path.is_dir():
        raise AnswerError("--chart", f"cannot write {chart}: {folder} is not a folder you can write to; pick another path")
    return path


mirror_app = typer.Typer(
    name="mirror", cls=_KitGroup, no_args_is_help=True, rich_markup_mode=None,
    help="The site's public mirror (the public-mirror setup): sync it with bandersnatch, verify it, show its state.",
)
app.add_typer(mirror_app)


def _mirror_site(site_dir: str | None):
    from kit.site.folder import Site

    return Site.find(_site_path(site_dir))


@mirror_app.command("sync")
def mirror_sync_command(
    site_dir: Optional[str] = SITE_ARG,
    dry_run: bool = typer.Option(False, "--dry-run", help="Resolve the projects and estimate the storage; download nothing."),
    repair: bool = typer.Option(False, "--repair", help="Sync every project again and download each missing or corrupt file, not only what changed upstream."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print errors only (for cron)."),
) -> None:
    """Sync the public mirror now: resolve the projects and their dependencies,
    check the storage, run bandersnatch, refresh the edge's static copy.

    Safe to interrupt: the pages served are always whole, and the next sync
    resumes where this one stopped. Exit code: 0 synced, 1 failed, 130 interrupted.
    """
    from kit.mirror.sync import sync_mirror
    from kit.core.report import progress

    site = _mirror_site(site_dir)
    if quiet:
        sync_mirror(site, dry_run=dry_run, repair=repair)
        return
    with progress("syncing the public mirror") as say:
        sync_mirror(site, say=say, dry_run=dry_run, repair=repair)
    if dry_run:
        _say(f"dry run: nothing downloaded; sync with: {site.command('mirror sync')}")


@mirror_app.command("verify")
def mirror_verify_command(site_dir: Optional[str] = SITE_ARG) -> None:
    """Check every mirrored file against the sha256 its page publishes; name each missing or corrupt one.

    Exit code: 0 when every file matches, 1 otherwise.
    """
    from kit.mirror.sync import human_bytes, verify_mirror
    from kit.core.report import plural, progress

    site = _mirror_site(site_dir)
    with progress("verifying the public mirror") as say:
        result = verify_mirror(site.path, say=say)
    for problem in result.problems:
        _say(problem)
    summary = f"{plural(result.files, 'file')} of {plural(result.projects, 'project')} ({human_bytes(result.bytes)})"
    if result.problems:
        _say(f"{plural(len(result.problems), 'problem')} in {summary}; "
             f"fix: {site.command('mirror sync', '--repair')} downloads what is missing or corrupt again")
        raise typer.Exit(1)
    _say(f"ok: {summary}, every sha256 matches its page")


@mirror_app.command("status")
def mirror_status_command(
    site_dir: Optional[str] = SITE_ARG,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Show the last sync (result, age, serial) and what the mirror holds."""
    import json

    from kit.mirror.sync import mirror_status

    site = _mirror_site(site_dir)
    state = mirror_status(site.path)
    if as_json:
        _say(json.dumps(state.as_dict(), indent=1))
        return
    _say(f"public mirror: {state.summary()}")
    if state.record is not None and state.record.message and state.record.result != "ok":
        _say(f"last sync: {state.record.message}")


drill_app = typer.Typer(
    name="drill", cls=_KitGroup, no_args_is_help=True, rich_markup_mode=None,
    help="Fire drills on a running site: break it on purpose while installs run, and measure.",
)
app.add_typer(drill_app)


@drill_app.command("failover")
def drill_failover_command(
    site_dir: Optional[str] = SITE_ARG,
    project: Optional[str] = typer.Option(None, "--project", metavar="NAME", help="The project to install (default: the first one the first team's index serves files of)."),
    outage: float = typer.Option(5.0, "--outage", metavar="SECONDS", min=0.1, help="How long the services stay down in each phase."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (progress goes to standard error)."),
) -> None:
    """Install in a loop through the edge while the master, then master and mirror, are killed and brought back.

    Reports failed installs, the worst and median install time, how long the
    services were down and how long the mirror took to be in sync again. The
    drill uploads nothing. Exit code: 0 no install failed, 1 some failed,
    2 the drill could not run (cluster not up, no project), 130 interrupted
    (what the drill killed is brought back first).
    """
    import json

    from kit.cluster.lifecycle import Cluster
    from kit.ops.drill import drill_failover, report_lines
    from kit.core.report import progress

    cluster = Cluster.load(_site_path(site_dir))
    with progress("drill: starting", file=sys.stderr if as_json else None) as say:
        report = drill_failover(cluster, say=say, project=project, outage=outage)
    if as_json:
        _say(json.dumps(report.as_dict(), indent=1))
    else:
        _say("\n".join(report_lines(report)))
    if not report.ok:
        raise typer.Exit(1)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; turn kit's errors, and usage errors, into one
    line and an exit code (2 for bad input; 130 for Ctrl-C)."""
    # typer carries its own copy of click; its exceptions live there.
    from typer._click import exceptions as click

    from kit.core.errors import KitError

    try:
        code = app(args=argv, prog_name="kit", standalone_mode=False)
    except KitError as exc:
        typer.echo(f"kit: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.NoArgsIsHelpError as exc:
        typer.echo(exc.format_message(), err=True)  # plain `kit`: the help, as every CLI does
        sys.exit(2)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "kit"
        typer.echo(f"kit: error: {_sentence(exc.format_message())}; see: {command} --help", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        typer.echo(f"kit: error: {_sentence(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        code = 130
    if code == 130:
        typer.echo("kit: interrupted", err=True)
    sys.exit(code or 0)


def _sentence(message: str) -> str:
    """click's "Invalid value for 'X': … ." as one lower-case clause."""
    text = " ".join(message.split()).rstrip(".")
    return text[:1].lower() + text[1:]
