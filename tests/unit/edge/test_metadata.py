"""Core metadata at the edge (:mod:`kit.edge.metadata`) in-process, before stand-in origins:
``WHEEL.metadata`` extracted from the wheel held verified, never served against a wrong hash."""

from __future__ import annotations

import hashlib
import io
import zipfile

from aiohttp import web

from kit.edge.cache import Files, Hashes, links_of
from tests.support.edge_inprocess import scenario
from tests.support.edge_standins import StandIn, edge_before, serving

METADATA = b"Metadata-Version: 2.1\nName: kitdemo\nVersion: 1.0\nRequires-Dist: idna\n"
META_DIGEST = hashlib.sha256(METADATA).hexdigest()
PATH = "/web/private/+f/0ab/cdef0123456789/kitdemo-1.0-py3-none-any.whl"
META_PATH = PATH + ".metadata"


def _wheel(metadata: bytes = METADATA) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("kitdemo/__init__.py", b"")
        archive.writestr("kitdemo-1.0.dist-info/METADATA", metadata)
        archive.writestr("kitdemo-1.0.dist-info/RECORD", b"")
    return buffer.getvalue()


WHEEL = _wheel()
DIGEST = hashlib.sha256(WHEEL).hexdigest()


def _origin(name: str = "master", declared: str | None = None, wheel: bytes = WHEEL, digest: str = DIGEST) -> StandIn:
    """A stand-in whose project page links a real wheel (and declares ``declared`` as its metadata's sha256)."""
    origin = StandIn(name)

    async def handle(request):
        origin.seen.append(request.raw_path)
        if request.raw_path == PATH:
            return web.Response(body=wheel, content_type="application/octet-stream")
        if request.raw_path.endswith("/+simple/kitdemo/"):
            extra = f' data-core-metadata="sha256={declared}"' if declared else ""
            href = f"../../{PATH.split('/web/private/')[1]}#sha256={digest}"
            return web.Response(text=f"<a href='{href}'{extra}>kitdemo-1.0</a>\n", content_type="text/html")
        return web.Response(status=404, text="no\n")

    origin.handle = handle
    return origin


@scenario
async def test_metadata_of_a_wheel_not_cached_is_extracted_from_it_verified_and_served_as_a_file(tmp_path):
    master = _origin()
    async with serving(master) as urls, edge_before(urls, tmp_path) as (edge, get):
        # No page seen yet: a wheel of an index the edge serves is advertised all the same
        # (its digest is learnt when its metadata is asked); anything else is not.
        assert edge.metadata.value_for(PATH) == "true"
        assert edge.metadata.value_for("/web/private/+simple/kitdemo/") is None
        assert edge.metadata.value_for("/elsewhere.whl") is None
        first = await get(META_PATH)
        assert first.status == 200 and first.body == METADATA
        assert first.headers["etag"] == f'"sha256-{META_DIGEST}"'
        assert first.headers["content-type"] == "application/octet-stream" and first.headers["x-cache"] == "MISS"
        assert master.seen.count(PATH) == 1 and edge.files.lookup(PATH).sha256 == DIGEST  # the wheel filled too
        again = await get(META_PATH)
        assert again.status == 200 and again.body == METADATA and again.headers["x-cache"] == "HIT"
        assert master.seen.count(PATH) == 1
        assert (await get(META_PATH, {"If-None-Match": first.headers["etag"]})).status == 304
        head = await get(META_PATH, method="HEAD")
        assert head.status == 200 and head.body == b"" and head.headers["content-length"] == str(len(METADATA))
        assert head.headers["etag"] == first.headers["etag"]
        part = await get(META_PATH, {"Range": "bytes=-5"})
        assert part.status == 206 and part.body == METADATA[-5:]
        assert edge.stats["metadata"] == 5 and edge.stats_snapshot()["metadata"] == 5 and edge.health()["metadata"] == 5
        assert edge.metadata.value_for(PATH) == f"sha256={META_DIGEST}"
        assert edge.metadata.value_for(PATH + "#sha256=" + DIGEST) == f"sha256={META_DIGEST}"
        # The wheel itself is still served, from the cache.
        wheel = await get(PATH)
        assert wheel.status == 200 and wheel.body == WHEEL and wheel.headers["x-cache"] == "HIT"


