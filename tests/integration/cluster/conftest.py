"""Fixtures of the cluster's integration tests shared by more than one module."""

from __future__ import annotations

import pytest

from tests.conftest import clean_env
from tests.support.cluster import make_site


@pytest.fixture
def idle_site(tmp_path, dists):
    env = clean_env(tmp_path / "home")
    return make_site(tmp_path, env, dists.upstream_folder), env
