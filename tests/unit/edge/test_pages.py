"""The edge's index pages (:mod:`kit.edge.pages`) in-process, before a stand-in
origin: one fetch per page however many clients ask while it is missing, and
purge bodies bounded. Pages per representation, stale when every origin
fails, purges that make the next read fresh: the edge run as the cluster runs it, tests/integration/edge/."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.edge_inprocess import DIGEST, SECRET, running, scenario


PAGE = "/web/private/+simple/kitdemo/"


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
            (200, b"<a href='../../+f/0ab/cdef0123456789/kitdemo-1.0-py3-none-any.whl#sha256="
             + DIGEST.encode() + b"'>kitdemo-1.0</a> serial 1\n")}
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
