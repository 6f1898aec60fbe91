"""Core metadata at the edge (PEP 658/714): ``WHEEL.metadata`` served from the wheel the edge holds verified.

A resolver that sees ``data-core-metadata`` on a wheel's link asks for
``FILE.whl.metadata`` — the wheel's ``.dist-info/METADATA`` — and downloads
the wheel only to install it. The edge answers that request itself: from the
wheel in its cache once the wheel's bytes matched the sha256 its page
publishes (a wheel not cached yet is filled first, verified, the normal way),
or from the static copy when no origin answers; a wheel the disk will not
take is read from the bytes fetched (up to 64 MiB), so a full disk costs the
cache, never the answer. What the edge extracted is served from memory (up
to 32 MiB of it) and kept beside the cached wheel too
(:meth:`kit.edge.cache.Files.metadata_path`), evicted with it; a copy read
from disk is checked against the digest the edge computed when it extracted
it, so a file changed on disk is never served (it is extracted again). When
the page declares a digest of
the metadata (``data-core-metadata="sha256=…"``, JSON ``core-metadata``),
extracted bytes that differ are never served (502). A ``.metadata`` for a
file no page lists with a sha256 is 404: never unverified.

:meth:`CoreMetadata.value_for` is what the page code asks, per link, to
advertise the metadata (:func:`kit.core.core_metadata.advertise`).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import time
from collections import OrderedDict
from pathlib import Path

from aiohttp import ClientResponse, web

from kit.core.core_metadata import METADATA_SUFFIX, CoreMetadataError, metadata_from_wheel
from kit.edge import ranges
from kit.edge.cache import Files
from kit.edge.config import EdgeConfig
from kit.edge.failover import AllFailed, Failover, Rejected
from kit.edge.metrics import count_integrity
from kit.edge.origins import Origin
from kit.edge.pages import IndexPages
from kit.edge.replies import CHUNK, none_answered, text
from kit.edge.static_copy import StaticOrigin

__all__ = ["CoreMetadata", "METADATA_SUFFIX"]

log = logging.getLogger("kit.edge")

#: How many wheels' metadata digests are remembered (64 bytes and a key each).
_REMEMBERED = 200_000
#: Bytes of metadata kept in memory (a wheel's is a few KiB): served from there, never from disk.
_MEMORY_BYTES = 32 * 1024**2
#: A wheel fetched for its metadata is also held in memory up to this size, so that a disk that
#: will not take it costs the cache, never the answer (larger ones need the disk).
_HELD_BYTES = 64 * 1024**2


class _Refused(Exception):
    """The answer to send instead of metadata (a status and one line)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class CoreMetadata:
    """``/USER/INDEX/+f/…/NAME.whl.metadata`` requests, and what pages may advertise."""

    def __init__(self, config: EdgeConfig, failover: Failover, pages: IndexPages, files: Files,
                 static: StaticOrigin | None, stats: dict):
        self.config = config
        self.failover = failover
        self.pages = pages
        self.files = files
        self.static = static
        self.stats = stats
        stats.setdefault("metadata", 0)
        # The wheel's sha256 → its METADATA's sha256, as extracted from verified bytes: the same
        # wheel has the same metadata whatever its path or page, and a purge does not change that.
        self._extracted: OrderedDict[str, str] = OrderedDict()
        self._extracting: dict[str, asyncio.Future] = {}
        # The wheel's sha256 → (its METADATA, when extracted): what a warm edge serves, at a
        # page's pace (memory is not a disk someone can write to; the copy on disk is).
        self._in_memory: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._memory_bytes = 0

    def value_for(self, path: str, wheel_digest: str | None = None) -> str | None:
        """What a page may say of the core metadata of the file at ``path`` (its path on this
        host, as :func:`kit.edge.cache.links_of` resolves links): ``"sha256=HEX"`` once the
        edge extracted it, ``"true"`` for a wheel of an index this edge serves, else None.

        A team page lists the wheels it inherits from ``root/pypi`` under that index's path:
        their digests are learnt when their ``.metadata`` is asked (from that index's page,
        as for the wheel itself), so they are advertised before the edge has seen them.
        ``wheel_digest``: the sha256 the page being served gives the wheel, when known."""
        path = path.partition("#")[0]
        if not path.endswith(".whl"):
            return None
        wheel_digest = wheel_digest or self.pages.hashes.get(path)
        if wheel_digest is None:
            parts = path.split("/")
            return "true" if len(parts) >= 6 and parts[3] == "+f" and parts[1] and parts[2] else None
        known = self._extracted.get(wheel_digest)
        declared = self.pages.hashes.metadata_of(path)
        if known is not None and declared is not None and known != declared:
            return None  # the edge will not serve it (see answer): promise nothing
        if known is None and declared is not None:
            return f"sha256={declared}"  # the page's own promise, kept: the edge serves only bytes that keep it
        return f"sha256={known}" if known else "true"

    async def answer(self, request: web.Request, index: str, path: str) -> web.StreamResponse:
        """GET or HEAD of a wheel's ``.metadata`` (``path`` ends in ``.whl.metadata``)."""
        wheel = path[: -len(METADATA_SUFFIX)]
        try:
            data, state, modified = await self._metadata(index, wheel)
        except _Refused as refused:
            return text(refused.status, f"kit edge: {refused}\n")
        digest = hashlib.sha256(data).hexdigest()
        declared = self.pages.hashes.metadata_of(wheel)
        if declared is not None and declared != digest:
            self.stats["integrity_failures"] += 1
            count_integrity(self.stats, "origin")  # the wheel was right; the metadata its page declares is not
            log.warning("%s: the metadata in the verified wheel has sha256 %s, its page declares %s: not served",
                        path, digest, declared)
            return text(502, f"kit edge: the METADATA in {wheel.rsplit('/', 1)[-1]} does not match the sha256 "
                        "its page declares; not served (the origin's page is wrong: check its core metadata)\n")
        return self._send(request, data, digest, state, modified)

    def _send(self, request: web.Request, data: bytes, digest: str, state: str, modified: float) -> web.Response:
        """The metadata bytes as a package file is sent: strong ETag, Range, 304, HEAD like GET."""
        headers = {"Content-Type": "application/octet-stream", "Cache-Control": "max-age=31536000, immutable",
                   "X-Cache": state, "X-Served-By": "edge", **ranges.validators(digest, modified)}
        plan = ranges.plan(request.headers, request.method, len(data), headers["ETag"], modified)
        if plan.content_range(len(data)):
            headers["Content-Range"] = plan.content_range(len(data))
        if plan.status == 416:
            return web.Response(status=416, headers=headers)
        self.stats["metadata"] += 1
        if plan.status == 304:
            return web.Response(status=304, headers=headers)
        if request.method == "HEAD":
            return web.Response(status=plan.status, headers={**headers, "Content-Length": str(plan.stop - plan.start)})
        self.stats["bytes_served"] += plan.stop - plan.start
        return web.Response(status=plan.status, body=data[plan.start:plan.stop], headers=headers)

    # -- finding the bytes -----------------------------------------------------------------

    async def _metadata(self, index: str, wheel: str) -> tuple[bytes, str, float]:
        """The wheel's METADATA, ("HIT" | "MISS" | "STALE") and when it was extracted; :class:`_Refused`."""
        expected, origins_answered = await self.pages.digest_of(index, wheel)
        state = "HIT"
        if expected is None:
            cached = self.files.lookup(wheel)
            if origins_answered or cached is None:
                static = self.static.file(wheel) if self.static is not None and not origins_answered else None
                if static is None:
                    raise _Refused(404, f"no page of {index} lists {wheel.rsplit('/', 1)[-1]} with a sha256; "
                                        "its metadata is never served unverified")
                data = await self._read(static.path, static.sha256, wheel)
                return data, "STALE", time.time()
            expected, state = cached.sha256, "STALE"  # nobody to ask: the digest it was stored against
        kept = self._in_memory.get(expected)
        if kept is not None:
            self._in_memory.move_to_end(expected)
            return kept[0], state, kept[1]
        on_disk = self._from_disk(wheel, expected)
        if on_disk is not None:
            self._keep(expected, *on_disk)
            return on_disk[0], state, on_disk[1]
        task = self._extracting.get(wheel)
        if task is None:
            task = asyncio.ensure_future(self._extract(wheel, expected, origins_answered))
            self._extracting[wheel] = task
            task.add_done_callback(lambda _t: self._extracting.pop(wheel, None))
        # Shielded: a client that goes away does not cancel the fill the others wait for.
        data, modified = await asyncio.shield(task)
        return data, "MISS" if state == "HIT" else state, modified

    def _from_disk(self, wheel: str, expected: str) -> tuple[bytes, float] | None:
        """The metadata kept beside the cached wheel, if it is the very bytes extracted from it."""
        known = self._extracted.get(expected)
        cached = self.files.lookup(wheel)
        if known is None or cached is None or cached.sha256 != expected:
            return None  # not extracted since the edge started, or the wheel is gone: extract again
        path = self.files.metadata_path(wheel)
        try:
            data = path.read_bytes()
            modified = path.stat().st_mtime
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != known:
            self.stats["integrity_failures"] += 1
            count_integrity(self.stats, "cache")
            log.warning("cached metadata of %s does not match what was extracted: removed, extracting it again",
                        wheel)
            path.unlink(missing_ok=True)
            return None
        self._extracted.move_to_end(expected)
        return data, modified

    async def _extract(self, wheel: str, expected: str, origins_answered: bool) -> tuple[bytes, float]:
        """Extract the METADATA of the verified wheel (filled first when not cached), keep it, remember its digest."""
        for attempt in range(2):
            cached = self.files.lookup(wheel)
            if cached is None or cached.sha256 != expected:
                if not origins_answered:
                    raise _Refused(503, f"no origin answered and {wheel.rsplit('/', 1)[-1]} is not cached; "
                                        "retry when `kit status` shows an origin healthy")
                held = await self._fill(wheel, expected)
                cached = self.files.lookup(wheel)
                if cached is None and held is not None:
                    return self._extracted_from(held, wheel, expected)
                if cached is None:
                    raise _Refused(503, f"cannot store {wheel.rsplit('/', 1)[-1]} to read its metadata "
                                        f"({self.files.problem() or 'evicted at once'}); free the edge's disk")
            try:
                data = await self._read(cached.path, expected, wheel)
            except _Refused:
                if attempt:
                    raise
                self.files.drop_file(cached.path)  # changed on disk since it was stored: fetch it again
                continue
            self.files.store_metadata(wheel, data)  # not kept (a full disk): extracted again next time
            return self._extracted_now(expected, data)
        raise AssertionError("unreachable")

    def _extracted_from(self, held: bytes, wheel: str, expected: str) -> tuple[bytes, float]:
        """The METADATA of a verified wheel the disk would not take (``held``: its bytes)."""
        try:
            data = metadata_from_wheel(io.BytesIO(held), wheel.rsplit("/", 1)[-1])
        except CoreMetadataError as exc:
            raise _Refused(502, f"{exc}") from None
        return self._extracted_now(expected, data)

    def _extracted_now(self, expected: str, data: bytes) -> tuple[bytes, float]:
        self._remember(expected, hashlib.sha256(data).hexdigest())
        extracted_at = time.time()
        self._keep(expected, data, extracted_at)
        return data, extracted_at

    async def _read(self, path: Path, expected: str, wheel: str) -> bytes:
        """The METADATA of the wheel at ``path``, read only once its bytes matched ``expected``."""
        name = wheel.rsplit("/", 1)[-1]
        try:
            data = await asyncio.get_running_loop().run_in_executor(None, _verified_metadata, path, expected, name)
        except CoreMetadataError as exc:
            raise _Refused(502, f"{exc}") from None
        except OSError as exc:
            raise _Refused(503, f"cannot read {name} ({exc.strerror or exc}); retry") from None
        if data is None:
            self.stats["integrity_failures"] += 1
            count_integrity(self.stats, "cache")
            log.warning("%s on disk does not match its sha256: its metadata not served", path)
            raise _Refused(502, f"{name} on the edge's disk does not match its sha256; retry to fetch it again")
        return data

    async def _fill(self, wheel: str, expected: str) -> bytes | None:
        """Fetch the wheel into the cache, verified, with no client waiting for its bytes; its
        bytes too when no larger than _HELD_BYTES (None otherwise)."""
        async def filled(origin: Origin, upstream: ClientResponse) -> bytes | None:
            if upstream.status != 200:
                raise Rejected(f"HTTP {upstream.status}")
            fill = self.files.fill(upstream.content_length)
            digest = hashlib.sha256()
            held: bytearray | None = bytearray()
            try:
                async for chunk in upstream.content.iter_chunked(CHUNK):
                    fill.write(chunk)
                    digest.update(chunk)
                    if held is not None:
                        held += chunk
                        if len(held) > _HELD_BYTES:
                            held = None
            except BaseException:
                fill.discard()
                raise
            if digest.hexdigest() != expected:
                self.stats["integrity_failures"] += 1
                count_integrity(self.stats, "origin")
                log.warning("%s from %s does not match the index's sha256: not cached", wheel, origin.name)
                fill.discard()
                raise Rejected("bytes do not match the index's sha256")
            fill.keep(wheel, expected)
            return bytes(held) if held is not None else None

        try:
            return await self.failover.try_each("GET", wheel, filled,
                                         headers=lambda _origin: {"X-Outside-Url": self.config.public_url,
                                                                  **self.failover.reader})
        except AllFailed as exc:
            refused = none_answered(str(exc))
            raise _Refused(refused.status, refused.text.removeprefix("kit edge: ").strip()) from None

    def _keep(self, wheel_digest: str, data: bytes, extracted_at: float) -> None:
        if len(data) > _MEMORY_BYTES // 16:
            return  # a freak: served from disk, checked each time
        old = self._in_memory.pop(wheel_digest, None)
        self._memory_bytes += len(data) - (len(old[0]) if old else 0)
        self._in_memory[wheel_digest] = (data, extracted_at)
        while self._memory_bytes > _MEMORY_BYTES:
            _digest, (dropped, _when) = self._in_memory.popitem(last=False)
            self._memory_bytes -= len(dropped)

    def _remember(self, wheel_digest: str, metadata_digest: str) -> None:
        self._extracted[wheel_digest] = metadata_digest
        self._extracted.move_to_end(wheel_digest)
        while len(self._extracted) > _REMEMBERED:
            self._extracted.popitem(last=False)


def _verified_metadata(path: Path, expected: str, filename: str) -> bytes | None:
    """The METADATA of the wheel at ``path`` (one open file: hashed, then read), or None when its
    bytes do not match ``expected``."""
    with open(path, "rb") as wheel:
        digest = hashlib.sha256()
        while block := wheel.read(1024 * 1024):
            digest.update(block)
        if digest.hexdigest() != expected:
            return None
        wheel.seek(0)
        return metadata_from_wheel(wheel, filename)
