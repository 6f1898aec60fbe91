"""Fixtures of the public mirror's integration tests shared by more than one module."""

from __future__ import annotations

import pytest

from tests.conftest import clean_env
from tests.support.mirror import init_site, kit, make_upstream


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """A site mirroring kmt-app from a folder upstream, synced once."""
    root = tmp_path_factory.mktemp("mirror")
    env = clean_env(root / "home")
    site = init_site(root, env, make_upstream(root / "wheels"), "mirror_projects=kmt-app")
    out = kit("mirror", "sync", str(site), env=env).stdout
    return site, env, out
