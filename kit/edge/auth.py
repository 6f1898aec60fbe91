"""Who may read what the edge serves: one decision per request and index.

With ``read_access = "anonymous"`` there is nobody to ask (:attr:`Authorizer.everyone`)
and the edge's hot path awaits nothing. Otherwise every read under
``/USER/INDEX/`` (a cached page or file, a miss, a stale answer, the static
copy, a pass-through) is served only after :meth:`Authorizer.decide` said 200
for that index. The question goes to the origins' ``/+authcheck`` (master
first, then the mirror) with the client's own credentials: its
``Authorization`` header and devpi-client's ``X-Devpi-Auth`` (what ``devpi
login`` makes it send), so devpi decides exactly as it would for the client.
200 may read, 401 not authenticated, 403 authenticated but not allowed.

Each decision is kept per (credentials, index) for ``ttl`` seconds,
and never past the expiry a devpi-tokens token carries in its caveats, so a
cache hit stays a hit without a round trip per request. A purge of the key
``+user/USER`` (devpi's plugin sends it when USER's password or tokens
change) drops every decision kept for USER's credentials at once: Basic
credentials naming USER, a devpi-tokens token of USER however it is sent
(Bearer, Basic with or without a user name: its identifier names USER), devpi
login's header for USER, and every decision whose user cannot be read.

When no origin answers the question, the last decision known for those
credentials and that index is used (the master and mirror being down, no
purge can have been missed meanwhile); with none known the answer is 503:
nothing private is served on a guess.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable, Mapping

from kit.core.errors import SecretError
from kit.core.names import EDGE_READER

__all__ = ["Authorizer", "Decision", "ALLOWED", "UNAUTHENTICATED", "FORBIDDEN", "UNKNOWN", "user_of",
           "token_expiry", "token_user", "basic_header", "index_of", "read_credentials", "credentials_of",
           "reads_nothing", "DEVPI_AUTH"]

ALLOWED, UNAUTHENTICATED, FORBIDDEN, UNKNOWN = 200, 401, 403, 503
#: devpi-client's credentials after ``devpi login`` (base64 of "USER:LOGIN-TOKEN"),
#: sent in place of Authorization; devpi reads both.
DEVPI_AUTH = "X-Devpi-Auth"
#: Asks the origins whether these credentials (the client's Authorization and
#: X-Devpi-Auth headers, see :func:`credentials_of`; empty for none) may read
#: this index: 200, 401 or 403; None when no origin answered.
Ask = Callable[[Mapping[str, str], str], Awaitable["int | None"]]
#: Decisions kept at most; past it the oldest half goes (a flood of made-up
#: credentials must not grow the edge's memory without bound).
MAX_DECISIONS = 20000
#: In the last part of a decision's ttl (this fraction), a request that uses it also
#: asks the origins again in the background.
REFRESH_AHEAD = 0.4
#: How long a decision may stand in for the origins while none answers.
STALE_FOR = 24 * 3600.0


@dataclass
class Decision:
    status: int
    fresh_until: float  # monotonic: asked again after this
    usable_until: float  # monotonic: never used after this (the token's expiry), not even stale
    user: str


def basic_header(user: str, password: str) -> str:
    """The Authorization header of HTTP Basic for ``user`` and ``password``."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def read_credentials(path: Path) -> str:
    """The Authorization header the edge reads private indexes with, from
    ``path`` ("kit-edge:PASSWORD", mode 0600); :class:`SecretError` naming the fix."""
    fix = f"run kit init again to write {path} (kit-edge:PASSWORD, mode 0600)"
    try:
        mode = Path(path).stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SecretError(f"read credentials file {path} is open to other users of this machine; "
                              f"run: chmod 600 {path}")
        text = Path(path).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise SecretError(f"read credentials file {path} does not exist; {fix}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"cannot read the read credentials file {path} ({exc}); {fix}") from None
    user, sep, password = text.partition(":")
    if user != EDGE_READER or not sep or not password or any(ch.isspace() for ch in password):
        raise SecretError(f"read credentials file {path} does not hold {EDGE_READER}:PASSWORD on one line; {fix}")
    return basic_header(user, password)


def _basic_parts(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (user, password) if sep else None


def user_of(header: str) -> str:
    """The user name an Authorization header of HTTP Basic names ("" for none or another kind)."""
    parts = _basic_parts(header)
    return parts[0] if parts else ""


def credentials_of(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers of ``headers`` that say who the client is (Authorization, X-Devpi-Auth)."""
    return {name: headers[name] for name in ("Authorization", DEVPI_AUTH) if headers.get(name)}


def _token_of(header: str) -> str:
    """The devpi-tokens token an Authorization header carries ("" for none), in each
    spelling devpi-tokens takes: Bearer, Basic "USER:TOKEN", ":TOKEN" or "TOKEN:"."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() if rest.strip().startswith("devpi-") else ""
    parts = _basic_parts(header)
    if parts is None:
        return ""
    return next((part for part in (parts[1], parts[0]) if part.startswith("devpi-")), "")


def _macaroon_bytes(token: str) -> bytes:
    encoded = token[len("devpi-"):]
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        return b""


def token_user(header: str) -> str:
    """The devpi user whose devpi-tokens token ``header`` carries ("" for none or unreadable).

    Read from the macaroon's identifier ("USER-TOKENID") without devpi: it only
    says whose decisions a purge of ``+user/USER`` drops; the origin checks the token.
    """
    token = _token_of(header)
    raw = _macaroon_bytes(token) if token else b""
    identifier = b""
    if raw.startswith(b"\x02"):  # v2: version, [location: 1 LEN BYTES], identifier: 2 LEN BYTES
        at = 1
        if raw[at:at + 1] == b"\x01" and len(raw) > at + 1:
            at += 2 + raw[at + 1]
        if raw[at:at + 1] == b"\x02" and len(raw) > at + 1:
            identifier = raw[at + 2:at + 2 + raw[at + 1]]
    else:
        found = re.search(rb"identifier ([^\n]+)\n", raw)
        identifier = found.group(1) if found else b""
    user, sep, _ = identifier.decode("utf-8", "replace").rpartition("-")
    return user if sep else ""


def _devpi_login_user(value: str) -> str:
    try:
        user, sep, _ = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""
    return user if sep else ""


def whose(credentials: Mapping[str, str]) -> str:
    """The devpi user ``credentials`` (see :func:`credentials_of`) speak for: a token's
    owner, else the Basic user name, else devpi login's; "" when none can be read."""
    authorization = credentials.get("Authorization", "")
    return (token_user(authorization) or user_of(authorization)
            or _devpi_login_user(credentials.get(DEVPI_AUTH, "")))


_EXPIRES = re.compile(rb"expires\s*=\s*(\d{1,12})")


def token_expiry(header: str) -> float | None:
    """The earliest ``expires=<unix time>`` caveat of the devpi-tokens token used as
    the password in ``header``; None when the password is no token or has no expiry.

    A token is a macaroon: "devpi-" then URL-safe base64 of its binary form, in
    which each first-party caveat is plain text. Read without devpi; the origin
    checks the token itself, this only bounds how long the edge trusts its answer.
    """
    token = _token_of(header)
    if not token:
        return None
    raw = _macaroon_bytes(token)
    found = [int(m.group(1)) for m in _EXPIRES.finditer(raw)]
    return float(min(found)) if found else None


def index_of(path: str) -> str:
    """"USER/INDEX" of a path under an index (``/USER/INDEX`` or ``/USER/INDEX/…``), else ""."""
    parts = path.split("/", 3)
    if len(parts) < 3 or parts[0] or not parts[1] or not parts[2] or parts[1].startswith("+"):
        return ""
    return f"{parts[1]}/{parts[2]}"


def reads_nothing(path: str) -> bool:
    """Whether ``path`` is ``/USER/INDEX/+api``: devpi's map of the index's URLs (where to log
    in, its simple page), which devpi's client asks before it can log in (``devpi use``) and
    which devpi answers anyone, kit's plugin too: it holds nothing of the index's packages."""
    parts = path.split("/")
    return len(parts) == 4 and parts[3] == "+api" and bool(index_of(path))


class Authorizer:
    """The decisions the edge keeps, and the question it asks when it has none fresh."""

    def __init__(self, ask: Ask | None = None, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time):
        self._ask = ask
        #: No question to ask: every index is readable by anyone who reaches the
        #: edge, and a cache hit need not await a decision.
        self.everyone = ask is None
        self.ttl = ttl
        self._clock = clock
        self._wall = wall
        #: Keyed by (the client's credential headers, index).
        self._decisions: dict[tuple[tuple[tuple[str, str], ...], str], Decision] = {}
        #: The questions on their way, by the same key: one at a time per credentials and index.
        self._asking: dict[tuple[tuple[tuple[str, str], ...], str], asyncio.Future] = {}
        #: Counts the user purges: an answer to a question asked before one is not kept.
        self._purges = 0

    async def decide(self, headers: Mapping[str, str], index: str) -> int:
        """200 may read ``index``, 401 not authenticated, 403 not allowed, 503 nobody could say."""
        if self._ask is None:
            return ALLOWED
        credentials = credentials_of(headers)
        who = tuple(sorted(credentials.items()))
        now = self._clock()
        kept = self._decisions.get((who, index))
        if kept is not None and (kept.usable_until <= now):
            del self._decisions[(who, index)]
            kept = None
        if kept is not None and kept.fresh_until > now:
            if kept.fresh_until - now <= self.ttl * REFRESH_AHEAD and (who, index) not in self._asking:
                # Asked again in the background before it runs out, the kept decision
                # answering meanwhile: a busy reader never waits for the master's
                # password check (a third of a second) every ttl, and no decision is
                # used past its ttl, so a revocation still takes at most ttl.
                self._start_question(who, credentials, index)
            return kept.status
        # Every request that finds no fresh decision waits for the same question: under load,
        # a decision running out would otherwise send one question per waiting request, each
        # a password hash check at the master (a third of a second of its CPU), and stall them all.
        asking = self._asking.get((who, index)) or self._start_question(who, credentials, index)
        # shielded: a client that hangs up does not cancel the others' question
        answer = await asyncio.shield(asking)
        if answer is None:  # no origin answered
            return kept.status if kept is not None else UNKNOWN
        return answer

    def _start_question(self, who: tuple, credentials: Mapping[str, str], index: str) -> "asyncio.Future[int | None]":
        asking = asyncio.ensure_future(self._question(who, credentials, index))
        # Nobody may await a question asked ahead: its failure is only logged as retrieved.
        asking.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._asking[(who, index)] = asking
        return asking

    async def _question(self, who: tuple, credentials: Mapping[str, str], index: str) -> int | None:
        """The origins' answer for ``who`` and ``index``, kept unless a user was purged meanwhile."""
        purges = self._purges
        try:
            answer = await self._ask(credentials, index)
        finally:
            self._asking.pop((who, index), None)
        if answer is not None and purges == self._purges:
            self._keep(who, credentials, index, answer)
        return answer

    async def allowed(self, headers: Mapping[str, str], index: str) -> bool:
        return await self.decide(headers, index) == ALLOWED

    def _keep(self, who: tuple, credentials: Mapping[str, str], index: str, status: int) -> None:
        now = self._clock()
        fresh, usable = now + self.ttl, now + STALE_FOR
        expires = token_expiry(credentials.get("Authorization", ""))
        if expires is not None:
            left = expires - self._wall()
            if left <= 0:  # expired already: whatever the origin said, nothing to keep
                self._decisions.pop((who, index), None)
                return
            fresh, usable = min(fresh, now + left), min(usable, now + left)
        if len(self._decisions) >= MAX_DECISIONS:
            for old in list(self._decisions)[: MAX_DECISIONS // 2]:  # dicts keep insertion order
                del self._decisions[old]
        self._decisions.pop((who, index), None)  # re-inserted last: the newest
        self._decisions[(who, index)] = Decision(status, fresh, usable, whose(credentials))

    def forget_user(self, user: str) -> int:
        """Drop every decision kept for ``user``'s credentials (a purge of ``+user/USER``); how many.

        A decision whose credentials name no user that can be read (a token in a
        form not understood here) goes too: it might be ``user``'s. Anonymous
        decisions stay (no credentials, nothing of ``user``'s to revoke)."""
        self._purges += 1
        dropped = [key for key, decision in self._decisions.items()
                   if decision.user == user or (not decision.user and key[0])]
        for key in dropped:
            del self._decisions[key]
        return len(dropped)

    def __len__(self) -> int:
        return len(self._decisions)
