"""The public mirror on a host of its own (kit/edge/mirror_origin.py), for real:
bandersnatch mirrors two projects from kit's local upstream; the public-mirror
host's server is ``python -m http.server PORT --bind ADDRESS --directory
mirror/web``, as the lead runs it; the edge is ``python -m kit.edge`` with
``public_mirror_origin`` pointing at it. pip installs through the edge's
``/mirror/simple/`` and gets the tree's bytes; with the host's server stopped,
what the edge fetched is still installed (pages stale, files from its cache)."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kit.core.wait import wait_until
from kit.ops.sample import make_wheel
from kit.upstream.server import LocalUpstream
from tests.conftest import BIN, clean_env, free_port, run, wait_http
from tests.support.edge import edge_process
from tests.support.upstream import bandersnatch_conf, bandersnatch_mirror

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A real bandersnatch mirror of kitmir-alpha 1.0 and kitmir-beta 1.0 (which requires kitmir-alpha): its web folder."""
    root = tmp_path_factory.mktemp("mirror-host")
    upstream = root / "upstream"
    make_wheel(upstream, "kitmir-alpha", "1.0", marker="alpha")
    make_wheel(upstream, "kitmir-beta", "1.0", marker="beta", requires=("kitmir-alpha",))
    with LocalUpstream(upstream) as local:
        bandersnatch_mirror(bandersnatch_conf(root, local, "kitmir-alpha", "kitmir-beta"), root / "home")
    web = root / "mirror" / "web"
    assert (web / "simple" / "kitmir-beta" / "index.v1_json").is_file()
    return web


@contextlib.contextmanager
def mirror_host(web: Path, log: Path):
    """The public-mirror host's server of ``web``: the standard library's, as a process; always stopped."""
    port = free_port()
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                 "--directory", str(web)], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/simple/index.html", proc, log=log)
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def fetch(port: int, target: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", target, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def pip_download(edge, tmp_path: Path, name: str) -> dict[str, bytes]:
    """``pip download`` of ``name`` (and what it requires) through the edge's public mirror: the files' bytes by name."""
    env = clean_env(tmp_path / "home")  # PIP_CONFIG_FILE=/dev/null, no PIP_*: only this index
    dest = tmp_path / "downloads"
    run([BIN / "python", "-m", "pip", "download", "--no-cache-dir", "--index-url", f"{edge.url}/mirror/simple/",
         "--dest", dest, name], env=env)
    return {path.name: path.read_bytes() for path in dest.iterdir()}


def tree_files(web: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in (web / "packages").rglob("*.whl")}


def test_pip_gets_the_tree_s_bytes_through_the_edge_and_keeps_getting_them_with_the_host_down(tree, tmp_path):
    with mirror_host(tree, tmp_path / "http-server.log") as (server, url):
        with edge_process(tmp_path / "edge", closed_port_url(), [], public_mirror_origin=url, page_ttl=0.2) as edge:
            got = pip_download(edge, tmp_path / "first", "kitmir-beta")
            assert got == tree_files(tree) and len(got) == 2  # beta and alpha, byte for byte

            env = clean_env(tmp_path / "home")
            target = tmp_path / "site"
            run([BIN / "python", "-m", "pip", "install", "--no-cache-dir", "--index-url", f"{edge.url}/mirror/simple/",
                 "--target", target, "kitmir-beta"], env=env)
            out = run([BIN / "python", "-c", "import kitmir_alpha as a, kitmir_beta as b; print(a.WHO, b.WHO)"],
                      env=dict(env, PYTHONPATH=str(target))).stdout.split()
            assert out == ["alpha", "beta"]
            stats = edge.stats()
            assert stats["misses"] >= 2 and stats["integrity_failures"] == 0 and stats["mirror_served"] >= 4

            server.terminate()  # the public-mirror host's server gone
            server.wait(10)
            # Once the page's ttl (0.2 s) has passed since pip's last read, it can only be served stale.
            status, headers, _ = wait_until(
                lambda: fetch(edge.config.port, "/mirror/simple/kitmir-beta/", {"Accept": JSON_TYPE}), 10, 0.05,
                accept=lambda got: got[1]["x-cache"] != "HIT")
            assert (status, headers["x-cache"]) == (200, "STALE")
            assert pip_download(edge, tmp_path / "second", "kitmir-beta") == got  # pages stale, files from the cache
            status, _, body = fetch(edge.config.port, "/mirror/simple/kitmir-gamma/")
            assert status == 503 and body.count(b"\n") == 1 and b"public mirror's host does not answer" in body


def test_a_file_changed_on_the_host_s_disk_is_a_502_never_its_bytes(tree, tmp_path):
    """The host's disk gave other bytes than its page's sha256: nothing of them reaches pip, nothing is cached."""
    wheel = next((tree / "packages").rglob("kitmir_alpha-*.whl"))
    good = wheel.read_bytes()
    with mirror_host(tree, tmp_path / "http-server.log") as (_server, url):
        with edge_process(tmp_path / "edge", closed_port_url(), [], public_mirror_origin=url) as edge:
            page = json.loads(fetch(edge.config.port, "/mirror/simple/kitmir-alpha/", {"Accept": JSON_TYPE})[2])
            assert page["files"][0]["hashes"]["sha256"] == hashlib.sha256(good).hexdigest()
            target = "/mirror/" + str(wheel.relative_to(tree))
            try:
                wheel.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
                status, _, body = fetch(edge.config.port, target)
                assert status == 502 and body.count(b"\n") == 1 and good[:64] not in body
                assert edge.stats()["integrity_failures"] == 1 and edge.stats()["cached_files"] == 0
            finally:
                wheel.write_bytes(good)
            assert fetch(edge.config.port, target)[:3:2] == (200, good)
