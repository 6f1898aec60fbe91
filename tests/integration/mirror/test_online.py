"""The public mirror against the real upstream (PyPI): one small project, for real.

Marked ``online``: skipped by default, run with ``pytest -m online``.
"""

from __future__ import annotations

import pytest

from tests.conftest import clean_env, kit_cmd, run
from tests.support.mirror import mirrored

pytestmark = pytest.mark.online


def test_a_small_real_project_is_mirrored_from_pypi_and_verifies(tmp_path):
    env = clean_env(tmp_path / "home")
    site = tmp_path / "site"
    run(kit_cmd("init", str(site), "--no-input", "--set", "setups=public-mirror", "--set", "upstream=pypi",
                "--set", "mirror_projects=six"), env=env)
    estimate = run(kit_cmd("mirror", "sync", str(site), "--dry-run"), env=env).stdout
    assert "to mirror: 1 project, " in estimate
    out = run(kit_cmd("mirror", "sync", str(site)), env=env, timeout=900).stdout
    assert "synced: serial " in out
    assert mirrored(site) == {"six"}
    assert run(kit_cmd("mirror", "verify", str(site)), env=env).stdout.startswith("ok: ")
