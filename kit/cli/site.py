"""The commands that make a site's files, or files for any index: init, clients, sample."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

# Imported as _say: several commands name progress's reporter say.
from kit.cli.common import say as _say, stdin_is_terminal, warn
from kit.site.answers import QUESTIONS  # stdlib only: cheap to import

ANSWER_KEYS_HELP = "Answer keys: " + ", ".join(q.key for q in QUESTIONS) + " (see the reference docs)."


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
        if not stdin_is_terminal():
            raise NotATerminalError(
                "standard input is not a terminal, so the wizard cannot ask; "
                "pass --no-input for the defaults or --answers FILE"
            )
        make_initer = TerminalIniter
    result = init_site(site_dir, preset=preset, make_initer=make_initer, force=force, confirm=not yes, warn=warn)
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
    import ipaddress

    from kit.site.folder import shown_path, site_command

    site = result.site_dir.absolute()
    readme = Path(shown_path(site), "README.md")
    answers = result.answers
    if answers.is_multi_host and not all(ipaddress.ip_address(h.address).is_loopback for h in answers.hosts):
        bundle = Path(shown_path(site), "hosts", "NAME", "README.md")
        return (f"Site ready. Next: copy each host's bundle to its machine and start it there, as {bundle} "
                f"says; then {site_command(site, 'status')}")
    if "cluster" in answers.setups:
        return f"Site ready. Next: {site_command(site, 'up')}   (then read {readme})"
    return f"Site ready. Next: read {readme}"


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


def sample_command(
    folder: str = typer.Argument(..., help="Folder to write the wheel into (created if missing)."),
    name: str = typer.Option("kit-sample", "--name", help="Project name."),
    version: str = typer.Option("1.0", "--version", help="Version."),
    says: str = typer.Option("hello", "--says", help="What the module's WHO attribute says once installed."),
) -> None:
    """Write a tiny sample wheel: a package to upload or mirror, with no network and no build tool."""
    from kit.ops.sample import make_sample

    _say(str(make_sample(folder, name, version, says)))  # make_sample checks every value
