"""What the edge answers with (:mod:`kit.edge.replies`), in-process before a
stand-in origin: what an origin gets of a client's request on a pass-through,
and what the client gets of the origin's answer."""

from __future__ import annotations

from tests.support.edge_inprocess import running, scenario


@scenario
async def test_a_pass_through_forwards_the_request_and_relays_the_answer_without_one_connections_headers(tmp_path):
    async with running(tmp_path) as world:
        status, headers, body = await world.send("GET /other/path?x=1", {
            "X-Devpi-Auth": "d2ViOng=", "Accept": "text/html", "Keep-Alive": "timeout=5", "TE": "trailers",
            "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0", "Upgrade": "h2c"})
        assert (status, body) == (404, b"not found\n")  # the origin's answer, as it said it
        assert (headers["x-cache"], headers["x-served-by"]) == ("PASS", "master")
        [(method, target, sent)] = [seen for seen in world.origin.seen if seen[1].startswith("/other/")]
        assert (method, target) == ("GET", "/other/path?x=1")
        assert (sent["X-Devpi-Auth"], sent["Accept"]) == ("d2ViOng=", "text/html")
        assert (sent["X-Outside-Url"], sent["X-Forwarded-For"]) == ("http://edge.test", "127.0.0.1")
        assert sent["Host"] != "edge.test"  # the origin's own host, not the client's
        assert not {"Keep-Alive", "TE", "Proxy-Authorization", "Upgrade"} & set(sent)
