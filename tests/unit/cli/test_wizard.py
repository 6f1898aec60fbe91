"""The interactive wizard, driven by keystrokes through prompt_toolkit's pipe input.

typer's CliRunner cannot drive questionary; a pipe input can, through the same
``kit`` entry point a user runs.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import tomllib

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.data_structures import Size
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.input.typeahead import get_typeahead
from prompt_toolkit.output.vt100 import Vt100_Output

from kit.cli import app as cli
from kit.cli import site as cli_site
from kit.site.answers import QUESTIONS
from kit.cli.wizard import IniterBase

ENTER = "\r"
CTRL_C = "\x03"
DOWN = "\x1b[B"


def drive(keys: list[str], args: list[str], monkeypatch, capsys, stdout: list | None = None) -> tuple[int, str, str]:
    """Run ``kit`` with ``keys`` typed at its prompts; return exit code, screen, stderr
    (and append standard output to ``stdout`` when given).

    Each chunk is typed after a pause, as a person would, so the screen is
    redrawn in between (and shows the reason a reply was refused).
    """
    monkeypatch.setattr(cli_site, "stdin_is_terminal", lambda: True)
    screen = io.StringIO()
    output = Vt100_Output(screen, lambda: Size(rows=50, columns=200), term="xterm")
    with create_pipe_input() as pipe:

        def typist():
            for chunk in keys:
                time.sleep(0.15)
                pipe.send_text(chunk)
            # A wizard that asks more than the test typed must fail, not hang.
            time.sleep(8)
            for _ in range(20):
                if done.is_set():
                    return
                pipe.send_text(CTRL_C)
                time.sleep(0.5)

        done = threading.Event()
        thread = threading.Thread(target=typist, daemon=True)
        thread.start()
        try:
            with create_app_session(input=pipe, output=output):
                with pytest.raises(SystemExit) as exit_info:
                    cli.main(args)
        finally:
            done.set()
            # Keys a wizard did not read would be typed into the next test's wizard.
            assert get_typeahead(pipe) == [], "the test typed more keys than the wizard read"
    out, err = capsys.readouterr()
    if stdout is not None:
        stdout.append(out)
    # Keep the words, drop the terminal's control sequences.
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    return exit_info.value.code, text, err


def test_wizard_reasks_a_bad_answer_and_writes_the_site(tmp_path, monkeypatch, capsys):
    keys = [
        ENTER,  # setups: the defaults (all four)
        ENTER,  # upstream: pypi
        "Web Team" + ENTER,  # refused: not a valid team name
        "web,data" + ENTER,  # teams, asked again on an empty line
        ENTER,  # private_projects: none
        ENTER,  # read_access: team
        ENTER,  # host
        ENTER,  # scheme
        "99999" + ENTER,  # refused: out of range
        "4141" + ENTER,  # master_port
        ENTER, ENTER, ENTER,  # mirror_port, edge_port, edge (python)
        ENTER,  # clients: all
        ENTER,  # admin password: empty = random
        ENTER,  # hosts: none, all on this machine
        ENTER,  # edge_cache_size: 10G
        ENTER,  # web: no
        ENTER,  # the summary: write these files? yes
    ]
    site = tmp_path / "site"
    out = []
    code, screen, err = drive(keys, ["init", str(site)], monkeypatch, capsys, out)
    assert code == 0, err
    assert "teams: invalid team name 'Web Team'" in err and "(try 'web-team')" in err
    assert "master_port: port 99999 is out of range" in err
    answers = tomllib.loads((site / "kit.toml").read_text())
    assert answers["teams"] == ["web", "data"]
    assert answers["master_port"] == 4141
    assert answers["read_access"] == "team"  # a new site is private for reading
    assert len(answers["admin_password"]) >= 16
    assert (site / "teams" / "data" / "pip.conf").is_file()
    # The summary said what it would write; once written, kit says what it wrote.
    assert re.search(r"^will create \d+ files:$", err, re.M)
    written = len(json.loads((site / ".kit-manifest.json").read_text())["files"])
    assert re.search(rf"^written to .*site: created {written} files$", out[0], re.M), out[0]


def test_typing_replaces_the_default_which_is_shown_in_brackets(tmp_path, monkeypatch, capsys):
    # Once, typing "web,data" at the teams prompt gave "teamweb,data": the
    # default was pre-filled text that typing appended to.
    keys = [ENTER, ENTER, "web,data" + ENTER] + [ENTER] * 14
    site = tmp_path / "site"
    code, screen, err = drive(keys, ["init", str(site)], monkeypatch, capsys)
    assert code == 0, err
    assert tomllib.loads((site / "kit.toml").read_text())["teams"] == ["web", "data"]
    assert "[team]" in screen and "[127.0.0.1]" in screen and "[3141]" in screen and "[random]" in screen


def test_a_refused_reply_is_asked_again_on_an_empty_line(tmp_path, monkeypatch, capsys):
    """A refused reply once stayed in the line: typing the fix after it gave ~/wheelz~/wheels."""
    (tmp_path / "home" / "wheels").mkdir(parents=True)
    keys = [
        ENTER,  # setups
        "~/wheelz" + ENTER,  # refused: no such folder
        "~/wheels" + ENTER,  # typed as a person would, without clearing anything first
    ] + [ENTER] * 16
    site = tmp_path / "site"
    code, screen, err = drive(keys, ["init", str(site)], monkeypatch, capsys)
    assert code == 0, err
    assert "upstream:" in err and "does not exist" in err
    assert tomllib.loads((site / "kit.toml").read_text())["upstream"] == str(tmp_path / "home" / "wheels")
    assert "~/wheelz~/wheels" not in screen


def test_question_mark_shows_the_help_of_a_checkbox_too(tmp_path, monkeypatch, capsys):
    """``?`` did nothing on the setups and clients checkboxes: they swallowed every key but their own."""
    keys = [
        "?",  # setups: its help, no Enter needed (a checkbox takes one key at a time)
        ENTER,  # setups, asked again: the defaults
    ] + [ENTER] * 10 + [
        "?",  # clients
        ENTER,  # clients, asked again: all
        ENTER,  # admin password
        ENTER,  # hosts
        ENTER,  # edge_cache_size
        ENTER,  # web
        ENTER,  # write
    ]
    site = tmp_path / "site"
    code, screen, err = drive(keys, ["init", str(site)], monkeypatch, capsys)
    assert code == 0, err
    for key in ("setups", "clients"):
        help_text = next(q.help for q in QUESTIONS if q.key == key)
        assert f"{key}: {help_text}" in err
    assert "? shows help" in screen
    answers = tomllib.loads((site / "kit.toml").read_text())
    assert answers["setups"] == ["mirror", "private", "clients", "cluster"] and len(answers["clients"]) == 8


def test_question_mark_shows_the_help_and_asks_again(tmp_path, monkeypatch, capsys):
    keys = [ENTER, "?" + ENTER, ENTER] + [ENTER] * 15
    code, _, err = drive(keys, ["init", str(tmp_path / "site")], monkeypatch, capsys)
    assert code == 0, err
    help_text = next(q.help for q in QUESTIONS if q.key == "upstream")
    assert f"upstream: {help_text}" in err
    assert "type ? for help" in err


def test_summary_lists_answers_and_files_and_no_writes_nothing(tmp_path, monkeypatch, capsys):
    keys = [ENTER, ENTER, "web" + ENTER] + [ENTER] * 13 + ["n"]
    site = tmp_path / "site"
    code, _, err = drive(keys, ["init", str(site)], monkeypatch, capsys)
    assert code == 1
    assert "Your answers:" in err and "teams" in err and "web" in err
    # Nothing is written yet, and the summary says so; it once said "created 38 files:".
    assert re.search(r"^will create \d+ files:$", err, re.M) and "created" not in err
    assert re.search(r"admin_password +\(hidden\)", err)
    assert "teams/" in err and "pip.conf" in err and "kit.toml" in err  # the files, as a tree
    assert not site.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["home"]  # no staging folder left


def test_yes_skips_the_summary(tmp_path, monkeypatch, capsys):
    keys = [ENTER] * 16  # the questions only: no confirmation is asked
    site = tmp_path / "site"
    code, _, err = drive(keys, ["init", str(site), "--yes"], monkeypatch, capsys)
    assert code == 0, err
    assert "Your answers:" not in err and (site / "kit.toml").is_file()


def test_a_bare_existing_folder_is_an_upstream_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "wheels").mkdir()
    monkeypatch.chdir(tmp_path)
    keys = [ENTER, "wheels" + ENTER] + [ENTER] * 16
    code, _, err = drive(keys, ["init", "site"], monkeypatch, capsys)
    assert code == 0, err
    assert tomllib.loads((tmp_path / "site" / "kit.toml").read_text())["upstream"] == str(tmp_path / "wheels")


def test_checkbox_labels_say_each_thing_once(tmp_path, monkeypatch, capsys):
    keys = [ENTER] * 11 + [CTRL_C]  # to the clients checkbox, then stop
    code, screen, _ = drive(keys, ["init", str(tmp_path / "site")], monkeypatch, capsys)
    assert code == 130
    assert "pip: pip.conf" in screen and "pip: pip (pip.conf)" not in screen
    assert "mirror: root/pypi, a caching mirror of the upstream index" in screen
    assert "mirror: public mirror" not in screen


def test_wizard_checkbox_can_deselect(tmp_path, monkeypatch, capsys):
    # Move down to "cluster" (4th) and untick it: the ports of mirror and edge are not asked.
    keys = [
        DOWN * 3 + " " + ENTER,  # setups without cluster
        ENTER, ENTER, ENTER, ENTER,  # upstream, teams, private_projects, read_access
        ENTER, ENTER, ENTER,  # host, scheme, master_port
        ENTER,  # clients
        "secret-passw0rd" + ENTER,
        ENTER,  # web (asked with the private setup too)
        ENTER,  # write
    ]
    site = tmp_path / "site"
    code, _, err = drive(keys, ["init", str(site)], monkeypatch, capsys)
    assert code == 0, err
    answers = tomllib.loads((site / "kit.toml").read_text())
    assert answers["setups"] == ["mirror", "private", "clients"]
    assert answers["admin_password"] == "secret-passw0rd"


def test_ctrl_c_exits_130_and_writes_nothing(tmp_path, monkeypatch, capsys):
    site = tmp_path / "site"
    code, _, err = drive([ENTER, ENTER, CTRL_C], ["init", str(site)], monkeypatch, capsys)
    assert code == 130
    assert "interrupted" in err and err.strip().splitlines()[-1] == "kit: interrupted"
    assert not site.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["home"]


def test_set_options_are_not_asked(tmp_path, monkeypatch, capsys):
    keys = [ENTER] * 16  # one fewer question: teams is given; then the confirmation
    site = tmp_path / "site"
    code, screen, err = drive(keys, ["init", str(site), "--set", "teams=ops"], monkeypatch, capsys)
    assert code == 0, err
    assert "Teams" not in screen
    assert tomllib.loads((site / "kit.toml").read_text())["teams"] == ["ops"]


class ScriptedIniter(IniterBase):
    """The wizard's logic with replies from a list: no terminal at all."""

    def __init__(self, replies, **kwargs):
        super().__init__(**kwargs)
        self.replies = dict(replies)
        self.errors = []
        self.asked = []

    def ask(self, question, default, answers):
        self.asked.append(question.key)
        assert len(self.asked) < 50, "the wizard keeps asking"
        queue = self.replies.get(question.key, [""])
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def show_error(self, error):
        self.errors.append(str(error))


