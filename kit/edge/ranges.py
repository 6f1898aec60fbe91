"""How the edge answers a request for a package file it holds verified: whole
(200), one byte range (206), not at all (416, the range is past the end) or
"you have it already" (304). Pure functions of the request's headers, the
file's size, its ETag and its Last-Modified time; :mod:`kit.edge.files`
sends the bytes.

The ETag is strong and made of the sha256 the file was verified against
(``"sha256-HEX"``): the same bytes have the same tag on every edge and after
any refill. Last-Modified is the time the file entered the edge's cache (or
the static copy): its origin's own time is not kept, and a client only needs
a time that does not move while the bytes stay the same.

What the rules follow (RFC 9110): one range is served as asked; several
ranges, a malformed Range or a unit other than bytes are answered with the
whole file (13.1.1 allows ignoring Range); an If-Range that does not match
gets the whole file; If-None-Match decides over If-Modified-Since.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass

__all__ = ["Plan", "etag", "http_date", "validators", "byte_range", "not_modified", "range_allowed", "plan",
           "UNSATISFIABLE"]

#: What :func:`byte_range` returns for a range that starts past the end of the file.
UNSATISFIABLE = (-1, -1)


@dataclass(frozen=True)
class Plan:
    """What to send: ``status`` and, for 200 and 206, the bytes ``start`` up to (not including) ``stop``."""
    status: int
    start: int = 0
    stop: int = 0

    def content_range(self, size: int) -> str | None:
        if self.status == 206:
            return f"bytes {self.start}-{self.stop - 1}/{size}"
        if self.status == 416:
            return f"bytes */{size}"
        return None


def etag(sha256: str) -> str:
    return f'"sha256-{sha256}"'


def http_date(timestamp: float) -> str:
    return email.utils.formatdate(int(timestamp), usegmt=True)


def validators(sha256: str, modified: float | None = None) -> dict[str, str]:
    """The headers that let a client revalidate and ask for ranges."""
    headers = {"ETag": etag(sha256), "Accept-Ranges": "bytes"}
    if modified is not None:
        headers["Last-Modified"] = http_date(modified)
    return headers


def _parse_date(value: str) -> float | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def byte_range(value: str | None, size: int) -> tuple[int, int] | None:
    """``start, stop`` (stop excluded) of a single ``bytes=`` range; None to send the whole file
    (no Range, several ranges, not understood); :data:`UNSATISFIABLE` when it starts past the end."""
    if not value:
        return None
    unit, _, spec = value.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "":
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return max(0, size - suffix), size
    start = int(first)
    if last != "" and int(last) < start:
        return None  # not a valid range: ignored, like any Range the edge does not understand
    if start >= size:
        return UNSATISFIABLE
    stop = size if last == "" else min(int(last) + 1, size)
    return start, stop


def _tags(value: str) -> list[str]:
    # Weak comparison for If-None-Match (RFC 9110 13.1.2): W/ is dropped.
    return [tag.strip().removeprefix("W/") for tag in value.split(",") if tag.strip()]


def not_modified(if_none_match: str | None, if_modified_since: str | None, tag: str, modified: float) -> bool:
    """Whether the client's copy is current (304); If-None-Match decides when both are sent."""
    if if_none_match is not None:
        tags = _tags(if_none_match)
        return "*" in tags or tag in tags
    if if_modified_since:
        since = _parse_date(if_modified_since)
        return since is not None and int(modified) <= since
    return False


def range_allowed(if_range: str | None, tag: str, modified: float) -> bool:
    """Whether a Range may be honoured: no If-Range, or one naming this very file (strong comparison)."""
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith(('"', "W/")):
        return value == tag
    since = _parse_date(value)
    return since is not None and int(modified) == since


def plan(headers, method: str, size: int, tag: str, modified: float) -> Plan:
    """The answer to a GET or HEAD with these request ``headers`` for a file of ``size`` bytes."""
    if method in ("GET", "HEAD") and not_modified(headers.get("If-None-Match"), headers.get("If-Modified-Since"),
                                                  tag, modified):
        return Plan(304)
    wanted = byte_range(headers.get("Range"), size) if method in ("GET", "HEAD") else None
    if wanted is None or not range_allowed(headers.get("If-Range"), tag, modified):
        return Plan(200, 0, size)
    if wanted == UNSATISFIABLE:
        return Plan(416)
    return Plan(206, *wanted)
