"""The CDN edge: a caching reverse proxy in front of the master and its mirror.

Clients talk only to the edge, and the edge is an index, never a proxy: a
request target that is not a path, or a method no index client uses, is
refused before any origin is asked (:func:`origin_form`, :data:`METHODS`).
Reads try the master first and fall over to the mirror
(:mod:`kit.edge.origins`); writes go to the master only. Index
pages are kept in memory for ``page_ttl`` seconds per representation (PEP 691
JSON or HTML), then revalidated; devpi's purge plugin drops them sooner
(:mod:`kit.edge.purge`). Package files are kept on disk and served only while
their bytes match the sha256 their index publishes (:mod:`kit.edge.cache`);
a disk that will not take a file costs the cache, never the download.
When no origin answers, what the edge has seen is served stale, and what it
has not seen comes from the static copy of the team indexes it refreshes in
the background (:mod:`kit.edge.static_copy`), its last origin. Every cached
answer passes :mod:`kit.edge.auth` for its index first. Paths under ``/mirror/``
are the public mirror: bandersnatch's tree, served from disk with no origin
asked (:mod:`kit.edge.public_mirror`).

This module is the configuration and the HTTP wiring (aiohttp's server, and
one pooled client session to the origins). Run it with
``python -m kit.edge CONFIG.json``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiohttp import ClientError, ClientSession, ClientTimeout, DummyCookieJar, TCPConnector, web

from kit.edge.auth import Authorizer
from kit.edge.config import EdgeConfig
from kit.edge.cache import (JSON, CachedFile, Files, Hashes, Page, PageKey, Pages, links_of, representation,
                            upstream_accept)
from kit.edge.public_mirror import NO_MIRROR, PublicMirror
from kit.edge.origins import Origin, Origins, check_forever
from kit.edge.purge import PurgeRefused, check_authorization, parse_purge, read_secret
from kit.edge.static_copy import StaticOrigin, check_index, refresh
from kit.core.names import NORMALIZED_PROJECT_RE, project_of

__all__ = ["EdgeConfig", "Edge", "serve", "main"]

log = logging.getLogger("kit.edge")

#: Headers that belong to one connection, never forwarded (RFC 9110 7.6.1);
#: Server and Date are the edge's own.
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "host", "content-length", "server", "date",
})
_READS = ("GET", "HEAD")
#: The methods clients of an index use: pip, uv and every installer read (GET,
#: HEAD); twine and devpi upload (POST, also devpi's login); devpi's client
#: creates and changes users and indexes (PUT, PATCH), removes releases
#: (DELETE) and copies them between indexes (PUSH). Anything else (CONNECT,
#: OPTIONS, TRACE, WebDAV's) is refused before an origin is asked.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "PUSH"})
# (aiohttp's parser, llhttp, knows no PUSH and answers it 400 itself: `devpi
# push` works through the Varnish edge, or against the master.)
_ALLOW = ", ".join(sorted(METHODS))
_CHUNK = 256 * 1024
#: Files up to this size are read, checked and sent in one write: for small
#: files one write beats sendfile's extra system calls.
_SMALL_FILE = 256 * 1024
#: Seconds before a failed refresh of the static copy is tried again.
_RETRY_STATIC = 2.0


def origin_form(target: str) -> bool:
    """Whether a request target is a path (RFC 9112's origin form, ``/path?query``),
    the only form an index is asked in.

    Not: absolute form (``http://host/…``, what a proxy is asked), authority
    form (``CONNECT host:port``), asterisk form (``OPTIONS *``); nor a path
    that a URL parser could read as a host (``//host/…``, ``/\\host/…``), nor
    one with a fragment, which no client sends.
    """
    return target.startswith("/") and not target.startswith("//") and "\\" not in target and "#" not in target


class _AllFailed(Exception):
    """No origin answered a read (refused, timed out, or 5xx)."""


def _describe(exc: BaseException) -> str:
    """An origin failure in words, naming the OS error (ConnectionRefusedError) when there is one."""
    cause = getattr(exc, "os_error", None) or exc.__cause__ or exc
    if isinstance(exc, asyncio.TimeoutError) or isinstance(cause, asyncio.TimeoutError):
        return "TimeoutError: no answer in time"
    return f"{cause.__class__.__name__}: {cause}".strip().rstrip(":")


@functools.lru_cache(maxsize=4096)  # the same few thousand paths, asked again and again
def classify(path: str) -> tuple[str, str, str]:
    """("page", index, project), ("file", index, "") or ("other", "", "") for a request path.

    Pages are devpi's ``/USER/INDEX/+simple/`` and ``/USER/INDEX/+simple/PROJECT/``
    (a name not normalised, or no valid name at all, is left to devpi, uncached);
    files are its ``/USER/INDEX/+f/...`` paths of a valid project's files.
    """
    parts = path.split("/")
    if len(parts) < 5 or parts[0] or not parts[1] or not parts[2] or parts[1].startswith("+"):
        return "other", "", ""
    index = f"{parts[1]}/{parts[2]}"
    if parts[3] == "+simple":
        if len(parts) == 5 and parts[4] == "":
            return "page", index, ""
        if len(parts) == 6 and parts[5] == "" and NORMALIZED_PROJECT_RE.fullmatch(parts[4]):
            return "page", index, parts[4]
    elif parts[3] == "+f" and NORMALIZED_PROJECT_RE.fullmatch(project_of(parts[-1]) or ""):
        return "file", index, ""
    return "other", "", ""


class Edge:
    """The edge's state (origins, caches, counters) and its request handlers."""

    def __init__(self, config: EdgeConfig):
        self.config = config
        self.origins = Origins.of(config.master, config.mirrors, config.retry_after)
        self.pages = Pages(config.max_pages)
        self.hashes = Hashes()
        self.files = Files(Path(config.cache_dir), config.max_cache_bytes)
        self.authorizer = Authorizer()
        self.stats = {
            "requests": 0, "hits": 0, "misses": 0, "stale": 0, "passes": 0, "purges": 0, "purged": 0,
            "integrity_failures": 0, "unverified": 0, "failovers": 0, "bytes_served": 0, "static_copy_served": 0,
            "mirror_served": 0, "origin_5xx": 0, "refused": 0,
        }
        self.mirror = PublicMirror(Path(config.public_mirror_dir)) if config.public_mirror_dir else None
        self.static = (StaticOrigin(Path(config.static_copy_dir), config.static_copy_indexes)
                       if config.static_copy_dir else None)
        self._refresher: asyncio.Task | None = None
        # One thread of its own: refreshes never run two at once, nor take the threads that hash files.
        self._refresh_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="static-copy")
        self.session: ClientSession | None = None
        self._page_fetches: dict[PageKey, asyncio.Task] = {}
        self._in_progress = 0
        self._checker: asyncio.Task | None = None

    # -- life cycle ------------------------------------------------------------

    async def start(self, _app: web.Application | None = None) -> None:
        self.files.open()
        connector = TCPConnector(limit=self.config.origin_connections, keepalive_timeout=30)
        # auto_decompress off: bytes pass through as the origin sent them; no
        # cookies, no proxy from the environment: the origins are on loopback.
        self.session = ClientSession(connector=connector, auto_decompress=False, cookie_jar=DummyCookieJar(),
                                     trust_env=False)
        self._checker = asyncio.create_task(check_forever(self.origins, self._probe, self.config.health_interval))
        if self.static is not None:
            self._refresher = asyncio.create_task(self._refresh_static_forever())

    async def stop(self, _app: web.Application | None = None) -> None:
        if self._checker is not None:
            self._checker.cancel()
        if self._refresher is not None:
            self._refresher.cancel()
        self._refresh_thread.shutdown(wait=False, cancel_futures=True)
        if self.session is not None:
            await self.session.close()

    async def _probe(self, origin: Origin) -> str:
        timeout = ClientTimeout(total=self.config.connect_timeout + self.config.read_timeout)
        try:
            async with self.session.get(origin.url_for("/+api"), timeout=timeout) as response:
                await response.read()
                return f"HTTP {response.status}" if response.status >= 500 else ""
        except (ClientError, asyncio.TimeoutError) as exc:
            return _describe(exc)

    async def _refresh_static_forever(self) -> None:
        """Refresh the static copy now and every ``static_copy_every`` seconds; a failure is logged, never fatal."""
        loop = asyncio.get_running_loop()
        copy = functools.partial(refresh, self.config.static_copy_sources, self.config.static_copy_indexes,
                                 Path(self.config.static_copy_dir), outside_url=self.config.public_url,
                                 timeout=self.config.read_timeout)
        while True:
            try:
                result = await loop.run_in_executor(self._refresh_thread, copy)
                if result.errors:
                    log.warning("static copy: %d errors (first: %s); it keeps serial %s", len(result.errors),
                                result.errors[0], result.serial)
                elif result.downloaded or not result.unchanged:
                    log.info("static copy: serial %s from %s, %d projects, %d files (%d new) in %.2f s",
                             result.serial, result.source, result.projects, result.files, result.downloaded,
                             result.seconds)
            except Exception as exc:  # a full disk, a folder made unwritable: the edge serves on
                log.warning("static copy: refresh failed: %s: %s", exc.__class__.__name__, exc)
                result = None
            # A failed refresh is tried again soon: at kit up the edge starts beside
            # master and mirror, and its first refresh may find neither answering yet.
            failed = result is None or bool(result.errors)
            every = self.config.static_copy_every
            await asyncio.sleep(min(every, _RETRY_STATIC) if failed else every)

    # -- the entry point ---------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.stats["requests"] += 1
        # The request target as sent: with no "%" and no "?" it is the path
        # itself, and decoding it (yarl) would be a fifth of a cache hit's cost.
        raw = request.raw_path
        if request.method not in METHODS:
            self.stats["refused"] += 1
            return _text(405, f"kit edge: {request.method} is not a method of a package index; use one of {_ALLOW}\n",
                         headers={"Allow": _ALLOW})
        if not origin_form(raw):
            # The edge is an index, never a proxy: no request names where it connects.
            self.stats["refused"] += 1
            return _text(400, "kit edge: the request target must be a path on this index (/USER/INDEX/...), "
                         "not a URL, a host or '*'\n")
        path = raw if "%" not in raw and "?" not in raw else request.path
        if path.startswith("/+edge/"):
            return await self._own(request, path)
        if self._in_progress >= self.config.max_requests:
            return _text(503, "kit edge: too many requests in progress; retry shortly\n", retry_after=True)
        self._in_progress += 1
        try:
            if path.startswith("/mirror/"):  # it decodes the raw target itself, one segment at a time
                return await self._public_mirror(request)
            if request.method not in _READS:
                return await self._write(request)
            kind, index, project = classify(path)
            if kind == "other" or "?" in raw:
                # A query never becomes part of a key: ?x=1, ?x=2... would fill the cache.
                return await self._pass(request)
            if not self.authorizer.everyone and not await self.authorizer.allowed(request.headers, index):
                return _text(403, f"kit edge: not allowed to read {index}\n")
            if kind == "page":
                return await self._page(request, PageKey(index, project, representation(request.headers.get("Accept"))))
            return await self._file(request, index, path)
        finally:
            self._in_progress -= 1

    async def _own(self, request: web.Request, path: str) -> web.StreamResponse:
        if path == "/+edge/health" and request.method in _READS:
            return web.json_response(self.health())  # degraded too: every request is still served
        if path == "/+edge/stats" and request.method in _READS:
            return web.json_response(self.stats_snapshot())
        if path == "/+edge/purge" and request.method == "POST":
            return await self._purge(request)
        return _text(404, f"kit edge: no {request.method} {path}\n")

    async def _public_mirror(self, request: web.Request) -> web.StreamResponse:
        """bandersnatch's tree from disk (:mod:`kit.edge.public_mirror`): no origin, no cache, no authoriser (it is public)."""
        if self.mirror is None:
            return _text(404, NO_MIRROR)
        response = await self.mirror.answer(request)
        if response.status < 300 or response.status == 304:
            self.stats["mirror_served"] += 1
        return response

    # -- pages -------------------------------------------------------------------

    async def _page(self, request: web.Request, key: PageKey) -> web.StreamResponse:
        page = self.pages.get(key)
        if page is not None and time.monotonic() - page.stored_at < self.config.page_ttl:
            return self._send_page(request, page, "HIT", "edge")
        # One fetch per page at a time: a page expiring under load costs the origin one request.
        task = self._page_fetches.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch_page(key, request.path, page))
            self._page_fetches[key] = task
            task.add_done_callback(self._fetch_done)
        try:
            outcome = await asyncio.shield(task)
        except _AllFailed as exc:
            copied = self._static_page(key, page)
            if copied is not None:
                self.stats["stale"] += 1
                self.stats["static_copy_served"] += 1
                return self._send_page(request, copied, "STALE", "static-copy")
            if page is None:
                return self._none_answered(request, str(exc))
            self.stats["stale"] += 1
            return self._send_page(request, page, "STALE", "edge")
        if isinstance(outcome, Page):
            if outcome is page:  # revalidated: the origin said 304
                return self._send_page(request, page, "HIT", outcome.served_by)
            self.stats["misses"] += 1
            return self._send_page(request, outcome, "MISS", outcome.served_by)
        status, headers, body, origin = outcome  # not a page to cache (a 404, a redirect): as the origin said
        self.stats["passes"] += 1
        # The body for HEAD too: aiohttp then sends its Content-Length, not its bytes.
        return web.Response(status=status, body=body,
                            headers={**headers, "X-Cache": "PASS", "X-Served-By": origin})

    def _fetch_done(self, task: asyncio.Task) -> None:
        # Only this task's own entry: a purge may have let a newer fetch of the same page start.
        key = next((k for k, t in self._page_fetches.items() if t is task), None)
        if key is not None:
            del self._page_fetches[key]

    async def _fetch_page(self, key: PageKey, path: str, known: Page | None):
        """The page from the first origin that answers: a :class:`Page` (stored), or
        (status, headers, body, origin) for an answer not to cache; :class:`_AllFailed` if none answers."""
        headers = {"Accept": upstream_accept(key.kind), "X-Outside-Url": self.config.public_url}
        generation = self.pages.generation
        problems = []
        for number, origin in enumerate(self.origins.for_read()):
            if number:
                self.stats["failovers"] += 1
            sent = dict(headers)
            if known is not None and known.etag and known.served_by == origin.name:
                sent["If-None-Match"] = known.etag
            try:
                async with self.session.get(origin.url_for(path), headers=sent, allow_redirects=False,
                                            timeout=self._read_timeout()) as response:
                    body = await response.read()
                    status = response.status
                    if status >= 500:
                        raise _OriginError(f"HTTP {status}")
                    self.origins.answered(origin)
                    if status == 304 and known is not None:
                        known.stored_at = time.monotonic()
                        return known
                    if status != 200:
                        return status, _forwardable(response.headers), body, origin.name
                    content_type = response.headers.get("Content-Type", "text/html")
                    page = Page(body, content_type, time.monotonic(), origin.name, response.headers.get("ETag", ""))
            except (ClientError, asyncio.TimeoutError, _OriginError) as exc:
                problems.append(self._read_failed(origin, "GET", path, exc))
                continue
            self.hashes.learn(links_of(body, content_type, path, self.config.public_url), key.index, key.project)
            self.pages.put(key, page, since=generation)
            return page
        raise _AllFailed("; ".join(problems))

    def _static_page(self, key: PageKey, known: Page | None) -> Page | None:
        """The static copy's page for ``key`` when it is newer than the page the edge has (wall-clock ages)."""
        copied = self.static.page(key.index, key.project, key.kind) if self.static is not None else None
        if copied is None or (known is not None and time.monotonic() - known.stored_at <= copied.age):
            return None
        return Page(copied.body, copied.content_type, time.monotonic() - copied.age, "static-copy")

    def _send_page(self, request: web.Request, page: Page, state: str, served_by: str) -> web.StreamResponse:
        tag = page.tag  # a client's conditional GET costs no body
        headers = {
            "Content-Type": page.content_type,
            # Accept only: the two representations. devpi's "Vary: User-Agent"
            # would split every client cache by pip version.
            "Vary": "Accept",
            "Cache-Control": "max-age=0, must-revalidate",
            "ETag": tag,
            "X-Cache": state,
            "X-Served-By": served_by,
            "Age": str(int(time.monotonic() - page.stored_at)),
        }
        if state == "STALE":
            headers["Warning"] = '111 - "Revalidation Failed"'
        if request.headers.get("If-None-Match") == tag:
            return web.Response(status=304, headers=headers)
        if state == "HIT":
            self.stats["hits"] += 1
        self.stats["bytes_served"] += len(page.body)
        # The body for HEAD too: aiohttp sends the Content-Length a GET would get, and no bytes.
        return web.Response(body=page.body, headers=headers)

    # -- files -------------------------------------------------------------------

    async def _file(self, request: web.Request, index: str, path: str) -> web.StreamResponse:
        expected = self.hashes.get(path)
        origins_answered = True
        if expected is None:
            # A file whose page the edge has not seen: its project page says what its bytes must be.
            origins_answered = await self._learn_project_of(index, path)
            expected = self.hashes.get(path)
        cached = self.files.lookup(path)
        if cached is not None:
            if expected is None and not origins_answered:
                # Nobody to ask: the digest it was verified against when stored.
                expected, state = cached.sha256, "STALE"
            else:
                state = "HIT"
            if expected is not None and cached.sha256 == expected:
                response = await self._send_cached(request, cached, expected, state)
                if response is not None:
                    return response
            self.files.drop(path)
        if expected is None:
            if not origins_answered and self.static is not None:
                return await self._from_static_copy(request, path, "no origin answered")
            # No page of this index lists the file with a sha256: it is never cached, only passed on.
            self.stats["unverified"] += 1
            return await self._pass(request)
        if request.method == "HEAD":
            return await self._pass(request)
        return await self._fill(request, path, expected)

    async def _learn_project_of(self, index: str, path: str) -> bool:
        """Fetch the file's project page (JSON) so its digest is known; False when no origin answered."""
        project = project_of(path.rsplit("/", 1)[-1])
        key = PageKey(index, project, JSON)
        task = self._page_fetches.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch_page(key, f"/{index}/+simple/{project}/", self.pages.get(key)))
            self._page_fetches[key] = task
            task.add_done_callback(self._fetch_done)
        try:
            await asyncio.shield(task)
        except _AllFailed:
            return False
        return True

    async def _send_cached(self, request: web.Request, cached, expected: str, state: str,
                           headers: dict | None = None, corrupt=None) -> web.StreamResponse | None:
        """Serve a file from disk once its bytes match ``expected``; None (counted, and ``corrupt``
        called, by default dropping it from the cache) when they do not."""
        corrupt = corrupt or self._corrupt_on_disk
        headers = headers or {
            "Content-Type": "application/octet-stream",
            "Cache-Control": "max-age=31536000, immutable",
            "X-Cache": state,
            "X-Served-By": "edge",
            "Age": str(max(0, int(time.time() - cached.path.stat().st_mtime))),
        }
        if state == "STALE":
            headers["Warning"] = '111 - "Revalidation Failed"'
        if request.method == "HEAD":
            # What a GET would get, without its bytes: nothing to check (a GET checks them).
            self._count_served(state, 0)
            return web.Response(headers={**headers, "Content-Length": str(cached.size)})
        if cached.size <= _SMALL_FILE:
            data = cached.path.read_bytes()
            if hashlib.sha256(data).hexdigest() != expected:
                return corrupt(cached)
            self._count_served(state, len(data))
            return web.Response(body=data, headers=headers)
        if cached.size <= self.config.verify_whole_max:
            from kit.edge.cache import sha256_of_file

            digest = await asyncio.get_running_loop().run_in_executor(None, sha256_of_file, cached.path)
            if digest != expected:
                return corrupt(cached)
            self._count_served(state, cached.size)
            return web.FileResponse(cached.path, headers=headers)  # sendfile
        return await self._stream_verified(request, cached, expected, headers, state, corrupt)

    async def _stream_verified(self, request, cached, expected, headers, state, corrupt) -> web.StreamResponse | None:
        """A large file, hashed while it streams; the last chunk is held back until the digest matched."""
        with open(cached.path, "rb") as data:
            digest = hashlib.sha256()
            first = data.read(_CHUNK)
            response = web.StreamResponse(headers=headers)
            response.content_length = cached.size
            await response.prepare(request)
            held = first
            while True:
                digest.update(held)
                following = data.read(_CHUNK)
                if not following:
                    break
                await response.write(held)
                held = following
            if digest.hexdigest() != expected:
                corrupt(cached)
                _abort(request)
                return response
            await response.write(held)
            await response.write_eof()
        self._count_served(state, cached.size)
        return response

    def _corrupt_on_disk(self, cached) -> None:
        self.stats["integrity_failures"] += 1
        self.files.drop_file(cached.path)
        log.warning("cached file %s does not match its sha256: dropped, fetching it again", cached.path.name)
        return None

    async def _from_static_copy(self, request: web.Request, path: str, problems: str) -> web.StreamResponse:
        """A file no origin gave, from the static copy, checked against the sha256 a copied page gives."""
        stored = self.static.file(path) if self.static is not None else None
        if stored is None:
            return self._none_answered(request, problems)
        age = self.static.age() or 0.0

        def corrupt(_cached) -> None:
            self.stats["integrity_failures"] += 1
            self.static.drop(stored)  # the next refresh fetches it again
            log.warning("static copy: %s does not match its page's sha256: not served, removed", path)

        headers = {**_file_headers("STALE", "static-copy"), "Age": str(int(age)),
                   "Warning": '111 - "Revalidation Failed"'}
        try:
            response = await self._send_cached(request, CachedFile(stored.path, stored.size, stored.sha256),
                                               stored.sha256, "STALE", headers=headers, corrupt=corrupt)
        except FileNotFoundError:  # a refresh removed it just now (no page links it any more)
            return self._none_answered(request, f"{problems}; static copy: the file is gone")
        if response is None:
            return self._none_answered(request, f"{problems}; static copy: the file does not match its sha256")
        self.stats["static_copy_served"] += 1
        return response

    def _count_served(self, state: str, size: int) -> None:
        self.stats["hits" if state == "HIT" else "stale"] += 1
        self.stats["bytes_served"] += size

    async def _fill(self, request: web.Request, path: str, expected: str) -> web.StreamResponse:
        """Fetch a file from the first origin that has the right bytes, into the cache and to the client.

        It streams to a ``.part`` file and to the client at once, hashing as it
        goes; the last chunk reaches the client only after the digest matched,
        and only a matching file is renamed into the cache. Bytes that do not
        match are dropped and the next origin is asked (while nothing was sent
        yet), or the connection is cut, so the client never takes them as whole.
        """
        headers = {"X-Outside-Url": self.config.public_url}
        problems = []
        for number, origin in enumerate(self.origins.for_read()):
            if number:
                self.stats["failovers"] += 1
            try:
                async with self.session.get(origin.url_for(path), headers=headers, allow_redirects=False,
                                            timeout=self._read_timeout()) as upstream:
                    if upstream.status >= 500:
                        raise _OriginError(f"HTTP {upstream.status}")
                    self.origins.answered(origin)
                    if upstream.status != 200:
                        return await self._relay(request, upstream, origin, "PASS")
                    outcome = await self._fill_from(request, upstream, path, expected, origin)
            except (ClientError, asyncio.TimeoutError, _OriginError) as exc:
                problems.append(self._read_failed(origin, "GET", path, exc))
                continue
            if outcome is not None:
                return outcome
            problems.append(f"{origin.name}: bytes do not match the index's sha256")
        return await self._from_static_copy(request, path, "; ".join(problems))

    async def _fill_from(self, request, upstream, path: str, expected: str, origin: Origin):
        """One origin's answer into the cache and to the client; None when its bytes were wrong
        before anything was sent (then the next origin may have the right ones).

        A disk that will not take the file (full, read-only) costs the cache,
        not the download: the bytes go on to the client, checked all the same.
        """
        fill = self.files.fill(upstream.content_length)
        digest = hashlib.sha256()
        response = None
        held = b""
        size = 0
        try:
            async for chunk in upstream.content.iter_chunked(_CHUNK):
                fill.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                if held:
                    if response is None:
                        response = web.StreamResponse(headers=_file_headers("MISS", origin.name))
                        if upstream.content_length is not None:
                            response.content_length = upstream.content_length
                        await response.prepare(request)
                    await response.write(held)
                held = chunk
            if digest.hexdigest() != expected:
                self.stats["integrity_failures"] += 1
                log.warning("%s from %s does not match the index's sha256: not cached, not served", path, origin.name)
                fill.discard()
                if response is None:
                    return None
                _abort(request)
                return response
            if not fill.keep(path, expected) and fill.first_trouble:  # a line when it starts, not per file
                log.warning("files are passed through, not cached: %s", self.files.problem())
        except BaseException:
            fill.discard()
            raise
        self.stats["misses"] += 1
        self.stats["bytes_served"] += size
        if response is None:
            return web.Response(body=held, headers=_file_headers("MISS", origin.name))
        await response.write(held)
        await response.write_eof()
        return response

    # -- passing through -----------------------------------------------------------

    async def _pass(self, request: web.Request) -> web.StreamResponse:
        """A read the edge does not cache, from the first origin that answers below 500, streamed
        (the last origin's answer whatever it is: a path devpi cannot decode gets devpi's 500)."""
        problems = []
        origins = self.origins.for_read()
        path, _, query = request.raw_path.partition("?")
        for number, origin in enumerate(origins):
            if number:
                self.stats["failovers"] += 1
            try:
                async with self.session.request(request.method, origin.url_for(path, query, encoded=True),
                                                headers=self._forward_headers(request), allow_redirects=False,
                                                timeout=self._read_timeout()) as upstream:
                    if upstream.status >= 500 and number < len(origins) - 1:
                        raise _OriginError(f"HTTP {upstream.status}")
                    if upstream.status < 500:
                        self.origins.answered(origin)
                    self.stats["passes"] += 1
                    return await self._relay(request, upstream, origin, "PASS")
            except (ClientError, asyncio.TimeoutError, _OriginError) as exc:
                problems.append(self._read_failed(origin, request.method, path, exc))
        return self._none_answered(request, "; ".join(problems))

    async def _write(self, request: web.Request) -> web.StreamResponse:
        """An upload or change: to the master only, the body streamed, never held whole."""
        if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            return _text(411, "kit edge: send a Content-Length, not a chunked body\n")
        master = self.origins.for_write()
        headers = self._forward_headers(request)
        if request.content_length is not None:
            headers["Content-Length"] = str(request.content_length)
        timeout = ClientTimeout(sock_connect=self.config.connect_timeout, sock_read=self.config.write_timeout)
        path, _, query = request.raw_path.partition("?")
        try:
            async with self.session.request(request.method, master.url_for(path, query, encoded=True),
                                            headers=headers, data=request.content if request.body_exists else None,
                                            allow_redirects=False, timeout=timeout) as upstream:
                self.origins.answered(master)
                changed = written(request.path, request.headers, upstream.status)
                if changed is not None:
                    # The uploader reads its own write at once; what else the change
                    # touched (indexes inheriting this one) devpi's purge plugin names.
                    self._drop(changed, None)
                # A 5xx is the master's answer, not its absence: passed on as is, nothing marked down.
                self.stats["passes"] += 1
                return await self._relay(request, upstream, master, "PASS")
        except (ClientError, asyncio.TimeoutError) as exc:
            reason = _describe(exc)
            self._origin_failed(master, request.method, request.path, reason)
            message = (
                f"kit edge: the master ({master.url}) is not answering ({reason}), "
                "so uploads and changes cannot be made now; installs keep working from the mirror. "
                "Retry when `kit status` shows the master healthy.\n"
            )
            return _text(503, message, retry_after=True, reason="Master down, uploads paused")

    async def _relay(self, request: web.Request, upstream, origin: Origin, state: str) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason,
                                      headers={**_forwardable(upstream.headers), "X-Cache": state,
                                               "X-Served-By": origin.name})
        if upstream.content_length is not None:
            response.content_length = upstream.content_length
        await response.prepare(request)
        if request.method != "HEAD":
            async for chunk in upstream.content.iter_chunked(_CHUNK):
                await response.write(chunk)
                self.stats["bytes_served"] += len(chunk)
        await response.write_eof()
        return response

    def _forward_headers(self, request: web.Request) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["X-Outside-Url"] = self.config.public_url
        if request.remote:
            headers["X-Forwarded-For"] = request.remote
        return headers

    def _read_timeout(self) -> ClientTimeout:
        return ClientTimeout(sock_connect=self.config.connect_timeout, sock_read=self.config.read_timeout)

    def _origin_failed(self, origin: Origin, method: str, path: str, reason: str) -> None:
        self.origins.failed(origin, reason)
        log.warning("%s %s: %s (%s) failed: %s", method, path, origin.name, origin.url, reason)

    def _read_failed(self, origin: Origin, method: str, path: str, exc: BaseException) -> str:
        """A read an origin did not answer well: "ORIGIN: why", for the next one to be tried.

        Refused, cut off or timed out: the origin is marked down. A 5xx is its
        answer to this request (devpi answers 500 to a path it cannot decode):
        counted, nothing marked, no log line that a client could repeat at will.
        """
        reason = _describe(exc)
        if isinstance(exc, _OriginError):
            self.stats["origin_5xx"] += 1
        else:
            self._origin_failed(origin, method, path, reason)
        return f"{origin.name}: {reason}"

    def _none_answered(self, request: web.Request, problems: str) -> web.StreamResponse:
        return _text(503, f"kit edge: no backend answered ({problems}); check `kit status`.\n", retry_after=True,
                     reason="No backend answered")

    # -- purge, health, stats --------------------------------------------------------

    async def _purge(self, request: web.Request) -> web.StreamResponse:
        try:
            check_authorization(request.headers.get("Authorization"), read_secret(self._secret_path()))
            keys, serial = parse_purge(await request.read())
        except PurgeRefused as refused:
            headers = {"WWW-Authenticate": "Bearer"} if refused.status == 401 else {}
            return web.json_response({"error": refused.message}, status=refused.status, headers=headers)
        purged = sum(self._drop(key.index, key.project) for key in keys)
        self.stats["purges"] += 1
        self.stats["purged"] += purged
        log.info("purge (serial %s): %s: %d entries", serial, ", ".join(_key_text(k) for k in keys), purged)
        return web.json_response({"purged": purged})

    def _drop(self, index: str, project: str | None) -> int:
        """Forget what the edge holds of ``index``'s root page (``project`` ""),
        one project's pages, or (None) everything of the index; the number of pages dropped."""
        purged = self.pages.purge(index, project)
        # A fetch begun before the change must not answer requests made after it.
        for key in [k for k in self._page_fetches if k.under(index, project)]:
            del self._page_fetches[key]
        # Forgotten digests are learnt again from the next page, and a file is only
        # served against a digest a page vouches for: a release deleted on the
        # master is not served from here (unless no origin answers: then stale).
        # The bytes stay: files never change, and purges come in storms (a
        # restarted devpi replays its commits), which must not empty the cache.
        self.hashes.forget(index, project)
        return purged

    def _secret_path(self) -> Path:
        return Path(self.config.purge_secret_file)

    def health(self) -> dict:
        """What ``/+edge/health`` says. "degraded" (still HTTP 200: every request is
        served) when files cannot be cached: Varnish keeps sending it files, and
        ``kit status`` and ``kit check`` name the reason."""
        problem = self.files.problem()
        secret = read_secret(self._secret_path())
        return {
            "edge": "degraded" if problem else "ok",
            **({"reason": f"{problem}; files are passed through (checked), not cached: free or fix the disk"}
               if problem else {}),
            "backends": self.origins.state(),
            "purge": "ready" if secret else f"refused: no secret in {self.config.purge_secret_file}",
            "cached_files": len(self.files),
            "cached_pages": len(self.pages),
            "cache_write_failures": self.files.write_failures,
            **self.stats,
            "static_copy": self.static.summary() if self.static is not None else None,
        }

    def stats_snapshot(self) -> dict:
        return {**self.stats, "origin_errors": self.origins.errors(), "cached_files": len(self.files),
                "cache_write_failures": self.files.write_failures,
                "cached_bytes": self.files.bytes, "cached_pages": len(self.pages),
                "static_copy": self.static.summary() if self.static is not None else None}


