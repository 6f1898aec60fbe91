"""Runs the chapters of this tutorial as tests (see tests/tutorial/harness.py)."""

from pathlib import Path

from tests.tutorial.harness import COUNTS, tutorial_sybil

pytest_collect_file = tutorial_sybil(str(Path(__file__).parent)).pytest()


def pytest_terminal_summary(terminalreporter):
    if COUNTS["chapters"]:
        terminalreporter.write_line(
            f"tutorial: {COUNTS['commands']} console commands executed in {COUNTS['chapters']} chapters "
            f"({COUNTS['not_run']} shown but not run, each marked with a not-run note)"
        )