def test_initer_logic_without_terminal():
    initer = ScriptedIniter(
        {"teams": ["web,web", "web"], "master_port": ["70000", "5000"], "setups": [["private", "clients", "cluster"]]},
        base={"admin_password": "kept-from-site"},
    )
    answers = initer.run()
    assert answers.teams == ("web",)
    assert answers.master_port == 5000
    assert answers.admin_password == "kept-from-site"
    assert initer.errors == [
        "teams: team 'web' is listed twice; list each team once",
        "master_port: port 70000 is out of range; use a number from 1 to 65535",
    ]
    assert initer.asked.count("teams") == 2
    assert [q.key for q in QUESTIONS if q.key in initer.asked] == [k for k in dict.fromkeys(initer.asked)]
    assert answers.edge_port == 3143


def test_initer_asks_again_when_a_default_clashes():
    initer = ScriptedIniter({"master_port": ["3143"], "edge_port": ["", "3150"]})
    answers = initer.run()
    assert answers.master_port == 3143 and answers.edge_port == 3150
    assert initer.errors == ["edge_port: port 3143 is already used by master_port; give each service its own port"]


def test_initer_reasks_hostile_replies():
    """The wizard checks a reply with the same validators as --set: a URL with
    a newline, a password with a control character, a host with an IPv6 zone
    and a file given as the upstream folder are each refused and asked again."""
    initer = ScriptedIniter({
        "upstream": ["http://h/simple/\n[install]", "/etc/passwd", "http://h/$(id)/", "pypi"],
        "host": ["fe80::1%$(x)", "127.0.0.1"],
        "admin_password": ["abcdefgh\x01", "good-password"],
    })
    answers = initer.run()
    assert answers.upstream == "pypi" and answers.host == "127.0.0.1" and answers.admin_password == "good-password"
    assert [e.split(":")[0] for e in initer.errors] == ["upstream"] * 3 + ["host", "admin_password"]
    assert "control character U+000A" in initer.errors[0]
    assert "is a file, not a folder" in initer.errors[1]
    assert "contains '$'" in initer.errors[2]
    assert "\x01" not in initer.errors[4]  # a password is never echoed, even in part
