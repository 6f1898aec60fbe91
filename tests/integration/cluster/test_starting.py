"""How kit up starts a cluster (kit.cluster.starting), really run: a busy port
named with who holds it before anything starts, devpi's first start keeping the
admin password off every command line, and a master whose admin password is no
longer kit.toml's explained."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tests.conftest import AWKWARD_PASSWORD, clean_env, kit_cmd, run
from tests.support.cluster import make_site, pids


def test_busy_port_is_named_and_nothing_starts(idle_site):
    site, env = idle_site
    port = int((site / "kit.toml").read_text().split("edge_port = ")[1].split("\n")[0])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        proc = run(kit_cmd("up", str(site)), env=env, check=False)
    assert proc.returncode == 1
    assert f"port {port} (edge) is busy" in proc.stderr and proc.stderr.count("\n") == 1
    assert f"(pid {os.getpid()}) listens there" in proc.stderr  # who holds it, not just "busy"
    assert pids(site) == {}


def test_busy_port_held_by_another_kit_site_names_that_site(idle_site, tmp_path):
    """A classroom laptop often still runs yesterday's site: say which, and how to stop it."""
    site, env = idle_site
    other = tmp_path / "yesterday"
    run(kit_cmd("init", str(other), "--no-input", "--set", "setups=mirror,cluster"), env=env)
    port = int((site / "kit.toml").read_text().split("master_port = ")[1].split("\n")[0])
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import socket,time; s=socket.socket(); s.bind(('127.0.0.1',{port})); s.listen(); "
         "print('ready', flush=True); time.sleep(60)"],
        cwd=other / "cluster", stdout=subprocess.PIPE, text=True,  # where kit up runs a site's services
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        proc = run(kit_cmd("up", str(site)), env=env, check=False)
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert f"port {port} (master) is busy: python (pid {holder.pid}) listens there, started by the kit site" in proc.stderr
    assert f"stop that cluster with: kit down {other}" in proc.stderr


def test_changed_admin_password_is_explained(idle_site):
    site, env = idle_site
    run(kit_cmd("up", str(site)), env=env)
    try:
        run(kit_cmd("down", str(site)), env=env)
        run(kit_cmd("init", str(site), "--no-input", "--set", "admin_password=a-new-passw0rd"), env=env)
        proc = run(kit_cmd("up", str(site)), env=env, check=False)
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1
        assert "admin password in kit.toml is not the master's" in proc.stderr and "devpi-passwd" in proc.stderr
        assert pids(site) == {}  # what it started, it stopped
    finally:
        run(kit_cmd("down", str(site)), env=env, check=False)


def test_the_admin_password_is_never_on_a_command_line(tmp_path, dists, monkeypatch):
    """Every process kit up starts, recorded; then a login with the password works."""
    from kit.cluster import supervisor
    from kit.cluster.lifecycle import Cluster
    from kit.cluster.devpi import DevpiAPI

    env = clean_env(tmp_path / "home")
    site = make_site(tmp_path, env, dists.upstream_folder, "--set", f"admin_password={AWKWARD_PASSWORD}")
    argvs: list[list[str]] = []
    real_popen = subprocess.Popen

    def recording_popen(argv, *args, **kwargs):
        argvs.append([str(a) for a in argv])
        return real_popen(argv, *args, **kwargs)

    monkeypatch.setattr(supervisor.subprocess, "Popen", recording_popen)
    cluster = Cluster.load(site)
    try:
        cluster.up(say=lambda line: None)
        api = DevpiAPI(cluster.service("master").url)
        api.login("root", AWKWARD_PASSWORD)
    finally:
        cluster.down(say=lambda line: None)
    assert any("devpi-init" in " ".join(a) for a in argvs) and len(argvs) >= 5
    assert [a for a in argvs if any(AWKWARD_PASSWORD in word or "passw" in word for word in a)] == []
    for name in ("master", "mirror"):
        assert AWKWARD_PASSWORD not in cluster.log_path(name).read_text()
