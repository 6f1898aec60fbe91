"""The how-to guides whose steps are console sessions are run like the
tutorial's chapters: each from a fresh home folder, on a real cluster."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.tutorial.harness import chapter_blocks, run_chapter_alone

HOWTOS = [p for p in sorted((Path(__file__).resolve().parents[2] / "docs" / "howto").glob("*.rst"))
          if any(b.kind != "not-run" for b in chapter_blocks(p.read_text()))]


def test_the_operator_howtos_are_run():
    """The how-tos of the day after the tutorial carry commands the suite runs."""
    names = {p.stem for p in HOWTOS}
    assert {"promote-the-mirror", "alert-on-mirror-lag", "move-to-tls", "size-a-site",
            "migrate-from-extra-index-url", "run-the-varnish-edge", "restore-from-backup",
            "rotate-credentials", "keep-the-disk-in-check"} <= names


#: ``.. requires: PROGRAM (how to install it)``: a system program the page's steps run.
_REQUIRES = re.compile(r"^\.\. requires: (\S+)(.*)$", re.M)


def missing_program(page: Path) -> str | None:
    """Why ``page`` cannot run here (a program it requires is not installed), or None."""
    for program, how in _REQUIRES.findall(page.read_text()):
        if not (shutil.which(program) or os.access(f"/usr/sbin/{program}", os.X_OK)):
            return f"{program} is not installed{how}"
    return None


def test_the_operator_howtos_are_run_where_their_programs_are():
    """The Varnish how-to declares varnishd, so a machine without it skips it and says why."""
    page = Path(__file__).resolve().parents[2] / "docs" / "howto" / "run-the-varnish-edge.rst"
    assert _REQUIRES.search(page.read_text()).group(1) == "varnishd"


@pytest.mark.parametrize("page", HOWTOS, ids=[p.stem for p in HOWTOS])
def test_howto(page):
    reason = missing_program(page)
    if reason:
        pytest.skip(reason)
    failure = run_chapter_alone(page)
    assert failure is None, failure
