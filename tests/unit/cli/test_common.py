"""The help layout kit and its sub-apps (kit mirror, kit drill) share: each
command listed with the whole first line of its help."""

from __future__ import annotations

from kit.cli.app import app
from tests.support.cli import kit


def test_help_shows_each_command_description_whole(capsys):
    """`kit --help` cut descriptions at 45 characters ("...")."""
    code, out, _ = kit("--help", capsys=capsys)
    assert code == 0 and "..." not in out.split("Commands:")[1]
    import typer.main

    group = typer.main.get_command(app)
    flat = " ".join(out.split())
    for name, command in group.commands.items():
        first = " ".join(command.help.strip().split("\n\n")[0].split())
        assert first in flat, name
