"""The how-to guides whose steps are console sessions are run like the
tutorial's chapters: each from a fresh home folder, on a real cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tutorial.harness import chapter_blocks, run_chapter_alone

HOWTOS = [p for p in sorted((Path(__file__).resolve().parents[2] / "docs" / "howto").glob("*.rst"))
          if any(b.kind != "not-run" for b in chapter_blocks(p.read_text()))]


def test_the_operator_howtos_are_run():
    """The how-tos of the day after the tutorial carry commands the suite runs."""
    names = {p.stem for p in HOWTOS}
    assert {"promote-the-mirror", "alert-on-mirror-lag", "move-to-tls", "size-a-site",
            "migrate-from-extra-index-url"} <= names


@pytest.mark.parametrize("page", HOWTOS, ids=[p.stem for p in HOWTOS])
def test_howto(page):
    failure = run_chapter_alone(page)
    assert failure is None, failure
