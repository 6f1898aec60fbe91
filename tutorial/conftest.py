"""Runs the chapters of this tutorial in one sitting, as tests (see tests/tutorial/harness.py)."""

from pathlib import Path

import pytest

from tests.tutorial.harness import COUNTS, end_sitting, tutorial_sybil

pytest_collect_file = tutorial_sybil(str(Path(__file__).parent)).pytest()


@pytest.hookimpl(trylast=True)  # after pytest-randomly has shuffled the rest
def pytest_collection_modifyitems(items):
    """One sitting reads the chapters in order, last, whatever order the rest runs in."""
    here = Path(__file__).parent
    chapters = [item for item in items if here in Path(str(item.path)).parents]
    if chapters:
        others = [item for item in items if here not in Path(str(item.path)).parents]
        chapters.sort(key=lambda item: (Path(str(item.path)).name, item.reportinfo()[1] or 0))
        items[:] = others + chapters


@pytest.hookimpl(tryfirst=True)  # before the terminal summary that reports the time
def pytest_sessionfinish(session):
    end_sitting()


def pytest_terminal_summary(terminalreporter):
    if COUNTS["chapters"]:
        terminalreporter.write_line(
            f"tutorial in one sitting: {COUNTS['commands']} console commands in {COUNTS['chapters']} chapters, "
            f"{COUNTS['seconds']:.0f} s in one home folder ({COUNTS['not_run']} shown but not run, each with a "
            f"not-run note; {COUNTS['catch_up']} catch-up commands, run when a chapter is read alone)"
        )
