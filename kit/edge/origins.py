"""The edge's origins, in the order reads try them: the master, then its
mirrors, and what the edge knows of their health. When none of them
answers, the edge reads its last origin, the static copy of the team indexes
on its own disk (:class:`kit.edge.static_copy.StaticOrigin`): no HTTP, no
health to track, so it is not one of these.

Health is passive and active. Passive: a read that could not connect, was
cut off or timed out skips that origin for ``retry_after`` seconds, so one
dead master costs one timeout, not one per request. Active: a background
check (:func:`check_forever`) asks each origin's ``/+api`` every few seconds,
so an origin that came back is used again before ``retry_after`` runs out,
and one that died (or answers its own ``/+api`` with a 5xx) is skipped
before a client pays for it.

An HTTP 5xx to a request is the origin's answer, not its absence: devpi
answers 500 to a path it cannot decode, and one anonymous request must not
mark the master down (health would lie, and reads would go to a lagging
mirror). A read that got a 5xx is tried on the next origin, and nothing is
marked; only the active check judges an origin by its answers.

Every URL asked of an origin is made by :meth:`Origin.url_for`: the path is
put into the origin's parsed URL, never glued onto its text, so no request
target can change the scheme, host or port the edge connects to.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from yarl import URL

__all__ = ["Origin", "Origins", "check_forever"]


@dataclass
class Origin:
    name: str  # "master", "mirror", "mirror-2": what X-Served-By and the stats say
    url: str
    down_until: float = 0.0
    errors: int = 0
    last_error: str = ""
    #: devpi's X-Devpi-Serial in the origin's latest answer (None before one carried it): for the metrics.
    serial: int | None = None

    def __post_init__(self):
        self.base = URL(self.url)

    def url_for(self, path: str, query: str = "", *, encoded: bool = False) -> URL:
        """The origin's URL for ``path`` and ``query``: scheme, host and port are always the origin's.

        ``encoded``: both are as a client sent them (percent-escapes kept, to
        pass a request on unchanged); else ``path`` is a decoded path, quoted here.
        """
        if encoded:
            return URL.build(scheme=self.base.scheme, authority=self.base.raw_authority, path=path,
                             query_string=query, encoded=True)
        return self.base.with_path(path).with_query(query or None)

    def saw(self, headers) -> None:
        """Keep the serial an answer of this origin carries (devpi sends one with every answer)."""
        serial = headers.get("X-Devpi-Serial")
        if serial is not None and serial.isdigit():
            self.serial = int(serial)

    def skipped(self, now: float) -> bool:
        return self.down_until > now


@dataclass
class Origins:
    master: Origin
    mirrors: list[Origin] = field(default_factory=list)
    retry_after: float = 5.0
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def of(cls, master: str, mirrors: list[str], retry_after: float, clock: Callable[[], float] = time.monotonic) -> "Origins":
        names = ["mirror" if n == 0 else f"mirror-{n + 1}" for n in range(len(mirrors))]
        return cls(Origin("master", master.rstrip("/")),
                   [Origin(name, url.rstrip("/")) for name, url in zip(names, mirrors)], retry_after, clock)

    @property
    def all(self) -> list[Origin]:
        return [self.master, *self.mirrors]

    def for_read(self) -> list[Origin]:
        """The origins a read tries, in order; when every one failed lately, all of them: one may be back."""
        now = self.clock()
        healthy = [o for o in self.all if not o.skipped(now)]
        return healthy or self.all

    def for_write(self) -> Origin:
        """Writes go to the master only, even one marked down: the write is its to refuse."""
        return self.master

    def failed(self, origin: Origin, reason: str) -> None:
        """It refused, was cut off or timed out (or failed its health check): skip it for a while."""
        origin.errors += 1
        origin.last_error = reason
        origin.down_until = self.clock() + self.retry_after

    def answered(self, origin: Origin) -> None:
        origin.down_until = 0.0

    def state(self) -> dict[str, str]:
        now = self.clock()
        return {o.url: ("skipped" if o.skipped(now) else "in use") for o in self.all}

    def errors(self) -> dict[str, int]:
        return {o.name: o.errors for o in self.all}


async def check_forever(origins: Origins, probe: Callable[[Origin], Awaitable[str]], interval: float) -> None:
    """Every ``interval`` seconds, ``probe`` each origin ("" when it answered, else why not)."""
    while True:
        # First a pause: at start the first reads find out for themselves.
        await asyncio.sleep(interval)
        for origin in origins.all:
            problem = await probe(origin)
            if problem:
                # A probe failure counts as one error only when it changes the origin's state.
                if not origin.skipped(origins.clock()):
                    origins.failed(origin, problem)
                else:
                    origin.down_until = origins.clock() + origins.retry_after
            else:
                origins.answered(origin)
