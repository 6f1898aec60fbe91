"""The tutorial harness itself: a broken chapter must fail the suite, a
reader's shell keeps its state, and catch-ups run only for a chapter alone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.tutorial.harness import PrivateNetwork, Shell, chapter_blocks, matches, normalise, parse_steps, reader_env, run_chapter_alone

ROOT = Path(__file__).resolve().parents[2]

BROKEN_CHAPTER = """\
A chapter with a broken step
============================

.. code-block:: console

   $ echo hello
   hello
   $ python3 -c "import sys; print('oops'); sys.exit(2)"
   fine
   $ echo never reached
   never reached

.. code-block:: console

   $ echo later block
   later block
"""

SECOND_CHAPTER = """\
A second chapter
================

.. catch-up:

.. code-block:: console

   $ echo catching up > caught-up

.. code-block:: console

   $ ls caught-up 2>/dev/null || echo "no catch-up in one sitting"
   no catch-up in one sitting
   $ echo "$FROM_FIRST in $(basename $PWD)"
   kept in there
"""

FIRST_CHAPTER = """\
A first chapter
===============

.. code-block:: console

   $ mkdir there
   $ cd there
   $ export FROM_FIRST=kept
"""


def run_chapters(folder: Path) -> subprocess.CompletedProcess:
    (folder / "conftest.py").write_text(
        "from pathlib import Path\n"
        "from tests.tutorial.harness import end_sitting, tutorial_sybil\n"
        "pytest_collect_file = tutorial_sybil(str(Path(__file__).parent)).pytest()\n"
        "def pytest_sessionfinish(session):\n"
        "    end_sitting()\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:anyio", "-p", "no:randomly", "-q", "-rs", str(folder)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300,
    )


def test_a_broken_command_fails_the_suite_with_a_clear_report(tmp_path):
    (tmp_path / "00-broken.rst").write_text(BROKEN_CHAPTER)
    proc = run_chapters(tmp_path)
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "1 failed" in out and "1 skipped" in out
    assert "step at line 8 exited with code 2" in out
    assert "--- the chapter shows\nfine\n--- it printed\noops" in out
    assert "one sitting stops there" in out  # the reading stopped there


def test_chapters_in_one_sitting_share_one_shell_and_skip_catch_ups(tmp_path):
    (tmp_path / "01-first.rst").write_text(FIRST_CHAPTER)
    (tmp_path / "02-second.rst").write_text(SECOND_CHAPTER)
    proc = run_chapters(tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert "2 passed" in proc.stdout


def test_a_chapter_alone_runs_its_catch_up(tmp_path):
    chapter = tmp_path / "02-second.rst"
    chapter.write_text(SECOND_CHAPTER.replace("no catch-up in one sitting\n   $ echo", "caught-up\n   $ echo")
                       .replace("kept in there", "...in you"))
    assert run_chapter_alone(chapter) is None
    broken = tmp_path / "00-broken.rst"
    broken.write_text(BROKEN_CHAPTER)
    assert "step at line 8 exited with code 2" in run_chapter_alone(broken)


def test_the_shell_keeps_folder_variables_and_sourced_scripts(tmp_path):
    home = tmp_path / "you"
    home.mkdir()
    shell = Shell(home, reader_env(home, kit_on_path=False))
    (home / "activate").write_text("export VIRTUAL_ENV=$HOME/venv\nexport PATH=$VIRTUAL_ENV/bin:$PATH\n")
    assert shell.run("mkdir -p a/b && cd a/b")[0] == 0
    assert shell.run("export ANSWER=42; source ~/activate")[0] == 0
    code, out = shell.run('echo "$PWD $ANSWER $VIRTUAL_ENV"; echo ${PATH%%:*}')
    assert out.split("\n")[:2] == [f"{home}/a/b 42 {home}/venv", f"{home}/venv/bin"]
    assert shell.run("unset ANSWER; false")[0] == 1  # the exit code is the command's
    assert shell.run('echo "[$ANSWER]"')[1] == "[]\n"


def test_one_sitting_has_nothing_of_the_test_environment_on_path(tmp_path):
    env = reader_env(tmp_path, kit_on_path=False)
    assert str(Path(sys.executable).parent) not in env["PATH"].split(os.pathsep)
    assert not any(k.startswith(("PIP_CONFIG", "VIRTUAL_ENV", "UV_")) for k in env)


def test_blocks_know_how_they_are_run():
    text = SECOND_CHAPTER + "\n.. not-run: needs the LAN\n\n.. code-block:: console\n\n   $ kit up room\n"
    assert [b.kind for b in chapter_blocks(text)] == ["catch-up", "shown", "not-run"]


def test_parse_steps_with_continuations_and_heredocs():
    body = textwrap.indent("$ echo a \\\n  b\na b\n$ cat <<'EOF'\nx\nEOF\nx\n", "   ")
    steps = parse_steps(body, 10)
    assert [s.command for s in steps] == ["echo a \\\n  b", "cat <<'EOF'\nx\nEOF"]
    assert [s.expected for s in steps] == ["a b", "x"]
    assert [s.line for s in steps] == [10, 13]


def test_matching_with_ellipsis_and_normalisation():
    assert matches("start\n...\nend", "start\nanything\nat all\nend")
    assert matches("took ... to finish", "took a while to finish")
    assert not matches("hello", "goodbye")
    assert not matches("a\nb", "a\nb\nc")
    home = "/tmp/x/you"
    assert normalise(f"in {home}/site after 1.25 s, pid 4242, sha {'ab' * 16}  ", home) == "in ~/site after N s, pid N, sha HASH"


def test_blocks_in_a_numbered_list_are_run_too():
    """A how-to's steps sit in a list, indented: they once were silently skipped."""
    text = "1. Stop it:\n\n   .. code-block:: console\n\n      $ echo one\n      one\n\n2. Next\n"
    (block,) = chapter_blocks(text)
    assert block.kind == "shown" and [(s.command, s.expected) for s in block.steps] == [("echo one", "one")]


@pytest.mark.skipif(not PrivateNetwork.possible(), reason="a network namespace needs root with unshare and nsenter")
def test_a_reader_has_the_chapters_ports_even_when_the_machine_holds_them(tmp_path):
    """Another kit listening on 3141 on this machine: the reader's own network still
    has 127.0.0.1:3141 free, and cannot reach the machine's listener."""
    import socket

    held = socket.socket()
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        held.bind(("127.0.0.1", 3141))
    except OSError:
        held.close()
        held = None  # something on the machine holds it already: the point stands
    else:
        held.listen()
    network = PrivateNetwork()
    try:
        shell = Shell(tmp_path, reader_env(tmp_path, kit_on_path=True), network.prefix)
        bind = ("import socket; s = socket.socket(); s.bind(('127.0.0.1', 3141)); s.listen(); "
                "c = socket.create_connection(('127.0.0.1', 3141), timeout=2); print('bound and answered')")
        assert shell.run(f'python -c "{bind}"') == (0, "bound and answered\n")
        probe = "import socket; socket.create_connection(('127.0.0.1', 3141), timeout=2)"
        code, out = Shell(tmp_path, reader_env(tmp_path, kit_on_path=True), network.prefix).run(
            f'python -c "{probe}" 2>&1 | tail -1')
        assert "Connection refused" in out  # the machine's listener is not the reader's
    finally:
        network.close()
        if held:
            held.close()
