"""Each chapter read alone: a fresh home folder, the chapter's one-command
catch-up, then every step (chapter 0 is where a reading starts anyway)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tutorial.harness import run_chapter_alone

CHAPTERS = sorted((Path(__file__).resolve().parents[2] / "tutorial").glob("0[1-9]-*.rst"))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_alone(chapter):
    failure = run_chapter_alone(chapter)
    assert failure is None, failure
