"""kit's edge as kit up runs it (``python -m kit.edge``), and a relay in front of an origin that fails on demand."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import socketserver
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from kit.core.wait import wait_until
from kit.edge.config import EdgeConfig
from tests.conftest import free_port, wait_http


SECRET = "ab" * 32


class Relay:
    """Forwards to ``target``; ``mode`` says how it misbehaves: ok, 500, close, corrupt, stall."""

    def __init__(self, target: str):
        self.target = urlsplit(target)
        self.mode = "ok"
        self.connections = 0
        self.release = threading.Event()
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                relay.connections += 1
                super().setup()

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                self.forward()

            def do_POST(self):  # noqa: N802
                self.forward()

            def forward(self):
                mode = relay.mode
                if mode == "close":
                    self.close_connection = True
                    return
                if mode == "500":
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(relay.target.hostname, relay.target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                conn.close()
                if "/+f/" in self.path and mode == "corrupt":
                    data = data[:-1] + bytes([data[-1] ^ 1])  # same size, one bit off
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if "/+f/" in self.path and mode == "stall":
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    relay.release.wait(60)
                    self.close_connection = True
                    return
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class RunningEdge:
    def __init__(self, folder: Path, config: EdgeConfig, proc: subprocess.Popen):
        self.folder, self.config, self.proc = folder, config, proc
        self.url = f"http://127.0.0.1:{config.port}"

    @property
    def cache(self) -> Path:
        return self.folder / self.config.cache_dir

    def stats(self) -> dict:
        return json.loads(get(f"{self.url}/+edge/stats")[2])


@contextlib.contextmanager
def edge_process(folder: Path, master: str, mirrors: list[str], *, secret: bool = True, **settings):
    """``python -m kit.edge edge.json`` from ``folder``, short timeouts; always stopped."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    values = dict(connect_timeout=0.5, read_timeout=0.5, retry_after=60, health_interval=60)
    values.update(settings)
    config = EdgeConfig(host="127.0.0.1", port=port, public_url=f"http://127.0.0.1:{port}", master=master,
                        mirrors=mirrors, cache_dir="cache", **values)
    config.write(folder / "edge.json")
    if secret:
        (folder / "edge-purge-secret").write_text(SECRET + "\n")
        (folder / "edge-purge-secret").chmod(0o600)  # as kit init writes it: the edge refuses one every user reads
    log = open(folder / "edge.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "kit.edge", "edge.json"], cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/+edge/stats", proc, log=folder / "edge.log")
        yield RunningEdge(folder, config, proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def get(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.status, dict(response.headers), response.read()


def answer(url: str, headers: dict | None = None, timeout: float = 30) -> tuple[int, dict, bytes]:
    """Like :func:`get`, but an error status is an answer too (status, headers, body), not an exception."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def cached(url: str, headers: dict | None = None, timeout: float = 10) -> None:
    """Read ``url`` until the edge answers it from its cache (a purge sent by the mirror,
    which replays the master's changes a moment later, may drop a page once more)."""
    wait_until(lambda: answer(url, headers)[1].get("X-Cache") == "HIT", timeout, 0.05,
               fail=lambda: AssertionError(f"{url} is never cached"))


class Trap:
    """A listener on 127.0.0.1 that counts the connections made to it (each answered "trapped")."""

    def __init__(self):
        trap = self
        self.connections = 0

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                trap.connections += 1
                self.request.settimeout(1)
                try:
                    self.request.recv(4096)
                    self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntrapped\n")
                except OSError:
                    pass

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def raw(port: int, line: str) -> tuple[int, bytes]:
    """One request line sent as written (no client library would send most of these): status and answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        body = b"" if line.split(" ", 1)[0] in ("GET", "HEAD", "OPTIONS", "TRACE", "CONNECT", "PRI") else b"x"
        conn.sendall(f"{line} HTTP/1.1\r\nHost: edge.test\r\nConnection: close\r\nContent-Length: {len(body)}"
                     f"\r\n\r\n".encode("latin-1") + body)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    return (int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/") else 0), received
