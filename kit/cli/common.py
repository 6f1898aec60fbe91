"""What every command module shares: the help layout, printing, the SITE_DIR argument."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from typer.core import TyperGroup


class KitGroup(TyperGroup):
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


def say(message: str) -> None:
    typer.echo(message)


def warn(message: str) -> None:
    typer.echo(f"kit: warning: {message}", err=True)


def stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


SITE_ARG = typer.Argument(
    None, help="Folder of the site (default: the site you are in: this folder or one above it).", show_default=False
)


def site_path(site_dir: str | None) -> Path | None:
    """SITE_DIR as typed: None for "the site I am in"; '' is refused, not read as '.'."""
    from kit.site.validate import path as valid_path

    return None if site_dir is None else valid_path("SITE_DIR", site_dir, folder=False, what="site folder")
