"""The public mirror at ``/mirror/`` from the public-mirror host, for the edges of a multi-host site.

There bandersnatch (``kit mirror sync``) runs on a host of its own, which
serves its ``web`` folder with Python's ``http.server``; every edge answers
``/mirror/`` from that server as an origin, by the same paths, refusals and
negotiation as from disk (:class:`kit.edge.public_mirror.PublicMirror`):

- pages (the root listing, each project's page; the client's Accept chooses
  ``index.v1_json`` or ``index.html``, whichever the tree has) are kept in
  memory for ``page_ttl`` seconds, then revalidated. When the host does not
  answer, the page last fetched is served stale for as long as the edge holds
  it (until ``max_pages`` newer pages push it out, or the edge restarts): a
  mirror's page only ages. A page never fetched is a 503.
- files go through the edge's own file cache and checks
  (:class:`kit.edge.files.PackageFiles`): each is served only against the
  sha256 its project page links it with (bandersnatch keeps upstream's paths,
  made of another digest on PyPI, so the path vouches for nothing). Wrong
  bytes are never cached nor served whole: a 502 when they are found before
  anything was sent (files up to one chunk, 256 KiB; a larger one is cut off
  before its last chunk, as every fill is). A file no page links with a
  sha256 is not served at all. A wheel's ``.metadata`` (written by ``kit
  mirror sync``) is checked the same way, against the sha256 its wheel's link
  declares of it (``data-core-metadata``, JSON ``core-metadata``).

The host is asked through the edge's one pooled client session, by the
failover loop of :mod:`kit.edge.failover`, with an origin list of its own:
the public-mirror host only, never the master nor its credentials.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from aiohttp import ClientResponse, web
from yarl import URL

from kit.core.core_metadata import METADATA_SUFFIX
from kit.core.names import project_of
from kit.edge.cache import JSON, Files, Hashes, Page, PageKey, Pages, links_of, representation
from kit.edge.config import EdgeConfig
from kit.edge.failover import AllFailed, Failover
from kit.edge.files import PackageFiles
from kit.edge.origins import Origin, Origins
from kit.edge.public_mirror import PAGE_CACHE, PAGE_TYPES, PREFIX, PublicMirror, no_page, page_files
from kit.edge.replies import text

__all__ = ["MirrorOrigin", "public_mirror"]

#: What X-Served-By, the stats and the 503s call the host.
HOST = "public-mirror"
#: The key every mirror page and file path is kept under (its paths start with /mirror/).
_INDEX = PREFIX.strip("/")
#: http.server compares If-Modified-Since with the file's mtime in whole seconds:
#: a page replaced again in the second it was last written would look unchanged.
#: A Last-Modified is revalidated with only when the answer's Date (the host's
#: own clock) is this much later: bandersnatch renames each page into place as
#: soon as it is written, so any later page is of a later second.
_SETTLED = 2.0


def public_mirror(config: EdgeConfig, shared: Failover, files: Files, stats: dict) -> PublicMirror | None:
    """What answers ``/mirror/``: the public-mirror host, bandersnatch's folder on this disk, or nothing."""
    if config.public_mirror_origin:
        return MirrorOrigin(config, shared, files, stats)
    if config.public_mirror_dir:
        return PublicMirror(Path(config.public_mirror_dir))
    return None


class _MirrorHost(Origin):
    """The public-mirror host as an origin: the edge's ``/mirror/X`` is the host's ``/X``."""

    def url_for(self, path: str, query: str = "", *, encoded: bool = False) -> URL:
        base = (self.base.raw_path if encoded else self.base.path).rstrip("/")
        return super().url_for(base + path.removeprefix(PREFIX.rstrip("/")), query, encoded=encoded)


@dataclass
class _Page(Page):
    source: str = ""  # the file it was read from: index.html, index.v1_json...
    modified: str = ""  # the host's Last-Modified, to revalidate with ("" when unsafe, see _SETTLED)


