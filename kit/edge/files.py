"""The edge's package files: kept on disk (:class:`kit.edge.cache.Files`) and
served only while their bytes match the sha256 their index publishes, which
:mod:`kit.edge.pages` learnt from the file's project page.

A file is checked on every serve (whole when small, while it streams when
large: the last chunk is held back until the digest matched) and on every
fill from an origin (:class:`kit.edge.cache.Fill`): bytes that do not match
are never cached and never reach a client whole. A disk that will not take a
file costs the cache, never the download. When no origin answers, a cached
file is served stale, and one never seen comes from the static copy.

A file served from disk (cache or static copy) answers a single Range (206),
If-None-Match / If-Modified-Since (304) and HEAD as :mod:`kit.edge.ranges`
plans; a range is sent only once the whole file matched. A file not cached
yet is sent whole (200) while it fills, with its sha256 ETag.

Ranges are the one place a check is remembered (:class:`RecentChecks`): uv
reads a wheel's table of contents with a few small ranges, and hashing a
whole wheel for each would cost more than sending it. A whole-file check
stands for ranges while the file's inode, size, mtime and ctime are those it
had (any write changes ctime, whatever mtime is set back to), for at most
``RECHECK_AFTER`` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections import OrderedDict
from pathlib import Path

from aiohttp import ClientResponse, web

from kit.edge import ranges
from kit.edge.cache import MIRRORED, CachedFile, Files, sha256_of_file
from kit.edge.config import EdgeConfig
from kit.edge.failover import AllFailed, Failover, Rejected
from kit.edge.metrics import count_integrity
from kit.edge.origins import Origin
from kit.edge.pages import IndexPages
from kit.edge.replies import CHUNK, abort, file_headers, none_answered, relay
from kit.edge.static_copy import StaticOrigin

__all__ = ["PackageFiles"]

log = logging.getLogger("kit.edge")

#: How long a whole-file check stands for the ranges asked of an unchanged file.
RECHECK_AFTER = 30.0


class RecentChecks:
    """Files whose whole bytes matched their sha256 lately (see the module's docstring)."""

    def __init__(self, max_entries: int = 10_000, clock=time.monotonic):
        self.max_entries = max_entries
        self._clock = clock
        self._checked: OrderedDict[Path, tuple[tuple, str, float]] = OrderedDict()

    @staticmethod
    def _identity(path: Path) -> tuple | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns

    def matched(self, path: Path, expected: str, now: tuple | None = None) -> bool:
        """Whether ``path`` (``now``: its identity, if just read) matched ``expected`` within
        RECHECK_AFTER seconds and has not changed since."""
        entry = self._checked.get(path)
        if entry is None:
            return False
        identity, digest, when = entry
        now = now if now is not None else self._identity(path)
        if digest != expected or self._clock() - when > RECHECK_AFTER or now != identity:
            del self._checked[path]
            return False
        return True

    def remember(self, path: Path, expected: str, identity: tuple | None) -> None:
        """``path`` (as it was when its check began: ``identity``) matched ``expected``."""
        if identity is None:
            return
        self._checked[path] = (identity, expected, self._clock())
        self._checked.move_to_end(path)
        while len(self._checked) > self.max_entries:
            self._checked.popitem(last=False)


#: Files up to this size are read, checked and sent in one write: for small
#: files one write beats sendfile's extra system calls.
_SMALL_FILE = 256 * 1024


class PackageFiles:
    """Package file requests: from the cache, from an origin into the cache, or from the static copy."""

    def __init__(self, config: EdgeConfig, failover: Failover, pages: IndexPages, files: Files,
                 static: StaticOrigin | None, stats: dict):
        self.config = config
        self.failover = failover
        self.pages = pages
        self.files = files
        self.static = static
        self.stats = stats
        self.checks = RecentChecks()

    async def answer(self, request: web.Request, index: str, path: str) -> web.StreamResponse:
        if path.startswith(MIRRORED):
            self.files.reads.mark(path)  # what kit prune reads: devpi records no reads
        # A file whose page the edge has not seen: its project page says what its bytes must be.
        expected, origins_answered = await self.pages.digest_of(index, path)
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
            return await self.failover.pass_read(request)
        if request.method == "HEAD":
            return await self.failover.pass_read(request)
        return await self._fill(request, path, expected)

    # -- from disk ---------------------------------------------------------------------

    async def _send_cached(self, request: web.Request, cached, expected: str, state: str,
                           headers: dict | None = None, corrupt=None) -> web.StreamResponse | None:
        """Serve a file from disk once its bytes match ``expected``; None (counted, and ``corrupt``
        called, by default dropping it from the cache) when they do not."""
        corrupt = corrupt or self._corrupt_on_disk
        try:
            st = os.stat(cached.path)
        except OSError:  # gone since it was looked up (evicted): fetched again
            return None
        modified = st.st_mtime  # when it entered the cache (or the static copy)
        identity = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        headers = headers or {
            "Content-Type": "application/octet-stream",
            "Cache-Control": "max-age=31536000, immutable",
            "X-Cache": state,
            "X-Served-By": "edge",
            "Age": str(max(0, int(time.time() - modified))),
        }
        headers = {**headers, **ranges.validators(expected, modified)}
        if state == "STALE":
            headers["Warning"] = '111 - "Revalidation Failed"'
        plan = ranges.plan(request.headers, request.method, cached.size, headers["ETag"], modified)
        if plan.content_range(cached.size):
            headers["Content-Range"] = plan.content_range(cached.size)
        if plan.status in (304, 416):
            # No byte of the file is sent: nothing to check (it was checked when it was stored).
            counter = "not_modified" if plan.status == 304 else "unsatisfiable"
            self.stats[counter] = self.stats.get(counter, 0) + 1
            return web.Response(status=plan.status, headers=headers)
        count = plan.stop - plan.start
        if plan.status == 206:
            self.stats["ranges"] = self.stats.get("ranges", 0) + 1
        if request.method == "HEAD":
            # What a GET would get, without its bytes: nothing to check (a GET checks them).
            self._count_served(state, 0)
            return web.Response(status=plan.status, headers={**headers, "Content-Length": str(count)})
        if plan.status == 206 and self.checks.matched(cached.path, expected, identity):
            self._count_served(state, count)
            if count <= _SMALL_FILE:
                # One read from the page cache beats sendfile's set-up for the few KiB uv asks.
                fd = os.open(cached.path, os.O_RDONLY)
                try:
                    body = os.pread(fd, count, plan.start)
                finally:
                    os.close(fd)
                return web.Response(status=206, body=body, headers=headers)
            return _FileSlice(cached.path, plan.start, count, plan.status, headers)  # sendfile
        if cached.size <= _SMALL_FILE:
            data = cached.path.read_bytes()
            if hashlib.sha256(data).hexdigest() != expected:
                return corrupt(cached)
            self.checks.remember(cached.path, expected, identity)
            self._count_served(state, count)
            return web.Response(status=plan.status, body=data[plan.start:plan.stop], headers=headers)
        if plan.status == 206 or cached.size <= self.config.verify_whole_max:
            # A range is sent only from a file checked whole first, however large it is.
            digest = await asyncio.get_running_loop().run_in_executor(None, sha256_of_file, cached.path)
            if digest != expected:
                return corrupt(cached)
            self.checks.remember(cached.path, expected, identity)
            self._count_served(state, count)
            return _FileSlice(cached.path, plan.start, count, plan.status, headers)  # sendfile
        response, whole = await _stream_verified(request, cached, expected, headers, corrupt)
        if whole:
            self._count_served(state, cached.size)
        return response

    def _corrupt_on_disk(self, cached) -> None:
        self.stats["integrity_failures"] += 1
        count_integrity(self.stats, "cache")
        self.files.drop_file(cached.path)
        log.warning("cached file %s does not match its sha256: dropped, fetching it again", cached.path.name)
        return None

    async def _from_static_copy(self, request: web.Request, path: str, problems: str) -> web.StreamResponse:
        """A file no origin gave, from the static copy, checked against the sha256 a copied page gives."""
        stored = self.static.file(path) if self.static is not None else None
        if stored is None:
            return none_answered(problems)
        age = self.static.age() or 0.0

        def corrupt(_cached) -> None:
            self.stats["integrity_failures"] += 1
            count_integrity(self.stats, "static_copy")
            self.static.drop(stored)  # the next refresh fetches it again
            log.warning("static copy: %s does not match its page's sha256: not served, removed", path)

        headers = {**file_headers("STALE", "static-copy"), "Age": str(int(age)),
                   "Warning": '111 - "Revalidation Failed"'}
        try:
            response = await self._send_cached(request, CachedFile(stored.path, stored.size, stored.sha256),
                                               stored.sha256, "STALE", headers=headers, corrupt=corrupt)
        except FileNotFoundError:  # a refresh removed it just now (no page links it any more)
            return none_answered(f"{problems}; static copy: the file is gone")
        if response is None:
            return none_answered(f"{problems}; static copy: the file does not match its sha256")
        self.stats["static_copy_served"] += 1
        return response

    def _count_served(self, state: str, size: int) -> None:
        self.stats["hits" if state == "HIT" else "stale"] += 1
        self.stats["bytes_served"] += size

    # -- from an origin ------------------------------------------------------------------

    async def _fill(self, request: web.Request, path: str, expected: str) -> web.StreamResponse:
        """Fetch a file from the first origin that has the right bytes, into the cache and to the client.

        It streams to a ``.part`` file and to the client at once, hashing as it
        goes; the last chunk reaches the client only after the digest matched,
        and only a matching file is renamed into the cache. Bytes that do not
        match are dropped and the next origin is asked (while nothing was sent
        yet), or the connection is cut, so the client never takes them as whole.
        """
        async def filled(origin: Origin, upstream: ClientResponse) -> web.StreamResponse:
            if upstream.status != 200:
                return await relay(request, upstream, origin, "PASS", self.stats)
            outcome = await _fill_from(request, upstream, self.files, path, expected, origin, self.stats)
            if outcome is None:
                raise Rejected("bytes do not match the index's sha256")
            return outcome

        try:
            return await self.failover.try_each("GET", path, filled,
                                                headers=lambda _origin: {"X-Outside-Url": self.config.public_url,
                                                                         **self.failover.reader})
        except AllFailed as exc:
            return await self._from_static_copy(request, path, str(exc))


class _FileSlice(web.StreamResponse):
    """Bytes ``offset`` to ``offset + count`` of a file checked just before, sent with sendfile.
    (aiohttp's FileResponse would put its own ETag, made of the file's time and size, in place
    of the sha256 one, and decide on Range by itself.)"""

    def __init__(self, path, offset: int, count: int, status: int, headers: dict):
        super().__init__(status=status, headers=headers)
        self.content_length = count
        self._path, self._offset, self._count = path, offset, count

    async def prepare(self, request: web.BaseRequest):
        writer = await super().prepare(request)
        if request.method == "HEAD" or not self._count:
            return writer
        loop = asyncio.get_running_loop()
        if request.transport is None:
            raise ConnectionResetError("Connection lost")
        with open(self._path, "rb") as data:
            try:
                await loop.sendfile(request.transport, data, self._offset, self._count)
            except NotImplementedError:  # no sendfile here (an SSL transport): in chunks
                data.seek(self._offset)
                left = self._count
                while left > 0:
                    chunk = data.read(min(CHUNK, left))
                    if not chunk:
                        break
                    await writer.write(chunk)
                    left -= len(chunk)
        await super().write_eof()
        return writer


async def _stream_verified(request, cached, expected, headers, corrupt) -> tuple[web.StreamResponse, bool]:
    """A large file, hashed while it streams; the last chunk is held back until the digest matched.
    The response, and whether it was sent whole (else ``corrupt`` was called and the connection cut)."""
    with open(cached.path, "rb") as data:
        digest = hashlib.sha256()
        first = data.read(CHUNK)
        response = web.StreamResponse(headers=headers)
        response.content_length = cached.size
        await response.prepare(request)
        held = first
        while True:
            digest.update(held)
            following = data.read(CHUNK)
            if not following:
                break
            await response.write(held)
            held = following
        if digest.hexdigest() != expected:
            corrupt(cached)
            abort(request)
            return response, False
        await response.write(held)
        await response.write_eof()
    return response, True


async def _fill_from(request, upstream, files: Files, path: str, expected: str, origin: Origin, stats: dict):
    """One origin's answer into the cache and to the client; None when its bytes were wrong
    before anything was sent (then the next origin may have the right ones).

    A disk that will not take the file (full, read-only) costs the cache,
    not the download: the bytes go on to the client, checked all the same.
    """
    fill = files.fill(upstream.content_length)
    digest = hashlib.sha256()
    response = None
    held = b""
    size = 0
    try:
        async for chunk in upstream.content.iter_chunked(CHUNK):
            fill.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            if held:
                if response is None:
                    response = web.StreamResponse(headers=_miss_headers(origin, expected))
                    if upstream.content_length is not None:
                        response.content_length = upstream.content_length
                    await response.prepare(request)
                await response.write(held)
            held = chunk
        if digest.hexdigest() != expected:
            stats["integrity_failures"] += 1
            count_integrity(stats, "origin")
            log.warning("%s from %s does not match the index's sha256: not cached, not served", path, origin.name)
            fill.discard()
            if response is None:
                return None
            abort(request)
            return response
        if not fill.keep(path, expected) and fill.first_trouble:  # a line when it starts, not per file
            log.warning("files are passed through, not cached: %s", files.problem())
    except BaseException:
        fill.discard()
        raise
    stats["misses"] += 1
    stats["bytes_served"] += size
    if response is None:
        return web.Response(body=held, headers=_miss_headers(origin, expected))
    await response.write(held)
    await response.write_eof()
    return response


def _miss_headers(origin: Origin, expected: str) -> dict[str, str]:
    # A file not cached yet is sent whole, as it arrives (a Range is honoured once it is cached);
    # no Last-Modified: the time it enters the cache is not known until it has been checked.
    return {**file_headers("MISS", origin.name), **ranges.validators(expected)}