def written(path: str, headers, status: int) -> str | None:
    """The index a write changed ("USER/INDEX"), for :meth:`Edge._drop`; None when it changed nothing here.

    Only a write with credentials (devpi's ``X-Devpi-Auth``, or Basic as twine
    sends it) that the master accepted (2xx) changes anything: a redirect, a
    refusal or an anonymous request never empties the cache. The index is the
    path's first two segments (an upload names its project in its body, which
    the edge does not read); ``/USER`` and ``/+login`` change no page.
    """
    if not 200 <= status < 300 or not (headers.get("X-Devpi-Auth") or headers.get("Authorization")):
        return None
    parts = path.split("/")
    if len(parts) < 3 or not parts[1] or not parts[2] or parts[1].startswith("+") or parts[2].startswith("+"):
        return None
    return f"{parts[1]}/{parts[2]}"


class _OriginError(Exception):
    """An origin answered a read with a 5xx."""


def _key_text(key) -> str:
    return key.index if key.project == "" else f"{key.index}/{'*' if key.project is None else key.project}"


def _forwardable(headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}


def _file_headers(state: str, served_by: str) -> dict[str, str]:
    return {"Content-Type": "application/octet-stream", "Cache-Control": "max-age=31536000, immutable",
            "X-Cache": state, "X-Served-By": served_by, "Age": "0"}


