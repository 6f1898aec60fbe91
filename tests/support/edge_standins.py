"""Stand-in origins for the edge's unit tests: each answers every request with
the status it is told (pages and a wheel when 200), served in-process
(aiohttp's ``RawTestServer``) on a free port; a port that refuses; an origin
cut off mid-answer; and an edge in-process before them."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import RawTestServer

from kit.edge.app import Edge
from kit.edge.config import EdgeConfig

WHEEL = b"a wheel's bytes\n" * 64
WHEEL_PATH = "/web/private/+f/0ab/cdef0123456789/kitdemo-1.0-py3-none-any.whl"
DIGEST = hashlib.sha256(WHEEL).hexdigest()


@dataclass
class StandIn:
    """An origin that answers every request with ``status`` (pages and the wheel when 200),
    unless ``files`` says otherwise for the wheel; with ``wrong_bytes``, the wheel's
    length in other bytes (what its page's sha256 must catch); every target it saw, in order."""

    name: str
    status: int = 200
    files: int | None = None
    wrong_bytes: bool = False
    seen: list = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request.raw_path)
        path = request.raw_path
        status = self.files if self.files is not None and path == WHEEL_PATH else self.status
        if status != 200:
            return web.Response(status=status, text=f"{self.name} says {status}\n")
        if path.endswith("/+simple/kitdemo/"):
            href = f"../../{WHEEL_PATH.split('/web/private/')[1]}#sha256={DIGEST}"
            return web.Response(text=f"<a href='{href}'>kitdemo-1.0</a> from {self.name}\n", content_type="text/html")
        if path == WHEEL_PATH:
            return web.Response(body=b"x" * len(WHEEL) if self.wrong_bytes else WHEEL,
                                content_type="application/octet-stream")
        return web.Response(text=f"{self.name} at {path}\n")


@contextlib.contextmanager
def refusing_port():
    """A port bound and never listened on: a connection to it is refused, every time."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@contextlib.asynccontextmanager
async def cut_off_origin():
    """An origin that promises 1000 bytes and closes after 10: the answer is cut off mid-body."""
    async def answer(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def serving(*stand_ins: StandIn):
    """The stand-ins' URLs, each served in-process on a free port."""
    servers = [RawTestServer(s.handle, host="127.0.0.1") for s in stand_ins]
    for server in servers:
        await server.start_server()
    try:
        yield [f"http://127.0.0.1:{server.port}" for server in servers]
    finally:
        for server in servers:
            await server.close()


def config_for(urls: list[str], tmp_path=None, **settings) -> EdgeConfig:
    return EdgeConfig(host="127.0.0.1", port=0, public_url="http://edge.test", master=urls[0], mirrors=urls[1:],
                      cache_dir=str(tmp_path / "cache") if tmp_path else "edge-cache",
                      purge_secret_file=str(tmp_path / "secret") if tmp_path else "secret", health_interval=3600,
                      **settings)


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes


@contextlib.asynccontextmanager
async def edge_before(urls: list[str], tmp_path):
    """An edge in-process before ``urls`` (master first); ``get(path)`` asks it over a real connection
    (``get(path, {"Range": ...}, method="HEAD")`` with request headers, or another method)."""
    (tmp_path / "secret").write_text("ab" * 32)
    edge = Edge(config_for(urls, tmp_path))
    await edge.start()
    server = RawTestServer(edge.handle, host="127.0.0.1")
    await server.start_server()

    async def get(path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Answer:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: edge.test\r\n{extra}Connection: close\r\n\r\n".encode())
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        return Answer(int(lines[0].split()[1]), headers, body)

    try:
        yield edge, get
    finally:
        await server.close()
        await edge.stop()
