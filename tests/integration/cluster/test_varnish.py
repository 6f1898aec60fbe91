"""The Varnish edge, really run: the generated VCL compiled by ``varnishd -C``,
then a real varnishd in front of a real cluster (``kit up`` with
``edge = "varnish"``): what only a Varnish site has, kit up and down of
varnishd, its purge endpoint, the shield chain (files through kit's edge, the
shield's own port, the shield killed mid-install).

What a client sees through either edge (pages per representation, fresh at
once after an upload, files checked against their sha256, reads falling over
to the mirror, stale pages and the static copy when master and mirror are both
gone, hostile targets, the method list) is test_contract.py, run for Varnish
and for kit's edge."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kit.edge.cache import JSON
from kit.ops.sample import make_wheel
from kit.cluster.varnish import varnishd_path
from kit.core.wait import wait_until
from kit.core.processes import system_program
from tests.conftest import BIN, PRIVATE, clean_env, kit_cmd, run
from tests.support.cluster import front_url as edge_url
from tests.support.cluster import (make_site, origins_all_up, pids, restored, running_site, status, team_upload,
                                   wait_mirror_in_sync)
from tests.support.cluster import varnish_edge
from tests.support.edge import Trap, cached, raw
from tests.support.edge import answer as get

pytestmark = pytest.mark.skipif(
    varnishd_path() is None, reason="varnishd is not installed (Debian: apt-get install varnish varnish-modules)")


def init_varnish_site(root: Path, env: dict, upstream: Path, *extra: str) -> Path:
    return make_site(root, env, upstream, *varnish_edge(), *extra)


# -- the VCL, compiled ------------------------------------------------------------------


def compile_vcl(vcl: Path) -> subprocess.CompletedProcess:
    return subprocess.run([varnishd_path(), "-C", "-j", "none", "-f", str(vcl)], capture_output=True, text=True)


@pytest.mark.parametrize("extra", [(), ("--set", "host=192.0.2.10"), ("--set", "setups=mirror,private,clients,cluster,public-mirror")],
                         ids=["loopback", "every-interface", "public-mirror"])
def test_the_generated_vcl_compiles(tmp_path, dists, extra):
    env = clean_env(tmp_path / "home")
    site = init_varnish_site(tmp_path, env, dists.upstream_folder, *extra)
    vcl = site / "cluster" / "edge.vcl"
    result = compile_vcl(vcl)
    assert result.returncode == 0, result.stderr[-2000:]
    assert oct(vcl.stat().st_mode & 0o777) == "0o600"  # it holds the purge secret
    secret = (site / "cluster" / "edge-purge-secret").read_text().strip()
    assert f'"Bearer " + "{secret}"' in vcl.read_text()


def test_what_the_vcl_filter_writes_compiles_and_what_it_refuses_would_not(tmp_path):
    """Braces, percent signs and backslashes are one VCL string as written; a double quote
    (which the filter refuses) would end the string early and break the file."""
    from kit.site.templating import vcl_string

    def compiles(literal: str) -> bool:
        vcl = tmp_path / "t.vcl"
        vcl.write_text('vcl 4.1;\nbackend b { .host = "127.0.0.1"; .port = "9"; }\n'
                       f"sub vcl_recv {{ return (synth(200, {literal})); }}\n")
        return compile_vcl(vcl).returncode == 0

    assert compiles(vcl_string("http://[::1]:3143/a%20b{c}\\"))
    assert not compiles('"say "hi""')


def test_a_broken_vcl_is_refused_by_varnishd(tmp_path, dists):
    """The compile check can fail: a VCL with one brace missing does not compile."""
    env = clean_env(tmp_path / "home")
    site = init_varnish_site(tmp_path, env, dists.upstream_folder)
    vcl = site / "cluster" / "edge.vcl"
    vcl.write_text(vcl.read_text().replace("sub vcl_hash {", "sub vcl_hash ", 1))
    assert compile_vcl(vcl).returncode != 0


def test_a_python_edge_site_has_no_vcl_and_no_shield(tmp_path, dists):
    env = clean_env(tmp_path / "home")
    site = make_site(tmp_path, env, dists.upstream_folder)
    assert not (site / "cluster" / "edge.vcl").exists()
    assert "kit-purge-url: \"http://127.0.0.1:" in (site / "cluster" / "master.yml").read_text()
    assert " " not in re.search(r'kit-purge-url: "(.*)"', (site / "cluster" / "master.yml").read_text()).group(1)


def test_an_unknown_edge_is_refused_in_one_line(tmp_path, dists):
    env = clean_env(tmp_path / "home")
    proc = run(kit_cmd("init", str(tmp_path / "site"), "--no-input", "--set", f"upstream={dists.upstream_folder}",
                       "--set", "edge=nginx"), env=env, check=False)
    assert proc.returncode == 2 and not (tmp_path / "site").exists()
    assert proc.stderr.strip().count("\n") == 0
    assert "unknown edge 'nginx'; choose python" in proc.stderr and "apt-get install varnish varnish-modules" in proc.stderr


# -- a real cluster behind Varnish --------------------------------------------------------


@pytest.fixture(scope="module")
def vcluster(tmp_path_factory, dists):
    root = tmp_path_factory.mktemp("varnish-cluster")
    env = clean_env(root / "home")
    with running_site(root, env, dists.upstream_folder, *varnish_edge()) as (site, out):
        yield site, env, out


@pytest.fixture(scope="module")
def private_uploaded(vcluster, dists):
    """The team's kitdemo-private 1.0 on web/private: the tests share the cluster and pass in any order."""
    site, env, _ = vcluster
    team_upload(site, env, dists.private)
    return vcluster


