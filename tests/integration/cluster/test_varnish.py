"""The Varnish edge, really run: the generated VCL compiled by ``varnishd -C``,
then a real varnishd in front of a real cluster (``kit up`` with
``edge = "varnish"``) through the checks kit's own edge passes: pages per
representation, fresh at once after an upload, files checked against their
sha256, reads falling over to the mirror, stale pages and the static copy when
master and mirror are both gone."""

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
import zipfile
from pathlib import Path

import pytest

from kit.edge.config import EdgeConfig
from kit.edge.cache import HTML, JSON, representation
from kit.edge.static_copy import refresh
from kit.ops.sample import make_wheel
from kit.cluster.varnish import varnishd_path
from tests.conftest import BIN, PRIVATE, UPSTREAM_ONLY, clean_env, kit_cmd, run
from tests.support.cluster import make_site, pids, running_site, status, team_upload
from tests.support.clients import new_venv, who
from tests.support.cluster import varnish_edge

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


def edge_url(site: Path) -> str:
    return "http://127.0.0.1:" + re.search(r"edge_port = (\d+)", (site / "kit.toml").read_text()).group(1)


def get(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def origins_all_up(site: Path, timeout: float = 15) -> None:
    """Wait until the edge's health says every origin is up (a precondition, not what a test proves)."""
    deadline = time.monotonic() + timeout
    while not all(json.loads(get(edge_url(site) + "/+edge/health")[2])["origins"].values()):
        assert time.monotonic() < deadline, "the edge's origins did not come up"
        time.sleep(0.2)


def wait_mirror_in_sync(site: Path, env: dict) -> None:
    deadline = time.monotonic() + 30
    while {r["name"]: r for r in status(site, env)}["mirror"]["behind"] != 0:
        assert time.monotonic() < deadline, "the mirror did not catch up"
        time.sleep(0.1)


def test_up_runs_varnish_in_front_and_the_shield_behind(vcluster):
    site, env, out = vcluster
    assert "edge     starting on" in out and "Varnish" in out and "shield   starting on" in out
    rows = {r["name"]: r for r in status(site, env)}
    assert set(rows) == {"upstream", "master", "mirror", "shield", "edge"}
    assert all(r["healthy"] for r in rows.values()), rows
    code, headers, body = get(edge_url(site) + "/+edge/health")
    assert code == 200 and json.loads(body) == {"edge": "varnish",
                                               "origins": {"master": True, "mirror": True, "shield": True}}
    assert "varnishd" in Path(f"/proc/{rows['edge']['pid']}/cmdline").read_text()
    # kit status reads Varnish's own counters and its view of the origins
    assert re.search(r"\d+ hits?, \d+ miss(es)?, \d+ stale answers?, \d+ pass(es)?; origins: master up, mirror up, shield up$",
                     rows["edge"]["detail"]), rows["edge"]["detail"]


ACCEPTS = [
    None, "", "text/html", "*/*", "text/*",
    JSON,
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01",  # pip
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01",  # uv
    "application/vnd.pypi.simple.v1+html",
    f"{JSON}, text/html",  # a tie: HTML
    f"{JSON};q=0.9, text/html;q=0.5",
    f"{JSON};q=0.5, text/html;q=0.9",
    f"{JSON};q=0",
    f"{JSON};q=0.3",
    f"text/html;q=0.5, {JSON}",
    "APPLICATION/VND.PYPI.SIMPLE.V1+JSON ; Q=0.8 , */*;q=0.7",
    f"{JSON};q=bogus",
]


@pytest.mark.parametrize("accept", ACCEPTS)
def test_each_accept_gets_the_representation_kit_s_edge_picks(vcluster, accept):
    site, _, _ = vcluster
    headers = {} if accept is None else {"Accept": accept}
    code, answer, body = get(f"{edge_url(site)}/web/private/+simple/{UPSTREAM_ONLY}/", headers)
    assert code == 200
    expected = representation(accept)
    assert answer["Content-Type"].split(";")[0] == (JSON if expected == JSON else HTML)
    assert answer["Vary"] == "Accept"
    if expected == JSON:
        assert json.loads(body)["name"] == UPSTREAM_ONLY


def cached(url: str, headers: dict) -> None:
    """Read ``url`` until it is a cache hit (a purge sent by the mirror, which
    replays the master's changes a moment later, may drop a page once more)."""
    deadline = time.monotonic() + 10
    while get(url, headers)[1].get("X-Cache") != "HIT":
        assert time.monotonic() < deadline, f"{url} is never cached"
        time.sleep(0.05)


def test_pages_are_cached_per_representation_not_per_user_agent(vcluster):
    site, _, _ = vcluster
    url = f"{edge_url(site)}/web/private/+simple/"
    cached(url, {"Accept": JSON, "User-Agent": "pip/24.0"})
    code, headers, _ = get(url, {"Accept": JSON, "User-Agent": "uv/0.13"})
    assert code == 200 and headers["X-Cache"] == "HIT"
    code, headers, _ = get(url, {"Accept": "text/html", "User-Agent": "uv/0.13"})
    assert headers["Content-Type"].startswith("text/html")


def test_a_query_string_never_fills_the_cache(vcluster):
    site, _, _ = vcluster
    url = f"{edge_url(site)}/web/private/+simple/?x=1"
    assert get(url)[1]["X-Cache"] == "PASS" and get(url)[1]["X-Cache"] == "PASS"


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

    assert get(url)[0] == 405
    assert post({"Xkey-Purge": "web/private"})[0] == 401
    assert post({"Authorization": "Bearer " + "0" * 64, "Xkey-Purge": "web/private"})[0] == 403
    assert post({"Authorization": f"Bearer {secret}"})[0] == 400
    code, body = post({"Authorization": f"Bearer {secret}", "Xkey-Purge": "nobody/nothing"})
    assert code == 200 and json.loads(body) == {"purged": 0}


def test_files_are_cached_and_pip_installs_through_varnish(private_uploaded, tmp_path):
    site, env, _ = private_uploaded
    pip_env = dict(env, PIP_CONFIG_FILE=str(site / "teams" / "web" / "pip.conf"))
    python = new_venv(tmp_path / "venv")
    run([BIN / "python", "-m", "pip", "--python", python, "install", "--no-cache-dir", PRIVATE, UPSTREAM_ONLY],
        env=pip_env)
    assert who(python, pip_env) == ("team", "1.0", "upstream")
    page = json.loads(get(f"{edge_url(site)}/web/private/+simple/{PRIVATE}/", {"Accept": JSON})[2])
    url = urllib.request.urljoin(f"{edge_url(site)}/web/private/+simple/{PRIVATE}/", page["files"][0]["url"])
    # pip spells /+f/ as /%2Bf/: both are the one cached file
    code, headers, body = get(url.replace("/+f/", "/%2Bf/"))
    assert code == 200 and headers["X-Cache"] == "HIT" and headers["X-Served-By"].startswith("shield/")
    assert headers["Cache-Control"] == "max-age=31536000, immutable"
    assert hashlib.sha256(body).hexdigest() == page["files"][0]["hashes"]["sha256"]


def assert_each_upload_listed_at_once(site: Path, env: dict, project: str, wheels) -> None:
    """Upload each wheel with its project page cached; the purge, not the page's 5 s expiry, lists it."""
    url = f"{edge_url(site)}/web/private/+simple/{project}/"
    for n, wheel in enumerate(wheels):
        if n:
            cached(url, {"Accept": JSON})
        team_upload(site, env, wheel)
        started = time.monotonic()
        while wheel.name not in get(url, {"Accept": JSON})[2].decode():
            assert time.monotonic() - started < 3, f"upload {n} not listed: the page waited for its expiry, no purge"
            time.sleep(0.01)


def test_every_upload_is_listed_at_once_while_pages_are_cached(vcluster, tmp_path):
    """The page is cached before each of 20 uploads; the purge, not the 5 s expiry, lists each one."""
    site, env, _ = vcluster
    assert_each_upload_listed_at_once(
        site, env, "kitdemo-fresh", (make_wheel(tmp_path, "kitdemo-fresh", f"1.{n}") for n in range(20)))


def test_a_large_upload_is_listed_at_once_too(vcluster, tmp_path):
    """8 MB wheels: devpi's notifier holds a commit while its file is not on
    disk yet, then sleeps 5 s. Purging from it, two of these four uploads were
    listed only after 4.5 s; the plugin now follows the commits itself."""
    site, env, _ = vcluster

    def big(n: int) -> Path:
        wheel = make_wheel(tmp_path, "kitdemo-big", f"1.{n}")
        with zipfile.ZipFile(wheel, "a", zipfile.ZIP_STORED) as whl:
            whl.writestr("kitdemo_big/blob.bin", os.urandom(8 * 1024 * 1024))
        return wheel

    assert_each_upload_listed_at_once(site, env, "kitdemo-big", (big(n) for n in range(4)))


def test_wrong_bytes_from_the_master_are_never_served(vcluster, tmp_path):
    """The master's copy of a file is damaged on disk: the shield refuses it and the mirror's bytes are served."""
    site, env, _ = vcluster
    wheel = make_wheel(tmp_path, "kitdemo-bytes", "1.0")
    team_upload(site, env, wheel)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    wait_mirror_in_sync(site, env)  # the mirror has the file too
    stored = next((site / "cluster" / "run" / "master").rglob(wheel.name))
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))
    page = json.loads(get(f"{edge_url(site)}/web/private/+simple/kitdemo-bytes/", {"Accept": JSON})[2])
    url = urllib.request.urljoin(f"{edge_url(site)}/web/private/+simple/kitdemo-bytes/", page["files"][0]["url"])
    code, headers, body = get(url)
    assert code == 200 and hashlib.sha256(body).hexdigest() == digest
    assert headers["X-Served-By"] == "shield/mirror"


