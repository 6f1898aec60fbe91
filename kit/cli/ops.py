"""The commands that exercise or prepare a site, a room or a tutorial:
check, tour, catch-up, wheelhouse, bench and the drill sub-app."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

# Imported as _say: several commands name progress's reporter say.
from kit.cli.common import SITE_ARG, KitGroup, say as _say, site_path, stdin_is_terminal


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

    findings = check_site(site_path(site_dir), package=package, live=not lint_only, strict=strict)
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


def prune_command(
    site_dir: Optional[str] = SITE_ARG,
    older_than: Optional[float] = typer.Option(None, "--older-than", metavar="DAYS", min=0,
                                               help="Remove the projects of root/pypi nobody read for DAYS days."),
    max_size: Optional[str] = typer.Option(None, "--max-size", metavar="SIZE", help="Then remove the least recently "
                                           "read until root/pypi's files take at most SIZE (like 20G)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would go and how many bytes; remove nothing."),
) -> None:
    """Remove files of devpi's mirror of PyPI (root/pypi) that nobody read lately.

    Whole projects go, through devpi's API (the mirror follows); their next
    read fetches them from PyPI again. When each file was last read comes
    from the edge's record (devpi records no reads). Team indexes are never
    touched. The last line says how many files and bytes were freed.
    """
    from kit.core.errors import AnswerError
    from kit.ops.prune import prune
    from kit.site.answers import parse_size, size_in_bytes
    from kit.site.folder import Site

    if older_than is None and max_size is None:
        raise typer.BadParameter("give --older-than DAYS, --max-size SIZE or both", param_hint="--older-than")
    try:
        size = size_in_bytes(parse_size(max_size, key="--max-size")) if max_size is not None else None
    except AnswerError as exc:
        raise typer.BadParameter(str(exc).removeprefix("--max-size: "), param_hint="--max-size") from None
    prune(Site.find(site_path(site_dir)), older_than=older_than, max_size=size, dry_run=dry_run, say=_say)


def tour_command(
    keep: Optional[Path] = typer.Option(None, "--keep", metavar="DIR", help="Keep the tour's site in DIR (must be new)."),
) -> None:
    """Watch the whole architecture work: init, up, upload, install, kill the master, install again, down."""
    from kit.ops.tour import run_tour

    run_tour(say=_say, keep=keep)


def catch_up_command(
    chapter: int = typer.Argument(..., help="The tutorial chapter you want to start at (1 to 9)."),
) -> None:
    """Make what the tutorial's chapters before CHAPTER leave in your home folder, to start there."""
    from kit.ops.catchup import catch_up
    from kit.core.report import progress

    with progress(f"catching up to chapter {chapter}") as say:
        catch_up(chapter, say=say)


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
    if not (python or platform or no_input) and stdin_is_terminal():
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


def bench_command(
    site_dir: Optional[str] = SITE_ARG,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    chart: Optional[str] = typer.Option(None, "--chart", metavar="PATH.svg", help="Also write the numbers as an SVG bar chart."),
    uploads: Optional[int] = typer.Option(None, "--uploads", metavar="N", min=1, help="Uploads per edge for upload→listed (default 25; 5 with --quick)."),
    quick: bool = typer.Option(False, "--quick", help="Fewer requests and uploads, 1 s of req/s per target, 1 install per real resolver: for tests."),
    runs: Optional[int] = typer.Option(None, "--runs", metavar="N", min=0, help="Measured installs and resolves (dry runs) per real resolver (uv, pip) and target, the medians shown (default 5; 1 with --quick; 0: none)."),
    resolver_set: Optional[str] = typer.Option(None, "--resolver-set", metavar="FILE", help="Requirements the real resolvers install, one a line (default: flask, requests, pytest, rich, python-dateutil and their dependencies)."),
) -> None:
    """Measure the edges side by side on a running site: Python edge, Varnish edge, master, nginx.

    Latency over keep-alive, req/s on a warm page (wrk when installed), 23
    pages + 23 files, real resolvers (uv and pip, --no-cache, with the first
    team's settings) installing real wheels with their dependencies through
    each target, upload→listed, and installs while the master is killed
    (kit bench kills it once and brings it back). Works on a bench index,
    root/kit-bench, deleted at the end. Progress goes to standard error, the
    result alone to standard output (kit bench > bench.txt). Exit code: 0, or
    1 when a request, upload or install failed.
    """
    import json

    from kit.ops.bench import Settings, chart_svg, run_bench, table_lines
    from kit.cluster.lifecycle import Cluster
    from kit.core.report import plural, progress

    from kit.ops.bench.resolvers import read_set

    cluster = Cluster.load(site_path(site_dir))
    chart_path = _chart_path(chart) if chart is not None else None
    requirements = read_set(resolver_set) if resolver_set is not None else None
    settings = Settings.of(quick=quick, uploads=uploads, runs=runs, resolver_set=requirements)
    # Progress on standard error, always: `kit bench > bench.txt` shows it while the file gets the table.
    with progress("benchmarking", file=sys.stderr) as say:
        result = run_bench(cluster, say=say, settings=settings)
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


