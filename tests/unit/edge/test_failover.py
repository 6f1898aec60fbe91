"""The edge's one failover loop (:meth:`kit.edge.failover.Failover.try_each`)
against real in-process origins (aiohttp's ``RawTestServer``) and a port that
refuses; then the same rules as a client sees them through the edge's handler,
for the three reads that use the loop: index pages, package files, and what
is passed through uncached.

The expected behaviour is the edge's before the loop was written once
(``_fetch_page``, ``_fill`` and ``_pass`` in the old ``kit/edge/app.py``):
origins in order; a refused or cut-off origin marked down and the next asked;
a 5xx counted, nothing marked, the next asked; the last origin's 5xx relayed
by the pass-through only (pages and files then serve stale, the static copy,
or 503).
"""

from __future__ import annotations

import contextlib

import pytest

from kit.edge.failover import AllFailed, Failover, Rejected
from kit.edge.origins import Origins
from tests.support.edge_inprocess import scenario
from tests.support.edge_standins import (WHEEL_PATH, StandIn, config_for, cut_off_origin, edge_before,
                                         refusing_port, serving)


@contextlib.asynccontextmanager
async def failover_to(urls: list[str]):
    stats = {"failovers": 0, "origin_5xx": 0, "passes": 0, "bytes_served": 0}
    config = config_for(urls)
    failover = Failover(config, Origins.of(config.master, config.mirrors, config.retry_after), stats)
    failover.open()
    try:
        yield failover
    finally:
        await failover.close()


async def said(origin, upstream) -> tuple[str, int, bytes]:
    """An ``answer`` for try_each: who answered, with what status and body."""
    return origin.name, upstream.status, await upstream.read()


def no_headers(_origin) -> dict:
    return {}


def marks(failover: Failover) -> dict[str, int]:
    return failover.origins.errors()


# -- try_each: the contract --------------------------------------------------------------------------

@scenario
async def test_the_first_origin_in_order_answers_and_no_other_is_asked():
    stand_ins = [StandIn("master"), StandIn("mirror"), StandIn("mirror-2")]
    async with serving(*stand_ins) as urls, failover_to(urls) as failover:
        name, status, body = await failover.try_each("GET", "/a/b/", said, headers=no_headers)
        assert (name, status, body) == ("master", 200, b"master at /a/b/\n")
        assert [len(s.seen) for s in stand_ins] == [1, 0, 0]
        assert failover.stats["failovers"] == 0


@scenario
async def test_the_path_and_query_reach_each_origin_as_sent_with_its_own_headers():
    stand_ins = [StandIn("master", status=500), StandIn("mirror")]
    asked = []

    def headers(origin):
        asked.append(origin.name)
        return {"X-Asked": origin.name}

    async with serving(*stand_ins) as urls, failover_to(urls) as failover:
        await failover.try_each("GET", "/web/%ff%fe/", said, query="x=%41", encoded=True, headers=headers)
    assert stand_ins[0].seen == stand_ins[1].seen == ["/web/%ff%fe/?x=%41"]
    assert asked == ["master", "mirror"]


@scenario
async def test_a_refused_origin_is_marked_down_skipped_next_time_and_the_next_answers():
    mirror = StandIn("mirror")
    with refusing_port() as port:
        async with serving(mirror) as urls, failover_to([f"http://127.0.0.1:{port}", *urls]) as failover:
            assert (await failover.try_each("GET", "/p", said, headers=no_headers))[0] == "mirror"
            assert failover.stats["failovers"] == 1 and failover.stats["origin_5xx"] == 0
            assert marks(failover) == {"master": 1, "mirror": 0}
            assert "ConnectionRefusedError" in failover.origins.master.last_error
            # Marked down: the next read starts at the mirror, no failover counted.
            assert (await failover.try_each("GET", "/p", said, headers=no_headers))[0] == "mirror"
            assert failover.stats["failovers"] == 1 and len(mirror.seen) == 2


@scenario
async def test_an_origin_cut_off_while_its_answer_is_read_is_marked_down_and_the_next_answers():
    async with cut_off_origin() as cut, serving(StandIn("mirror")) as urls, failover_to([cut, *urls]) as failover:
        name, _, body = await failover.try_each("GET", "/p", said, headers=no_headers)
        assert (name, body) == ("mirror", b"mirror at /p\n")
        assert marks(failover) == {"master": 1, "mirror": 0}
        assert failover.origins.state()[cut] == "skipped"


@pytest.mark.parametrize("relay_last_5xx", [False, True])
@scenario
async def test_a_5xx_from_an_origin_before_the_last_is_counted_skipped_and_marks_nothing(relay_last_5xx):
    async with serving(StandIn("master", status=500), StandIn("mirror")) as urls, failover_to(urls) as failover:
        name, status, _ = await failover.try_each("GET", "/p", said, headers=no_headers, relay_last_5xx=relay_last_5xx)
        assert (name, status) == ("mirror", 200)
        assert failover.stats["failovers"] == 1 and failover.stats["origin_5xx"] == 1
        assert marks(failover) == {"master": 0, "mirror": 0}
        assert set(failover.origins.state().values()) == {"in use"}


@scenario
async def test_the_last_origins_5xx_is_the_answer_when_relayed():
    async with serving(StandIn("master", status=500), StandIn("mirror", status=503)) as urls, \
            failover_to(urls) as failover:
        assert await failover.try_each("GET", "/p", said, headers=no_headers, relay_last_5xx=True) == (
            "mirror", 503, b"mirror says 503\n")
        assert failover.stats["origin_5xx"] == 1  # the master's; the mirror's is the answer
        assert marks(failover) == {"master": 0, "mirror": 0}


