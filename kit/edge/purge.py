"""The purge contract between devpi and the edge (devpi's purge plugin sends it).

``POST /+edge/purge`` with ``Authorization: Bearer SECRET``, where SECRET is
the content of the edge's ``purge_secret_file``, and a JSON body
``{"keys": [...], "serial": N}``. A key is ``"USER/INDEX"`` (the index's root
page), ``"USER/INDEX/PROJECT"`` (that project's pages in every
representation; the name is PEP 503-normalised here too) or
``"USER/INDEX/*"`` (everything cached for the index), or ``"+user/USER"``
(every read decision kept for USER's credentials). The answer is
``{"purged": count}``. No or a malformed Authorization header: 401; a wrong
secret, or no usable secret file (missing, or breaking :mod:`kit.core.secrets`'
rules, e.g. readable by every user): 403; a bad body: 400; one over 1 MiB: 413.
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from kit.core import secrets
from kit.core.errors import SecretError
from kit.core.purge_keys import parse_key, parse_user_key

__all__ = ["PurgeKey", "PurgeRefused", "read_secret", "secret_fix", "purge_state", "check_authorization", "parse_purge", "MAX_BODY"]

#: The largest purge body taken: devpi's plugin sends at most ~1,000 keys (it
#: coarsens more into USER/INDEX/*), some 100 KiB.
MAX_BODY = 1024 * 1024

log = logging.getLogger("kit.edge")


@dataclass(frozen=True)
class PurgeKey:
    index: str  # "USER/INDEX"
    #: The normalised project; "" for the index's root page; None for everything of the index.
    project: str | None
    #: For a key ``+user/USER``: USER, whose kept read decisions are dropped (index "" then).
    user: str = ""


class PurgeRefused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def read_secret(path: Path) -> str | None:
    """The shared secret, or None when there is none to check purges against
    (then every purge is refused, and the edge's health says so): the file is
    missing, or breaks one of :mod:`kit.core.secrets`' rules (readable by every
    user, empty, not one token, unreadable), which is logged once per problem.

    Read on each purge, so a secret written or fixed later is taken without a restart.
    """
    try:
        secret = secrets.read_secret(Path(path), required=False, fix=secret_fix(path))
    except SecretError as exc:
        if str(exc) not in _logged_problems:
            _logged_problems.add(str(exc))
            log.warning("purges refused: %s", exc)
        return None
    _logged_problems.clear()  # fixed: a problem that comes back is logged again
    return secret


def secret_fix(path: Path) -> str:
    """How to make a usable purge secret file, the advice every message about it ends with."""
    return f"write the purge secret devpi's plugin sends (64 hex characters) into {path} and chmod 600 it"


#: The secret file's problems already logged: a purge storm must not repeat one a thousand times.
_logged_problems: set[str] = set()


def purge_state(path: Path) -> str:
    """"ready", or why every purge is refused and the fix: the secret file's problem in the words of the log."""
    if read_secret(path) is not None:  # as a purge reads it, a problem logged once
        return "ready"
    try:
        secrets.read_secret(path, required=True, fix=secret_fix(path))
    except SecretError as exc:
        return f"refused: {exc}"
    return "ready"  # fixed between the two reads


def check_authorization(header: str | None, secret: str | None) -> None:
    """Raise :class:`PurgeRefused` unless ``header`` is ``Bearer <secret>``."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise PurgeRefused(401, "purge needs the header Authorization: Bearer <the edge's purge secret>")
    if secret is None:
        raise PurgeRefused(403, "purge refused: the edge has no purge secret file")
    # Constant time: how long the compare takes tells nothing about the secret.
    if not hmac.compare_digest(token.strip().encode(), secret.encode()):
        raise PurgeRefused(403, "purge refused: wrong secret")


def parse_purge(body: bytes) -> tuple[list[PurgeKey], int | None]:
    """The keys and serial of a purge body; :class:`PurgeRefused` (400) when it is not one."""
    if len(body) > MAX_BODY:
        raise PurgeRefused(413, f"purge body is {len(body)} bytes; send at most {MAX_BODY} (kit's plugin coarsens keys)")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PurgeRefused(400, "purge body must be JSON: {\"keys\": [...], \"serial\": N}") from None
    except RecursionError:  # [[[[... nested past Python's stack: the secret's holder, but still no 500
        raise PurgeRefused(400, "purge body is nested too deeply; send {\"keys\": [...], \"serial\": N}") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise PurgeRefused(400, "purge body must be a JSON object with a list \"keys\"")
    serial = data.get("serial")
    if serial is not None and (not isinstance(serial, int) or isinstance(serial, bool)):
        raise PurgeRefused(400, "purge \"serial\" must be an integer")
    keys = []
    for raw in data["keys"]:
        user = parse_user_key(raw)
        if user is not None:
            keys.append(PurgeKey("", None, user))
            continue
        try:
            keys.append(PurgeKey(*parse_key(raw)))  # the spelling devpi's plugin writes with kit.core.purge_keys
        except ValueError as bad:
            raise PurgeRefused(400, str(bad)) from None
    return keys, serial
