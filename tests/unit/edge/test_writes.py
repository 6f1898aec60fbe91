"""Uploads and changes through the edge (:mod:`kit.edge.writes`) in-process,
before a stand-in origin: a write the master accepted drops its own index's
pages, and only those; an anonymous write or a redirect empties no cache.
The master down, a chunked body, a 5xx on a write: the edge run as the cluster runs it, tests/integration/edge/."""

from __future__ import annotations

from tests.support.edge_inprocess import World, running, scenario


async def _warm(world: World) -> None:
    for index in ("web/private", "data/private"):
        for page in ("", "kitdemo/"):
            status, headers, _ = await world.send(f"GET /{index}/+simple/{page}")
            assert status == 200
    assert world.health()["cached_pages"] == 4


@scenario
async def test_an_anonymous_write_or_a_redirect_empties_no_cache(tmp_path):
    async with running(tmp_path) as world:
        await _warm(world)
        for line, headers, expected in [
            ("POST /root/pypi/+simple/acme-utils/refresh", {}, 302),  # devpi's refresh: a redirect
            ("POST /web/private/+simple/kitdemo/refresh", {"X-Devpi-Auth": "d2ViOng="}, 302),
            ("POST /web/private/", {}, 401),  # an upload without credentials
            ("PUT /web/private/", {}, 404),
        ]:
            status, _, _ = await world.send(line, headers)
            assert status == expected
            assert world.health()["cached_pages"] == 4, line


@scenario
async def test_an_accepted_upload_drops_its_own_index_pages_only(tmp_path):
    async with running(tmp_path) as world:
        await _warm(world)
        status, _, _ = await world.send("POST /web/private/", {"Authorization": "Basic d2ViOng="}, b"x")
        assert status == 200
        assert world.health()["cached_pages"] == 2  # data/private's two pages stay
        world.origin.serial = 2
        _, headers, body = await world.send("GET /web/private/+simple/kitdemo/")
        assert headers["x-cache"] == "MISS" and b"serial 2" in body
        _, headers, body = await world.send("GET /data/private/+simple/kitdemo/")
        assert headers["x-cache"] == "HIT" and b"serial 1" in body