drill_app = typer.Typer(
    name="drill", cls=KitGroup, no_args_is_help=True, rich_markup_mode=None,
    help="Fire drills on a running site: break it on purpose while installs run, and measure.",
)


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
    from kit.cluster.lifecycle import Cluster
    from kit.ops.drill import drill_failover, report_lines
    from kit.core.report import progress

    cluster = Cluster.load(site_path(site_dir))
    with progress("drill: starting", file=sys.stderr if as_json else None) as say:
        report = drill_failover(cluster, say=say, project=project, outage=outage)
    _drill_report(report, report_lines, as_json)


def _drill_report(report, report_lines, as_json: bool) -> None:
    """A drill's report, as text or JSON; exit 1 when an install failed."""
    import json

    _say(json.dumps(report.as_dict(), indent=1) if as_json else "\n".join(report_lines(report)))
    if not report.ok:
        raise typer.Exit(1)


@drill_app.command("host-loss")
def drill_host_loss_command(
    site_dir: Optional[str] = SITE_ARG,
    host: str = typer.Option(..., "--host", metavar="NAME", help="The host to lose (a name from the site's hosts table)."),
    outage: float = typer.Option(5.0, "--outage", metavar="SECONDS", min=0.1, help="How long the host stays lost."),
    cut: Optional[str] = typer.Option(None, "--cut", metavar="CMD", help="A shell command that takes the host's network away, e.g. 'ssh lb1 sudo ip link set eth0 down' (with --restore; required when the hosts are other machines)."),
    restore: Optional[str] = typer.Option(None, "--restore", metavar="CMD", help="The shell command that brings it back."),
    project: Optional[str] = typer.Option(None, "--project", metavar="NAME", help="The project to install (default: the first one the first team's index serves files of)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (progress goes to standard error)."),
) -> None:
    """Install in a loop through the site's client URL while one host of a site spread over hosts is lost, then brought back.

    With --cut and --restore, the drill runs those commands (each within
    60 s) to take the host's network away and back: a network loss. Without
    them, on a site whose hosts are all on this machine, the host's services
    are stopped and started again: a process loss. Reports failed installs,
    the worst and median install time, the longest time the client URL did
    not answer (how long the floating address took to move, when the host
    is the balancer holding it), and how long after the restore every host
    was healthy and the mirror in sync. The drill uploads nothing. Exit
    code: 0 no install failed, 1 some failed, 2 the drill could not run,
    130 interrupted (the host is brought back first).
    """
    from kit.core.report import progress
    from kit.ops.host_loss import drill_host_loss, report_lines
    from kit.site.folder import Site

    site = Site.find(site_path(site_dir))
    with progress("drill: starting", file=sys.stderr if as_json else None) as say:
        report = drill_host_loss(site, host, say=say, project=project, outage=outage, cut=cut, restore=restore)
    _drill_report(report, report_lines, as_json)
