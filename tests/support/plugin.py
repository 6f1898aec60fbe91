"""A stand-in for the edge's purge endpoint, and a log that keeps lines: what the
devpi plugin's tests send purges to and read its complaints from."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Purge:
    authorization: str
    content_type: str
    path: str
    body: dict


class Receiver:
    """An HTTP server recording each POST; ``mode`` "ok" answers 204, "hang"
    accepts and never answers, "redirect" answers 307 to ``/elsewhere``."""

    def __init__(self, mode: str = "ok"):
        self.mode = mode
        self.purges: list[Purge] = []
        self.cond = threading.Condition()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.cond:
                    receiver.purges.append(Purge(
                        self.headers.get("Authorization", ""), self.headers.get("Content-Type", ""),
                        self.path, json.loads(body or b"null"),
                    ))
                    receiver.cond.notify_all()
                if receiver.mode == "hang":
                    receiver.release.wait(60)
                    self.close_connection = True
                    return
                if receiver.mode == "redirect":
                    self.send_response(307)
                    self.send_header("Location", "/elsewhere")
                else:
                    self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/+edge/purge"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def mark(self) -> int:
        """How many purges arrived so far: pass it as ``since`` to look at later ones only."""
        with self.cond:
            return len(self.purges)

    def keys(self, since: int = 0) -> set[str]:
        with self.cond:
            return {key for purge in self.purges[since:] for key in purge.body["keys"]}

    def wait_for(self, wanted: set[str], since: int = 0, timeout: float = 30.0) -> list[Purge]:
        """Wait until the purges received (from the ``since``-th on) hold every
        key of ``wanted``; return those of them holding any."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = {key for purge in self.purges[since:] for key in purge.body["keys"]}
                if wanted <= got:
                    return [p for p in self.purges[since:] if wanted & set(p.body["keys"])]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"missing purge keys {sorted(wanted - got)}; received {self.purges}")
                self.cond.wait(left)

    def wait_count(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.purges) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{count} purges expected, received {self.purges}")
                self.cond.wait(left)


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.stop()


class ListLog:
    def __init__(self):
        self.lines: list[tuple[str, str]] = []

    def _add(self, level, message, *args):
        self.lines.append((level, message % args))

    def info(self, message, *args):
        self._add("info", message, *args)

    def warning(self, message, *args):
        self._add("warning", message, *args)
