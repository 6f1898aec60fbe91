"""kit's edge, run as the cluster runs it (``python -m kit.edge edge.json``), in
front of a real devpi-server, directly or through a switchable relay that
fails in each way the edge must survive: refusing, hanging, 5xx, wrong bytes,
a transfer that stops half way.

What only kit's edge has: its cache files on disk (corrupted, unwritable, a full
tmpfs, a kill mid-file), its health and stats, its connection handling. What a
client sees through either edge (pages, purges, installs, stale pages, refused
targets) is test_contract.py, run for kit's edge and for Varnish."""

from __future__ import annotations

import configparser
import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import socket
import time
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kit.edge.config import EdgeConfig
from kit.ops.sample import make_wheel
from tests.conftest import BIN, free_port, mounted_tmpfs, run
from tests.support.edge import Relay, RunningEdge, SECRET, answer, edge_process, get


# -- a real devpi with the files these tests read -------------------------------------


def team_credentials(server) -> tuple[str, str]:
    pypirc = configparser.ConfigParser(interpolation=None)
    pypirc.read(server.team_dir("web") / ".pypirc")
    return pypirc["web"]["username"], pypirc["web"]["password"]


def upload(server, url: str, *files: Path) -> None:
    user, password = team_credentials(server)
    run([BIN / "twine", "upload", "--repository-url", url, "-u", user, "-p", password, "--disable-progress-bar",
         "--non-interactive", *files], env=server.env)


