"""devpi's simple pages as the edge serves them: api-version 1.1 (PEP 700) and
the HTML's repository version (PEP 629).

devpi 6.20 writes api-version 1.0 JSON (no ``versions``, no ``size``, no
``upload-time``) and HTML without ``<meta name="pypi:repository-version">``.
The edge rewrites each page once, when it fetches it (never per request):

* ``versions``: every version the page's file names carry (wheel and sdist
  names read by packaging, as resolvers read them; other names are left out).
* ``size`` and ``upload-time``: from :class:`FileFacts`, which the edge learns
  from the origin's answer to a HEAD of the file, once per file (files never
  change). devpi answers it from what it recorded, without reading the file:
  Content-Length is the stored file's size, and Last-Modified is the time devpi
  recorded when the file was uploaded (the same second as the ``"when"`` of
  the upload in devpi's project JSON, and the same on the mirror, which
  replicates it). That is the ``upload-time`` uv's ``--exclude-newer`` reads.
  devpi's project JSON (``GET /USER/INDEX/PROJECT``) carries the upload times
  of all files in one request but no size, and PEP 700 makes ``size``
  mandatory: the HEADs are what gives both.
* Files of devpi's mirror of PyPI (``root/pypi``) are never asked (devpi would
  fetch the file from PyPI to answer): their entries go without ``size`` and
  ``upload-time``. A page with any file of unknown size stays api-version 1.0
  (with ``versions`` and the facts known, keys a 1.0 client ignores), since
  PEP 700 requires ``size`` on every file of a 1.1 page; ``upload-time`` is
  optional there, so a file without one is a 1.1 file all the same.

Pure: no I/O here (tests/unit/edge/test_simple_api.py).
"""

from __future__ import annotations

import functools
import json
import re
from collections import OrderedDict
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Callable, NamedTuple

from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from kit.edge.cache import weighted

__all__ = ["API_VERSION", "FileFact", "FileFacts", "acceptable", "upgrade", "upgrade_html", "upgrade_json",
           "version_of", "upload_time"]

API_VERSION = "1.1"
_META = f'<meta name="pypi:repository-version" content="{API_VERSION}">'.encode()
_HEAD = re.compile(rb"<head(?:\s[^>]*)?>", re.IGNORECASE)
_HTML = re.compile(rb"<html(?:\s[^>]*)?>", re.IGNORECASE)

#: The media types a simple page is served as (PEP 691's ``latest`` aliases
#: included) and the ranges that cover one of them: any other Accept gets 406.
_SERVED = frozenset({
    "application/vnd.pypi.simple.v1+json", "application/vnd.pypi.simple.latest+json",
    "application/vnd.pypi.simple.v1+html", "application/vnd.pypi.simple.latest+html",
    "text/html", "text/*", "application/*", "*/*",
})


@functools.lru_cache(maxsize=256)  # a handful of distinct Accept headers, on every request
def acceptable(accept: str | None) -> bool:
    """Whether ``accept`` names (with a quality above 0) a type the edge serves pages as; no header at all does."""
    if accept is None or not accept.strip():
        return True
    return any(quality > 0 and media in _SERVED for media, quality in weighted(accept))


class FileFact(NamedTuple):
    size: int | None
    upload_time: str | None  # PEP 700's form: ISO 8601 in UTC, "Z" suffix


class FileFacts:
    """What the edge learnt about each file (path → :class:`FileFact`); files never
    change, so a fact is kept until it is among the least recently used past ``max_entries``."""

    def __init__(self, max_entries: int = 200_000):
        self.max_entries = max_entries
        self._facts: OrderedDict[str, FileFact] = OrderedDict()

    def __len__(self) -> int:
        return len(self._facts)

    def get(self, path: str) -> FileFact | None:
        fact = self._facts.get(path)
        if fact is not None:
            self._facts.move_to_end(path)
        return fact

    def put(self, path: str, fact: FileFact) -> None:
        self._facts[path] = fact
        self._facts.move_to_end(path)
        while len(self._facts) > self.max_entries:
            self._facts.popitem(last=False)


def upload_time(last_modified: str | None) -> str | None:
    """An HTTP date (devpi's Last-Modified) in PEP 700's form, or None when it is not one."""
    if not last_modified:
        return None
    try:
        when = parsedate_to_datetime(last_modified)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None or when.utcoffset() is None:
        return None
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def version_of(filename: str) -> Version | None:
    """The version a wheel's or sdist's name carries; None for any other name."""
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


def upgrade_json(body: bytes, fact_of: Callable[[str], FileFact | None]) -> bytes:
    """A PEP 691 page as api-version 1.1 (when every file's size is known); ``fact_of``
    answers for a file's ``url``. The body unchanged when it is not a JSON object (the
    edge never invents a page)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if not isinstance(data, dict):
        return body
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    data["meta"] = {**meta, "api-version": API_VERSION}
    files = data.get("files")
    if isinstance(files, list):  # a project's page (the root page lists projects only)
        versions, sized = set(), True
        for entry in files:
            if not isinstance(entry, dict):
                continue
            version = version_of(entry["filename"]) if isinstance(entry.get("filename"), str) else None
            if version is not None:
                versions.add(version)
            fact = fact_of(entry["url"]) if isinstance(entry.get("url"), str) else None
            if fact is not None and fact.size is not None and "size" not in entry:
                entry["size"] = fact.size
            if fact is not None and fact.upload_time is not None and "upload-time" not in entry:
                entry["upload-time"] = fact.upload_time
            sized = sized and isinstance(entry.get("size"), int)
        data["versions"] = [str(v) for v in sorted(versions)]
        if not sized:  # PEP 700: every file of a 1.1 page has its size; this one stays as devpi said
            data["meta"]["api-version"] = meta.get("api-version", "1.0")
    return json.dumps(data, separators=(",", ":")).encode()


def upgrade_html(body: bytes) -> bytes:
    """An HTML page with PEP 629's ``<meta>``: in its head, else after ``<html>``, else first."""
    if b'name="pypi:repository-version"' in body:
        return body
    found = _HEAD.search(body) or _HTML.search(body)
    if found is None:
        return _META + b"\n" + body
    return body[: found.end()] + _META + body[found.end():]


def upgrade(body: bytes, content_type: str, fact_of: Callable[[str], FileFact | None]) -> bytes:
    """A page as the edge serves it, by its Content-Type."""
    if content_type.startswith("application/vnd.pypi.simple.v1+json"):
        return upgrade_json(body, fact_of)
    if content_type.startswith("text/html") or content_type.startswith("application/vnd.pypi.simple.v1+html"):
        return upgrade_html(body)
    return body
