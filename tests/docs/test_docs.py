"""The documentation site builds with warnings as errors, offline, and its
reference pages are generated from kit itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kit.answers import QUESTIONS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(ROOT / "docs"), str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_cli_reference_lists_every_command(built):
    page = (built / "reference" / "cli.html").read_text()
    for command in ("init", "clients", "up", "down", "status", "logs", "check", "tour", "sample"):
        assert f'<span class="pre">kit</span> <span class="pre">{command}</span></code><a class="headerlink"' in page, command


def test_answers_reference_lists_every_key(built):
    page = (built / "reference" / "answers.html").read_text()
    for question in QUESTIONS:
        assert question.key in page


def test_tutorial_chapters_are_included_not_copied(built):
    for chapter in sorted((ROOT / "tutorial").glob("0*.rst")):
        source = (ROOT / "docs" / "tutorial" / chapter.name).read_text()
        assert source.strip() == f".. include:: ../../tutorial/{chapter.name}"
        title = chapter.read_text().splitlines()[0]
        assert title.split(":")[0] in (built / "tutorial" / chapter.with_suffix(".html").name).read_text()
    # hidden and not-run markers are comments: nothing of them reaches the page
    assert "not-run" not in (built / "tutorial" / "00-before-the-day.html").read_text()


def test_explanation_and_howtos_are_there(built):
    for page in ("explanation/history", "explanation/architecture", "howto/migrate-from-extra-index-url",
                 "howto/add-a-team", "howto/rotate-credentials", "howto/move-to-tls", "howto/restore-from-backup"):
        assert (built / f"{page}.html").is_file(), page
