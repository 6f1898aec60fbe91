"""The local cluster, really run: kit up, uploads and installs through the edge,
the mirror catching up, the master killed, kit down leaving nothing behind.

The tests share one cluster and pass in any order: a test that needs the team's
upload asks for it (``private_uploaded``), and a test that stops a service
brings it back before it ends."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import AWKWARD_PASSWORD, BIN, clean_env, free_port, kit_cmd, run
from tests.support.cluster import alive, pids, running_site, status, team_upload


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, dists):
    root = tmp_path_factory.mktemp("cluster")
    env = clean_env(root / "home")
    with running_site(root, env, dists.upstream_folder, "--set", f"admin_password={AWKWARD_PASSWORD}") as (site, out):
        # what the mirror logged while kit up started it, before any test restarts the master
        shutil.copy(site / "cluster" / "run" / "logs" / "mirror.log", root / "mirror-at-first-up.log")
        yield site, env, out


@pytest.fixture(scope="module")
def private_uploaded(cluster, dists):
    """The team's kitdemo-private 1.0 on web/private, uploaded through the edge with the generated .pypirc."""
    site, env, _ = cluster
    team_upload(site, env, dists.private)
    return cluster


def test_up_starts_every_service_healthy(cluster):
    site, env, out = cluster
    assert "cluster up in" in out
    # --wait: another test's upload may have the mirror one change behind for a moment
    rows = {r["name"]: r for r in json.loads(run(kit_cmd("status", str(site), "--json", "--wait", "20"), env=env).stdout)}
    assert set(rows) == {"upstream", "master", "mirror", "edge"}
    assert all(r["healthy"] for r in rows.values()), rows
    assert rows["mirror"]["detail"] == "in sync with the master" and rows["mirror"]["behind"] == 0
    assert all(isinstance(r["pid"], int) for r in rows.values())
    # The mirror started once the master answered: a devpi replica whose first fetch is
    # refused waits 5 s before the next, and kit up waited with it (one run in four or so).
    assert "failed fetching" not in (site.parent / "mirror-at-first-up.log").read_text()