def test_master_killed_installs_keep_working_and_uploads_get_a_clear_503(private_uploaded, tmp_path):
    site, env, _ = private_uploaded
    os.kill(pids(site)["master"], signal.SIGKILL)
    try:
        pip_env = dict(env, PIP_CONFIG_FILE=str(site / "teams" / "web" / "pip.conf"))
        python = new_venv(tmp_path / "venv")
        for _ in range(5):
            run([BIN / "python", "-m", "pip", "--python", python, "install", "--no-cache-dir", "--force-reinstall",
                 PRIVATE, UPSTREAM_ONLY], env=pip_env)
        assert who(python, pip_env) == ("team", "1.0", "upstream")
        refused = team_upload(site, env, make_wheel(tmp_path, PRIVATE, "1.1", marker="team"), check=False)
        assert refused.returncode != 0 and "503" in refused.stdout and "Master down, uploads paused" in refused.stdout
        health = json.loads(get(edge_url(site) + "/+edge/health")[2])
        assert health["origins"] == {"master": False, "mirror": True, "shield": True}
        assert "origins: master DOWN, mirror up" in {r["name"]: r for r in status(site, env)}["edge"]["detail"]
    finally:
        run(kit_cmd("up", str(site)), env=env)  # shared by the module's tests, whatever failed
    # At once, while Varnish's probe may still call the master sick (it needs two good
    # probes a second apart): the upload reaches the master. (Once: 503 "Master down"
    # from Varnish itself, which never tries a backend its probe calls sick.)
    team_upload(site, env, make_wheel(tmp_path, "kitdemo-after-restart", "1.0"))
    assert all(r["healthy"] for r in status(site, env))


