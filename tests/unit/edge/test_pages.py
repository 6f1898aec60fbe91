"""The edge's index pages (:mod:`kit.edge.pages`) in-process, before a stand-in
origin: one fetch per page however many clients ask while it is missing, and
purge bodies bounded. Pages per representation, stale when every origin
fails, purges that make the next read fresh: the edge run as the cluster runs it, tests/integration/edge/."""

from __future__ import annotations

import asyncio
import gzip
import time

import pytest

from kit.edge.cache import GZIP_MIN, HTML, Page, PageKey
from tests.support.edge_inprocess import DIGEST, SECRET, running, scenario


PAGE = "/web/private/+simple/kitdemo/"
#: PAGE's HTML, as the edge keeps it.
KEY = PageKey("web/private", "kitdemo", HTML)


@scenario
async def test_one_fetch_per_page_however_many_clients_ask_while_it_is_missing(tmp_path):
    """A page expiring under load costs the origin one request, not one per client."""
    async with running(tmp_path) as world:
        world.origin.pages_wait_for = asyncio.Event()
        clients = [asyncio.create_task(world.send(f"GET {PAGE}")) for _ in range(20)]
        while world.edge.stats["requests"] < len(clients):  # every client asked before the origin answers
            await asyncio.sleep(0.01)
        world.origin.pages_wait_for.set()
        answers = await asyncio.gather(*clients)
        assert {(status, body) for status, _, body in answers} == {
            (200, b'<meta name="pypi:repository-version" content="1.1">\n'
             b"<a href='../../+f/0ab/cdef0123456789/kitdemo-1.0-py3-none-any.whl#sha256="
             + DIGEST.encode() + b"' data-dist-info-metadata=\"true\" data-core-metadata=\"true\">"
             b"kitdemo-1.0</a> serial 1\n")}
        assert [target for _, target, _ in world.origin.seen] == [PAGE]


