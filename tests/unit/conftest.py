"""The unit layer starts no process: a test here that spawns one (itself or
through a fixture) fails, naming what it ran, and belongs in tests/integration/."""

from __future__ import annotations

import subprocess

import pytest


def _refuse(self, args, *rest, **options):
    shown = args if isinstance(args, str) else " ".join(map(str, args))
    raise AssertionError(f"a unit test started a process ({shown[:200]}): move the test to tests/integration/")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "_execute_child", _refuse)
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "_execute_child", _refuse)
        return (yield)
