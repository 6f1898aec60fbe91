"""``kit check`` on sites the tutorial makes, on broken files, with a shell
whose variables would override the team's files, and on a real cluster with
services killed: findings naming the real cause and its fix, never a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kit.ops.check import OVERRIDING_VARIABLES, environment_findings
from tests.conftest import clean_env, kit_cmd, run
from tests.support.cluster import running_site


def test_every_index_variable_of_every_client_is_known():
    assert environment_findings({}) == []
    for name in OVERRIDING_VARIABLES:
        (finding,) = environment_findings({name: "x"})
        assert finding.warning and name in finding.detail
    assert environment_findings({"PIP_CONFIG_FILE": "/x/pip.conf", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}) == []


# -- a second index, however it got there ------------------------------------


# -- the cluster, really run ---------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, dists):
    """A site with master, mirror, edge and a local upstream running: (site, env).
    A test that kills a service brings it back with ``kit up`` before it ends."""
    root = tmp_path_factory.mktemp("check-cluster")
    env = clean_env(root / "home")
    with running_site(root, env, dists.upstream_folder) as (site, _):
        yield site, env


def check(site: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    proc = run(kit_cmd("check", str(site), *args), env=env, check=False)
    assert "Traceback" not in proc.stdout + proc.stderr and proc.stderr == "", proc.stdout + proc.stderr
    return proc


