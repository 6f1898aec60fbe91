"""A real cluster under hostile conditions: a proxy set in the shell, a master
that hangs (SIGSTOP), an edge whose cache cannot be written; and what the
cluster leaves on disk and in ``ps``."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time

import pytest

from tests.conftest import AWKWARD_PASSWORD, clean_env, free_port, kit_cmd, run
from tests.support.cluster import stop_cluster, make_site, pids


def closed_port_proxy() -> dict[str, str]:
    """Proxy variables naming a local port where nobody listens."""
    proxy = f"http://127.0.0.1:{free_port()}"
    return {"http_proxy": proxy, "HTTP_PROXY": proxy, "https_proxy": proxy, "HTTPS_PROXY": proxy,
            "ALL_PROXY": proxy, "all_proxy": proxy}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, dists):
    """A cluster started (and used) with proxy variables pointing to a closed port."""
    root = tmp_path_factory.mktemp("hardening")
    env = clean_env(root / "home")
    for key in ("NO_PROXY", "no_proxy"):
        env.pop(key, None)
    site = make_site(root, env, dists.upstream_folder, "--set", f"admin_password={AWKWARD_PASSWORD}")
    env = dict(env, **closed_port_proxy())
    up = run(kit_cmd("up", str(site)), env=env, check=False, timeout=240)
    started = pids(site)
    try:
        yield site, env, up
    finally:
        stop_cluster(site, env, started)


def test_up_and_status_ignore_a_proxy_set_in_the_shell(cluster):
    site, env, up = cluster
    assert up.returncode == 0 and "warning" not in up.stdout, up.stdout + up.stderr
    proc = run(kit_cmd("status", str(site), "--json"), env=env)
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert all(r["healthy"] for r in rows.values()), rows
    assert rows["mirror"]["behind"] == 0  # the mirror, too, reaches the master past the proxy
    assert "already up" in run(kit_cmd("up", str(site)), env=env).stdout


def test_nothing_under_run_is_readable_by_group_or_others(cluster):
    site, _, _ = cluster
    run_dir = site / "cluster" / "run"
    exposed = [
        f"{path.relative_to(run_dir)} {stat.S_IMODE(path.lstat().st_mode):04o}"
        for path in [run_dir, *run_dir.rglob("*")]
        if not path.is_symlink() and stat.S_IMODE(path.lstat().st_mode) & 0o077
    ]
    assert (run_dir / "master" / ".sqlite").is_file()
    assert exposed == []


def test_edge_with_an_unwritable_cache_is_degraded_and_kit_check_fails(cluster):
    """A cache folder replaced by a file: unwritable for root too. The edge serves on,
    passing files through; kit status says degraded (exit 0), kit check fails naming it."""
    site, env, _ = cluster
    cache = site / "cluster" / "run" / "edge-cache"
    aside = cache.with_name("edge-cache.aside")
    cache.rename(aside)
    cache.write_text("not a folder")
    try:
        proc = run(kit_cmd("status", str(site), "--json"), env=env, check=False)
        edge = {r["name"]: r for r in json.loads(proc.stdout)}["edge"]
        assert proc.returncode == 0 and edge["running"] and edge["healthy"]
        assert "cannot store files in run/edge-cache" in edge["degraded"] and edge["detail"].startswith("degraded: ")
        text = run(kit_cmd("status", str(site)), env=env).stdout
        assert any(line.startswith("edge ") and " degraded " in line for line in text.splitlines()), text
        check = run(kit_cmd("check", str(site)), env=env, check=False)
        assert check.returncode == 1
        assert "edge caches files" in check.stdout and "cannot store files" in check.stdout
        assert "Traceback" not in check.stdout + check.stderr
    finally:
        cache.unlink()
        aside.rename(cache)
    assert run(kit_cmd("status", str(site)), env=env).returncode == 0
    assert "degraded" not in run(kit_cmd("status", str(site)), env=env).stdout


def timed(cmd: list[str], env: dict) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    proc = run(cmd, env=env, check=False, timeout=120)  # a guard against a hang, not an assertion on time
    return proc, time.monotonic() - started


def test_a_hung_master_is_named_by_up_status_and_check(cluster, capsys):
    site, env, _ = cluster
    master = pids(site)["master"]
    hung = f"master (pid {master}) accepts connections but does not answer within 2 s"
    os.kill(master, signal.SIGSTOP)
    try:
        up, up_s = timed(kit_cmd("up", str(site)), env)
        status, status_s = timed(kit_cmd("status", str(site), "--json"), env)
        check, check_s = timed(kit_cmd("check", str(site)), env)
    finally:
        os.kill(master, signal.SIGCONT)
    with capsys.disabled():
        print(f"\n[hung master] kit up {up_s:.1f} s, kit status {status_s:.1f} s, kit check {check_s:.1f} s")
    assert up.returncode == 1 and up.stderr.count("\n") == 1, up.stdout + up.stderr
    assert hung in up.stderr and f"kit logs {site} master" in up.stderr and f"kit down {site}" in up.stderr
    rows = {r["name"]: r for r in json.loads(status.stdout)}
    assert status.returncode == 1 and hung in rows["master"]["detail"]
    mirror = rows["mirror"]
    assert "in sync" not in mirror["detail"] and mirror["behind"] is None
    assert mirror["detail"].startswith("master not answering; mirror at serial ")
    assert "last heard the master at serial" in mirror["detail"]
    assert check.returncode == 1 and hung in check.stdout
    for proc in (up, status, check):
        assert "Traceback" not in proc.stdout + proc.stderr


def test_a_killed_master_never_leaves_the_mirror_in_sync(cluster):
    site, env, _ = cluster
    os.kill(pids(site)["master"], signal.SIGKILL)
    proc = run(kit_cmd("status", str(site), "--json"), env=env, check=False)
    mirror = {r["name"]: r for r in json.loads(proc.stdout)}["mirror"]
    assert mirror["healthy"] and "in sync" not in mirror["detail"] and mirror["behind"] is None
    assert mirror["detail"].startswith("master not running; mirror at serial ")
    run(kit_cmd("up", str(site)), env=env)
    proc = run(kit_cmd("status", str(site), "--json", "--wait", "20"), env=env)
    mirror = {r["name"]: r for r in json.loads(proc.stdout)}["mirror"]
    assert mirror["behind"] == 0 and mirror["detail"] == "in sync with the master"
