"""The public mirror served from its own host (kit/edge/mirror_origin.py): the edge's
handler in-process before a stand-in of the public-mirror host's file server (a
bandersnatch-like ``web`` folder served by path, with Last-Modified and
If-Modified-Since as Python's http.server answers them). The real http.server,
a real tree and pip: tests/integration/edge/test_mirror_origin.py."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import RawTestServer

from kit.edge.app import Edge, main
from kit.edge.config import EdgeConfig
from tests.support.edge_inprocess import scenario, World
from tests.support.edge_standins import refusing_port

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
SMALL = b"a small wheel's bytes\n" * 50
LARGE = bytes(range(256)) * 4096  # 1 MiB: more than one chunk
NAMES = {"small": "kitmir_alpha-1.0-py3-none-any.whl", "large": "kitmir_alpha-2.0-py3-none-any.whl"}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_path(data: bytes, name: str) -> str:
    """Where bandersnatch keeps a file: upstream's path (here made of another digest than its sha256)."""
    other = hashlib.blake2b(data, digest_size=32).hexdigest()
    return f"packages/{other[:2]}/{other[2:4]}/{other[4:]}/{name}"


def make_tree(web_dir: Path) -> dict[str, str]:
    """A bandersnatch-like web folder (simple-format ALL) with kitmir-alpha 1.0 and 2.0; paths by name."""
    paths = {}
    files = []
    for kind, data in (("small", SMALL), ("large", LARGE)):
        path = file_path(data, NAMES[kind])
        (web_dir / path).parent.mkdir(parents=True)
        (web_dir / path).write_bytes(data)
        paths[kind] = path
        files.append((NAMES[kind], path, sha256(data)))
    project = web_dir / "simple" / "kitmir-alpha"
    project.mkdir(parents=True)
    links = "".join(f'<a href="../../{p}#sha256={d}">{n}</a><br/>\n' for n, p, d in files)
    (project / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")
    (project / "index.v1_html").write_text(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")
    (project / "index.v1_json").write_text(json.dumps({
        "meta": {"api-version": "1.1"}, "name": "kitmir-alpha",
        "files": [{"filename": n, "url": f"../../{p}", "hashes": {"sha256": d}} for n, p, d in files]}))
    (web_dir / "simple" / "index.html").write_text('<a href="kitmir-alpha/">kitmir-alpha</a>\n')
    (web_dir / "simple" / "index.v1_json").write_text(json.dumps({"meta": {"api-version": "1.1"},
                                                                  "projects": [{"name": "kitmir-alpha"}]}))
    # A page bandersnatch is still writing: hidden, never served.
    (project / ".index.html.tmp1234").write_text("half a page")
    return paths


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


@dataclass
class MirrorHost:
    """The public-mirror host's file server as far as the edge sees it; every (method, path, headers) it saw."""

    web_dir: Path
    seen: list = field(default_factory=list)
    corrupt: bool = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.method, request.raw_path, dict(request.headers)))
        target = self.web_dir / request.path.lstrip("/")
        if not target.is_file():
            return web.Response(status=404, text="File not found\n")
        if self.corrupt and request.path.startswith("/packages/"):
            data = bytearray(target.read_bytes())
            data[-1] ^= 1  # same size, one bit off
            return web.Response(body=bytes(data), content_type="application/octet-stream")
        # Last-Modified and If-Modified-Since in whole seconds, as http.server answers them.
        return web.FileResponse(target)

    def asked(self, prefix: str = "/") -> list[str]:
        return [path for _, path, _ in self.seen if path.startswith(prefix)]


@dataclass
class Mirrored:
    world: World
    host: MirrorHost
    server: RawTestServer
    paths: dict

    @property
    def edge(self) -> Edge:
        return self.world.edge

    async def get(self, target: str, headers: dict | None = None, method: str = "GET"):
        return await self.world.send(f"{method} {target}", headers)


