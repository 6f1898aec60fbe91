"""The edge's request handler in-process (aiohttp's ``RawTestServer``), in front
of a stand-in origin, with a trap listener that counts every connection made
to it: what a request may make the edge do, and what it may not.

Requests are written as raw bytes, so a target is sent exactly as an attacker
would send it (an HTTP client library would refuse or rewrite most of them).
"""

from __future__ import annotations

import asyncio

import pytest

from kit.edge.app import METHODS, origin_form
from tests.support.edge_inprocess import WHEEL_PATH, running, scenario
from tests.support.edge_requests import PASSED, REFUSED

# -- the edge is no proxy ------------------------------------------------------------------------


def test_the_method_list_is_what_index_clients_use():
    assert METHODS == {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "PUSH"}
    assert origin_form("/web/private/+simple/") and origin_form("/a?b=c")
    assert not any(origin_form(t) for t in ("*", "http://h/", "h:1", "@h:1", "//h/", "/\\h/", "/a#b", ""))


@pytest.mark.parametrize("line", REFUSED)
@scenario
async def test_a_target_that_is_not_a_path_is_refused_and_connects_nowhere(tmp_path, line):
    async with running(tmp_path) as world:
        before = len(world.origin.seen)
        status, headers, body = await world.send(line.replace(":T", f":{world.trap.port}"))
        assert status in (400, 405), (line, status, body)
        if status == 405:
            assert headers["allow"] == "DELETE, GET, HEAD, PATCH, POST, PUSH, PUT"
        assert world.trap.connections == 0
        assert len(world.origin.seen) == before, "a refused request reached the origin"
        assert b"trapped" not in body
        assert world.health()["backends"] == {f"http://127.0.0.1:{world.origin_port}": "in use"}


@pytest.mark.parametrize("line", PASSED)
@scenario
async def test_a_path_goes_to_the_configured_origin_unchanged_and_nowhere_else(tmp_path, line):
    async with running(tmp_path) as world:
        target = line.split(" ", 1)[1].replace(":T", f":{world.trap.port}").replace("%3AT", f"%3A{world.trap.port}")
        status, _, body = await world.send(f"{line.split(' ', 1)[0]} {target}")
        assert world.trap.connections == 0 and b"trapped" not in body
        assert (line.split(" ", 1)[0], target) in [(m, t) for m, t, _ in world.origin.seen]
        assert status < 600


@scenario
async def test_the_trap_counts_what_reaches_it(tmp_path):
    """The suite's own check: a connection to the trap is counted (else 0 would prove nothing)."""
    async with running(tmp_path) as world:
        reader, writer = await asyncio.open_connection("127.0.0.1", world.trap.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"trapped" in await reader.read()
        writer.close()
        assert world.trap.connections == 1


# -- health counts the origins' failures, not the requests' -------------------------------------------

@pytest.mark.parametrize("line", [
    "GET /web/private/+simple/%ff%fe/",  # devpi answers 500 on master and mirror alike
    "GET /web/private/+simple/%FF/",
    "HEAD /web/private/+simple/%ff%fe/",
    "GET /web/private/+f/%ff/x-1.0.tar.gz",
    "OPTIONS *",
    "GET http://evil.example/web/private/+simple/",
    "CONNECT evil.example:443",
])
@scenario
async def test_one_anonymous_request_marks_no_origin_down(tmp_path, line):
    async with running(tmp_path) as world:
        for _ in range(3):
            status, _, _ = await world.send(line)
            assert status in (400, 405, 500)
        health = world.health()
        assert health["backends"] == {f"http://127.0.0.1:{world.origin_port}": "in use"}
        assert all(origin.errors == 0 for origin in world.edge.origins.all)


@scenario
async def test_a_5xx_is_passed_on_as_the_origin_said_it(tmp_path):
    async with running(tmp_path) as world:
        status, _, body = await world.send("GET /web/private/+simple/%ff%fe/")
        assert status == 500 and b"devpi cannot decode" in body
        assert world.health()["origin_5xx"] == 1  # the master's; the mirror's is the answer


# -- HEAD says what GET would -----------------------------------------------------------------------

@pytest.mark.parametrize("target", ["/web/private/+simple/", "/web/private/+simple/kitdemo/", WHEEL_PATH,
                                    "/web/private/+simple/missing/", "/other/path"])
@scenario
async def test_head_has_the_headers_get_has(tmp_path, target):
    async with running(tmp_path) as world:
        for _ in range(2):  # a miss, then (for what is cached) a hit
            get_status, get_headers, get_body = await world.send(f"GET {target}")
            head_status, head_headers, head_body = await world.send(f"HEAD {target}")
            assert head_status == get_status and head_body == b""
            assert head_headers.get("content-length") == get_headers.get("content-length") == str(len(get_body))
            assert head_headers.get("content-type") == get_headers.get("content-type")


class _Transport:
    def __init__(self, peer, own):
        self.extra = {"peername": peer, "sockname": own}

    def get_extra_info(self, name):
        return self.extra[name]


class _Request:
    def __init__(self, peer, own):
        self.transport = _Transport(peer, own)


@pytest.mark.parametrize("peer, own, local", [
    (("127.0.0.1", 50000), ("127.0.0.1", 3146), True),     # this machine, over loopback
    (("::1", 50000, 0, 0), ("::1", 3146, 0, 0), True),
    (("198.18.0.4", 50000), ("198.18.0.4", 3146), True),   # a host checking its edge on its own address
    (("198.18.0.9", 50000), ("198.18.0.4", 3146), False),  # another host: redirected, never served
    (None, ("198.18.0.4", 3146), False),
])
def test_the_plain_http_listener_serves_the_edges_own_paths_to_this_machine_only(peer, own, local):
    from kit.edge.app import _this_machine

    assert _this_machine(_Request(peer, own)) is local
