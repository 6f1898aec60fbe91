"""Who may read what the edge has cached (:mod:`kit.edge.auth`): with nobody to
ask, everyone; with a question to ask, one answer per (credentials, index),
kept for ``ttl`` seconds so a cache hit stays a hit without a round trip."""

from __future__ import annotations

from kit.edge.auth import Authorizer
from tests.support.edge_inprocess import scenario


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


@scenario
async def test_with_nobody_to_ask_everyone_reads_every_index():
    authorizer = Authorizer()
    assert authorizer.everyone
    assert await authorizer.allowed({}, "web/private") and await authorizer.allowed({"Authorization": "x"}, "a/b")


@scenario
async def test_each_credentials_and_index_are_asked_once_per_ttl():
    asked = []

    async def ask(headers, index):
        asked.append((headers.get("Authorization", ""), index))
        return headers.get("Authorization") == "Basic web" and index == "web/private"

    clock = Clock()
    authorizer = Authorizer(ask, ttl=5.0, clock=clock)
    assert not authorizer.everyone
    web, anonymous = {"Authorization": "Basic web"}, {}
    for _ in range(3):
        assert await authorizer.allowed(web, "web/private")
        assert not await authorizer.allowed(web, "data/private")
        assert not await authorizer.allowed(anonymous, "web/private")
    assert asked == [("Basic web", "web/private"), ("Basic web", "data/private"), ("", "web/private")]
    clock.now += 5.0  # the decisions expire: asked again
    assert await authorizer.allowed(web, "web/private")
    assert asked[-1] == ("Basic web", "web/private") and len(asked) == 4