@scenario
async def test_value_for_says_true_for_a_listed_wheel_not_yet_extracted_and_nothing_for_others(tmp_path):
    async with serving(_origin()) as urls, edge_before(urls, tmp_path) as (edge, get):
        await get("/web/private/+simple/kitdemo/")
        assert edge.metadata.value_for(PATH) == "true"
        assert edge.metadata.value_for("/web/private/+simple/kitdemo/") is None
        assert edge.metadata.value_for("/web/private/+f/0ab/kitdemo-1.0.tar.gz") is None


@scenario
async def test_a_page_declaring_another_metadata_hash_gets_no_metadata_served(tmp_path):
    async with serving(_origin(declared="0" * 64)) as urls, edge_before(urls, tmp_path) as (edge, get):
        answer = await get(META_PATH)
        assert answer.status == 502 and METADATA not in answer.body
        assert b"does not match the sha256 its page declares" in answer.body and answer.body.count(b"\n") == 1
        assert edge.stats["integrity_failures"] == 1 and edge.stats["metadata"] == 0
        assert edge.metadata.value_for(PATH) is None  # and the page is never told to advertise it


@scenario
async def test_a_page_declaring_the_right_hash_gets_it_served(tmp_path):
    async with serving(_origin(declared=META_DIGEST.upper())) as urls, edge_before(urls, tmp_path) as (edge, get):
        answer = await get(META_PATH)
        assert answer.status == 200 and answer.body == METADATA and edge.stats["integrity_failures"] == 0


@scenario
async def test_metadata_changed_on_disk_is_never_served_it_is_extracted_again(tmp_path):
    async with serving(_origin()) as urls, edge_before(urls, tmp_path) as (edge, get):
        assert (await get(META_PATH)).body == METADATA
        stored = edge.files.metadata_path(PATH)
        assert stored.read_bytes() == METADATA
        stored.write_bytes(METADATA.replace(b"idna", b"evil"))
        # A warm edge serves what it extracted from memory: the disk is not read.
        answer = await get(META_PATH)
        assert answer.status == 200 and answer.body == METADATA and edge.stats["integrity_failures"] == 0
        # Once memory let it go (past its bound), the copy on disk is checked, and extracted again.
        edge.metadata._in_memory.clear()
        answer = await get(META_PATH)
        assert answer.status == 200 and answer.body == METADATA and edge.stats["integrity_failures"] == 1
        assert stored.read_bytes() == METADATA


@scenario
async def test_a_wheel_changed_on_disk_is_fetched_again_before_its_metadata_is_read(tmp_path):
    master = _origin()
    async with serving(master) as urls, edge_before(urls, tmp_path) as (edge, get):
        assert (await get(PATH)).body == WHEEL
        edge.files.lookup(PATH).path.write_bytes(_wheel(METADATA.replace(b"idna", b"evil")))
        answer = await get(META_PATH)
        assert answer.status == 200 and answer.body == METADATA
        assert edge.stats["integrity_failures"] == 1 and master.seen.count(PATH) == 2


@scenario
async def test_wrong_wheel_bytes_from_every_origin_give_no_metadata(tmp_path):
    forged = _wheel(METADATA.replace(b"idna", b"evil"))
    async with serving(_origin(wheel=forged)) as urls, edge_before(urls, tmp_path) as (edge, get):
        answer = await get(META_PATH)
        assert answer.status == 503 and b"evil" not in answer.body and edge.stats["integrity_failures"] == 1
        assert edge.files.lookup(PATH) is None and edge.stats["metadata"] == 0


@scenario
async def test_metadata_of_a_file_no_page_lists_is_not_found(tmp_path):
    master = _origin()
    async with serving(master) as urls, edge_before(urls, tmp_path) as (edge, get):
        other = "/web/private/+f/0ab/cdef0123456789/kitdemo-9.0-py3-none-any.whl.metadata"
        answer = await get(other)
        assert answer.status == 404 and b"never served unverified" in answer.body
        assert other[: -len(".metadata")] not in master.seen