@contextlib.asynccontextmanager
async def mirrored(tmp_path: Path, page_ttl: float = 60.0):
    """An edge whose public mirror is the stand-in host; its master at a port that refuses."""
    web_dir = tmp_path / "web"
    paths = make_tree(web_dir)
    host = MirrorHost(web_dir)
    server = RawTestServer(host.handle, host="127.0.0.1")
    await server.start_server()
    with refusing_port() as closed:
        config = EdgeConfig(host="127.0.0.1", port=0, public_url="http://edge.test", master=f"http://127.0.0.1:{closed}",
                            cache_dir=str(tmp_path / "cache"), purge_secret_file=str(tmp_path / "secret"),
                            health_interval=3600, page_ttl=page_ttl, connect_timeout=0.5, read_timeout=2.0,
                            public_mirror_origin=f"http://127.0.0.1:{server.port}")
        edge = Edge(config)
        await edge.start()
        front = RawTestServer(edge.handle, host="127.0.0.1")
        await front.start_server()
        try:
            yield Mirrored(World(edge, front.port, None, server.port, None), host, server, paths)
        finally:
            await front.close()
            await edge.stop()
            await server.close()


# -- pages ------------------------------------------------------------------------------------


@scenario
async def test_pages_come_from_the_host_in_the_representation_asked_and_are_kept(tmp_path):
    async with mirrored(tmp_path) as m:
        status, headers, body = await m.get("/mirror/simple/kitmir-alpha/")
        assert status == 200 and headers["content-type"].startswith("text/html") and headers["vary"] == "Accept"
        assert body == (m.host.web_dir / "simple/kitmir-alpha/index.html").read_bytes()
        assert (headers["x-cache"], headers["x-served-by"]) == ("MISS", "public-mirror")

        accept = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"  # pip's
        status, headers, body = await m.get("/mirror/simple/kitmir-alpha/", {"Accept": accept})
        assert status == 200 and headers["content-type"] == JSON_TYPE and json.loads(body)["name"] == "kitmir-alpha"

        root = await m.get("/mirror/simple/", {"Accept": JSON_TYPE})
        assert root[0] == 200 and root[1]["content-type"] == JSON_TYPE

        head = await m.get("/mirror/simple/kitmir-alpha/", {"Accept": JSON_TYPE}, method="HEAD")
        assert head[0] == 200 and int(head[1]["content-length"]) == len(body) and head[2] == b""
        unchanged = await m.get("/mirror/simple/kitmir-alpha/", {"Accept": JSON_TYPE, "If-None-Match": headers["etag"]})
        assert (unchanged[0], unchanged[2]) == (304, b"")

        asked = len(m.host.seen)
        for accept in ("text/html", JSON_TYPE):
            status, headers, _ = await m.get("/mirror/simple/kitmir-alpha/", {"Accept": accept})
            assert (status, headers["x-cache"]) == (200, "HIT")
        assert len(m.host.seen) == asked  # within page_ttl the host is not asked
        # Only files of the tree were asked for, never a folder (http.server would list it).
        assert m.host.asked() == ["/simple/kitmir-alpha/index.html", "/simple/kitmir-alpha/index.v1_json",
                                  "/simple/index.v1_json"]
        assert m.edge.stats["mirror_served"] == 7


@scenario
async def test_a_tree_in_one_format_serves_it_to_every_client(tmp_path):
    async with mirrored(tmp_path) as m:
        os.unlink(m.host.web_dir / "simple/kitmir-alpha/index.v1_json")
        status, headers, body = await m.get("/mirror/simple/kitmir-alpha/", {"Accept": JSON_TYPE})
        assert status == 200 and headers["content-type"].startswith("text/html") and b"sha256=" in body


@scenario
async def test_a_page_past_its_ttl_is_revalidated_and_a_new_one_served(tmp_path):
    async with mirrored(tmp_path, page_ttl=0.05) as m:
        page = m.host.web_dir / "simple/kitmir-alpha/index.html"
        age(page, 60)  # written a minute ago: its Last-Modified is safe to revalidate with
        first = await m.get("/mirror/simple/kitmir-alpha/")
        await asyncio.sleep(0.1)
        again = await m.get("/mirror/simple/kitmir-alpha/")
        assert again[0] == 200 and again[2] == first[2] and again[1]["x-cache"] == "HIT"
        assert "If-Modified-Since" in m.host.seen[-1][2]  # asked, answered 304: no body moved

        page.write_text("<html><body>synced again</body></html>\n")  # a sync replaced it
        await asyncio.sleep(0.1)
        status, headers, body = await m.get("/mirror/simple/kitmir-alpha/")
        assert (status, headers["x-cache"], body) == (200, "MISS", b"<html><body>synced again</body></html>\n")
        # Written this very second: not revalidated by its Last-Modified (whole seconds), fetched whole.
        await asyncio.sleep(0.1)
        await m.get("/mirror/simple/kitmir-alpha/")
        assert "If-Modified-Since" not in m.host.seen[-1][2]