def test_master_and_mirror_gone_pages_are_served_stale_and_unseen_ones_from_the_static_copy(vcluster, dists, tmp_path):
    site, env, _ = vcluster
    base = edge_url(site)
    # root/pypi's own list: neither the shield (it never fetched it) nor the
    # static copy (team indexes only) has it, so only Varnish's grace can serve it.
    seen = f"{base}/root/pypi/+simple/"
    # The page must be in Varnish's cache first. Right after an earlier test's kit up, Varnish's
    # probe may still call the master sick and a lagging mirror answer: a page older than the
    # newest purge is never kept (the serial guard), so there would be nothing to serve stale.
    origins_all_up(site)
    wait_mirror_in_sync(site, env)
    deadline = time.monotonic() + 15
    while get(seen, {"Accept": JSON})[1].get("X-Cache") != "HIT":
        assert time.monotonic() < deadline, "Varnish never kept root/pypi's page"
        time.sleep(0.2)
    # A version the edge never listed, uploaded and copied by the shield's static copy.
    unseen = make_wheel(tmp_path, "kitdemo-unseen", "1.0")
    team_upload(site, env, unseen)
    wait_mirror_in_sync(site, env)
    config = EdgeConfig.load(site / "cluster" / "edge.json")
    copied = refresh(config.static_copy_sources, config.static_copy_indexes,
                     site / "cluster" / config.static_copy_dir, outside_url=config.public_url)
    assert not copied.errors, copied.errors
    ids = pids(site)
    os.kill(ids["master"], signal.SIGKILL)
    os.kill(ids["mirror"], signal.SIGKILL)
    try:
        time.sleep(5.5)  # past the pages' 5 s: only grace serves them now
        code, headers, body = get(seen, {"Accept": JSON})
        assert code == 200 and headers["X-Cache"] == "STALE" and headers["Warning"] == '111 - "Revalidation Failed"', headers
        # Whichever origin answered when the page was cached (the master, or the mirror
        # if an earlier test had the master down then): both are dead now.
        assert headers["X-Served-By"] in ("master", "mirror") and UPSTREAM_ONLY in body.decode()
        code, headers, body = get(f"{base}/web/private/+simple/kitdemo-unseen/", {"Accept": JSON})
        assert code == 200 and headers["X-Served-By"] == "shield/static-copy"
        pip_env = dict(env, PIP_CONFIG_FILE=str(site / "teams" / "web" / "pip.conf"))
        got = tmp_path / "got"
        run([BIN / "python", "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-d", got, "kitdemo-unseen"],
            env=pip_env)
        assert (got / unseen.name).read_bytes() == unseen.read_bytes()
    finally:
        # The cluster is shared by the module's tests: whatever failed here, bring it back.
        run(kit_cmd("up", str(site)), env=env)
    assert all(r["healthy"] for r in status(site, env))


