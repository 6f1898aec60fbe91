"""The CDN edge: a caching reverse proxy in front of the master and its mirror.

Clients talk only to the edge. For each read it asks the master first and
falls over to the mirror (the devpi replica) when the master refuses the
connection, times out, or answers 5xx; a master that failed is skipped for a
short while instead of costing every request a timeout. Package files
(devpi's ``/+f/`` paths, and wheel or sdist file names) are immutable, so the edge keeps a copy on disk and
serves it without asking anyone again. Writes (uploads, logins, index
changes) go to the master only; with the master down they get a clear 503.

This module is the whole edge; the CDN issue extends :class:`Edge` (purge on
upload, stale-if-error) rather than replacing it. Run it with
``python -m kit.edge CONFIG.json``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["EdgeConfig", "Edge", "main"]

#: Headers that belong to one connection, never forwarded (RFC 9110 7.6.1).
_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "transfer-encoding", "upgrade", "host",
}
_READS = ("GET", "HEAD")
_CHUNK = 64 * 1024


@dataclass
class EdgeConfig:
    """What the edge needs; ``kit init`` writes it as ``SITE/cluster/edge.json``
    (from :func:`kit.services.edge_config`), the edge reads it with :meth:`load`."""

    host: str
    port: int
    public_url: str  # what clients see, passed to devpi as X-Outside-Url
    master: str
    mirrors: list[str] = field(default_factory=list)
    cache_dir: str = "edge-cache"
    connect_timeout: float = 1.0
    read_timeout: float = 10.0
    #: After the master fails, reads skip it for this long before trying it again.
    retry_after: float = 5.0

    @classmethod
    def load(cls, path: Path) -> "EdgeConfig":
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    def write(self, path: Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")


class _BackendDown(Exception):
    """A backend refused, timed out, or answered 5xx."""


class Edge:
    """The proxy's state: backends, their health, and the file cache."""

    def __init__(self, config: EdgeConfig):
        self.config = config
        self.cache_dir = Path(config.cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._down_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self.stats = {"requests": 0, "cache_hits": 0, "failovers": 0}

    # -- backends --------------------------------------------------------

    def backends_for(self, method: str) -> list[str]:
        if method not in _READS:
            return [self.config.master]
        now = time.monotonic()
        order = [self.config.master, *self.config.mirrors]
        healthy = [b for b in order if self._down_until.get(b, 0) <= now]
        # When every backend failed lately, try them all anyway: one may be back.
        return healthy or order

    def mark_down(self, backend: str) -> None:
        with self._lock:
            self._down_until[backend] = time.monotonic() + self.config.retry_after

    def mark_up(self, backend: str) -> None:
        with self._lock:
            self._down_until.pop(backend, None)

    def count(self, name: str) -> None:
        # Handler threads count at once: unlocked "+= 1" could lose counts.
        with self._lock:
            self.stats[name] += 1

    def cache_problem(self) -> str:
        """Why the file cache cannot take a new file ("" when it can).

        Tried for real, by creating a file there: permission bits alone do not
        stop root, and a cache folder replaced by a file stops everyone.
        """
        try:
            with tempfile.NamedTemporaryFile(dir=self.cache_dir, prefix=".health-", suffix=".part"):
                pass
        except OSError as exc:
            return (f"cache folder {self.config.cache_dir} cannot be written ({exc.strerror or exc}); "
                    "make it a writable folder, then restart the edge")
        return ""

    def health(self) -> dict:
        now = time.monotonic()
        problem = self.cache_problem()
        return {
            "edge": "unhealthy" if problem else "ok",
            **({"reason": problem} if problem else {}),
            "backends": {
                b: ("skipped" if self._down_until.get(b, 0) > now else "in use")
                for b in [self.config.master, *self.config.mirrors]
            },
            "cached_files": sum(1 for _ in self.cache_dir.glob("*.file")) if self.cache_dir.is_dir() else 0,
            **self.stats,
        }

    # -- cache -----------------------------------------------------------

    @staticmethod
    def cacheable(path: str) -> bool:
        """Package files never change once published: devpi's /+f/ paths, and any
        URL that ends in a distribution's file name."""
        from kit.upstream import project_of

        path = path.split("?", 1)[0].split("#", 1)[0]
        return "/+f/" in path or project_of(path.rsplit("/", 1)[-1]) is not None

    def cache_path(self, path: str) -> Path:
        return self.cache_dir / (hashlib.sha256(path.encode()).hexdigest() + ".file")


def _connection(backend: str, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(backend)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    return cls(parts.hostname, parts.port, timeout=timeout)


class _Handler(BaseHTTPRequestHandler):
    server_version = "kit-edge"
    protocol_version = "HTTP/1.1"
    edge: Edge  # set on the subclass made per server

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")

    # -- entry points ----------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._handle()

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def do_PUT(self) -> None:  # noqa: N802
        self._handle()

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle()

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle()

    # -- the proxy ---------------------------------------------------------

    def _handle(self) -> None:
        edge = self.edge
        edge.count("requests")
        if self.path == "/+edge/health":
            health = edge.health()
            status = HTTPStatus.OK if health["edge"] == "ok" else HTTPStatus.SERVICE_UNAVAILABLE
            return self._reply(status, json.dumps(health).encode(), "application/json")
        body = self._read_body()
        if body is None:
            return
        if self.command in _READS and edge.cacheable(self.path):
            cached = edge.cache_path(self.path)
            if cached.is_file():
                edge.count("cache_hits")
                return self._send_cached(cached)
        last_error = ""
        for number, backend in enumerate(edge.backends_for(self.command)):
            if number:
                edge.count("failovers")
            try:
                return self._forward(backend, body)
            except _BackendDown as exc:
                edge.mark_down(backend)
                last_error = str(exc)
                self.log_message("%s %s: %s", self.command, self.path, last_error)
        if self.command not in _READS:
            message = (
                f"kit edge: the master ({edge.config.master}) is not answering ({last_error}), "
                "so uploads and changes cannot be made now; installs keep working from the mirror. "
                "Retry when `kit status` shows the master healthy.\n"
            )
        else:
            message = f"kit edge: no backend answered ({last_error}); check `kit status`.\n"
        reason = "Master down, uploads paused" if self.command not in _READS else "No backend answered"
        self._reply(HTTPStatus.SERVICE_UNAVAILABLE, message.encode(), "text/plain; charset=utf-8", retry_after=True, reason=reason)

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._reply(HTTPStatus.LENGTH_REQUIRED, b"kit edge: send a Content-Length, not a chunked body\n", "text/plain")
            return None
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self, backend: str, body: bytes) -> None:
        """Send the request to ``backend`` and stream its answer back.

        Raises :class:`_BackendDown` before anything was sent to the client,
        so the caller can try the next backend.
        """
        config = self.edge.config
        conn = _connection(backend, config.connect_timeout)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["X-Outside-Url"] = config.public_url
        headers["X-Forwarded-For"] = self.client_address[0]
        headers["Content-Length"] = str(len(body))
        try:
            conn.connect()
            conn.sock.settimeout(config.read_timeout)
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise _BackendDown(f"{backend}: {exc.__class__.__name__}: {exc}") from None
        if response.status >= 500:
            response.read()
            conn.close()
            raise _BackendDown(f"{backend}: HTTP {response.status}")
        self.edge.mark_up(backend)
        try:
            self._relay(response)
        finally:
            conn.close()

    def _relay(self, response: http.client.HTTPResponse) -> None:
        if self.command == "GET" and response.status == 200 and self.edge.cacheable(self.path):
            return self._fill_cache_and_send(response)
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        length = response.getheader("Content-Length")
        if length is not None:
            self.send_header("Content-Length", length)
        else:
            self.close_connection = True  # the end of the body is the end of the connection
        self.send_header("X-Kit-Edge", "pass")
        self.end_headers()
        while True:
            chunk = response.read(_CHUNK)
            if not chunk:
                break
            if self.command != "HEAD":
                self.wfile.write(chunk)

    def _fill_cache_and_send(self, response: http.client.HTTPResponse) -> None:
        """Store the whole file first, then serve it from the cache.

        The cache entry exists before the client has its last byte, so the
        next request is always a hit, and a broken transfer never leaves a
        partial file behind.
        """
        part = tempfile.NamedTemporaryFile(dir=self.edge.cache_dir, suffix=".part", delete=False)
        try:
            with part:
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    part.write(chunk)
            cached = self.edge.cache_path(self.path)
            os.replace(part.name, cached)
        except (OSError, http.client.HTTPException) as exc:
            os.unlink(part.name)
            # Nothing has reached the client yet: the next backend may serve it.
            raise _BackendDown(f"transfer broke: {exc.__class__.__name__}: {exc}") from None
        except BaseException:
            os.unlink(part.name)
            raise
        self._send_cached(cached, "miss")

    def _send_cached(self, path: Path, state: str = "hit") -> None:
        size = path.stat().st_size
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.send_header("Cache-Control", "max-age=31536000, immutable")
        self.send_header("X-Kit-Edge", state)
        self.end_headers()
        if self.command != "HEAD":
            with open(path, "rb") as data:
                shutil.copyfileobj(data, self.wfile, _CHUNK)

    def _reply(
        self, status: HTTPStatus, data: bytes, content_type: str, retry_after: bool = False, reason: str | None = None
    ) -> None:
        # A short reason phrase too: clients such as twine show it, not the body.
        self.send_response(status, reason)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if retry_after:
            self.send_header("Retry-After", "5")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def make_server(config: EdgeConfig) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"edge": Edge(config)})
    server = ThreadingHTTPServer((config.host, config.port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.exit("usage: python -m kit.edge CONFIG.json")
    config = EdgeConfig.load(Path(args[0]))
    server = make_server(config)
    print(f"kit edge on {config.host}:{config.port}: master {config.master}, mirrors {config.mirrors}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
