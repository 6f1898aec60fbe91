"""Sending purges to the edges: the pending keys, the thread that POSTs them,
and the request itself (the wire half of the purge contract).

What each edge gets::

    POST <kit-purge-url>
    Authorization: Bearer <the secret in kit-purge-secretfile>
    Content-Type: application/json
    Xkey-Purge: web/private web/private/kitdemo-private acme/private/*
    X-Kit-Serial: 42

    {"keys": ["web/private", "web/private/kitdemo-private", "acme/private/*"], "serial": 42}

* the keys are :mod:`kit.core.purge_keys`' (``USER/INDEX``,
  ``USER/INDEX/PROJECT``, ``USER/INDEX/*``), computed by :mod:`kit.plugin.keys`;
* the headers ``Xkey-Purge`` and ``X-Kit-Serial`` say the same for Varnish,
  which reads no bodies (keys coarsened by :func:`~kit.plugin.keys.collapse` past 16 KiB);
* ``kit-purge-url`` may name several edges, separated by spaces: Varnish and
  kit's edge behind it each get every purge (:class:`Fanout`);
* ``serial``: devpi's serial of the newest change the keys cover, as devpi
  sends it in ``X-Devpi-Serial``; a page fetched with a lower serial predates
  the change.

Any 2xx answer is success.

How: the commit follower only adds keys to a pending set; a thread of
devpi's own sends them, merging whatever arrived meanwhile into one request,
with a 1 s timeout. A failure is logged (at most one line a minute) and the
keys dropped: the edge revalidates pages on its own within seconds, so a lost
purge costs freshness for that long, never correctness for good.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import httpx

from kit.plugin.keys import collapse, header_keys

__all__ = ["FAILURE_LOG_INTERVAL", "LINGER", "MAX_ANSWER", "MAX_PENDING_KEYS", "TIMEOUT", "Fanout", "PurgeSender",
           "purge_request"]

#: Seconds the edge has to answer a purge; devpi never waits on it anyway.
TIMEOUT = 1.0
#: Pending keys past this are coarsened to ``USER/INDEX/*`` (see :func:`~kit.plugin.keys.collapse`).
MAX_PENDING_KEYS = 1000
#: After the first key of a commit, how long to gather the rest of it into the same request.
LINGER = 0.05
#: At most one failure line per this many seconds: a down edge must not flood devpi's log.
FAILURE_LOG_INTERVAL = 60.0
#: The most of an answer read: the edge answers {"purged": N}.
MAX_ANSWER = 64 * 1024


def purge_request(keys: Iterable[str], serial: int, secret: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of the purge of ``keys`` at ``serial``, as every edge gets it."""
    keys = set(keys)
    body = json.dumps({"keys": sorted(keys), "serial": serial}).encode()
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {secret}",
        # The same purge for Varnish, which reads headers, not bodies
        # (varnish-modules' xkey takes space-separated keys).
        "Xkey-Purge": header_keys(keys),
        "X-Kit-Serial": str(serial),
    }
    return body, headers


def _post(client: httpx.Client, url: str, body: bytes, headers: dict[str, str], timeout: float,
          tls_name: str = "") -> str:
    """POST one purge; "" when the edge answered 2xx, else the problem in words, never raised."""
    try:
        with client.stream("POST", url, content=body, headers=headers,
                           extensions={"sni_hostname": tls_name} if tls_name else None) as answer:
            if 200 <= answer.status_code < 300:
                _read_at_most(answer, MAX_ANSWER)
                return ""
            problem = f"HTTP {answer.status_code} {answer.reason_phrase}"
            if answer.status_code in (401, 403):
                problem += " (the edge and devpi do not share the same secret)"
            return problem
    except httpx.ConnectTimeout:
        return f"no connection within {timeout:g} s"
    except httpx.TimeoutException:
        return f"no answer within {timeout:g} s"
    except httpx.HTTPError as exc:
        return str(exc) or type(exc).__name__


def _read_at_most(answer: httpx.Response, limit: int) -> None:
    """Read (and drop) at most ``limit`` bytes of ``answer``'s body: the edge's answer is
    taken whole, a misconfigured URL's endless one is not."""
    taken = 0
    for chunk in answer.iter_raw():
        taken += len(chunk)
        if taken >= limit:
            return