class MirrorOrigin(PublicMirror):
    """Answers ``/mirror/...`` from the public-mirror host's server of bandersnatch's ``web`` folder."""

    def __init__(self, config: EdgeConfig, shared: Failover, files: Files, stats: dict):
        self.config = config
        self.shared = shared
        self.stats = stats
        self.host = _MirrorHost(HOST, config.public_mirror_origin.rstrip("/"))
        self.failover = Failover(config, Origins(self.host, [], config.retry_after), stats)
        self.pages = Pages(config.max_pages)
        #: What the pages fetched say each file's sha256 is (read by :class:`_MirrorFiles`).
        self.hashes = Hashes()
        self.files = _MirrorFiles(config, self.failover, self, files, None, stats)
        self._fetches: dict[PageKey, asyncio.Task] = {}

    async def answer(self, request: web.Request) -> web.StreamResponse:
        # The edge's one pooled session, opened when the edge starts (after this was made).
        self.failover.session = self.shared.session
        return await super().answer(request)

    async def file(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        return await self.files.answer(request, _INDEX, PREFIX + "/".join(parts))

    # -- pages --------------------------------------------------------------------------

    async def page(self, request: web.Request, project: str) -> web.StreamResponse:
        key = PageKey(_INDEX, project, representation(request.headers.get("Accept")))
        page = self.pages.get(key)
        now = time.monotonic()
        if page is not None and (now - page.stored_at < self.config.page_ttl or self.host.skipped(now)):
            # Fresh; or stale, the host having failed a moment ago: no client waits for it again until retry_after.
            return self._send(request, page, "HIT" if now - page.stored_at < self.config.page_ttl else "STALE")
        try:
            fetched = await self._fetch_once(key, page)
        except AllFailed as exc:
            if page is None:
                return unavailable(str(exc), f"/mirror/simple/{project + '/' if project else ''}")
            return self._send(request, page, "STALE")
        if fetched is None:
            return no_page(project)
        if fetched is not page:
            self.stats["misses"] += 1
        return self._send(request, fetched, "HIT" if fetched is page else "MISS")

    async def learn_project_of(self, _index: str, path: str) -> bool:
        """Fetch a file's project page so its sha256 is known (what :class:`PackageFiles`
        asks of its pages); False when the host did not answer."""
        project = project_of(path.rsplit("/", 1)[-1])
        if project is None:
            return True  # not a distribution's name: no page can list it
        key = PageKey(_INDEX, project, JSON)
        try:
            await self._fetch_once(key, self.pages.get(key))
        except AllFailed:
            return False
        return True

    def _fetch_once(self, key: PageKey, known: _Page | None) -> asyncio.Future:
        """The fetch of ``key`` under way, or a new one (shielded: a client going away cancels nobody's)."""
        task = self._fetches.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch(key, known))
            self._fetches[key] = task
            task.add_done_callback(lambda _done: self._fetches.pop(key, None))
        return asyncio.shield(task)

    async def _fetch(self, key: PageKey, known: _Page | None) -> _Page | None:
        """The page from the host, its files tried in the client's order (never a folder's URL:
        http.server would list the folder); None when the host has none of them."""
        page_path = f"{PREFIX}simple/{key.project + '/' if key.project else ''}"
        for filename in page_files(key.kind):

            def headers(_origin: Origin, filename=filename) -> dict[str, str]:
                if known is not None and known.modified and known.source == filename:
                    return {"If-Modified-Since": known.modified}
                return {}

            async def fetched(origin: Origin, response: ClientResponse, filename=filename) -> _Page | None:
                body = await response.read()
                if response.status == 304 and known is not None:
                    known.stored_at = time.monotonic()
                    return known
                if response.status != 200:
                    return None  # not this file (404), or not one to serve
                page = _Page(body, PAGE_TYPES[filename], time.monotonic(), origin.name, source=filename,
                             modified=_validator(response.headers))
                if key.project:  # the root listing links projects, no file (and PyPI's is tens of MB to scan)
                    links = links_of(body, page.content_type, page_path, self.config.public_url)
                    self.hashes.learn(links, _INDEX, key.project)
                self.pages.put(key, page)
                return page

            page = await self.failover.try_each("GET", page_path + filename, fetched, headers=headers)
            if page is not None:
                return page
        return None

    def _send(self, request: web.Request, page: _Page, state: str) -> web.Response:
        headers = {"Content-Type": page.content_type, "Vary": "Accept", "Cache-Control": PAGE_CACHE,
                   "ETag": page.tag, "X-Cache": state, "X-Served-By": HOST,
                   "Age": str(int(time.monotonic() - page.stored_at))}
        if state == "STALE":
            self.stats["stale"] += 1
            headers["Warning"] = '111 - "Revalidation Failed"'
        elif state == "HIT":
            self.stats["hits"] += 1
        if request.headers.get("If-None-Match") == page.tag:
            return web.Response(status=304, headers=headers)
        self.stats["bytes_served"] += len(page.body)
        return web.Response(body=page.body, headers=headers)  # for HEAD aiohttp sends the length, not the body


