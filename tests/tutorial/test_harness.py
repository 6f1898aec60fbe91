"""The tutorial harness itself: a broken chapter must fail the suite."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.tutorial.harness import matches, normalise, parse_steps

ROOT = Path(__file__).resolve().parents[2]

BROKEN_CHAPTER = """\
A chapter with a broken step
============================

.. code-block:: console

   $ echo hello
   hello
   $ kit --versoin
   kit 0.1.0
   $ echo never reached
   never reached

.. code-block:: console

   $ echo later block
   later block
"""


def run_chapters(folder: Path) -> subprocess.CompletedProcess:
    (folder / "conftest.py").write_text(
        "from pathlib import Path\n"
        "from tests.tutorial.harness import tutorial_sybil\n"
        "pytest_collect_file = tutorial_sybil(str(Path(__file__).parent)).pytest()\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:anyio", "-q", "-rs", str(folder)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120,
    )


def test_a_broken_command_fails_the_suite_with_a_clear_report(tmp_path):
    (tmp_path / "chapter.rst").write_text(BROKEN_CHAPTER)
    proc = run_chapters(tmp_path)
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "1 failed" in out and "1 skipped" in out
    assert "step at line 8 exited with code 2" in out
    assert "$ kit --versoin" in out and "--- the chapter shows\nkit 0.1.0" in out
    assert "No such option: --versoin" in out
    assert "an earlier step failed (line 8)" in out  # the chapter stopped there


def test_a_working_chapter_passes(tmp_path):
    (tmp_path / "chapter.rst").write_text(BROKEN_CHAPTER.replace("--versoin", "--version"))
    proc = run_chapters(tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert "2 passed" in proc.stdout


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