def master_serial(site: Path, env: dict) -> int:
    """The master's serial: how many changes devpi has committed (root/pypi read once first:
    devpi commits once, of its own, when it first reads a mirror index's project names)."""
    master = next(r for r in status(site, env) if r["name"] == "master")["url"]
    answers = []
    for path in ("/root/pypi", "/+status"):
        request = urllib.request.Request(master + path, headers={"Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            answers.append(json.loads(answer.read()))
    return answers[-1]["result"]["serial"]


def test_status_shows_the_edge_s_static_copy_of_the_team_index(cluster):
    """The edge copies web/private when it starts (and every 60 s): kit status gives its age."""
    site, env, _ = cluster
    deadline = time.monotonic() + 30
    while True:
        detail = {r["name"]: r for r in status(site, env)}["edge"]["detail"]
        if "static copy: refreshed" in detail or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "static copy: refreshed" in detail and " s ago (serial " in detail and "errors" not in detail, detail
    copy = site / "cluster" / "run" / "static-copy"
    assert json.loads((copy / "web" / "private" / "+simple" / "index.v1_json").read_bytes())["meta"]
    assert json.loads((copy / "STATUS.json").read_text())["source"] == json.loads(
        (site / "cluster" / "edge.json").read_text())["mirrors"][0]  # read off the mirror, not the master


def test_up_twice_says_already_up(cluster):
    site, env, _ = cluster
    before = pids(site)
    proc = run(kit_cmd("up", str(site)), env=env)
    assert "already up" in proc.stdout
    assert pids(site) == before


def test_mirror_catches_up_with_the_master(private_uploaded, dists):
    site, env, _ = private_uploaded
    proc = run(kit_cmd("status", str(site), "--json", "--wait", "20"), env=env)
    mirror = {r["name"]: r for r in json.loads(proc.stdout)}["mirror"]
    assert mirror["behind"] == 0 and mirror["detail"] == "in sync with the master"
    # and the replica serves the team's upload itself: the upstream has a file of
    # the same name with other bytes, so only the digest tells them apart
    mirror_url = mirror["url"]
    team_digest = hashlib.sha256(dists.private.read_bytes()).hexdigest()
    upstream_digest = hashlib.sha256((dists.upstream_folder / dists.private.name).read_bytes()).hexdigest()
    assert team_digest != upstream_digest
    with urllib.request.urlopen(f"{mirror_url}/web/private/+simple/kitdemo-private/") as response:
        page = response.read().decode()
    assert f"kitdemo_private-1.0-py3-none-any.whl#sha256={team_digest}" in page
    assert upstream_digest not in page


def test_check_passes_on_a_running_cluster(cluster):
    site, env, _ = cluster
    proc = run(kit_cmd("check", str(site)), env=env)
    assert "0 failed" in proc.stdout
    for check in ("one index only", "no credentials in configs", "secrets not world-readable",
                  "TLS beyond loopback", "index answers", "package resolves", "upload accepted"):
        assert check in proc.stdout
    assert "kitdemo-private" in proc.stdout  # the first project of the upstream folder


def test_master_killed_then_kit_up_brings_it_back_committing_nothing(private_uploaded, tmp_path):
    """What clients see meanwhile (installs, the 503 on upload) is the edge contract
    (tests/integration/edge/test_contract.py); here: the cluster's own story."""
    site, env, _ = private_uploaded
    serial = master_serial(site, env)
    os.kill(pids(site)["master"], signal.SIGKILL)
    rows = {r["name"]: r for r in status(site, env)}
    assert not rows["master"]["running"] and rows["edge"]["healthy"] and rows["mirror"]["healthy"]
    # kit up brings the master back, and the stale pid file is noticed
    up = run(kit_cmd("up", str(site)), env=env)
    assert "master" in up.stdout and "healthy" in up.stdout
    assert all(r["healthy"] for r in status(site, env))
    # With the answers unchanged, bringing the master back commits nothing (it once set every
    # team's password again): the mirror, which retries a lost master only every 5 s, has
    # nothing to catch up on, and kit up need not wait for it.
    assert master_serial(site, env) == serial
    from kit.ops.sample import make_wheel

    team_upload(site, env, make_wheel(tmp_path / "dist", "kitdemo-after-master-back", "1.0", marker="team"))


def test_logs_show_each_service(cluster):
    site, env, _ = cluster
    out = run(kit_cmd("logs", str(site)), env=env).stdout
    for name in ("upstream", "master", "mirror", "edge"):
        assert f"==> {name}" in out
    assert "kit edge on 127.0.0.1:" in run(kit_cmd("logs", str(site), "edge"), env=env).stdout
    bad = run(kit_cmd("logs", str(site), "nginx"), env=env, check=False)
    assert bad.returncode == 1 and "unknown service 'nginx'" in bad.stderr


def test_up_on_a_running_cluster_applies_a_new_team(cluster):
    site, env, _ = cluster
    run(kit_cmd("init", str(site), "--no-input", "--set", "teams=web,data"), env=env)
    proc = run(kit_cmd("up", str(site)), env=env)
    assert "already up" in proc.stdout and "indexes match kit.toml" in proc.stdout
    check = run(kit_cmd("check", str(site)), env=env)
    assert "data       upload accepted              pass" in check.stdout


def test_down_stops_everything_and_leaves_no_process(cluster):
    site, env, _ = cluster
    running = pids(site)
    assert set(running) == {"upstream", "master", "mirror", "edge"}
    try:
        # From a folder inside the site, as from inside a git repository: no SITE_DIR needed.
        proc = run(kit_cmd("down"), env=env, cwd=site / "teams" / "web")
        for name in running:
            assert f"{name:8} stopped" in proc.stdout
        assert not [pid for pid in running.values() if alive(pid)]
        assert pids(site) == {}
        assert run(kit_cmd("status", str(site)), env=env, check=False).returncode == 3
    finally:
        run(kit_cmd("up", str(site)), env=env)  # the cluster back for the tests that run after this one


@pytest.mark.online
def test_default_upstream_mirrors_pypi_through_the_edge(tmp_path):
    """Online: the default upstream (devpi's built-in PyPI mirror) through the cluster."""
    env = clean_env(tmp_path / "home")
    site = tmp_path / "site"
    m, r, e = free_port(), free_port(), free_port()
    run(kit_cmd("init", str(site), "--no-input", "--set", f"master_port={m}", "--set", f"mirror_port={r}",
                "--set", f"edge_port={e}"), env=env)
    run(kit_cmd("up", str(site)), env=env)
    try:
        pip_env = dict(env, PIP_CONFIG_FILE=str(site / "teams" / "team" / "pip.conf"))
        run([BIN / "python", "-m", "pip", "download", "--no-deps", "-d", tmp_path / "dl", "six"], env=pip_env)
        assert list((tmp_path / "dl").glob("six-*"))
    finally:
        run(kit_cmd("down", str(site)), env=env)


# -- bad input ---------------------------------------------------------------


def test_up_on_a_folder_that_is_not_a_site(tmp_path):
    env = clean_env(tmp_path / "home")
    proc = run(kit_cmd("up", str(tmp_path)), env=env, check=False)
    assert proc.returncode == 2 and "is not a kit site" in proc.stderr and proc.stderr.count("\n") == 1


def test_up_on_a_site_without_cluster(tmp_path):
    env = clean_env(tmp_path / "home")
    run(kit_cmd("init", str(tmp_path / "s"), "--no-input", "--set", "setups=private,clients"), env=env)
    proc = run(kit_cmd("up", str(tmp_path / "s")), env=env, check=False)
    assert proc.returncode == 2 and "has no cluster" in proc.stderr and "setups=private,clients,cluster" in proc.stderr


def test_down_and_status_when_nothing_runs(idle_site):
    site, env = idle_site
    down = run(kit_cmd("down", str(site)), env=env, check=False)
    assert down.returncode == 0 and "nothing to stop" in down.stdout
    st = run(kit_cmd("status", str(site)), env=env, check=False)
    assert st.returncode == 3 and "nothing is running" in st.stdout


@pytest.mark.parametrize("where, shown", [("teams/web", "../.."), (".", "."), ("..", "site")])
def test_down_names_the_site_it_found_as_typed_from_here(idle_site, where, shown):
    """From teams/ops, kit down once said "nothing is running in ." of a site two folders up."""
    site, env = idle_site
    down = run(kit_cmd("down"), env=env, cwd=site / where) if where != ".." else \
        run(kit_cmd("down", "site"), env=env, cwd=site.parent)
    assert down.stdout == f"nothing is running in {shown}; nothing to stop\n"


def test_logs_before_the_first_start(idle_site):
    site, env = idle_site
    proc = run(kit_cmd("logs", str(site), "master"), env=env)
    assert "(no log yet: master has not been started)" in proc.stdout


# -- kit check -----------------------------------------------------------------


def test_check_finds_unsafe_settings_and_a_stopped_cluster(idle_site):
    site, env = idle_site
    team = site / "teams" / "web"
    pip_conf = team / "pip.conf"
    pip_conf.write_text(pip_conf.read_text().replace("extra-index-url =", "extra-index-url = http://evil.example.test/simple/"))
    buildout = team / "buildout.cfg"
    buildout.write_text(buildout.read_text().replace("index = http://", "index = http://web:secret@"))
    (team / ".pypirc").chmod(0o644)
    uv = team / "uv.toml"
    uv.write_text(uv.read_text().replace("http://127.0.0.1", "http://pkgs.lan.test"))
    proc = run(kit_cmd("check", str(site)), env=env, check=False)
    out = proc.stdout
    assert proc.returncode == 1
    assert "pip.conf [global] sets extra-index-url" in out
    assert "buildout.cfg holds a password" in out
    assert ".pypirc is mode 0644" in out and "chmod 600" in out
    assert "uv.toml uses plain http to pkgs.lan.test" in out
    assert f"fix: start the cluster: kit up {site}" in out
    assert "Traceback" not in out + proc.stderr


def test_check_lint_only_contacts_no_server(idle_site):
    site, env = idle_site
    proc = run(kit_cmd("check", str(site), "--lint-only"), env=env)
    assert "5 passed, 0 failed" in proc.stdout and "index answers" not in proc.stdout


def test_check_on_a_folder_that_is_not_a_site(tmp_path):
    env = clean_env(tmp_path / "home")
    proc = run(kit_cmd("check", str(tmp_path)), env=env, check=False)
    assert proc.returncode == 2 and "is not a kit site" in proc.stderr
