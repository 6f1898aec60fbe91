"""The ``kit`` command line: parses, calls the library, prints.

This module holds the typer app and :func:`main`; the commands live in
kit.cli.site, kit.cli.cluster, kit.cli.mirror, kit.cli.ops and kit.cli.backup, and are
registered here. It holds no logic of its own. Every :class:`~kit.core.errors.KitError` is
caught in :func:`main` and printed as one line (exit 2); Ctrl-C exits 130.
Heavy modules (cookiecutter, questionary, devpi) are imported inside the
commands so that ``kit --help`` stays fast.
"""

from __future__ import annotations

import sys

import typer

from kit import __version__
from kit.cli import backup, cluster, mirror, ops, site, tokens
from kit.cli.common import KitGroup, say

app = typer.Typer(
    name="kit",
    cls=KitGroup,
    help="Ready-to-run configurations for a Python package mirror, private team indexes, "
    "client settings and a local master + mirror + edge cluster. Commands that work on a site "
    "find it like git finds a repository: in the current folder or one above it, unless SITE_DIR is given.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        say(f"kit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show kit's version."),
) -> None:
    pass


# Registered here, in the order `kit --help` lists them.
app.command("init")(site.init_command)
app.command("clients")(site.clients_command)
app.command("up")(cluster.up_command)
app.command("down")(cluster.down_command)
app.command("status")(cluster.status_command)
app.command("logs")(cluster.logs_command)
app.command("check")(ops.check_command)
app.command("prune")(ops.prune_command)
app.command("backup")(backup.backup_command)
app.command("restore")(backup.restore_command)
app.command("tour")(ops.tour_command)
app.command("catch-up")(ops.catch_up_command)
app.command("sample")(site.sample_command)
app.command("wheelhouse")(ops.wheelhouse_command)
app.command("bench")(ops.bench_command)
app.add_typer(mirror.mirror_app)
app.add_typer(ops.drill_app)
app.add_typer(tokens.token_app)


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