@scenario
async def test_without_relaying_every_5xx_is_all_failed_naming_each_origin():
    async with serving(StandIn("master", status=500), StandIn("mirror", status=503)) as urls, \
            failover_to(urls) as failover:
        with pytest.raises(AllFailed) as failed:
            await failover.try_each("GET", "/p", said, headers=no_headers)
        assert str(failed.value) == "master: _OriginError: HTTP 500; mirror: _OriginError: HTTP 503"
        assert failover.stats["origin_5xx"] == 2 and failover.stats["failovers"] == 1
        assert marks(failover) == {"master": 0, "mirror": 0}


@scenario
async def test_every_origin_refusing_is_all_failed_and_all_are_tried_again_next_time():
    with refusing_port() as one, refusing_port() as two:
        async with failover_to([f"http://127.0.0.1:{one}", f"http://127.0.0.1:{two}"]) as failover:
            for errors in (1, 2):
                with pytest.raises(AllFailed) as failed:
                    await failover.try_each("GET", "/p", said, headers=no_headers)
                assert str(failed.value).startswith("master: ConnectionRefusedError")
                assert "; mirror: ConnectionRefusedError" in str(failed.value)
                assert marks(failover) == {"master": errors, "mirror": errors}


@scenario
async def test_a_rejected_answer_asks_the_next_origin_and_marks_nothing():
    async def wrong_bytes_from_the_master(origin, upstream):
        await upstream.read()
        if origin.name == "master":
            raise Rejected("bytes do not match the index's sha256")
        return origin.name

    async with serving(StandIn("master"), StandIn("mirror")) as urls, failover_to(urls) as failover:
        assert await failover.try_each("GET", "/p", wrong_bytes_from_the_master, headers=no_headers) == "mirror"
        assert failover.stats["failovers"] == 1 and failover.stats["origin_5xx"] == 0
        assert marks(failover) == {"master": 0, "mirror": 0}
    async with serving(StandIn("master")) as urls, failover_to(urls) as failover:  # the last origin's too
        with pytest.raises(AllFailed, match="^master: bytes do not match the index's sha256$"):
            await failover.try_each("GET", "/p", wrong_bytes_from_the_master, headers=no_headers)


@scenario
async def test_an_answer_below_500_brings_a_marked_origin_back():
    async with serving(StandIn("master"), StandIn("mirror")) as urls, failover_to(urls) as failover:
        for origin in failover.origins.all:
            failover.origins.failed(origin, "down")  # all down: a read tries them all again
        await failover.try_each("GET", "/p", said, headers=no_headers)
        assert failover.origins.state() == {urls[0]: "in use", urls[1]: "skipped"}


# -- through the edge: pages, files and the pass-through use the one loop ------------------------------

PAGE = "/web/private/+simple/kitdemo/"


@pytest.mark.parametrize("path", [PAGE, WHEEL_PATH, "/web/private/other"])
@scenario
async def test_every_read_falls_over_from_a_refused_master_and_marks_it(tmp_path, path):
    with refusing_port() as port:
        async with serving(StandIn("mirror")) as urls, edge_before([f"http://127.0.0.1:{port}", *urls],
                                                                   tmp_path) as (edge, get):
            answer = await get(path)
            assert answer.status == 200 and answer.headers["x-served-by"] == "mirror"
            assert edge.stats_snapshot()["origin_errors"] == {"master": 1, "mirror": 0}
            assert edge.stats["origin_5xx"] == 0


@pytest.mark.parametrize("path", [PAGE, WHEEL_PATH, "/web/private/other"])
@scenario
async def test_every_read_falls_over_from_a_master_5xx_and_marks_nothing(tmp_path, path):
    async with serving(StandIn("master", status=500), StandIn("mirror")) as urls, \
            edge_before(urls, tmp_path) as (edge, get):
        answer = await get(path)
        assert answer.status == 200 and answer.headers["x-served-by"] == "mirror"
        assert edge.stats["failovers"] >= 1 and edge.stats["origin_5xx"] >= 1
        assert edge.stats_snapshot()["origin_errors"] == {"master": 0, "mirror": 0}


@scenario
async def test_a_page_whose_every_origin_answers_5xx_is_503_naming_each(tmp_path):
    async with serving(StandIn("master", status=500), StandIn("mirror", status=502)) as urls, \
            edge_before(urls, tmp_path) as (edge, get):
        answer = await get(PAGE)
        assert answer.status == 503
        assert b"(master: _OriginError: HTTP 500; mirror: _OriginError: HTTP 502)" in answer.body
        assert edge.stats["origin_5xx"] == 2


@scenario
async def test_a_file_whose_every_origin_answers_5xx_is_503_and_its_page_is_not_the_answer(tmp_path):
    async with serving(StandIn("master", files=500), StandIn("mirror", files=502)) as urls, \
            edge_before(urls, tmp_path) as (edge, get):
        answer = await get(WHEEL_PATH)
        assert answer.status == 503 and b"mirror: _OriginError: HTTP 502" in answer.body
        assert edge.stats["origin_5xx"] == 2 and edge.stats["integrity_failures"] == 0


@scenario
async def test_a_pass_through_relays_the_last_origins_5xx(tmp_path):
    async with serving(StandIn("master", status=500), StandIn("mirror", status=502)) as urls, \
            edge_before(urls, tmp_path) as (edge, get):
        answer = await get("/web/private/other")
        assert (answer.status, answer.body) == (502, b"mirror says 502\n")
        assert answer.headers["x-served-by"] == "mirror" and answer.headers["x-cache"] == "PASS"
        assert edge.stats["origin_5xx"] == 1