class _MirrorFiles(PackageFiles):
    """The edge's file cache and checks for the public mirror's files, with the mirror's rules:
    a file no page links with a sha256 is refused (never passed on unchecked), and bytes that
    do not match it are a 502 (there is no static copy to fall back to)."""

    async def answer(self, request: web.Request, index: str, path: str) -> web.StreamResponse:
        # A wheel's core metadata (``kit mirror sync`` writes it beside the wheel) is a file like
        # any other here, checked against the sha256 its wheel's link declares of it.
        wheel = path.removesuffix(METADATA_SUFFIX)
        digest_of = self.pages.hashes.get if wheel == path else self.pages.hashes.metadata_of
        expected = digest_of(wheel)
        answered = True
        if expected is None:
            answered = await self.pages.learn_project_of(index, wheel)
            expected = digest_of(wheel)
        cached = self.files.lookup(path)
        if cached is not None:
            state = "HIT"
            if expected is None and not answered:
                # Nobody to ask: the digest it was checked against when stored.
                expected, state = cached.sha256, "STALE"
            if cached.sha256 == expected:
                response = await self._send_cached(request, cached, expected, state)
                if response is not None:
                    return response
            self.files.drop(path)
        if expected is None:
            if not answered:
                return unavailable(self.failover.origins.master.last_error, path)
            return text(404, f"kit edge: no page of the public mirror links {quote(path)} with a sha256, "
                             "so it is not served\n")
        if request.method == "HEAD":
            return await self.failover.pass_read(request)
        return await self._fill(request, path, expected)

    async def _from_static_copy(self, request: web.Request, path: str, problems: str) -> web.StreamResponse:
        """What :meth:`PackageFiles._fill` falls back to when the host gave no good bytes."""
        # "do not match": kit.edge.files' Rejected, the host's bytes checked and found wrong.
        if "do not match" in problems:
            return text(502, f"kit edge: the public mirror's host sent bytes for {quote(path)} that do not match "
                             "the sha256 its page gives; not served, not cached (check the mirror's disk)\n",
                        reason="Bad Gateway")
        return unavailable(problems, path)


def unavailable(problems: str, what: str) -> web.Response:
    """The host did not answer and the edge has no copy of ``what``: 503 in one line."""
    return text(503, f"kit edge: the public mirror's host does not answer ({problems or 'not reached'}) and this "
                     f"edge has no copy of {quote(what)}; retry when `kit status` shows it back\n",
                retry_after=True, reason="Public mirror unavailable")


def _validator(headers) -> str:
    """The answer's Last-Modified when it is safe to revalidate with (see :data:`_SETTLED`), else ""."""
    modified, date = headers.get("Last-Modified"), headers.get("Date")
    if not modified or not date:
        return ""
    try:
        settled = (email.utils.parsedate_to_datetime(date) - email.utils.parsedate_to_datetime(modified)).total_seconds()
    except (TypeError, ValueError):
        return ""
    return modified if settled >= _SETTLED else ""