@pytest.mark.parametrize("body, status", [
    (b"[" * 100_000 + b"]" * 100_000, 400),
    (b'{"keys": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", 400),
    (b'{"keys": ["web/private"], "serial": 1}', 200),
    (b"x" * (2 * 1024 * 1024), 413),
])
@scenario
async def test_a_purge_body_is_bounded(tmp_path, body, status):
    async with running(tmp_path) as world:
        got, _, answer = await world.send("POST /+edge/purge", {"Authorization": f"Bearer {SECRET}"}, body)
        assert got == status, answer
        if status == 400:
            assert b"nested too deeply" in answer or b"must be" in answer


@pytest.mark.parametrize("accept", ["application/xml", "application/json, image/png;q=0.5",
                                    "text/html;q=0, application/xml"])
@scenario
async def test_an_accept_naming_nothing_the_edge_serves_gets_406_in_one_line(tmp_path, accept):
    async with running(tmp_path) as world:
        status, _, body = await world.send(f"GET {PAGE}", {"Accept": accept})
        assert status == 406
        assert body.count(b"\n") == 1 and b"application/vnd.pypi.simple.v1+json" in body
        assert world.origin.seen == []  # refused before any fetch


@pytest.mark.parametrize("accept", [None, "*/*", "application/vnd.pypi.simple.latest+html", "text/*"])
@scenario
async def test_html_pages_say_their_repository_version(tmp_path, accept):
    """PEP 629's <meta>, for whatever Accept is answered as HTML (also a second, cached read)."""
    async with running(tmp_path) as world:
        for _ in range(2):
            status, headers, body = await world.send(f"GET {PAGE}", {"Accept": accept} if accept else {})
            assert status == 200 and headers["content-type"].startswith("text/html")
            assert body.startswith(b'<meta name="pypi:repository-version" content="1.1">')
        assert headers["x-cache"] == "HIT"


#: A page above the gzip threshold, as a project with many files has.
LARGE = b"".join(b"<a href='../../+f/0ab/%04d/kitdemo-1.%d-py3-none-any.whl'>kitdemo-1.%d</a>\n" % (n, n, n)
                 for n in range(200))


@scenario
async def test_a_large_page_is_sent_gzip_encoded_to_a_client_that_takes_it_compressed_once(tmp_path):
    async with running(tmp_path) as world:
        world.edge.pages.pages.put(KEY, Page(LARGE, "text/html", time.monotonic(), "master"))
        status, headers, body = await world.send(f"GET {PAGE}", {"Accept-Encoding": "gzip, deflate"})
        assert status == 200 and headers["content-encoding"] == "gzip" and gzip.decompress(body) == LARGE
        assert headers["vary"] == "Accept, Accept-Encoding" and len(body) < len(LARGE) // 4
        gzip_tag = headers["etag"]
        kept = world.edge.pages.pages.get(KEY).gzipped()
        status, headers, plain = await world.send(f"GET {PAGE}")
        assert status == 200 and "content-encoding" not in headers and plain == LARGE
        assert headers["vary"] == "Accept, Accept-Encoding"
        plain_tag = headers["etag"]
        assert gzip_tag == plain_tag[:-1] + '-gzip"' and plain_tag.startswith('"')
        status, headers, again = await world.send(f"GET {PAGE}", {"Accept-Encoding": "br, gzip;q=0.5"})
        assert again == body and world.edge.pages.pages.get(KEY).gzipped() is kept
        status, headers, head = await world.send(f"HEAD {PAGE}", {"Accept-Encoding": "gzip"})
        assert (status, headers["content-encoding"], headers["etag"], head) == (200, "gzip", gzip_tag, b"")
        assert int(headers["content-length"]) == len(body)
        for tag in (gzip_tag, plain_tag, f'W/{plain_tag}, "other"'):
            for encoding in ("gzip", "identity"):
                status, headers, nothing = await world.send(f"GET {PAGE}", {"Accept-Encoding": encoding,
                                                                             "If-None-Match": tag})
                assert (status, nothing) == (304, b""), (tag, encoding)
                assert headers["etag"] == (gzip_tag if encoding == "gzip" else plain_tag)
        assert (await world.send(f"GET {PAGE}", {"If-None-Match": '"other"'}))[0] == 200


@pytest.mark.parametrize("encoding", ["gzip;q=0", "identity", "deflate, br", "*;q=0", "gzip;q=0, *"])
@scenario
async def test_a_page_is_sent_as_it_is_to_a_client_that_refuses_gzip(tmp_path, encoding):
    async with running(tmp_path) as world:
        world.edge.pages.pages.put(KEY, Page(LARGE, "text/html", time.monotonic(), "master"))
        status, headers, body = await world.send(f"GET {PAGE}", {"Accept-Encoding": encoding})
        assert status == 200 and "content-encoding" not in headers and body == LARGE


@scenario
async def test_a_small_page_is_never_compressed_and_does_not_vary_by_encoding(tmp_path):
    async with running(tmp_path) as world:
        status, headers, body = await world.send(f"GET {PAGE}", {"Accept-Encoding": "gzip"})
        assert status == 200 and "content-encoding" not in headers and headers["vary"] == "Accept"
        assert body.startswith(b'<meta name="pypi:repository-version"') and len(body) < GZIP_MIN


@scenario
async def test_a_large_page_fetched_from_the_origin_is_compressed_when_fetched(tmp_path):
    """The page's gzip bytes are made once, with the fetch, before any client is answered."""
    async with running(tmp_path) as world:
        world.origin.serial = "9" * GZIP_MIN  # the stand-in origin's page says its serial: a long one makes it large
        status, headers, body = await world.send(f"GET {PAGE}", {"Accept-Encoding": "gzip"})
        page = world.edge.pages.pages.get(KEY)
        assert status == 200 and headers["x-cache"] == "MISS" and page._gzipped == body
        assert gzip.decompress(body) == page.body and page.body.startswith(b'<meta name="pypi:repository-version"')
