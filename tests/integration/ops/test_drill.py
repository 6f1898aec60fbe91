"""kit drill failover, really run: installs through a real edge while the drill
kills the real master, then master and mirror, and kit up brings them back."""

from __future__ import annotations

import json
import subprocess

import pytest

from kit.ops.drill import installs_while
from kit.core.processes import system_program
from tests.conftest import PRIVATE, clean_env, interrupted_at, kit_cmd, run
from tests.support.cluster import front_url, make_site, pids, running_site, status, team_upload
from tests.support.cluster import varnish_edge


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, dists):
    """A running cluster whose team index web/private holds the team's own kitdemo-private,
    readable by the team alone (a new site's default): the drill must read as the team."""
    root = tmp_path_factory.mktemp("drill")
    env = clean_env(root / "home")
    with running_site(root, env, dists.upstream_folder, "--set", "read_access=team") as (site, _):
        team_upload(site, env, dists.private)
        yield site, env


def test_the_team_index_is_private_and_the_drill_reads_it_as_the_team(cluster):
    """Without credentials the edge refuses the page the drill installs from; the drill's
    own reads (which project, then the installs) are the team's."""
    from kit.cluster.lifecycle import Cluster
    from kit.core import http
    from kit.ops.drill import choose_project

    site, _ = cluster
    assert http.get(f"{front_url(site)}/web/private/+simple/{PRIVATE}/", timeout=10).status == 401
    assert choose_project(Cluster.load(site)) == PRIVATE
    installs = installs_while(site, PRIVATE, 0.3)
    assert installs.count >= 1 and installs.failed == 0, installs.errors


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.stderr.startswith("kit: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc.stderr


def test_installs_while_counts_real_installs_and_failures(cluster):
    site, _ = cluster
    good = installs_while(site, PRIVATE, 0.5)
    assert good.count >= 1 and good.failed == 0 and good.errors == []
    assert 0 < good.median <= good.worst
    bad = installs_while(site, "kitdemo-nowhere", 0.2)
    assert bad.count >= 1 and bad.failed == bad.count
    assert "exited" in bad.errors[0] and "kitdemo-nowhere" in bad.errors[0]


def test_unknown_project_is_one_line_and_kills_nothing(cluster):
    site, env = cluster
    before = pids(site)
    proc = run(kit_cmd("drill", "failover", str(site), "--project", "kitdemo-nowhere", "--outage", "1"),
               env=env, check=False)
    assert proc.returncode == 2
    error = one_line_error(proc)
    assert "project 'kitdemo-nowhere'" in error and "/web/private/+simple/" in error and "--project" in error
    bad = run(kit_cmd("drill", "failover", str(site), "--project", "../+login"), env=env, check=False)
    assert bad.returncode == 2 and "'../+login' is not a valid project name" in one_line_error(bad)
    assert pids(site) == before


def test_drill_failover_passes_and_brings_everything_back(cluster):
    site, env = cluster
    proc = run(kit_cmd("drill", "failover", str(site), "--outage", "2", "--json"), env=env, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    # progress went to standard error, as it went
    assert "drill: killing the master (pid " in proc.stderr and "drill: killing the mirror (pid " in proc.stderr
    assert report["edge"] == "python" and report["project"] == PRIVATE and report["client"] == "uv"
    assert report["ok"] is True and report["failed"] == 0
    assert [p["name"] for p in report["phases"]] == ["master down", "master and mirror down"]
    for phase in report["phases"]:
        for loop in ("before", "during", "after"):
            assert set(phase[loop]) == {"count", "failed", "worst", "median", "errors"}
            assert phase[loop]["count"] > 0 and phase[loop]["failed"] == 0 and phase[loop]["errors"] == []
        assert phase["down_for"] >= 2  # the outage asked for, at least
        assert phase["caught_up_after"] is not None
    assert report["installs"] == sum(p[loop]["count"] for p in report["phases"] for loop in ("before", "during", "after"))
    rows = status(site, env)
    assert all(r["healthy"] for r in rows), rows
    assert {r["name"]: r for r in rows}["mirror"]["behind"] == 0


def test_ctrl_c_brings_back_what_the_drill_killed(cluster):
    site, env = cluster
    code, out = interrupted_at(kit_cmd("drill", "failover", str(site), "--outage", "30"), env, "killing the master")
    assert code == 130, out
    assert "bringing back the master" in out and "kit: interrupted" in out and "Traceback" not in out
    assert all(r["healthy"] for r in status(site, env))


def test_drill_refuses_a_cluster_that_is_not_up(tmp_path, dists):
    env = clean_env(tmp_path / "home")
    idle = make_site(tmp_path, env, dists.upstream_folder)
    proc = run(kit_cmd("drill", "failover", str(idle)), env=env, check=False)
    assert proc.returncode == 2
    error = one_line_error(proc)
    assert "the cluster is not fully up (upstream stopped, master stopped" in error
    assert f"start it with: kit up {idle}" in error
    assert pids(idle) == {}  # it started nothing
    no_index = tmp_path / "no-index"
    run(kit_cmd("init", str(no_index), "--no-input", "--set", "setups=mirror,cluster"), env=env)
    proc = run(kit_cmd("drill", "failover", str(no_index)), env=env, check=False)
    assert proc.returncode == 2 and "has no team index to install from" in one_line_error(proc)
    assert "--set setups=mirror,cluster,private --set teams=NAME" in proc.stderr


def test_drill_failover_through_the_varnish_edge(tmp_path, dists):
    """The same drill with Varnish as the edge (kit's edge its shield), on a site whose team
    index the team alone reads: nothing fails either."""
    from kit.cluster.varnish import INSTALL_HINT, varnishd_path
    from kit.core import http

    if varnishd_path() is None:
        pytest.skip(f"varnishd not installed: {INSTALL_HINT}")
    env = clean_env(tmp_path / "home")
    with running_site(tmp_path, env, dists.upstream_folder, *varnish_edge(), "--set", "read_access=team") as (site, _):
        team_upload(site, env, dists.private)
        assert http.get(f"{front_url(site)}/web/private/+simple/{PRIVATE}/", timeout=10).status == 401
        proc = run(kit_cmd("drill", "failover", str(site), "--outage", "1", "--json"), env=env, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        report = json.loads(proc.stdout)
        assert report["edge"] == "varnish" and report["ok"] is True and report["failed"] == 0
        assert [p["during"]["count"] > 0 for p in report["phases"]] == [True, True]
        rows = status(site, env)
        # Varnish's metrics exporter runs where Debian's package is installed.
        exporter = {"varnish-exporter"} if system_program("prometheus-varnish-exporter") else set()
        assert {r["name"] for r in rows} == {"upstream", "master", "mirror", "shield", "edge"} | exporter
        assert all(r["healthy"] for r in rows), rows
