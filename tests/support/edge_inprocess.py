"""The edge's handler in-process (aiohttp's ``RawTestServer``) before a stand-in
origin, with a trap listener that counts every connection made to it: the
world of the edge's unit tests."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import RawTestServer

from kit.edge.app import Edge
from kit.edge.config import EdgeConfig

SECRET = "cd" * 32
WHEEL = b"not really a wheel, but bytes with a digest\n" * 100
WHEEL_PATH = "/web/private/+f/0ab/cdef0123456789/kitdemo-1.0-py3-none-any.whl"
DIGEST = hashlib.sha256(WHEEL).hexdigest()
#: The stand-in origin's users (a team each, and the edge's reader) and their passwords.
USERS = {"web": "web-password", "data": "data-password", "kit-edge": "edge-password"}


def basic(user: str, password: str | None = None) -> dict[str, str]:
    """The Authorization header of ``user`` (with its password unless another is given)."""
    raw = f"{user}:{USERS[user] if password is None else password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@dataclass
class Listener:
    """A TCP listener that counts connections and answers every request with 200 "trapped"."""

    connections: int = 0
    server: asyncio.AbstractServer | None = None
    port: int = 0

    async def start(self, host: str = "127.0.0.1") -> "Listener":
        async def answer(reader, writer):
            self.connections += 1
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader.read(4096), 1.0)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntrapped\n")
                await writer.drain()
            writer.close()

        self.server = await asyncio.start_server(answer, host, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


@dataclass
class Origin:
    """devpi as far as these tests need it; every request it saw, as (method, raw target, headers)."""

    seen: list = field(default_factory=list)
    #: Pages the origin serves at this serial: bumping it changes them.
    serial: int = 1
    #: When set, page requests wait for it: a fetch held under way while clients keep asking.
    pages_wait_for: asyncio.Event | None = None
    #: Reads private to the index's team and the edge's reader (devpi with kit's
    #: plugin): /+authcheck answers, and every read under an index is enforced.
    private: bool = False
    users: dict = field(default_factory=lambda: dict(USERS))
    #: Every answer 500 (a broken devpi): no origin answers, not even /+authcheck.
    broken: bool = False

    def may_read(self, authorization: str, index: str) -> int:
        """200, 401 or 403 as devpi with kit's plugin answers these credentials for ``index``."""
        scheme, _, encoded = authorization.partition(" ")
        user, _, password = base64.b64decode(encoded or b"").decode().partition(":") if scheme == "Basic" else ("", "", "")
        if not user or self.users.get(user) != password:
            return 401
        return 200 if user in (index.split("/")[0], "kit-edge") else 403

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.method, request.raw_path, dict(request.headers)))
        path = request.raw_path
        if self.broken:
            return web.Response(status=500, text="broken\n")
        if path == "/+api":
            return web.json_response({"result": {}})
        if path == "/+authcheck":
            index = "/".join(request.headers.get("X-Original-URI", "").split("/")[1:3])
            return web.Response(status=self.may_read(request.headers.get("Authorization", ""), index))
        if self.private and request.method in ("GET", "HEAD") and path.count("/") >= 3:
            status = self.may_read(request.headers.get("Authorization", ""), "/".join(path.split("/")[1:3]))
            if status != 200:
                return web.Response(status=status, text="devpi refuses\n")
        if "%ff" in path.lower():
            return web.Response(status=500, text="devpi cannot decode this path\n")
        if request.method == "POST":
            if path.endswith("/refresh"):
                return web.Response(status=302, headers={"Location": path.rsplit("/", 2)[0] + "/"})
            if path == "/web/private/":
                if "X-Devpi-Auth" not in request.headers and "Authorization" not in request.headers:
                    return web.Response(status=401, text="log in first\n")
                return web.Response(text="")
            return web.Response(status=404)
        if self.pages_wait_for is not None and "/+simple/" in path:
            await self.pages_wait_for.wait()
        if path.endswith("/+simple/"):
            return web.Response(text=f"<a href='kitdemo/'>kitdemo</a> serial {self.serial}\n", content_type="text/html")
        if path.endswith("/+simple/kitdemo/"):
            href = f"../../{WHEEL_PATH.split('/web/private/')[1]}#sha256={DIGEST}"
            return web.Response(text=f"<a href='{href}'>kitdemo-1.0</a> serial {self.serial}\n", content_type="text/html")
        if path == WHEEL_PATH:
            return web.Response(body=WHEEL, content_type="application/octet-stream")
        return web.Response(status=404, text="not found\n")


@dataclass
class World:
    edge: Edge
    port: int
    origin: Origin
    origin_port: int
    trap: Listener

    async def send(self, request_line: str, headers: dict | None = None, body: bytes = b"") -> tuple[int, dict, bytes]:
        """One raw request on its own connection: the status, headers and body of the answer."""
        headers = {"Host": "edge.test", "Connection": "close", **(headers or {})}
        if body or request_line.split(" ", 1)[0] in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        head = request_line + " HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(head.encode("latin-1") + body)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 10)
        finally:
            writer.close()
        status_line, _, rest = answer.partition(b"\r\n")
        header_block, _, content = rest.partition(b"\r\n\r\n")
        parsed = {}
        for line in header_block.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            parsed[name.strip().lower()] = value.strip()
        return int(status_line.split()[1]), parsed, content

    def health(self) -> dict:
        return self.edge.health()


@contextlib.asynccontextmanager
async def running(tmp_path: Path, *, mirrors: int = 1, read_access: str = "anonymous", auth_ttl: float = 5.0):
    """An edge in-process before one origin (master and, by default, the same origin as its mirror);
    with ``read_access`` team, the origin enforces reads and the edge authorises them."""
    origin = Origin(private=read_access != "anonymous")
    origin_server = RawTestServer(origin.handle, host="127.0.0.1")
    await origin_server.start_server()
    trap = await Listener().start()
    (tmp_path / "secret").write_text(SECRET)
    (tmp_path / "secret").chmod(0o600)  # as kit init writes it: the edge refuses one every user reads
    (tmp_path / "reader").write_text(f"kit-edge:{USERS['kit-edge']}\n")
    (tmp_path / "reader").chmod(0o600)
    url = f"http://127.0.0.1:{origin_server.port}"
    config = EdgeConfig(host="127.0.0.1", port=0, public_url="http://edge.test", master=url, mirrors=[url] * mirrors,
                        cache_dir=str(tmp_path / "cache"), purge_secret_file=str(tmp_path / "secret"),
                        health_interval=3600, read_access=read_access, auth_ttl=auth_ttl,
                        read_credentials_file=str(tmp_path / "reader"))
    edge = Edge(config)
    await edge.start()
    server = RawTestServer(edge.handle, host="127.0.0.1")
    await server.start_server()
    try:
        yield World(edge, server.port, origin, origin_server.port, trap)
    finally:
        await server.close()
        await edge.stop()
        await origin_server.close()
        await trap.stop()


def scenario(test):
    """Run an async test body on a fresh event loop (no plugin needed)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run