def big_wheel(folder: Path, name: str, size: int) -> Path:
    """A wheel with ``size`` random bytes in it: large enough to stream in many chunks."""
    module = name.replace("-", "_")
    path = folder / f"{module}-1.0-py3-none-any.whl"
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as whl:
        whl.writestr(f"{module}/__init__.py", "WHO = 'big'\n")
        whl.writestr(f"{module}/blob.bin", os.urandom(size))
        whl.writestr(f"{module}-1.0.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        whl.writestr(f"{module}-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: kit-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{module}-1.0.dist-info/RECORD", "")
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def devpi(devpi_site, tmp_path_factory):
    """web/private with kitdemo-edge 1.0 (small) and kitdemo-big 1.0 (3 MB)."""
    folder = tmp_path_factory.mktemp("edge-dists")
    small = make_wheel(folder, "kitdemo-edge", "1.0", marker="edge")
    big = big_wheel(folder, "kitdemo-big", 3 * 1024 * 1024)
    upload(devpi_site, f"{devpi_site.url}/web/private/", small, big)
    devpi_site.small, devpi_site.big = small, big
    return devpi_site


def file_url(base: str, project: str) -> tuple[str, str]:
    """The path of the project's only file on web/private, and its sha256, as the page says."""
    with urllib.request.urlopen(f"{base}/web/private/+simple/{project}/", timeout=10) as response:
        page = response.read().decode()
    href = page.split('href="')[1].split('"')[0]
    path, digest = urllib.request.urljoin(f"/web/private/+simple/{project}/", href.split("#")[0]), href.split("#sha256=")[1]
    return path, digest


# -- a relay in front of devpi that fails on demand -------------------------------------


@pytest.fixture
def master(devpi):
    with Relay(devpi.url) as relay:
        yield relay


@pytest.fixture
def mirror(devpi):
    with Relay(devpi.url) as relay:
        yield relay


@pytest.fixture
def hung_origin():
    """Accepts connections and never answers: an origin that froze."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


# -- the edge, as kit up runs it ----------------------------------------------------------


def purge(edge: RunningEdge, keys: list[str], token: str | None = SECRET) -> tuple[int, dict]:
    request = urllib.request.Request(f"{edge.url}/+edge/purge", data=json.dumps({"keys": keys, "serial": 1}).encode(),
                                     method="POST", headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


PAGE = "/web/private/+simple/kitdemo-edge/"


# -- fail-over, as before -------------------------------------------------------------------


@pytest.mark.parametrize("master_kind", ["refused", "hung", "5xx"])
def test_reads_fall_over_to_the_mirror(tmp_path, master, mirror, hung_origin, master_kind):
    master.mode = "500"
    origin = {"refused": f"http://127.0.0.1:{free_port()}", "hung": hung_origin, "5xx": master.url}[master_kind]
    with edge_process(tmp_path, origin, [mirror.url]) as edge:
        status, headers, page = get(edge.url + PAGE)
        assert status == 200 and b"kitdemo_edge-1.0-py3-none-any.whl" in page and headers["X-Served-By"] == "mirror"
        health = json.loads(get(f"{edge.url}/+edge/health")[2])
        if master_kind == "5xx":
            # A 5xx answers this request, it does not say the master is gone: the read
            # fell over, nothing is marked (the active check judges the master's /+api).
            assert health["failovers"] == 1 and health["backends"][origin] == "in use"
            assert health["origin_5xx"] == 1 and edge.stats()["origin_errors"] == {"master": 0, "mirror": 0}
        else:
            assert health["failovers"] == 1 and health["backends"][origin] == "skipped"
            assert edge.stats()["origin_errors"] == {"master": 1, "mirror": 0}


def test_the_health_check_marks_an_origin_whose_api_fails_down(tmp_path, master, mirror):
    master.mode = "500"
    with edge_process(tmp_path, master.url, [mirror.url], health_interval=0.2) as edge:
        deadline = time.monotonic() + 10
        while json.loads(get(f"{edge.url}/+edge/health")[2])["backends"][master.url] != "skipped":
            assert time.monotonic() < deadline, "the health check never marked the failing master down"
            time.sleep(0.1)
        assert edge.stats()["origin_errors"]["master"] == 1


def test_a_purge_storm_keeps_the_verified_files(tmp_path, devpi, master, mirror):
    """A restarted devpi replays its commits, and so its purges: they drop pages
    and the digests pages vouched for, never the bytes — the file is checked
    against the digest the next page gives and served from the cache again.
    (Once every purge of an index emptied the cache of its files.)"""
    path, digest = file_url(devpi.url, "kitdemo-edge")
    with edge_process(tmp_path, master.url, [mirror.url]) as edge:
        get(edge.url + PAGE)
        assert get(edge.url + path)[1]["X-Cache"] == "MISS"
        for _ in range(3):
            assert purge(edge, ["web/private/*", "web/private/kitdemo-edge"])[0] == 200
        assert [p.suffix for p in edge.cache.iterdir() if p.suffix == ".file"] == [".file"]
        again = get(edge.url + path)
        assert again[1]["X-Cache"] == "HIT" and hashlib.sha256(again[2]).hexdigest() == digest


def _memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the edge's memory from /proc (Linux)")
def test_an_upload_streams_through_without_being_held_in_memory(tmp_path, devpi):
    """Old edge: the whole body read into memory before it went on to the master."""
    wheel = big_wheel(tmp_path / "dist", "kitdemo-huge", 48 * 1024 * 1024)
    with edge_process(tmp_path / "edge", devpi.url, []) as edge:
        before = _memory_kib(edge.proc.pid, "VmHWM")
        upload(devpi, f"{edge.url}/web/private/", wheel)
        grew_mib = (_memory_kib(edge.proc.pid, "VmHWM") - before) / 1024
    path, digest = file_url(devpi.url, "kitdemo-huge")
    assert digest == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert grew_mib < 16, f"the edge's peak memory grew {grew_mib:.0f} MiB for a 48 MiB upload"


def test_writes_go_to_the_master_only_and_get_a_clear_503(tmp_path, mirror):
    with edge_process(tmp_path, f"http://127.0.0.1:{free_port()}", [mirror.url]) as edge:
        request = urllib.request.Request(f"{edge.url}/web/private/", data=b"upload", method="POST")
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request, timeout=10)
        assert error.value.code == 503 and error.value.reason == "Master down, uploads paused"
        assert error.value.headers["Retry-After"] == "5"
        assert "installs keep working from the mirror" in error.value.read().decode()
        assert mirror.connections == 0
    assert "ConnectionRefusedError" in (tmp_path / "edge.log").read_text()  # what the tutorial greps for


def test_a_master_5xx_on_a_write_is_passed_on_and_does_not_mark_it_down(tmp_path, master, mirror):
    """Old edge: answered 503 "master not answering" and skipped the master for reads."""
    master.mode = "500"
    with edge_process(tmp_path, master.url, [mirror.url]) as edge:
        request = urllib.request.Request(f"{edge.url}/web/private/", data=b"upload", method="POST")
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request, timeout=10)
        assert error.value.code == 500
        health = json.loads(get(f"{edge.url}/+edge/health")[2])
        assert health["backends"][master.url] == "in use"


def test_a_chunked_body_is_refused_with_411(tmp_path, master):
    with edge_process(tmp_path, master.url, []) as edge:
        conn = http.client.HTTPConnection("127.0.0.1", edge.config.port, timeout=10)
        conn.request("POST", "/web/private/", body=iter([b"part"]), headers={"Transfer-Encoding": "chunked"},
                     encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 411 and b"Content-Length" in response.read()
        conn.close()


@pytest.mark.parametrize("length", ["abc", "-1"])
def test_a_malformed_content_length_gets_400(tmp_path, master, length):
    """Old edge: no answer for "abc" (the handler thread died), a hang for -1."""
    with edge_process(tmp_path, master.url, []) as edge:
        with socket.create_connection(("127.0.0.1", edge.config.port), timeout=10) as sock:  # a guard, not a timing
            sock.sendall(f"POST /web/private/ HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode())
            assert sock.recv(100).split(b"\r\n")[0].split()[1] == b"400"


def test_idle_and_half_sent_requests_are_closed_after_the_idle_timeout(tmp_path, master):
    """A silent client and one whose headers never end hold a connection for idle_timeout, not for ever."""
    with edge_process(tmp_path, master.url, [], idle_timeout=1) as edge:
        silent = socket.create_connection(("127.0.0.1", edge.config.port), timeout=10)
        slow = socket.create_connection(("127.0.0.1", edge.config.port), timeout=10)
        slow.sendall(b"GET " + PAGE.encode() + b" HTTP/1.1\r\nHost: x\r\n")
        assert get(edge.url + PAGE)[0] == 200  # others are served meanwhile
        with silent, slow:  # recv returns b"" when the edge closes; the socket timeout is only a guard
            assert silent.recv(100) == b""
            assert slow.recv(100) == b""


def test_requests_reuse_connections_to_the_origin(tmp_path, master):
    """Old edge: one new origin connection per request."""
    with edge_process(tmp_path, master.url, [], page_ttl=0) as edge:
        for _ in range(20):
            assert get(edge.url + PAGE)[0] == 200
    assert master.connections <= 3


def test_health_counts_every_request_under_concurrency(tmp_path, devpi, master):
    path, _ = file_url(devpi.url, "kitdemo-edge")
    with edge_process(tmp_path, master.url, []) as edge:
        assert get(edge.url + path)[1]["X-Cache"] == "MISS"
        with ThreadPoolExecutor(16) as pool:
            states = list(pool.map(lambda _: get(edge.url + path)[1]["X-Cache"], range(200)))
        assert states == ["HIT"] * 200
        health = json.loads(get(f"{edge.url}/+edge/health")[2])
        assert health["requests"] == 203 and health["hits"] == 200 and health["failovers"] == 0


def test_a_cache_that_cannot_be_written_degrades_to_passing_files_through(tmp_path, devpi, master):
    """Made unwritable in a way that holds for root too: the cache folder is replaced by a file.
    (Once: health said "unhealthy" (503) although every file could still be served.)"""
    path, digest = file_url(devpi.url, "kitdemo-big")
    with edge_process(tmp_path, master.url, []) as edge:
        assert json.loads(get(f"{edge.url}/+edge/health")[2])["edge"] == "ok"
        edge.cache.rmdir()
        edge.cache.write_text("not a folder")
        for _ in range(2):  # never kept, so a miss each time, and whole each time
            status, headers, body = get(edge.url + path)
            assert status == 200 and headers["X-Cache"] == "MISS" and hashlib.sha256(body).hexdigest() == digest
        status, _, body = get(f"{edge.url}/+edge/health")
        health = json.loads(body)
        assert status == 200 and health["edge"] == "degraded"
        assert "cannot store files in cache" in health["reason"] and "passed through" in health["reason"]
        assert health["cache_write_failures"] == 2 and health["cached_files"] == 0


@pytest.mark.parametrize("client", ["pip", "uv"])
def test_a_full_cache_disk_costs_the_cache_not_the_download(tmp_path, devpi, master, client):
    """The edge's cache on a real 1 MB tmpfs, a 3 MB wheel: the install gets every byte.
    (Once: ENOSPC cut the client off mid-file, and health said "ok".)"""
    cache = tmp_path / "edge" / "cache"
    with mounted_tmpfs(cache, "1m"), edge_process(tmp_path / "edge", master.url, []) as edge:
        index = f"{edge.url}/web/private/+simple/"
        target = tmp_path / f"site-{client}"
        if client == "pip":
            command = [BIN / "python", "-m", "pip", "install", "--no-deps", "--no-cache-dir", "--target", target,
                       "--index-url", index, "kitdemo-big"]
        else:
            command = [BIN / "uv", "pip", "install", "--no-deps", "--no-cache", "--target", target,
                       "--python", BIN / "python", "--index-url", index, "kitdemo-big"]
        for _ in range(2):
            run(command, env=devpi.env)
            assert (target / "kitdemo_big" / "blob.bin").stat().st_size == 3 * 1024 * 1024
            shutil.rmtree(target)
        health = json.loads(get(f"{edge.url}/+edge/health")[2])
        assert health["edge"] == "degraded" and "No space left on device" in health["reason"]
        assert health["cache_write_failures"] >= 2 and health["integrity_failures"] == 0
        assert [p for p in cache.iterdir() if p.suffix in (".part", ".file")] == []


# -- speed: what made one keep-alive connection slow cannot happen ------------------------


def test_a_cached_answer_arrives_in_one_write(tmp_path, devpi, master):
    """Old edge: headers and body as separate small writes, so on a kept-alive
    connection the body waited for a delayed ACK (Nagle): 44 ms a file."""
    path, _ = file_url(devpi.url, "kitdemo-edge")
    with edge_process(tmp_path, master.url, [], page_ttl=60) as edge:
        get(edge.url + path)
        get(edge.url + PAGE)
        with socket.create_connection(("127.0.0.1", edge.config.port), timeout=10) as sock:
            for target in (path, PAGE) * 3:
                sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                first = sock.recv(1 << 20)  # what the first write brought
                head, _, body = first.partition(b"\r\n\r\n")
                length = int([line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")][0].split(b":")[1])
                assert len(body) == length, target


# -- integrity -----------------------------------------------------------------------------


def test_a_file_corrupted_on_disk_is_never_served(tmp_path, devpi, master):
    """Same size, same mtime, one bit off. Old edge: served as is."""
    path, digest = file_url(devpi.url, "kitdemo-edge")
    with edge_process(tmp_path, master.url, []) as edge:
        good = get(edge.url + path)[2]
        [cached] = edge.cache.glob("*.file")
        stat = cached.stat()
        data = bytearray(cached.read_bytes())
        data[len(data) // 2] ^= 1
        cached.write_bytes(bytes(data))
        os.utime(cached, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        status, headers, body = get(edge.url + path)
        assert status == 200 and body == good and hashlib.sha256(body).hexdigest() == digest
        assert headers["X-Cache"] == "MISS" and edge.stats()["integrity_failures"] == 1
        assert get(edge.url + path)[1]["X-Cache"] == "HIT"  # stored again, right this time


def test_a_large_file_corrupted_on_disk_is_never_served_whole(tmp_path, devpi, master):
    """Above verify_whole_max the file is checked while it streams: a bad one is cut short."""
    path, digest = file_url(devpi.url, "kitdemo-big")
    with edge_process(tmp_path, master.url, [], verify_whole_max=1024 * 1024) as edge:
        good = get(edge.url + path)[2]
        assert hashlib.sha256(good).hexdigest() == digest
        [cached] = edge.cache.glob("*.file")
        data = bytearray(cached.read_bytes())
        data[-10] ^= 1
        cached.write_bytes(bytes(data))
        with pytest.raises((http.client.IncompleteRead, ConnectionError)):
            get(edge.url + path)
        body = get(edge.url + path)[2]  # dropped: fetched again
        assert body == good and edge.stats()["integrity_failures"] == 1


def test_a_killed_edge_never_serves_a_partial_file(tmp_path, devpi, master):
    """kill -9 while a file streams in; after a restart the file is whole."""
    path, digest = file_url(devpi.url, "kitdemo-big")
    master.mode = "stall"
    with edge_process(tmp_path, master.url, []) as edge:
        conn = http.client.HTTPConnection("127.0.0.1", edge.config.port, timeout=30)
        conn.request("GET", path)
        response = conn.getresponse()
        response.read(1024)  # the edge streams: it has begun filling its cache
        assert list(edge.cache.glob("*.part")) and not list(edge.cache.glob("*.file"))
        os.kill(edge.proc.pid, signal.SIGKILL)
        edge.proc.wait()
        conn.close()
    master.mode = "ok"
    with edge_process(tmp_path, master.url, []) as edge:
        assert not list(edge.cache.glob("*.part"))
        status, headers, body = get(edge.url + path)
        assert hashlib.sha256(body).hexdigest() == digest and headers["X-Cache"] == "MISS"


# -- pages: no query in a key --------------------------------------------------------------


def test_a_query_string_never_fills_the_cache_folder(tmp_path, devpi, master):
    """Old edge: ?x=1, ?x=2... each stored the file again. (That both edges pass such a
    request, X-Cache PASS, is in test_contract.py; here: no file, no page kept.)"""
    path, _ = file_url(devpi.url, "kitdemo-edge")
    with edge_process(tmp_path, master.url, []) as edge:
        for n in range(5):
            for target in (path, PAGE):
                get(f"{edge.url}{target}?x={n}")
        assert list(edge.cache.glob("*")) == []
        assert edge.stats()["cached_pages"] == 0


# -- purge ---------------------------------------------------------------------------------------


def test_a_bad_key_or_a_missing_secret_file_refuses_purges(tmp_path, master):
    """(A purge without the secret, or with a wrong one, refused by both edges: test_contract.py.)"""
    with edge_process(tmp_path, master.url, []) as edge:
        assert purge(edge, ["web"])[0] == 400
        assert purge(edge, ["web/private"]) == (200, {"purged": 0})
        (tmp_path / "edge-purge-secret").unlink()
        assert purge(edge, ["web/private"])[0] == 403
        assert "refused" in json.loads(get(f"{edge.url}/+edge/health")[2])["purge"]


def test_edge_config_round_trips_and_the_site_writes_it(tmp_path):
    from kit.site.answers import answers_from_raw
    from kit.site.render import render_site
    from kit.site.templating import template_dir
    from kit.site.plan import edge_config

    config = EdgeConfig(host="127.0.0.1", port=1, public_url="http://x.test", master="http://127.0.0.1:2", page_ttl=3.0)
    config.write(tmp_path / "edge.json")
    assert EdgeConfig.load(tmp_path / "edge.json") == config
    answers = answers_from_raw({"upstream": str(tmp_path), "edge_port": 3999, "master_port": 3998, "mirror_port": 3997})
    render_site(answers, tmp_path / "site")
    written = tmp_path / "site" / "cluster" / "edge.json"
    assert EdgeConfig.load(written) == edge_config(answers)
    assert edge_config(answers).master == "http://127.0.0.1:3998" and edge_config(answers).mirrors == ["http://127.0.0.1:3997"]
    assert edge_config(answers).purge_secret_file == "edge-purge-secret"
    assert (edge_config(answers).static_copy_dir, edge_config(answers).static_copy_indexes) == (
        "run/static-copy", [f"{team}/private" for team in answers.teams])
    assert oct(written.stat().st_mode & 0o777) == "0o644"
    assert not (template_dir("site") / "{{cookiecutter.dirname}}" / "cluster" / "edge.json").exists()


@pytest.mark.parametrize("access_log", [False, True])
def test_one_line_per_request_only_when_asked(tmp_path, master, access_log):
    """The access log halves the edge's warm-page throughput: off unless edge.json asks."""
    with edge_process(tmp_path, master.url, [], access_log=access_log) as edge:
        get(edge.url + "/+edge/health")
    assert ("GET /+edge/health" in (tmp_path / "edge.log").read_text()) is access_log


def test_a_team_page_is_api_version_1_1_json_with_versions_sizes_and_upload_times(tmp_path, devpi):
    """devpi 6.20 writes api-version 1.0; the edge serves 1.1 (PEP 700) for ``latest+json``,
    the sizes and upload times from devpi's answer to a HEAD of each file, fetched once."""
    with edge_process(tmp_path, devpi.url, [devpi.url]) as edge:
        status, headers, body = get(edge.url + "/web/private/+simple/kitdemo-edge/",
                                    {"Accept": "application/vnd.pypi.simple.latest+json"})
        assert status == 200 and headers["Content-Type"] == "application/vnd.pypi.simple.v1+json"
        page = json.loads(body)
        assert page["meta"]["api-version"] == "1.1" and page["versions"] == ["1.0"]
        [entry] = page["files"]
        assert entry["size"] == devpi.small.stat().st_size
        assert entry["upload-time"].endswith("Z") and entry["upload-time"][:4].isdigit()
        html = get(edge.url + "/web/private/+simple/kitdemo-edge/", {"Accept": "text/html"})[2]
        assert b'<meta name="pypi:repository-version" content="1.1">' in html
        assert answer(edge.url + "/web/private/+simple/kitdemo-edge/", {"Accept": "application/xml"})[0] == 406