# -- an index, never a proxy; no single point of failure for files ----------------------------


class Trap:
    """A listener on 127.0.0.1 that counts the connections made to it (each answered "trapped")."""

    def __init__(self):
        import socketserver
        import threading

        trap = self
        self.connections = 0

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                trap.connections += 1
                self.request.settimeout(1)
                try:
                    self.request.recv(4096)
                    self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntrapped\n")
                except OSError:
                    pass

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def raw(port: int, line: str) -> tuple[int, bytes]:
    """One request line sent as written (no client library would send most of these): status and answer."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        body = b"" if line.split(" ", 1)[0] in ("GET", "HEAD", "OPTIONS", "TRACE", "CONNECT", "PRI") else b"x"
        conn.sendall(f"{line} HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\nContent-Length: {len(body)}"
                     f"\r\n\r\n".encode("latin-1") + body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return (int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0), answer


@pytest.mark.parametrize("where", ["varnish", "shield"])
def test_no_request_target_makes_varnish_or_the_shield_connect_elsewhere(vcluster, where):
    from tests.support.edge_requests import PASSED, REFUSED

    site, _, _ = vcluster
    origins_all_up(site)  # an earlier test may have restarted the master: Varnish's probe needs 2 s to see it
    port = int(re.search(rf"{'edge' if where == 'varnish' else 'shield'}_port = (\d+)",
                         (site / "kit.toml").read_text()).group(1))
    trap = Trap()
    try:
        for line in REFUSED:
            code, answer = raw(port, line.replace(":T", f":{trap.port}"))
            assert b"trapped" not in answer
            if line.startswith("PUSH"):
                continue  # devpi's own method: Varnish passes it to the master, the shield's parser refuses it
            if where == "varnish" and line.split(" ", 1)[1].startswith(("http://", "https://")):
                # Varnish reads an absolute URL as its path plus a Host header (RFC 9112
                # 3.2.2 says a server must): a page of this index, from its own origins.
                continue
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


def test_varnish_answers_405_with_the_methods_it_takes(vcluster):
    site, _, _ = vcluster
    code, answer = raw(int(edge_url(site).rsplit(":", 1)[1]), "OPTIONS *")
    assert code == 405 and b"\r\nAllow: DELETE, GET, HEAD, PATCH, POST, PUSH, PUT\r\n" in answer


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
    time.sleep(0.3)
    os.kill(shield, signal.SIGKILL)
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
        time.sleep(1.1)  # past the second in which requests for it skip the cache
    run(kit_cmd("up", str(site)), env=env)
    assert all(r["healthy"] for r in status(site, env))


def test_down_stops_varnish_and_leaves_no_process(vcluster):
    site, env, _ = vcluster
    started = pids(site)
    try:
        run(kit_cmd("down", str(site)), env=env)
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in started.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in started.values() if Path(f"/proc/{pid}").exists()]
        code = subprocess.run(["pgrep", "-f", str(site / "cluster" / "edge.vcl")], capture_output=True).returncode
        assert code == 1, "a varnishd of this site is still running"
    finally:
        run(kit_cmd("up", str(site)), env=env)  # the cluster back for the tests that run after this one