def test_up_runs_varnish_in_front_and_the_shield_behind(vcluster):
    site, env, out = vcluster
    assert "edge     starting on" in out and "Varnish" in out and "shield   starting on" in out
    rows = {r["name"]: r for r in status(site, env)}
    # Varnish's metrics exporter runs where Debian's package is installed.
    exporter = {"varnish-exporter"} if system_program("prometheus-varnish-exporter") else set()
    assert set(rows) == {"upstream", "master", "mirror", "shield", "edge"} | exporter
    assert all(r["healthy"] for r in rows.values()), rows
    code, headers, body = get(edge_url(site) + "/+edge/health")
    assert code == 200 and json.loads(body) == {"edge": "varnish",
                                               "origins": {"master": True, "mirror": True, "shield": True}}
    assert "varnishd" in Path(f"/proc/{rows['edge']['pid']}/cmdline").read_text()
    # kit status reads Varnish's own counters and its view of the origins
    assert re.search(r"\d+ hits?, \d+ miss(es)?, \d+ stale answers?, \d+ pass(es)?; origins: master up, mirror up, shield up$",
                     rows["edge"]["detail"]), rows["edge"]["detail"]


def test_purge_needs_post_from_this_machine_and_the_secret(vcluster):
    site, _, _ = vcluster
    url = f"{edge_url(site)}/+edge/purge"
    secret = (site / "cluster" / "edge-purge-secret").read_text().strip()

    def post(headers):
        request = urllib.request.Request(url, data=b"{}", method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    # (without the secret, or with a wrong one: refused by both edges, test_contract.py)
    assert get(url)[0] == 405
    assert post({"Authorization": f"Bearer {secret}"})[0] == 400
    code, body = post({"Authorization": f"Bearer {secret}", "Xkey-Purge": "nobody/nothing"})
    assert code == 200 and json.loads(body) == {"purged": 0}


def test_files_come_through_the_shield_and_varnish_keeps_them(private_uploaded):
    """Varnish fetches files by the shield, which checks them against their sha256 before
    Varnish keeps them. (Installs, hits, digests through either edge: test_contract.py.)"""
    site, _, _ = private_uploaded
    page = json.loads(get(f"{edge_url(site)}/web/private/+simple/{PRIVATE}/", {"Accept": JSON})[2])
    url = urllib.request.urljoin(f"{edge_url(site)}/web/private/+simple/{PRIVATE}/", page["files"][0]["url"])
    cached(url)
    code, headers, body = get(url)
    assert code == 200 and headers["X-Served-By"].startswith("shield/")
    assert hashlib.sha256(body).hexdigest() == page["files"][0]["hashes"]["sha256"]


def test_pages_come_from_the_shield_with_devpi_s_serial_and_varnish_keeps_them(private_uploaded, tmp_path):
    """Team pages are the shield's (kit's edge: PEP 700, core metadata), which passes on the
    X-Devpi-Serial devpi sent with them: a page fetched after an upload's purge is newer than
    it, so Varnish keeps it (with no serial it would be older than every purge, never kept)."""
    site, env, _ = private_uploaded
    wheel = make_wheel(tmp_path, "kitdemo-serial", "1.0")
    team_upload(site, env, wheel)
    master = {r["name"]: r for r in status(site, env)}["master"]["url"]
    with urllib.request.urlopen(f"{master}/+api", timeout=10) as response:
        uploaded = int(response.headers["X-Devpi-Serial"])
    url = f"{edge_url(site)}/web/private/+simple/kitdemo-serial/"
    cached(url, {"Accept": JSON})
    code, headers, body = get(url, {"Accept": JSON})
    assert code == 200 and headers["X-Served-By"].startswith("shield/"), headers
    assert int(headers["X-Devpi-Serial"]) >= uploaded, (headers, uploaded)
    page = json.loads(body)
    assert page["meta"]["api-version"] == "1.1" and page["versions"] == ["1.0"], page
    assert page["files"][0]["size"] == wheel.stat().st_size and page["files"][0]["core-metadata"], page


# -- an index, never a proxy; no single point of failure for files ----------------------------


def test_no_request_target_makes_the_shield_connect_elsewhere(vcluster):
    """The shield's own port, which Varnish reaches it by (Varnish's port, and kit's edge
    alone: test_contract.py)."""
    from tests.support.edge_requests import PASSED, REFUSED

    site, _, _ = vcluster
    origins_all_up(site)  # an earlier test may have restarted the master: Varnish's probe needs 2 s to see it
    where = "shield"
    port = int(re.search(r"shield_port = (\d+)", (site / "kit.toml").read_text()).group(1))
    trap = Trap()
    try:
        for line in REFUSED:
            code, answer = raw(port, line.replace(":T", f":{trap.port}"))
            assert b"trapped" not in answer
            if line.startswith("PUSH"):
                continue  # devpi's own method: Varnish passes it to the master, the shield's parser refuses it
            assert code in (400, 405), (where, line, answer[:300])
        for line in PASSED:
            code, answer = raw(port, line.replace(":T", f":{trap.port}").replace("%3AT", f"%3A{trap.port}"))
            assert b"trapped" not in answer and 200 <= code < 600, (where, line, answer[:300])
        assert trap.connections == 0
        _, answer = raw(trap.port, "GET /")  # the trap itself counts (else 0 would prove nothing)
        assert b"trapped" in answer and trap.connections == 1
    finally:
        trap.close()
    health = json.loads(get(edge_url(site) + "/+edge/health")[2])
    assert health["origins"] == {"master": True, "mirror": True, "shield": True}


def test_files_reach_master_and_mirror_when_the_shield_is_killed_mid_install(vcluster, tmp_path):
    """Wheels no one fetched yet, the shield killed while pip and uv install them: every
    install succeeds from the master (once: 4 of 4 failed with 503, the shield being
    Varnish's only way to files); bytes the shield did not check are never kept."""
    site, env, _ = vcluster
    wheels = [make_wheel(tmp_path / "dist", f"kitdemo-noshield-{n}", "1.0", marker=f"n{n}") for n in range(4)]
    for wheel in wheels:
        team_upload(site, env, wheel)
    wait_mirror_in_sync(site, env)
    pip_env = dict(env, PIP_CONFIG_FILE=str(site / "teams" / "web" / "pip.conf"),
                   UV_CONFIG_FILE=str(site / "teams" / "web" / "uv.toml"))
    shield = pids(site)["shield"]
    pip = subprocess.Popen([str(BIN / "python"), "-m", "pip", "download", "--no-deps", "--no-cache-dir",
                            "-d", str(tmp_path / "pip"), *(f"kitdemo-noshield-{n}" for n in range(2))],
                           env=pip_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.3)  # pip under way (not a TTL): the kill lands mid-install
    os.kill(shield, signal.SIGKILL)
    try:
        check_installs_without_the_shield(site, pip, pip_env, wheels, tmp_path)
    finally:
        restored(site, env)  # the shield back, whatever failed: the module's tests share the cluster
    assert all(r["healthy"] for r in status(site, env))


def check_installs_without_the_shield(site: Path, pip: subprocess.Popen, pip_env: dict, wheels: list[Path],
                                      tmp_path: Path) -> None:
    out, _ = pip.communicate(timeout=120)
    assert pip.returncode == 0, out
    run([BIN / "uv", "pip", "install", "--no-deps", "--no-cache", "--target", tmp_path / "uv", "--python",
         BIN / "python", *(f"kitdemo-noshield-{n}" for n in range(2, 4))], env=pip_env)
    assert sorted(p.name for p in (tmp_path / "pip").iterdir()) == sorted(w.name for w in wheels[:2])
    assert all((tmp_path / "pip" / w.name).read_bytes() == w.read_bytes() for w in wheels[:2])
    assert sorted(p.name for p in (tmp_path / "uv").iterdir() if p.is_dir() and "." not in p.name) == [
        "kitdemo_noshield_2", "kitdemo_noshield_3"]
    page = json.loads(get(f"{edge_url(site)}/web/private/+simple/kitdemo-noshield-3/", {"Accept": JSON})[2])
    url = urllib.request.urljoin(f"{edge_url(site)}/web/private/+simple/kitdemo-noshield-3/", page["files"][0]["url"])
    for _ in range(2):
        code, headers, body = get(url)
        assert code == 200 and headers["X-Served-By"] == "master" and headers["X-Cache"] != "HIT"
        assert body == wheels[3].read_bytes()
        # Varnish's real clock (no clock can be injected into varnishd): past the whole
        # second in which requests for this file skip the cache (its 1 s hit-for-miss).
        time.sleep(1.1)


def test_down_stops_varnish_and_leaves_no_process(vcluster):
    site, env, _ = vcluster
    started = pids(site)
    try:
        run(kit_cmd("down", str(site)), env=env)
        left = wait_until(lambda: [pid for pid in started.values() if Path(f"/proc/{pid}").exists()], 10,
                          accept=lambda pids: not pids)
        assert not left, f"still running after kit down: {left}"
        code = subprocess.run(["pgrep", "-f", str(site / "cluster" / "edge.vcl")], capture_output=True).returncode
        assert code == 1, "a varnishd of this site is still running"
    finally:
        restored(site, env)  # the cluster back for the tests that run after this one

