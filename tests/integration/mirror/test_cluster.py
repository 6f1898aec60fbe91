"""The public mirror in a running cluster: served by the edge at /mirror/simple/
to real pip and uv, used as devpi's upstream (the offline classroom), and
every sync refreshing the edge's static copy of the team indexes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kit.ops.sample import make_wheel
from tests.conftest import BIN, clean_env, kit_cmd, run
from tests.support.cluster import make_site, pids, stop_cluster
from tests.support.mirror import make_upstream, mirrored


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """A site whose devpi mirrors its own public mirror, synced once, then started."""
    root = tmp_path_factory.mktemp("classroom")
    env = clean_env(root / "home")
    site = make_site(root, env, make_upstream(root / "wheels"),
                     "--set", "setups=private,clients,cluster,public-mirror",
                     "--set", "mirror_projects=kmt-app", "--set", "devpi_upstream=public-mirror")
    sync = run(kit_cmd("mirror", "sync", str(site)), env=env).stdout
    run(kit_cmd("up", str(site)), env=env)
    started = pids(site)
    try:
        yield site, env, sync
    finally:
        stop_cluster(site, env, started)


def edge(site: Path) -> str:
    return f"http://127.0.0.1:{json.loads((site / 'cluster' / 'edge.json').read_text())['port']}"


def test_the_synced_mirror_is_served_by_the_edge_to_pip_and_uv(classroom, tmp_path):
    site, _env, sync = classroom
    assert mirrored(site) == {"kmt-app", "kmt-lib"}
    env = clean_env(tmp_path / "home")
    index = f"{edge(site)}/mirror/simple/"
    run([BIN / "python", "-m", "pip", "install", "--target", tmp_path / "pip", "--index-url", index, "kmt-app"], env=env)
    assert sorted(p.name for p in (tmp_path / "pip").iterdir() if not p.name.endswith("-info")) == ["kmt_app", "kmt_lib"]
    run([BIN / "uv", "pip", "install", "--target", tmp_path / "uv", "--index-url", index, "kmt-app"],
        env={**env, "UV_CACHE_DIR": str(tmp_path / "uv-cache")})
    assert (tmp_path / "uv" / "kmt_lib" / "__init__.py").read_text().startswith("WHO = 'lib-1.1'")


def test_devpi_reads_the_public_mirror_not_the_upstream(classroom, tmp_path):
    """devpi_upstream = public-mirror: root/pypi (and so every team index) offers what the public
    mirror holds, and nothing else, although the upstream folder has more."""
    site, _env, _sync = classroom
    env = clean_env(tmp_path / "home", PIP_CONFIG_FILE=str(site / "teams" / "web" / "pip.conf"))
    run([BIN / "python", "-m", "pip", "install", "--target", tmp_path / "t", "kmt-app"], env=env)
    assert (tmp_path / "t" / "kmt_lib").is_dir()
    proc = run([BIN / "python", "-m", "pip", "install", "--target", tmp_path / "t2", "kmt-other"], env=env, check=False)
    assert proc.returncode != 0 and "No matching distribution found for kmt-other" in proc.stderr
    assert (site.parent / "wheels" / "kmt_other-1.0-py3-none-any.whl").is_file()  # the upstream has it


def test_kit_status_shows_the_public_mirror(classroom):
    site, env, _sync = classroom
    out = run(kit_cmd("status", str(site)), env=env).stdout
    assert "public mirror: synced " in out and "2 projects, 3 files" in out


def test_every_sync_refreshes_the_static_copy_of_the_team_indexes(classroom, tmp_path):
    site, env, sync = classroom
    assert "static copy: not refreshed (the cluster is not running" in sync  # the first sync ran before kit up
    wheel = make_wheel(tmp_path, "kmt-team", "1.0", marker="team")
    run([BIN / "twine", "upload", "--config-file", site / "teams" / "web" / ".pypirc", "-r", "web",
         "--disable-progress-bar", wheel], env=clean_env(tmp_path / "home"))
    out = run(kit_cmd("mirror", "sync", str(site)), env=env).stdout
    assert out.splitlines()[-1].startswith("static copy: serial ")
    copied = site / "cluster" / "run" / "static-copy" / "web" / "private" / "+simple" / "kmt-team"
    assert b"kmt_team-1.0-py3-none-any.whl" in (copied / "index.html").read_bytes()
