"""The everyday commands load no more than they use: kit --help, kit status
and kit down never import the edge's server stack (aiohttp takes 0.1-0.9 s
to import, more than the rest of these commands)."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import clean_env, run
from tests.support.cluster import make_site

SERVER_STACK = ("aiohttp", "yarl", "multidict")


@pytest.fixture(scope="module")
def site(tmp_path_factory, dists):
    root = tmp_path_factory.mktemp("imports")
    return make_site(root, clean_env(root / "home"), dists.upstream_folder)


@pytest.mark.parametrize("command", [["--help"], ["status"], ["down"], ["check", "--lint-only"]],
                         ids=["help", "status", "down", "check-lint-only"])
def test_the_everyday_commands_import_no_server_stack(site, tmp_path, command):
    argv = [*command, str(site)] if command != ["--help"] else command
    proc = run([sys.executable, "-X", "importtime", "-m", "kit", *argv], env=clean_env(tmp_path / "home"),
               check=False)
    assert proc.returncode in (0, 1, 3), proc.stderr[-2000:]  # nothing running: status says so (3)
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "kit.cli" in imported  # the log is read (else no import would pass too)
    loaded = sorted(name for name in imported if name.split(".")[0] in SERVER_STACK)
    assert loaded == [], f"kit {' '.join(command)} imported {loaded[:5]}"
