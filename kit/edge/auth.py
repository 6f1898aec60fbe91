"""Who may read what the edge has cached: one decision per request and index.

Every cached page or file is served only after :meth:`Authorizer.allowed`
said yes for the index it belongs to. Today every index is public to its
readers, so the answer is always yes. For private reads (the next issue) the
same call asks devpi's ``/+authcheck`` with the request's credentials and
keeps the decision for ``ttl`` seconds per (credentials, index), so a hit
stays a hit without a round trip per request.
"""

from __future__ import annotations

import time
from typing import Awaitable, Callable, Mapping

__all__ = ["Authorizer"]

#: Asks the origin whether these request headers may read this index.
Ask = Callable[[Mapping[str, str], str], Awaitable[bool]]


class Authorizer:
    def __init__(self, ask: Ask | None = None, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self._ask = ask
        #: No question to ask: every index is readable by anyone who reaches the
        #: edge, and a cache hit need not await a decision.
        self.everyone = ask is None
        self.ttl = ttl
        self._clock = clock
        self._decisions: dict[tuple[str, str], tuple[bool, float]] = {}

    async def allowed(self, headers: Mapping[str, str], index: str) -> bool:
        if self._ask is None:
            return True
        who = headers.get("Authorization", "")
        decided = self._decisions.get((who, index))
        now = self._clock()
        if decided is not None and decided[1] > now:
            return decided[0]
        answer = await self._ask(headers, index)
        if len(self._decisions) > 10000:
            self._decisions.clear()
        self._decisions[(who, index)] = (answer, now + self.ttl)
        return answer
