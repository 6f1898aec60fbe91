"""Reads from the first origin that answers: the one failover loop every read
the edge makes goes through (:meth:`Failover.try_each`), for index pages
(:mod:`kit.edge.pages`), package files (:mod:`kit.edge.files`) and what it
passes through uncached (:meth:`Failover.pass_read`); and the one pooled
client session to the origins.

The rules (:mod:`kit.edge.origins` says why): origins are asked in
:meth:`~kit.edge.origins.Origins.for_read` order; one that refused, was cut
off or timed out is marked down and the next is asked; a 5xx is the origin's
answer to this request, never its absence: counted, nothing marked, and the
next is asked — unless it came from the last origin and the caller relays
whatever the last one says.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Mapping, TypeVar

from aiohttp import ClientError, ClientResponse, ClientSession, ClientTimeout, DummyCookieJar, TCPConnector, web

from kit.edge.config import EdgeConfig
from kit.edge.origins import Origin, Origins
from kit.edge.replies import forward_headers, none_answered, relay

__all__ = ["Rejected", "AllFailed", "describe", "Failover"]

log = logging.getLogger("kit.edge")

T = TypeVar("T")


class _OriginError(Exception):
    """An origin answered a read with a 5xx (its name is in the problems a 503 lists)."""


class Rejected(Exception):
    """An origin answered, but not with what was asked (bytes that do not match
    their sha256): the next origin is asked, nothing is marked or counted."""


class AllFailed(Exception):
    """No origin answered a read (refused, timed out, 5xx, or rejected): "ORIGIN: why; ..."."""


def describe(exc: BaseException) -> str:
    """An origin failure in words, naming the OS error (ConnectionRefusedError) when there is one."""
    cause = getattr(exc, "os_error", None) or exc.__cause__ or exc
    if isinstance(exc, asyncio.TimeoutError) or isinstance(cause, asyncio.TimeoutError):
        return "TimeoutError: no answer in time"
    return f"{cause.__class__.__name__}: {cause}".strip().rstrip(":")


class Failover:
    """The origins, the client session to them, and the loop that asks them in turn."""

    def __init__(self, config: EdgeConfig, origins: Origins, stats: dict):
        self.config = config
        self.origins = origins
        self.stats = stats
        self.session: ClientSession | None = None
        #: The headers the edge's own reads carry (pages, files it caches): its
        #: reader's credentials when reads are private, never a client's.
        self.reader: dict[str, str] = {}

    def open(self) -> None:
        connector = TCPConnector(limit=self.config.origin_connections, keepalive_timeout=30)
        # auto_decompress off: bytes pass through as the origin sent them; no
        # cookies, no proxy from the environment: the origins are on loopback.
        self.session = ClientSession(connector=connector, auto_decompress=False, cookie_jar=DummyCookieJar(),
                                     trust_env=False)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def probe(self, origin: Origin) -> str:
        """The background health check of one origin: "" when its ``/+api`` answered below 500, else why not."""
        timeout = ClientTimeout(total=self.config.connect_timeout + self.config.read_timeout)
        try:
            async with self.session.get(origin.url_for("/+api"), timeout=timeout) as response:
                await response.read()
                origin.saw(response.headers)
                return f"HTTP {response.status}" if response.status >= 500 else ""
        except (ClientError, asyncio.TimeoutError) as exc:
            return describe(exc)

    def read_timeout(self) -> ClientTimeout:
        return ClientTimeout(sock_connect=self.config.connect_timeout, sock_read=self.config.read_timeout)

    async def try_each(self, method: str, path: str, answer: Callable[[Origin, ClientResponse], Awaitable[T]], *,
                       headers: Callable[[Origin], Mapping[str, str]], query: str = "", encoded: bool = False,
                       relay_last_5xx: bool = False) -> T:
        """``answer(origin, response)`` of the first origin that answers ``method path?query``.

        Every origin after the first counts a failover. An origin that refused,
        was cut off or timed out (also while ``answer`` read it) is marked down;
        a 5xx is counted and the next origin asked, except from the last one
        when ``relay_last_5xx``: then it is ``answer``'s, as any answer below
        500 is (which marks its origin answered). ``answer`` raises
        :class:`Rejected` to have the next one asked. :class:`AllFailed` when
        none answered. ``path`` and ``query`` are as :meth:`Origin.url_for` takes them.
        """
        problems = []
        origins = self.origins.for_read()
        for number, origin in enumerate(origins):
            if number:
                self.stats["failovers"] += 1
            try:
                async with self.session.request(method, origin.url_for(path, query, encoded=encoded),
                                                headers=headers(origin), allow_redirects=False,
                                                timeout=self.read_timeout()) as upstream:
                    if upstream.status >= 500 and not (relay_last_5xx and number == len(origins) - 1):
                        raise _OriginError(f"HTTP {upstream.status}")
                    if upstream.status < 500:
                        self.origins.answered(origin)
                    origin.saw(upstream.headers)
                    return await answer(origin, upstream)
            except (ClientError, asyncio.TimeoutError, _OriginError) as exc:
                problems.append(self.read_failed(origin, method, path, exc))
            except Rejected as exc:
                problems.append(f"{origin.name}: {exc}")
        raise AllFailed("; ".join(problems))

    async def pass_read(self, request: web.Request) -> web.StreamResponse:
        """A read the edge does not cache, from the first origin that answers below 500, streamed
        (the last origin's answer whatever it is: a path devpi cannot decode gets devpi's 500)."""
        path, _, query = request.raw_path.partition("?")

        async def passed(origin: Origin, upstream: ClientResponse) -> web.StreamResponse:
            self.stats["passes"] += 1
            return await relay(request, upstream, origin, "PASS", self.stats)

        try:
            return await self.try_each(request.method, path, passed, query=query, encoded=True, relay_last_5xx=True,
                                       headers=lambda _origin: forward_headers(request, self.config.public_url))
        except AllFailed as exc:
            return none_answered(str(exc))

    async def authcheck(self, credentials: Mapping[str, str], index: str) -> int | None:
        """May these credentials (the client's Authorization and X-Devpi-Auth headers,
        none for anonymous) read ``index``? The first origin's answer to ``/+authcheck``
        (master first, then the mirror): 200, 401 or 403; None when none answered with one of them."""
        headers = {"X-Original-URI": f"/{index}/+simple/", "X-Outside-Url": self.config.public_url,
                   **credentials}

        async def decided(_origin: Origin, upstream: ClientResponse) -> int:
            await upstream.read()
            if upstream.status not in (200, 401, 403):
                raise Rejected(f"/+authcheck answered HTTP {upstream.status}")
            return upstream.status

        try:
            return await self.try_each("GET", "/+authcheck", decided, headers=lambda _origin: headers)
        except AllFailed as exc:
            log.warning("nobody could say who may read %s: %s", index, exc)
            return None

    def origin_failed(self, origin: Origin, method: str, path: str, reason: str) -> None:
        self.origins.failed(origin, reason)
        log.warning("%s %s: %s (%s) failed: %s", method, path, origin.name, origin.url, reason)

    def read_failed(self, origin: Origin, method: str, path: str, exc: BaseException) -> str:
        """A read an origin did not answer well: "ORIGIN: why", for the next one to be tried.

        Refused, cut off or timed out: the origin is marked down. A 5xx is its
        answer to this request (devpi answers 500 to a path it cannot decode):
        counted, nothing marked, no log line that a client could repeat at will.
        """
        reason = describe(exc)
        if isinstance(exc, _OriginError):
            self.stats["origin_5xx"] += 1
        else:
            self.origin_failed(origin, method, path, reason)
        return f"{origin.name}: {reason}"