@scenario
async def test_a_file_that_is_not_a_wheel_gets_its_metadata_path_passed_on(tmp_path):
    master = _origin()
    async with serving(master) as urls, edge_before(urls, tmp_path) as (edge, get):
        answer = await get("/web/private/+f/0ab/kitdemo-1.0.tar.gz.metadata")
        assert answer.status == 404 and edge.stats["metadata"] == 0 and edge.stats["passes"] == 1


def test_metadata_is_evicted_with_its_wheel(tmp_path):
    files = Files(tmp_path / "cache", max_bytes=10**6)
    files.open()
    assert not files.store_metadata(PATH, METADATA)  # no wheel: nothing for it to go with
    fill = files.fill()
    fill.write(WHEEL)
    assert fill.keep(PATH, DIGEST)
    assert files.store_metadata(PATH, METADATA) and files.metadata_path(PATH).read_bytes() == METADATA
    files.drop(PATH)
    assert not files.metadata_path(PATH).exists()
    assert not list((tmp_path / "cache").iterdir())


def test_links_of_reads_the_declared_metadata_hash_and_hashes_keep_it_until_forgotten():
    body = (f'<a href="../../+f/0ab/kitdemo-1.0-py3-none-any.whl#sha256={DIGEST}" '
            f'data-dist-info-metadata="sha256={"1" * 64}" data-core-metadata="sha256={META_DIGEST}">x</a>'
            f'<a href="../../+f/0ab/kitdemo-0.9-py3-none-any.whl#sha256={DIGEST}">y</a>').encode()
    links = links_of(body, "text/html", "/web/private/+simple/kitdemo/")
    wheel = "/web/private/+f/0ab/kitdemo-1.0-py3-none-any.whl"
    assert links.metadata == {wheel: META_DIGEST}
    hashes = Hashes()
    hashes.learn(links, "web/private", "kitdemo")
    assert hashes.metadata_of(wheel) == META_DIGEST and hashes.metadata_of(wheel.replace("1.0", "0.9")) is None
    hashes.learn(links_of(body.replace(b"data-core", b"data-x").replace(b"data-dist", b"data-y"), "text/html",
                          "/web/private/+simple/kitdemo/"), "web/private", "kitdemo")
    assert hashes.metadata_of(wheel) is None  # the page no longer declares it
    hashes.learn(links, "web/private", "kitdemo")
    hashes.forget("web/private", "kitdemo")
    assert hashes.metadata_of(wheel) is None


@scenario
async def test_a_page_declaring_a_metadata_hash_keeps_it_before_the_edge_extracted_anything(tmp_path):
    """The edge's own "true" must not replace a hash the origin's page gave: a client checks it."""
    async with serving(_origin(declared=META_DIGEST)) as urls, edge_before(urls, tmp_path) as (edge, get):
        page = await get("/web/private/+simple/kitdemo/", {"Accept": "text/html"})
        assert f'data-core-metadata="sha256={META_DIGEST}"'.encode() in page.body
        assert b'"true"' not in page.body


@scenario
async def test_a_purge_landing_while_the_project_page_is_fetched_costs_no_answer(tmp_path):
    """devpi commits when it first fetches a page of its mirror of PyPI, and that commit's purge can
    make the edge forget the digests before the request reads them back: pip got a 404 in CI."""
    async with serving(_origin()) as urls, edge_before(urls, tmp_path) as (edge, get):
        learn = edge.pages.hashes.learn

        def learn_then_purged(links, index, project):
            learn(links, index, project)
            edge.pages.hashes.forget(index, project)  # the purge, arriving at once

        edge.pages.hashes.learn = learn_then_purged
        answer = await get(META_PATH)
        assert answer.status == 200 and answer.body == METADATA
        wheel = await get(PATH)
        assert wheel.status == 200 and wheel.body == WHEEL and edge.stats["unverified"] == 0
