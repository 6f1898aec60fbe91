"""What kit prints around the work: full help texts, shell completion that
bash really uses, no doubled labels."""

from __future__ import annotations

import io
import time

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


def test_service_roles_have_no_nested_parentheses(tmp_path, capsys):
    assert kit("init", str(tmp_path / "s"), "--no-input", "--set", f"upstream={tmp_path}", capsys=capsys)[0] == 0
    from kit.cluster.lifecycle import Cluster

    for service in Cluster.load(tmp_path / "s").services():
        line = f"{service.name:8} starting on {service.url} ({service.role})"
        assert line.count("(") == 1, line


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_waits_show_a_spinner_on_a_terminal_and_plain_lines_elsewhere():
    """kit up, kit down and catch-ups print each step; on a terminal a spinner
    with the latest step keeps moving while they wait."""
    from kit.core.report import progress

    screen = _Terminal()
    with progress("starting the cluster", file=screen) as say:
        say("master   healthy after 1.2 s")
        time.sleep(0.3)  # long enough for the spinner to draw
    out = screen.getvalue()
    assert "master   healthy after 1.2 s" in out
    assert "\x1b[" in out and "⠋" in out  # the spinner, drawn with terminal control sequences
    plain = io.StringIO()
    with progress("starting the cluster", file=plain) as say:
        say("master   healthy after 1.2 s")
    assert plain.getvalue() == "master   healthy after 1.2 s\n"


def test_counts_are_worded_for_one_and_for_many():
    """kit status said "1 hits", "1 stale", "1 integrity failures" and "1 projects"."""
    from kit.cluster.lifecycle import edge_summary
    from kit.cluster.devpi import sync_state
    from kit.site.render import SiteChanges
    from kit.core.report import print_changes

    copy = {"age": 3, "serial": 7, "projects": 1, "files": 1, "errors": 1, "last_error": "timeout"}
    health = {"hits": 1, "misses": 1, "stale": 1, "passes": 1, "integrity_failures": 1, "static_copy": copy}
    assert edge_summary(health) == ("1 hit, 1 miss, 1 stale answer, 1 pass, 1 integrity failure; static copy: "
                                    "refreshed 3 s ago (serial 7, 1 project, 1 file), last refresh: 1 error (timeout)")
    many = {"hits": 2, "misses": 0, "stale": 3, "passes": 2, "integrity_failures": 0}
    assert edge_summary(many) == "2 hits, 0 misses, 3 stale answers, 2 passes, 0 integrity failures"
    varnish = {"edge": "varnish", "hits": 1, "misses": 2, "stale": 0, "passes": 1, "origins": {"master": True}}
    assert edge_summary(varnish) == "1 hit, 2 misses, 0 stale answers, 1 pass; origins: master up"
    assert sync_state({"serial": 6}, {"serial": 7}).detail == "1 change behind the master (serial 6 of 7)"
    out = io.StringIO()
    print_changes("room", SiteChanges(created=["a"], updated=["b", "c"], removed=[], unchanged=["d"]), file=out)
    assert out.getvalue().splitlines()[0] == "created 1 file, updated 2 files:"
    out = io.StringIO()
    print_changes("room", SiteChanges(created=["a"], updated=[], removed=[], unchanged=[]), planned=True, file=out)
    assert out.getvalue().splitlines()[0] == "will create 1 file:"