@scenario
async def test_pages_are_served_stale_while_the_host_is_down_and_503_when_never_seen(tmp_path):
    async with mirrored(tmp_path, page_ttl=0.05) as m:
        fresh = await m.get("/mirror/simple/kitmir-alpha/")
        await m.server.close()  # the public-mirror host is gone
        await asyncio.sleep(0.1)
        status, headers, body = await m.get("/mirror/simple/kitmir-alpha/")
        assert (status, body, headers["x-cache"]) == (200, fresh[2], "STALE") and "111" in headers["warning"]
        status, headers, body = await m.get("/mirror/simple/", {"Accept": JSON_TYPE})
        assert status == 503 and body.count(b"\n") == 1 and headers["retry-after"]
        assert b"the public mirror's host does not answer" in body
        status, _, body = await m.get("/mirror/" + m.paths["small"])  # its page is known: its file never fetched
        assert status == 503 and body.count(b"\n") == 1


# -- files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["small", "large"])
@scenario
async def test_a_file_is_checked_against_its_page_s_sha256_and_cached(tmp_path, kind):
    data = SMALL if kind == "small" else LARGE
    async with mirrored(tmp_path) as m:
        target = "/mirror/" + m.paths[kind]
        # No page read first (pip reads one, a script may not): the edge reads the project's page itself.
        status, headers, body = await m.get(target)
        assert (status, body, headers["x-cache"]) == (200, data, "MISS")
        assert m.host.asked() == ["/simple/kitmir-alpha/index.v1_json", "/" + m.paths[kind]]
        status, headers, body = await m.get(target)
        assert (status, body, headers["x-cache"]) == (200, data, "HIT")
        head = await m.get(target, method="HEAD")
        assert head[0] == 200 and int(head[1]["content-length"]) == len(data) and head[2] == b""
        assert m.host.asked("/packages/") == ["/" + m.paths[kind]]  # once: then from the edge's file cache
        assert m.edge.files.lookup(target).sha256 == sha256(data)

        await m.server.close()  # the host gone: the cached file is still served, checked
        await asyncio.sleep(0.05)
        status, _, body = await m.get(target)
        assert (status, body) == (200, data)


@scenario
async def test_wrong_bytes_from_the_host_are_a_502_never_served_nor_cached(tmp_path):
    async with mirrored(tmp_path) as m:
        m.host.corrupt = True
        target = "/mirror/" + m.paths["small"]
        status, headers, body = await m.get(target)
        assert status == 502 and SMALL[:20] not in body and body.count(b"\n") == 1
        assert b"do not match the sha256" in body
        assert m.edge.files.lookup(target) is None and m.edge.stats["integrity_failures"] == 1
        assert m.edge.stats["mirror_served"] == 0

        # A large file is found wrong only at its end: the connection is cut before its last chunk.
        status, headers, body = await m.get("/mirror/" + m.paths["large"])
        assert status == 200 and len(body) < len(LARGE)
        assert m.edge.files.lookup("/mirror/" + m.paths["large"]) is None
        assert m.edge.stats["integrity_failures"] == 2

        m.host.corrupt = False  # the mirror's disk repaired: the right bytes are served, then cached
        status, headers, body = await m.get(target)
        assert (status, body) == (200, SMALL)


