"""The edge's package files (:mod:`kit.edge.files`) in-process, before stand-in
origins: served only while their bytes match the sha256 their index publishes."""

from __future__ import annotations

import hashlib

from aiohttp import web

from tests.support.edge_inprocess import scenario
from tests.support.edge_standins import DIGEST, WHEEL, WHEEL_PATH, StandIn, edge_before, serving


@scenario
async def test_a_file_with_wrong_bytes_on_the_master_comes_from_the_mirror(tmp_path):
    async with serving(StandIn("master", wrong_bytes=True), StandIn("mirror")) as urls, edge_before(urls, tmp_path) as (edge, get):
        answer = await get(WHEEL_PATH)
        assert answer.status == 200 and answer.body == WHEEL and answer.headers["x-served-by"] == "mirror"
        assert edge.stats["integrity_failures"] == 1
        assert edge.stats_snapshot()["origin_errors"] == {"master": 0, "mirror": 0}


def _big_wheel_origin(name: str, wheel: bytes) -> StandIn:
    """A stand-in whose page links ``wheel`` (larger than the edge reads in one go) at WHEEL_PATH."""
    origin = StandIn(name)
    digest = hashlib.sha256(wheel).hexdigest()

    async def big(request):
        if request.raw_path == WHEEL_PATH:
            return web.Response(body=wheel, content_type="application/octet-stream")
        if request.raw_path.endswith("/+simple/kitdemo/"):
            href = f"../../{WHEEL_PATH.split('/web/private/')[1]}#sha256={digest}"
            return web.Response(text=f"<a href='{href}'>kitdemo-1.0</a>\n", content_type="text/html")
        return await StandIn.handle(origin, request)

    origin.handle = big
    return origin


