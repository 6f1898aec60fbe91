"""The public mirror at ``/mirror/``: bandersnatch's ``web`` folder, served from disk by the edge.

bandersnatch (filesystem backend, ``hash-index = false``, ``simple-format``
ALL, HTML or JSON) writes:

- ``simple/index.html`` and ``simple/index.v1_json``, the root listing;
- ``simple/NAME/index.html`` and ``simple/NAME/index.v1_json`` (NAME
  normalised, PEP 503), their links relative (``../../packages/...``);
- ``packages/xx/yy/REST/FILENAME``, each file at its URL's path upstream (on
  PyPI made of its blake2b digest, not its sha256: only the page's link,
  ``#sha256=...``, says what its bytes must be);
- ``json/NAME`` and ``pypi/NAME/json``, copies of PyPI's JSON API. They are
  not served: their file URLs point at PyPI itself, not at the mirror.

It writes every page and file to a hidden temporary name and renames it into
place, so a page opened once is whole; hidden names (a leading ``.``) are never
served. No origin is asked: the mirror keeps answering with every devpi down.

On a site whose public mirror has a host of its own, that host serves the
``web`` folder over HTTP and every edge answers ``/mirror/`` from it instead,
by the same paths and refusals (:mod:`kit.edge.mirror_origin`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import stat
from pathlib import Path
from urllib.parse import quote, unquote

from aiohttp import web

from kit.edge.cache import JSON, representation
from kit.edge.replies import text
from kit.core.names import normalize

__all__ = ["PREFIX", "PublicMirror", "NO_MIRROR", "segments", "page_files", "no_page", "PAGE_TYPES", "PAGE_CACHE"]

log = logging.getLogger("kit.edge")

PREFIX = "/mirror/"
NO_MIRROR = "kit edge: this site has no public mirror (add the public-mirror setup)\n"
_READS = ("GET", "HEAD")
#: The files of each representation, preferred first. simple-format=ALL also
#: writes index.v1_html, a copy of index.html.
_HTML_FILES = ("index.html", "index.v1_html")
_JSON_FILES = ("index.v1_json",)
#: Each page file's Content-Type (not guessed from its name: ``.v1_json`` means nothing to a web server).
PAGE_TYPES = {**dict.fromkeys(_HTML_FILES, "text/html; charset=utf-8"),
              **dict.fromkeys(_JSON_FILES, JSON)}
#: Pages change with every sync: clients ask again each time (a 304 for an
#: unchanged page costs no body), so a finished sync is seen at once, as the
#: edge does for devpi's pages. Files never change: their path is made of their digest.
PAGE_CACHE = "max-age=0, must-revalidate"
FILE_CACHE = "max-age=31536000, immutable"
#: Pages past this size (a whole PyPI's root listing is tens of MB) are read
#: in a thread, not on the event loop.
_READ_IN_THREAD = 1024 * 1024


def page_files(accept: str | None) -> tuple[str, ...]:
    """A page's files in the order a client with this Accept header prefers them: a tree
    written in one format serves that one to every client."""
    return (_JSON_FILES + _HTML_FILES) if representation(accept) == JSON else (_HTML_FILES + _JSON_FILES)


def segments(raw_path: str) -> list[str] | None:
    """The decoded segments of ``raw_path`` after ``/mirror/``, or None if one is unsafe.

    Each segment is decoded on its own, so an encoded ``/`` (``%2f``) stays
    inside its segment, and is refused there with ``..`` (plain or ``%2e%2e``),
    any name starting with ``.`` (bandersnatch's temporary files), backslashes,
    NUL and other control characters. Only the last segment may be empty (a
    trailing slash).
    """
    parts = raw_path.split("?", 1)[0].split("/")
    if len(parts) < 3 or parts[0] != "":
        return None
    decoded = []
    for number, part in enumerate(parts[1:], 1):
        try:
            part = unquote(part, errors="strict")
        except UnicodeDecodeError:
            return None
        if part == "":
            if number != len(parts) - 1:
                return None
        elif part.startswith(".") or "/" in part or "\\" in part or any(ord(c) < 32 or ord(c) == 127 for c in part):
            return None
        decoded.append(part)
    if decoded[0] != "mirror":
        return None
    return decoded[1:]


class PublicMirror:
    """Answers ``/mirror/...`` from bandersnatch's ``web`` folder, never from outside it."""

    def __init__(self, folder: Path):
        self.folder = folder
        # Resolved once: symlinks that lead outside it are refused per request.
        self.root = os.path.realpath(folder)

    async def answer(self, request: web.Request) -> web.StreamResponse:
        if request.method not in _READS:
            return text(405, f"kit edge: the public mirror is read-only; {request.method} is not allowed\n",
                        headers={"Allow": "GET, HEAD"})
        parts = segments(request.raw_path)
        if parts is None:
            return text(400, "kit edge: not a public mirror path (a segment starts with '.' or holds "
                             "an encoded '/', a backslash or a control character)\n")
        if parts[:1] == ["simple"]:
            return await self._simple(request, parts[1:])
        if parts[:1] == ["packages"] and len(parts) == 5 and all(parts):
            return await self.file(request, parts)
        return text(404, f"kit edge: the public mirror has no {quote(request.path)} "
                         "(it serves /mirror/simple/ and the files its pages link)\n")

    async def _simple(self, request: web.Request, rest: list[str]) -> web.StreamResponse:
        if not rest:  # /mirror/simple
            return _redirect("/mirror/simple/")
        if rest == [""]:
            return await self.page(request, "")
        if len(rest) <= 2 and rest[0] and rest[1:] in ([], [""]):
            name = normalize(rest[0])
            if name != rest[0] or len(rest) == 1:  # PyPI's answer: one redirect to the normalised, slashed name
                return _redirect(f"/mirror/simple/{quote(name)}/")
            return await self.page(request, name)
        return text(404, f"kit edge: the public mirror has no {quote(request.path)}\n")

    async def page(self, request: web.Request, project: str) -> web.StreamResponse:
        """The root listing (``project`` "") or a project's page, in the representation the client prefers."""
        folder = f"simple/{project}" if project else "simple"
        for filename in page_files(request.headers.get("Accept")):
            body = await self._read(f"{folder}/{filename}")
            if body is not None:
                return _page(request, body, PAGE_TYPES[filename])
        return no_page(project)

    def _inside(self, relative: str) -> str | None:
        """The real path of ``relative`` when it is inside the folder (symlinks resolved), else None."""
        real = os.path.realpath(os.path.join(self.root, relative))
        if real.startswith(self.root + os.sep):
            return real
        log.warning("public mirror: %s leads outside %s: not served", relative, self.root)
        return None

    async def _read(self, relative: str) -> bytes | None:
        """A page's bytes, read from one open file: whole, as its last rename left it."""
        real = self._inside(relative)
        if real is None:
            return None
        try:
            with open(real, "rb") as page:
                info = os.fstat(page.fileno())
                if not stat.S_ISREG(info.st_mode):
                    return None
                if info.st_size > _READ_IN_THREAD:
                    return await asyncio.get_running_loop().run_in_executor(None, page.read)
                return page.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    async def file(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        """``packages/xx/yy/REST/FILENAME`` (``parts``, checked by :func:`segments`)."""
        relative = "/".join(parts)
        real = self._inside(relative)
        try:
            regular = real is not None and stat.S_ISREG(os.stat(real).st_mode)
        except OSError:
            regular = False
        if not regular:
            return text(404, f"kit edge: the public mirror has no file {quote(parts[-1])} ({quote(relative)})\n")
        # aiohttp sends it with sendfile, with Content-Length, HEAD, ranges and If-None-Match.
        return web.FileResponse(real, headers={"Content-Type": "application/octet-stream",
                                               "Cache-Control": FILE_CACHE, "X-Served-By": "public-mirror"})


def no_page(project: str) -> web.Response:
    what = f"project {project} (simple/{project}/)" if project else "root listing (simple/index.html)"
    return text(404, f"kit edge: the public mirror has no {what}; has it been synced?\n")


def _page(request: web.Request, body: bytes, content_type: str) -> web.Response:
    tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"Content-Type": content_type, "Vary": "Accept", "Cache-Control": PAGE_CACHE, "ETag": tag,
               "X-Served-By": "public-mirror"}
    if request.headers.get("If-None-Match") == tag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, headers=headers)  # for HEAD aiohttp sends the length, not the body


def _redirect(location: str) -> web.Response:
    return web.Response(status=301, headers={"Location": location}, text=f"kit edge: moved to {location}\n",
                        content_type="text/plain")
