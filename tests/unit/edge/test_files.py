"""The edge's package files (:mod:`kit.edge.files`) in-process, before stand-in
origins: served only while their bytes match the sha256 their index publishes."""

from __future__ import annotations

from aiohttp import web

from tests.support.edge_inprocess import scenario
from tests.support.edge_standins import WHEEL, WHEEL_PATH, StandIn, edge_before, serving


@scenario
async def test_a_file_with_wrong_bytes_on_the_master_comes_from_the_mirror(tmp_path):
    wrong = StandIn("master")

    async def wrong_bytes(request):
        if request.raw_path == WHEEL_PATH:
            return web.Response(body=b"x" * len(WHEEL))
        return await StandIn.handle(wrong, request)

    wrong.handle = wrong_bytes
    async with serving(wrong, StandIn("mirror")) as urls, edge_before(urls, tmp_path) as (edge, get):
        answer = await get(WHEEL_PATH)
        assert answer.status == 200 and answer.body == WHEEL and answer.headers["x-served-by"] == "mirror"
        assert edge.stats["integrity_failures"] == 1
        assert edge.stats_snapshot()["origin_errors"] == {"master": 0, "mirror": 0}