@scenario
async def test_a_cached_file_answers_ranges_byte_exact_with_validators_and_304(tmp_path):
    async with serving(StandIn("master")) as urls, edge_before(urls, tmp_path) as (edge, get):
        first = await get(WHEEL_PATH, {"Range": "bytes=0-9"})
        # Not cached yet: fetched, checked and sent whole; ranges are answered once it is cached.
        assert first.status == 200 and first.body == WHEEL and first.headers["etag"] == f'"sha256-{DIGEST}"'
        whole = await get(WHEEL_PATH)
        tag, modified = whole.headers["etag"], whole.headers["last-modified"]
        assert whole.status == 200 and whole.body == WHEEL and whole.headers["accept-ranges"] == "bytes"
        size = len(WHEEL)
        for asked, start, stop in [("bytes=0-9", 0, 10), ("bytes=-1", size - 1, size), ("bytes=100-", 100, size),
                                   (f"bytes={size - 1}-{size - 1}", size - 1, size), ("bytes=5-99999", 5, size)]:
            part = await get(WHEEL_PATH, {"Range": asked})
            assert (part.status, part.body) == (206, WHEEL[start:stop]), asked
            assert part.headers["content-range"] == f"bytes {start}-{stop - 1}/{size}"
            assert int(part.headers["content-length"]) == stop - start and part.headers["etag"] == tag
            head = await get(WHEEL_PATH, {"Range": asked}, method="HEAD")
            assert head.status == 206 and head.body == b"" and head.headers["content-length"] == str(stop - start)
        beyond = await get(WHEEL_PATH, {"Range": f"bytes={size}-"})
        assert beyond.status == 416 and beyond.headers["content-range"] == f"bytes */{size}"
        assert (await get(WHEEL_PATH, {"Range": "bytes=0-1,5-6"})).body == WHEEL  # several ranges: whole
        stale_range = await get(WHEEL_PATH, {"Range": "bytes=0-9", "If-Range": '"sha256-old"'})
        assert (stale_range.status, stale_range.body) == (200, WHEEL)
        assert (await get(WHEEL_PATH, {"Range": "bytes=0-9", "If-Range": tag})).status == 206
        for conditional in ({"If-None-Match": tag}, {"If-None-Match": "*"}, {"If-Modified-Since": modified},
                            {"If-None-Match": tag, "If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}):
            unchanged = await get(WHEEL_PATH, conditional)
            assert unchanged.status == 304 and unchanged.body == b"" and unchanged.headers["etag"] == tag
        changed = await get(WHEEL_PATH, {"If-None-Match": '"sha256-old"', "If-Modified-Since": modified})
        assert (changed.status, changed.body) == (200, WHEEL)
        head = await get(WHEEL_PATH, method="HEAD")
        assert head.status == 200 and head.headers["content-length"] == str(size) and head.headers["etag"] == tag
        assert edge.stats["not_modified"] == 4 and edge.stats["unsatisfiable"] == 1


@scenario
async def test_a_range_of_a_large_file_is_sent_only_once_the_whole_file_matched(tmp_path):
    wheel = bytes(range(256)) * 4096 + b"the end"  # 1 MiB and a bit: past the one-write size
    async with serving(_big_wheel_origin("master", wheel)) as urls, edge_before(urls, tmp_path) as (edge, get):
        edge.config.verify_whole_max = 512 * 1024  # so the whole file streams and a range needs a full check
        assert (await get(WHEEL_PATH)).body == wheel
        for config_max in (512 * 1024, 16 * 1024**2):
            edge.config.verify_whole_max = config_max
            assert (await get(WHEEL_PATH)).body == wheel
            tail = await get(WHEEL_PATH, {"Range": "bytes=-7"})
            assert (tail.status, tail.body) == (206, b"the end")
            middle = await get(WHEEL_PATH, {"Range": "bytes=300000-700000"})
            assert middle.status == 206 and middle.body == wheel[300000:700001]
        cached = edge.files.lookup(WHEEL_PATH)
        spoilt = bytearray(cached.path.read_bytes())
        spoilt[-1] ^= 1  # the last byte, outside the range asked for
        cached.path.write_bytes(bytes(spoilt))
        answer = await get(WHEEL_PATH, {"Range": "bytes=0-9"})
        # The spoilt copy is dropped, the file fetched again and sent whole from the origin.
        assert (answer.status, answer.body) == (200, wheel) and edge.stats["integrity_failures"] == 1
        assert (await get(WHEEL_PATH, {"Range": "bytes=0-9"})).body == wheel[:10]


@scenario
async def test_a_remembered_check_never_hides_a_file_changed_since_even_with_its_mtime_put_back(tmp_path):
    """Ranges reuse a recent whole-file check (hashing a wheel per 64 KiB asked cost more than
    sending it): a write since, however disguised, means a new check."""
    import os

    wheel = bytes(range(256)) * 4096 + b"the end"
    async with serving(_big_wheel_origin("master", wheel)) as urls, edge_before(urls, tmp_path) as (edge, get):
        assert (await get(WHEEL_PATH)).body == wheel
        assert (await get(WHEEL_PATH, {"Range": "bytes=-7"})).body == b"the end"  # checked whole, remembered
        cached = edge.files.lookup(WHEEL_PATH)
        assert edge.package_files.checks.matched(cached.path, DIGEST_OF(wheel))
        before = cached.path.stat()
        spoilt = bytearray(cached.path.read_bytes())
        spoilt[-1] ^= 1
        cached.path.write_bytes(bytes(spoilt))
        os.utime(cached.path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same mtime
        answer = await get(WHEEL_PATH, {"Range": "bytes=-7"})
        assert answer.body != b"the enc" and edge.stats["integrity_failures"] == 1


def DIGEST_OF(data: bytes) -> str:  # noqa: N802 - reads like the constant it stands beside
    return hashlib.sha256(data).hexdigest()


def test_a_check_is_remembered_for_recheck_after_seconds_at_most(tmp_path):
    from kit.edge.files import RECHECK_AFTER, RecentChecks

    now = [100.0]
    checks = RecentChecks(clock=lambda: now[0])
    path = tmp_path / "x.file"
    path.write_bytes(b"x")
    checks.remember(path, "abc", RecentChecks._identity(path))
    assert checks.matched(path, "abc") and not checks.matched(path, "other")
    checks.remember(path, "abc", RecentChecks._identity(path))
    now[0] += RECHECK_AFTER + 1
    assert not checks.matched(path, "abc")
    checks.remember(path, "abc", None)  # the file was gone when its check began: nothing remembered
    assert not checks.matched(path, "abc")