class PurgeSender:
    """The pending keys and the thread that POSTs them to the edge.

    Registered in devpi's thread pool (``thread_run``/``thread_shutdown``),
    which starts and stops it with devpi's other threads; it never raises,
    because an exception in a pool thread shuts devpi down.
    """

    def __init__(self, url: str, secret: str, log: Any, *, timeout: float = TIMEOUT,
                 max_keys: int = MAX_PENDING_KEYS, linger: float = LINGER,
                 failure_log_interval: float = FAILURE_LOG_INTERVAL, verify: ssl.SSLContext | None = None,
                 tls_name: str = ""):
        self.url = url
        #: The name an https edge's certificate carries, checked instead of the URL's address
        #: (edges on other hosts are reached by address, their certificate names the site).
        self.tls_name = tls_name
        self._secret = secret
        self.log = log
        self.timeout = timeout
        self.max_keys = max_keys
        self.linger = linger
        self.failure_log_interval = failure_log_interval
        # Proxies off (trust_env): the edge is a neighbour, and no proxy may see the secret.
        # No redirects: following one would hand the bearer secret to another URL.
        # No kept-alive connection: one per purge, so an edge restarted in between is never
        # a stale socket. The system's certificates (as Python's urllib uses them), not certifi's.
        self._client = httpx.Client(
            trust_env=False, follow_redirects=False, timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_keepalive_connections=0), verify=verify or ssl.create_default_context())
        self._cond = threading.Condition()
        self._pending: set[str] = set()
        self._serial = -1
        self._stop = threading.Event()
        self._failing = False
        self._next_failure_log = 0.0
        self._unreported = 0
        self.stats = {"requests": 0, "failures": 0, "keys": 0, "coarsened": 0}

    def add(self, keys: Iterable[str], serial: int) -> None:
        """Queue ``keys`` of the change at ``serial``; returns at once."""
        keys = set(keys)
        if not keys:
            return
        with self._cond:
            self._pending |= keys
            self._serial = max(self._serial, serial)
            if len(self._pending) > self.max_keys:
                self._pending = collapse(self._pending)
                self.stats["coarsened"] += 1
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def _take(self) -> tuple[set[str], int] | None:
        with self._cond:
            while not self._pending and not self._stop.is_set():
                self._cond.wait(0.5)
            if self._stop.is_set():
                return None
        # The follower reports a commit key by key: wait a moment for the rest
        # of it, so one commit is one request.
        self._stop.wait(self.linger)
        with self._cond:
            keys, serial = self._pending, self._serial
            self._pending = set()
            return keys, serial

    def thread_run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            try:
                self.send(*batch)
            except Exception as exc:  # noqa: BLE001 - a pool thread must not die (see class docstring)
                self._failed(len(batch[0]), batch[1], f"unexpected {type(exc).__name__}: {exc}")

    def thread_shutdown(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def send(self, keys: set[str], serial: int) -> bool:
        """POST ``keys`` now; True when the edge took them. Failures are logged, never raised."""
        body, headers = purge_request(keys, serial, self._secret)
        self.stats["requests"] += 1
        problem = _post(self._client, self.url, body, headers, self.timeout, self.tls_name)
        if not problem:
            self.stats["keys"] += len(keys)
            if self._failing:
                self._failing = False
                self.log.info("kit-purge: %s takes purges again", self.url)
            return True
        self._failed(len(keys), serial, problem)
        return False

    def _failed(self, count: int, serial: int, problem: str) -> None:
        self.stats["failures"] += 1
        self._failing = True
        now = time.monotonic()
        if now < self._next_failure_log:
            self._unreported += 1
            return
        since = f"; {self._unreported} more failed since the last report" if self._unreported else ""
        self._unreported = 0
        self._next_failure_log = now + self.failure_log_interval
        self.log.warning(
            "kit-purge: could not purge %d keys (serial %d) at %s: %s%s; dropped, the edge revalidates on its own",
            count, serial, self.url, problem, since)


class Fanout:
    """The same keys to several edges, each with its own sender (one slow edge delays no other)."""

    def __init__(self, senders: Sequence[PurgeSender]):
        self.senders = list(senders)

    def add(self, keys: Iterable[str], serial: int) -> None:
        keys = set(keys)
        for sender in self.senders:
            sender.add(keys, serial)
