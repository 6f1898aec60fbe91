"""kit drill host-loss, really run on a site spread over hosts on this machine (each host
its own loopback address, as in the tutorial; no balancer, the teams use edge1's address):
losing edge2 or the master costs the installs nothing, the drill brings the host back,
and --cut/--restore run the operator's own commands."""

from __future__ import annotations

import json
import random
import subprocess

import pytest

from tests.conftest import BIN, PRIVATE, clean_env, interrupted_at, kit_cmd, run
from tests.support.clients import without_machine_cas
from tests.support.cluster import team_upload
from kit.core.processes import free_ports


def spread_site(root, dists, env):
    """A site of four hosts (master, mirror, edge1, edge2) on 127.X.Y.4-7, https, its team
    index read by the team alone; written, not started."""
    prefix = f"127.{random.randint(20, 250)}.{random.randint(1, 250)}"  # apart from other tests' sites
    ports = free_ports(5)
    hosts = "\n".join(f'[hosts.{name}]\naddress = "{prefix}.{n}"\nroles = ["{role}"]\n' for name, n, role in (
        ("master", 4, "master"), ("mirror", 5, "mirror"), ("edge1", 6, "edge"), ("edge2", 7, "edge")))
    answers = root / "answers.toml"
    answers.write_text(
        f'setups = ["mirror", "private", "clients", "cluster"]\nupstream = "{dists.upstream_folder}"\n'
        f'teams = ["web"]\nread_access = "team"\nhost = "{prefix}.6"\nscheme = "https"\n'
        f"master_port = {ports[0]}\nmirror_port = {ports[1]}\nedge_port = {ports[2]}\n"
        f"upstream_port = {ports[3]}\nhttp_port = {ports[4]}\n\n" + hosts)
    site = root / "site"
    run(kit_cmd("init", str(site), "--no-input", "--answers", str(answers)), env=env)
    return site


@pytest.fixture(scope="module")
def spread(tmp_path_factory, dists):
    root = tmp_path_factory.mktemp("host-loss")
    env = without_machine_cas(clean_env(root / "home"))
    site = spread_site(root, dists, env)
    try:
        run(kit_cmd("up", str(site)), env=env)
        team_upload(site, env, dists.private)
        yield site, env
    finally:
        run(kit_cmd("down", str(site)), env=env, check=False)


def healthy(site, env) -> bool:
    rows = json.loads(run(kit_cmd("status", str(site), "--json"), env=env, check=False).stdout)
    return all(r["healthy"] for r in rows) and all(r["in_sync"] for r in rows if r["name"] == "mirror")


def drill(site, env, *args: str) -> subprocess.CompletedProcess:
    return run(kit_cmd("drill", "host-loss", str(site), "--outage", "3", "--json", *args), env=env, check=False)


def test_losing_an_edge_costs_no_install(spread):
    site, env = spread
    proc = drill(site, env, "--host", "edge2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    print({k: report[k] for k in ("lost_for", "longest_unanswered", "healthy_after", "caught_up_after")},
          {loop: report[loop] for loop in ("before", "during", "after")})
    assert report["host"] == "edge2" and report["project"] == PRIVATE and report["client"] == "uv"
    assert report["how"].startswith("a process loss, not a network loss")
    assert report["ok"] is True and report["failed"] == 0
    assert report["during"]["count"] > 0 and report["after"]["count"] > 0
    assert 3 <= report["lost_for"]
    # The teams' URL is edge1's: it answered all along.
    assert report["unanswered"] == [] and report["client_url"].startswith("https://")
    assert report["healthy_after"] is not None and report["caught_up_after"] is not None
    assert "drill: stopping host edge2's services" in proc.stderr
    assert healthy(site, env)


def test_losing_the_master_costs_no_install_and_the_mirror_catches_up(spread):
    site, env = spread
    proc = drill(site, env, "--host", "master")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    print({k: report[k] for k in ("lost_for", "longest_unanswered", "healthy_after", "caught_up_after")},
          {loop: report[loop] for loop in ("before", "during", "after")})
    assert report["failed"] == 0 and report["during"]["count"] > 0 and report["unanswered"] == []
    assert report["caught_up_after"] is not None and report["caught_up_after"] >= report["healthy_after"]
    assert healthy(site, env)