@scenario
async def test_a_file_no_page_links_is_not_served(tmp_path):
    async with mirrored(tmp_path) as m:
        stray = m.host.web_dir / "packages/aa/bb/cc/kitmir_alpha-9.9-py3-none-any.whl"
        stray.parent.mkdir(parents=True)
        stray.write_bytes(b"unlisted")
        status, _, body = await m.get("/mirror/packages/aa/bb/cc/kitmir_alpha-9.9-py3-none-any.whl")
        assert status == 404 and b"no page of the public mirror links" in body and b"unlisted" not in body
        assert m.host.asked("/packages/") == []


TRICKS = [
    "/mirror/../secret.txt",
    "/mirror/%2e%2e/secret.txt",
    "/mirror/simple/..%2f..%2fsecret.txt",
    "/mirror/simple/kitmir-alpha/.index.html.tmp1234",
    "/mirror/simple/.hidden/",
    "/mirror/packages/aa/bb/cc/%2f%2e%2e%2fsecret.whl",
    "/mirror/packages/%2e%2e/bb/cc/secret.whl",
    "/mirror/packages//aa/bb/secret.whl",
    "/mirror/simple/..%5c..%5csecret.txt",
    "/mirror/simple/kitmir-alpha%00/",
    "/mirror/json/kitmir-alpha",
    "/mirror/simple/kitmir-alpha/index.html",
]


@pytest.mark.parametrize("target", TRICKS)
@scenario
async def test_path_tricks_are_refused_as_from_disk_without_asking_the_host(tmp_path, target):
    async with mirrored(tmp_path) as m:
        (m.host.web_dir.parent / "secret.txt").write_text("secret")
        status, _, body = await m.get(target)
        assert status in (400, 404) and b"secret" not in body.replace(b"secret.", b"")
        assert m.host.seen == []


@scenario
async def test_writes_are_refused_and_redirects_are_the_edge_s(tmp_path):
    async with mirrored(tmp_path) as m:
        status, headers, _ = await m.get("/mirror/simple/kitmir-alpha/", method="DELETE")
        assert (status, headers["allow"]) == (405, "GET, HEAD")
        status, headers, _ = await m.get("/mirror/simple/KitMir_Alpha")
        assert (status, headers["location"]) == (301, "/mirror/simple/kitmir-alpha/")
        status, _, body = await m.get("/mirror/simple/kitmir-nope/")
        assert status == 404 and b"has it been synced?" in body
        assert m.host.seen and all(method == "GET" for method, _, _ in m.host.seen)


# -- settings --------------------------------------------------------------------------------


MINIMAL = {"host": "127.0.0.1", "port": 3999, "public_url": "http://edge.test", "master": "http://127.0.0.1:3998"}


@pytest.mark.parametrize("settings, said", [
    ({"public_mirror_dir": "../mirror/web", "public_mirror_origin": "http://198.18.0.8:3147"},
     "public_mirror_dir and public_mirror_origin are both set"),
    ({"public_mirror_origin": "198.18.0.8:3147"}, "public_mirror_origin must be http://ADDRESS:PORT"),
    ({"public_mirror_origin": "ftp://198.18.0.8/"}, "public_mirror_origin must be http://ADDRESS:PORT"),
    ({"public_mirror_origin": "http://user:pw@198.18.0.8:3147"}, "public_mirror_origin must be"),
    ({"public_mirror_origin": "http://198.18.0.8:port"}, "public_mirror_origin must be"),
], ids=["both", "no-scheme", "not-http", "credentials", "bad-port"])
def test_an_edge_json_with_a_bad_public_mirror_setting_is_one_line(tmp_path, settings, said):
    path = tmp_path / "edge.json"
    path.write_text(json.dumps({**MINIMAL, **settings}))
    with pytest.raises(SystemExit) as stopped:
        main([str(path)])
    assert isinstance(stopped.value.code, str) and "\n" not in stopped.value.code
    assert stopped.value.code.startswith(f"kit edge: {path}: ") and said in stopped.value.code


def test_the_public_mirror_s_host_is_one_setting_written_and_read(tmp_path):
    config = EdgeConfig(**MINIMAL, public_mirror_origin="http://198.18.0.8:3147")
    config.write(tmp_path / "edge.json")
    assert EdgeConfig.load(tmp_path / "edge.json") == config
    assert EdgeConfig(**MINIMAL).public_mirror_origin == ""