def _text(status: int, message: str, *, retry_after: bool = False, reason: str | None = None,
          headers: dict[str, str] | None = None) -> web.Response:
    # A short reason phrase too: clients such as twine show it, not the body.
    headers = {**(headers or {}), **({"Retry-After": "5"} if retry_after else {})}
    return web.Response(status=status, reason=reason, text=message, content_type="text/plain", headers=headers)


def _abort(request: web.Request) -> None:
    """Cut the connection mid-body: the client sees fewer bytes than Content-Length, never a whole wrong file."""
    if request.transport is not None:
        request.transport.abort()


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is installed (about 15% more requests per second), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _raise_file_limit() -> None:
    """Every client connection is a file descriptor: allow as many as the hard limit lets (up to 65,536)."""
    try:
        import resource
    except ImportError:  # not on this platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def serve(config: EdgeConfig, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set. aiohttp's low-level server, no router:
    :meth:`Edge.handle` sees every request, and a cache hit costs no routing."""
    edge = Edge(config)
    await edge.start()
    server = web.Server(edge.handle, keepalive_timeout=config.idle_timeout,
                        access_log=logging.getLogger("aiohttp.access") if config.access_log else None)
    runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=5)
    await runner.setup()
    try:
        await web.TCPSite(runner, config.host, config.port, backlog=1024).start()
        print(f"kit edge on {config.host}:{config.port}: master {config.master}, mirrors {config.mirrors}",
              flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
        await edge.stop()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.exit("usage: python -m kit.edge CONFIG.json")
    try:
        config = EdgeConfig.load(Path(args[0]))
        for index in config.static_copy_indexes:
            check_index(index)
    except (OSError, ValueError, TypeError) as exc:  # a missing file, bad JSON, an unknown setting, a bad index name
        sys.exit(f"kit edge: {args[0]}: {exc}")
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(message)s")
    _raise_file_limit()
    loop = _event_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        loop.run_until_complete(serve(config, stop))
    except OSError as exc:  # the port taken, most often
        sys.exit(f"kit edge: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}")
    finally:
        loop.close()


if __name__ == "__main__":
    main()