def test_losing_the_host_the_teams_use_shows_how_long_their_url_did_not_answer(spread):
    """Without a balancer, the teams' URL is edge1's own address: losing edge1 loses it, and the
    report (as text) says for how long. Whether an install fails depends on the client's own
    retries (uv retries a refused connection for seconds), so the exit code follows the count."""
    site, env = spread
    proc = run(kit_cmd("drill", "host-loss", str(site), "--host", "edge1", "--outage", "2"), env=env, check=False)
    print(proc.stdout)
    lines = proc.stdout.splitlines()  # the progress, then the report
    lines = lines[next(n for n, line in enumerate(lines) if line.startswith("drill host-loss: host edge1 (")):]
    assert "installed with uv from https://" in lines[0]
    assert lines[1].startswith("  a process loss, not a network loss")
    shown = next(line for line in lines if line.startswith("client URL: did not answer for at most "))
    assert float(shown.split()[8]) > 1  # gone for most of the 2 s lost
    during = next(line.split() for line in lines if line.strip().startswith("during"))
    assert int(during[1]) > 0
    verdict = "drill failed: " if int(during[2]) else "drill passed: "
    assert lines[-1].startswith(verdict) and proc.returncode == (1 if int(during[2]) else 0), proc.stderr
    assert healthy(site, env)


def test_the_operators_cut_and_restore_commands_are_run(spread):
    """--cut/--restore: the drill runs them with sh -c (here: kit down/up of the host, as a
    script on another machine would take its link down and up) and measures the same way."""
    site, env = spread
    kit = f"{BIN / 'python'} -m kit"
    proc = drill(site, env, "--host", "edge2", "--cut", f"{kit} down {site} --host edge2",
                 "--restore", f"{kit} up {site} --host edge2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["how"] == f"cut with: {kit} down {site} --host edge2; restored with: {kit} up {site} --host edge2"
    assert report["failed"] == 0 and report["caught_up_after"] is not None
    assert f"drill: --cut: {kit} down" in proc.stderr and f"drill: --restore: {kit} up" in proc.stderr
    assert healthy(site, env)
    # A cut that fails: one line, exit 2, and the restore is run all the same.
    failed = drill(site, env, "--host", "edge2", "--cut", "echo no route >&2; exit 3", "--restore", "echo restored")
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert "kit: error: --cut exited 3: echo no route >&2; exit 3: no route;" in failed.stderr
    assert "drill: --restore: echo restored" in failed.stderr and "Traceback" not in failed.stderr


def test_ctrl_c_brings_the_host_back(spread):
    site, env = spread
    code, out = interrupted_at(kit_cmd("drill", "host-loss", str(site), "--host", "edge2", "--outage", "30"), env,
                               "stopping host edge2's services")
    assert code == 130, out
    assert "bringing host edge2 back" in out and "kit: interrupted" in out and "Traceback" not in out
    assert healthy(site, env)


def test_refusals_before_anything_runs(tmp_path, dists):
    env = without_machine_cas(clean_env(tmp_path / "home"))
    site = spread_site(tmp_path, dists, env)
    idle = run(kit_cmd("drill", "host-loss", str(site), "--host", "edge2"), env=env, check=False)
    assert idle.returncode == 2, idle.stdout + idle.stderr
    assert idle.stderr.startswith("kit: error: the site is not fully up (master/upstream not answering, ")
    assert idle.stderr.count("\n") == 1 and f"start it with: kit up {site}" in idle.stderr
    assert not list(site.glob("hosts/*/cluster/run/pids/*.pid"))  # it started nothing
    unknown = run(kit_cmd("drill", "host-loss", str(site), "--host", "lb9"), env=env, check=False)
    assert unknown.returncode == 2 and "has no host 'lb9'; pass --host with one of: edge1, edge2" in unknown.stderr
    half = run(kit_cmd("drill", "host-loss", str(site), "--host", "edge2", "--cut", "true"), env=env, check=False)
    assert half.returncode == 2 and "--cut without --restore" in half.stderr
    missing = run(kit_cmd("drill", "host-loss", str(site)), env=env, check=False)
    assert missing.returncode == 2 and "--host" in missing.stderr and "Traceback" not in missing.stderr
