"""The edge's store: index pages in memory, package files on disk, and the
sha256 each index publishes for its files.

Nothing here does I/O over the network, so every rule (which representation a
client gets, what a purge drops, when a file on disk may be served, what is
evicted) is tested without sockets (tests/kit/test_edge_cache.py).
"""

from __future__ import annotations

import errno
import functools
import gzip
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urljoin, urlsplit

from kit.core.core_metadata import declared_metadata_hashes

__all__ = [
    "JSON", "HTML", "GZIP_MIN", "representation", "accepts_gzip", "upstream_accept", "PageKey", "Page", "Pages",
    "Hashes",
    "Files", "Fill", "CachedFile", "Links", "links_of", "sha256_of_file", "ReadRecord", "READS_FILE", "MIRRORED",
]

#: PEP 691's JSON and the HTML every client understands: the two
#: representations a page is cached in. Everything a client's Accept says is
#: reduced to one of them, so pip's many User-Agents and Accept spellings share
#: one cached page each.
JSON = "application/vnd.pypi.simple.v1+json"
HTML = "text/html"
#: PEP 691's ``latest`` aliases name the newest version the edge serves: v1.
_JSON_TYPES = (JSON, "application/vnd.pypi.simple.latest+json")
_HTML_TYPES = ("application/vnd.pypi.simple.v1+html", "application/vnd.pypi.simple.latest+html", "text/html")


def weighted(header: str) -> list[tuple[str, float]]:
    """An Accept or Accept-Encoding header as (lower-case item, quality) pairs, in order; a
    quality that is not a number counts as 0 (refused), as PyPI reads it."""
    pairs = []
    for item in header.split(","):
        name, *params = [part.strip() for part in item.split(";")]
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        pairs.append((name.lower(), quality))
    return pairs


@functools.lru_cache(maxsize=256)  # clients send a handful of distinct Accept headers, on every request
def representation(accept: str | None) -> str:
    """:data:`JSON` or :data:`HTML`: the one of the two ``accept`` prefers (HTML on a tie, as PEP 691 servers do)."""
    if not accept:
        return HTML
    best = {JSON: -1.0, HTML: -1.0}
    for media, quality in weighted(accept):
        kind = JSON if media in _JSON_TYPES else HTML if media in _HTML_TYPES or media in ("*/*", "text/*") else None
        if kind is not None:
            best[kind] = max(best[kind], quality)
    return JSON if best[JSON] > 0 and best[JSON] > best[HTML] else HTML


@functools.lru_cache(maxsize=64)  # pip, uv and browsers send a few spellings, on every request
def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether ``accept_encoding`` takes gzip: named (or ``*``) with a quality above 0,
    and not refused by name."""
    named = star = None
    for coding, quality in weighted(accept_encoding or ""):
        if coding in ("gzip", "x-gzip"):
            named = max(named or 0.0, quality)
        elif coding == "*":
            star = quality
    return (named if named is not None else star or 0.0) > 0


def upstream_accept(kind: str) -> str:
    """What the edge asks the origin for, for one representation."""
    return JSON if kind == JSON else "text/html"


class PageKey(NamedTuple):
    index: str  # "USER/INDEX": every key names its index, so one team's entry never answers for another
    project: str  # PEP 503-normalised; "" for the index's root page
    kind: str  # JSON or HTML

    def under(self, index: str, project: str | None) -> bool:
        """Whether a purge of ``index``'s root page (``project`` ""), one project, or (None) all of it drops this page."""
        return self.index == index and (project is None or self.project == project)


#: Pages of at least this many bytes are sent gzip-encoded to a client that
#: takes gzip (pip and uv do); below it, gzip's header and the work cost more than they save.
GZIP_MIN = 4096


@dataclass
class Page:
    body: bytes
    content_type: str
    stored_at: float  # time.monotonic() when it was fetched or last revalidated
    served_by: str  # the origin's name
    etag: str = ""  # the origin's, for revalidation
    #: devpi's X-Devpi-Serial when the page was fetched ("" for none): sent on with the page,
    #: so a cache in front (Varnish) can tell a page older than the newest purge it received.
    serial: str = ""
    #: What clients get as ETag: the origin's, or one of the bytes. Computed
    #: once here, not per request: a hit is the edge's hot path.
    tag: str = field(init=False)
    #: The ETag of the gzip-encoded bytes: another representation, another tag
    #: (``"…-gzip"``, as nginx and Apache spell it); "" for a page too small to compress.
    gzip_tag: str = field(init=False)
    _gzipped: bytes | None = field(init=False, default=None, repr=False)

    def __post_init__(self):
        self.tag = self.etag or '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'
        self.gzip_tag = (self.tag[:-1] + '-gzip"' if self.tag.endswith('"') else self.tag + "-gzip") \
            if len(self.body) >= GZIP_MIN else ""

    def gzipped(self) -> bytes:
        """The body gzip-encoded: compressed on the first call only, then kept with the page."""
        if self._gzipped is None:
            # mtime 0: the same bytes for the same page, whenever compressed.
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped


class Pages:
    """Pages in memory, least recently used dropped past ``max_pages``."""

    def __init__(self, max_pages: int = 10000):
        self.max_pages = max_pages
        self._pages: OrderedDict[PageKey, Page] = OrderedDict()
        #: Counts purges and clears; see :meth:`put`.
        self.generation = 0

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, key: PageKey) -> Page | None:
        page = self._pages.get(key)
        if page is not None:
            self._pages.move_to_end(key)
        return page

    def put(self, key: PageKey, page: Page, since: int | None = None) -> bool:
        """Keep ``page``, unless a purge or clear came after ``since`` (the
        :attr:`generation` when its fetch began): then the page may predate the
        change that purged it, and keeping it would hide an upload for a whole TTL."""
        if since is not None and since != self.generation:
            return False
        self._pages[key] = page
        self._pages.move_to_end(key)
        while len(self._pages) > self.max_pages:
            self._pages.popitem(last=False)
        return True

    def clear(self) -> None:
        self.generation += 1
        self._pages.clear()

    def purge(self, index: str, project: str | None) -> int:
        """Drop the index's root page (``project`` ""), one project's pages, or (``None``) every page of the index."""
        self.generation += 1
        doomed = [k for k in self._pages if k.under(index, project)]
        for key in doomed:
            del self._pages[key]
        return len(doomed)


_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


class Links(dict):
    """File path → sha256, as :func:`links_of` reads a page; ``metadata`` holds, for the
    files whose core metadata (PEP 658/714) the page declares a sha256 of, path → that digest."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.metadata: dict[str, str] = {}


def _local_path(url: str, page_path: str, public) -> str | None:
    """A link's path on this host, resolved against the page's path; None for a file elsewhere."""
    parts = urlsplit(urljoin(page_path, url))
    if parts.netloc and (public is None or parts.netloc != public.netloc):
        return None  # a file elsewhere: the edge never serves it
    return unquote(parts.path)


def links_of(body: bytes, content_type: str, page_path: str, public_url: str = "") -> Links:
    """The files a simple page links with a sha256: their paths on this host → the hex digest
    (and, in ``.metadata``, the sha256 the page declares of their core metadata).

    HTML carries the digest in the link's fragment (``#sha256=``), PEP 691 JSON
    in ``hashes``. Links are resolved against the page's path; absolute links
    count only when they point at ``public_url`` (where devpi, told the edge's
    address by X-Outside-Url, may send clients).
    """
    found: list[tuple[str, str]] = []
    if content_type.startswith(JSON):
        try:
            data = json.loads(body)
            for entry in data.get("files", []):
                digest = (entry.get("hashes") or {}).get("sha256")
                if isinstance(digest, str) and isinstance(entry.get("url"), str):
                    found.append((entry["url"], digest))
        except (ValueError, AttributeError, TypeError):
            return Links()
    else:
        for href in _HREF.findall(body.decode("utf-8", "replace")):
            url, _, fragment = href.partition("#")
            if fragment.startswith("sha256="):
                found.append((url.replace("&amp;", "&"), fragment[len("sha256="):]))
    public = urlsplit(public_url) if public_url else None
    links = Links()
    for url, digest in found:
        path = _local_path(url, page_path, public) if re.fullmatch(r"[0-9a-fA-F]{64}", digest) else None
        if path is not None:
            links[path] = digest.lower()
    for url, digest in declared_metadata_hashes(body, content_type).items():
        path = _local_path(url, page_path, public)
        if path in links:
            links.metadata[path] = digest
    return links


class Hashes:
    """What each index publishes: file path → sha256, learnt from the pages the edge fetched."""

    def __init__(self, max_entries: int = 1_000_000):
        self.max_entries = max_entries
        self._digests: OrderedDict[str, tuple[str, str, str]] = OrderedDict()  # path → (sha256, index, project)
        self._metadata: dict[str, str] = {}  # path → the sha256 its page declares of its core metadata

    def __len__(self) -> int:
        return len(self._digests)

    def learn(self, links: dict[str, str], index: str, project: str) -> None:
        declared = getattr(links, "metadata", {})
        for path, digest in links.items():
            # Only a file under the page's own index: a page cannot vouch for another team's files.
            if path.startswith(f"/{index}/"):
                self._digests[path] = (digest, index, project)
                self._digests.move_to_end(path)
                if path in declared:
                    self._metadata[path] = declared[path]
                else:
                    self._metadata.pop(path, None)
        while len(self._digests) > self.max_entries:
            self._metadata.pop(self._digests.popitem(last=False)[0], None)

    def get(self, path: str) -> str | None:
        entry = self._digests.get(path)
        return entry[0] if entry else None

    def metadata_of(self, path: str) -> str | None:
        """The sha256 a page declared of the core metadata of the file at ``path`` (None: none declared)."""
        return self._metadata.get(path)

    def forget(self, index: str, project: str | None) -> list[str]:
        """Forget an index's digests (``project`` None) or one project's; return the paths forgotten."""
        doomed = [p for p, (_, i, proj) in self._digests.items() if i == index and (project is None or proj == project)]
        for path in doomed:
            del self._digests[path]
            self._metadata.pop(path, None)
        return doomed


def sha256_of_file(path: Path, chunk: int = 1024 * 1024) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        while block := data.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class CachedFile:
    path: Path
    size: int
    sha256: str  # the digest it was verified against when stored


class Files:
    """Package files on disk, one per request path, each stored only after its
    bytes matched the index's sha256.

    A file is written as ``*.part`` and renamed to ``*.file`` only when complete
    and verified, so a killed edge leaves at most a ``.part``, which is never
    served and is removed at the next start. Next to each file, ``*.sha256``
    holds the digest it was verified against, so a file can be checked again
    when served, and ``*.metadata`` the core metadata extracted from a wheel
    (:mod:`kit.edge.metadata`), which goes with it. Least recently used files go
    first once the folder holds more than ``max_bytes`` (a file counts with its
    sidecars); a file larger than the bound alone is served, not kept.

    Recency is by use: a hit moves the file to the back of the queue. It
    survives a restart through the files' access times: :meth:`open` orders
    what it finds by atime, and a hit on a file whose atime is older than
    ``TOUCH_AFTER`` sets it to now (mount options such as ``relatime`` or
    ``noatime`` would otherwise leave it at the day it was stored), so after a
    restart the order is right to within that much.
    """

    #: Seconds between two updates of a file's access time on hits (one system call, not one per hit).
    TOUCH_AFTER = 600.0

    def __init__(self, folder: Path, max_bytes: int):
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._sizes: OrderedDict[str, int] = OrderedDict()  # name (key hash) → bytes with sidecars, oldest first
        # name → the digest its sidecar holds (written by this process, or read once): a hit
        # reads no sidecar. The file's own bytes are still checked against the index's digest.
        self._digests: dict[str, str] = {}
        self.bytes = 0
        #: Files that could not be stored (a full or read-only disk): served anyway, not kept.
        self.write_failures = 0
        #: Why the last file could not be stored ("" once one was, or the disk has room again).
        self._trouble = ""
        self._trouble_errno = 0
        self._trouble_needed = 0
        #: When each file of devpi's mirror of PyPI was last read through this edge (for kit prune).
        self.reads = ReadRecord(self.folder.parent / READS_FILE)

    def open(self) -> None:
        """Make the folder, remove leftovers of a killed edge, account for what is there
        (least recently used first, by access time) and evict down to the bound, which
        may have been lowered since the last start.

        A folder that cannot be made or cleaned (a read-only disk) is no reason
        not to start: files are then passed through, and :meth:`problem` says why.
        """
        found: dict[str, list] = {}  # name → [atime, bytes with sidecars, has its .file]
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for entry in os.scandir(self.folder):
                if entry.name.endswith(".part"):
                    os.unlink(entry.path)
                    continue
                name, dot, suffix = entry.name.partition(".")
                if suffix not in ("file", "sha256", "metadata"):
                    continue
                stat = entry.stat()
                seen = found.setdefault(name, [0.0, 0, False])
                seen[1] += stat.st_size
                if suffix == "file":
                    seen[0], seen[2] = stat.st_atime, True
        except OSError as exc:
            self.could_not_store(exc)
        for atime, name, size, whole in sorted((atime, name, size, whole)
                                               for name, (atime, size, whole) in found.items()):
            if not whole:  # sidecars whose file is gone (a crash between two unlinks): nothing to serve
                self._remove(name)
                continue
            self._sizes[name] = size
            self.bytes += size
        try:
            self._evict()
        except OSError as exc:
            self.could_not_store(exc)
        self.reads.open()

    def could_not_store(self, exc: OSError, needed: int = 0) -> bool:
        """A file (of ``needed`` bytes, when known) could not be written: count it and keep the
        reason; True when the cache had no trouble before (the moment worth a log line)."""
        first = not self._trouble
        self.write_failures += 1
        self._trouble = f"cannot store files in {self.folder} ({exc.strerror or exc})"
        self._trouble_errno, self._trouble_needed = exc.errno or 0, needed
        return first

    def problem(self) -> str:
        """Why new files are not being cached ("" when they are).

        Tried for real, by creating a file there: permission bits alone do not
        stop root, and a folder replaced by a file stops everyone. A disk that
        was full counts as full until a file is stored again or it has room
        for the file that did not fit.
        """
        try:
            with tempfile.NamedTemporaryFile(dir=self.folder, prefix=".health-", suffix=".part"):
                pass
        except OSError as exc:
            return f"cannot store files in {self.folder} ({exc.strerror or exc})"
        if self._trouble and self._trouble_errno in (errno.ENOSPC, errno.EDQUOT):
            try:
                room = shutil.disk_usage(self.folder).free
            except OSError:
                room = 0
            if room > max(self._trouble_needed, 1024 * 1024):
                self._trouble = ""
        elif self._trouble:
            self._trouble = ""  # it was not the disk's room, and a file can be created again
        return self._trouble

    def __len__(self) -> int:
        return len(self._sizes)

    @staticmethod
    def name_of(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def lookup(self, key: str) -> CachedFile | None:
        name = self.name_of(key)
        path = self.folder / f"{name}.file"
        try:
            stat = path.stat()
            digest = self._digests.get(name) or (self.folder / f"{name}.sha256").read_text().strip()
        except OSError:
            return None
        self._digests[name] = digest
        if name in self._sizes:
            self._sizes.move_to_end(name)
        now = time.time()
        if now - stat.st_atime > self.TOUCH_AFTER:
            try:
                os.utime(path, (now, stat.st_mtime))  # mtime kept: it is the file's Last-Modified
            except OSError:
                pass  # a read-only disk: the order after a restart is less exact, nothing worse
        return CachedFile(path, stat.st_size, digest)

    def metadata_path(self, key: str) -> Path:
        """Where the core metadata extracted from the wheel cached as ``key`` is kept."""
        return self.folder / f"{self.name_of(key)}.metadata"

    def store_metadata(self, key: str, data: bytes) -> bool:
        """Keep ``data``, extracted from the wheel cached as ``key``, beside it (written whole, then
        renamed); False when the wheel is not cached (nothing to go with) or the disk would not take it."""
        if self.name_of(key) not in self._sizes:
            return False
        name = self.name_of(key)
        part = None
        try:
            before = self._size_of(self.metadata_path(key))
            part = self.new_part()
            with part:
                part.write(data)
            os.replace(part.name, self.metadata_path(key))
        except OSError:
            if part is not None:
                Path(part.name).unlink(missing_ok=True)
            return False
        if name in self._sizes:
            self._sizes[name] += len(data) - before
            self.bytes += len(data) - before
            self._evict()
        return True

    @staticmethod
    def _size_of(path: Path) -> int:
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0

    def new_part(self):
        """A temporary file in the cache folder (same file system, so the rename is atomic)."""
        return tempfile.NamedTemporaryFile(dir=self.folder, prefix=".fill-", suffix=".part", delete=False)

    def fill(self, needed: int | None = None) -> "Fill":
        """A file on its way in (``needed`` bytes, when the origin said); see :class:`Fill`."""
        return Fill(self, needed or 0)

    def commit(self, part: str, key: str, digest: str) -> Path:
        """Move a complete, verified ``part`` into the cache as ``key``."""
        name = self.name_of(key)
        final = self.folder / f"{name}.file"
        sidecar = self.folder / f"{name}.sha256"
        try:
            sidecar.write_text(digest + "\n")
        except OSError:
            sidecar.unlink(missing_ok=True)  # never half a digest beside a file
            raise
        size = os.path.getsize(part) + len(digest) + 1 + self._size_of(self.folder / f"{name}.metadata")
        os.replace(part, final)
        self._digests[name] = digest
        self.bytes += size - self._sizes.pop(name, 0)
        self._sizes[name] = size
        self._trouble = ""
        self._evict()
        return final

    def drop(self, key: str) -> bool:
        """Drop the file cached for ``key``; True if there was one."""
        name = self.name_of(key)
        found = (self.folder / f"{name}.file").exists()
        self._remove(name)
        return found

    def drop_file(self, path: Path) -> None:
        """Drop a cached file by its path (one found corrupt while served)."""
        self._remove(Path(path).name[: -len(".file")])

    def _remove(self, name: str) -> None:
        self.bytes -= self._sizes.pop(name, 0)
        self._digests.pop(name, None)
        for suffix in (".file", ".sha256", ".metadata"):
            try:
                os.unlink(self.folder / f"{name}{suffix}")
            except FileNotFoundError:
                pass

    def _evict(self) -> None:
        # Down to the bound, even the file just stored when it alone is larger: it was served.
        while self.bytes > self.max_bytes and self._sizes:
            self._remove(next(iter(self._sizes)))


#: The record of reads of root/pypi's files, beside the cache folder (``SITE/cluster/run/``): not
#: in it, so the cache's bound is the folder's size; a line per file and day read, compacted to one per file.
READS_FILE = "edge-root-pypi-reads.log"
#: The files the record is kept of: those of devpi's mirror of PyPI, which kit prune may remove.
MIRRORED = "/root/pypi/+f/"


class ReadRecord:
    """When each file of devpi's mirror of PyPI was last read through the edge: what
    ``kit prune`` reads, since devpi records no reads.

    The edge sees every read of a file (a hit, a miss, a stale answer), so it
    is the one place that knows. Kept cheaply: a line ``SECONDS PATH`` is
    appended (one ``write``, on the file kept open) the first time a file is
    read and then at most once per ``every`` seconds (a day: kit prune counts
    in days), so a busy file costs one line a day. The first line,
    ``# since SECONDS``, says when the record began: a file it never saw counts
    as read then. At each start, and when the lines grow past four times the
    files, the record is written again with one line per file.
    """

    def __init__(self, path: Path, every: float = 86400.0, clock=time.time):
        self.path = Path(path)
        self.every = every
        self._clock = clock
        self._fd: int | None = None
        self.since = 0.0
        self.last: dict[str, float] = {}  # path → when last recorded as read
        self._lines = 0

    @staticmethod
    def read(path: Path) -> tuple[float, dict[str, float]]:
        """(when the record began, path → when last read) from a record file; (0, {}) for none."""
        since, last = 0.0, {}
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return since, last
        for line in text.splitlines():
            stamp, _, name = line.partition(" ")
            try:
                if stamp == "#" and name.startswith("since "):
                    since = float(name[len("since "):])
                elif name.startswith(MIRRORED):
                    last[name] = max(last.get(name, 0.0), float(stamp))
            except ValueError:
                continue  # a torn last line (a killed edge): the next read writes it again
        return since, last

    def open(self) -> None:
        """Read what was recorded and write it again compacted (a record that cannot be written is
        no reason not to serve: reads are then not recorded, and kit prune finds the record old)."""
        self.since, self.last = self.read(self.path)
        self.since = self.since or self._clock()
        try:
            self._rewrite()
        except OSError:
            self._fd = None

    def _rewrite(self) -> None:
        lines = [f"# since {self.since:.0f}\n", *(f"{stamp:.0f} {name}\n" for name, stamp in self.last.items())]
        write_atomically_bytes(self.path, "".join(lines).encode())
        if self._fd is not None:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self._lines = len(lines)

    def mark(self, path: str) -> None:
        """``path`` (under :data:`MIRRORED`) was read now."""
        now = self._clock()
        if now - self.last.get(path, 0.0) < self.every or self._fd is None:
            return
        self.last[path] = now
        try:
            os.write(self._fd, f"{now:.0f} {path}\n".encode())
            self._lines += 1
            if self._lines > 4 * len(self.last) + 1000:
                self._rewrite()
        except OSError:
            pass  # a full disk: this read goes unrecorded (kit prune may then remove the file: it is fetched again)


def write_atomically_bytes(path: Path, data: bytes) -> None:
    """``data`` as ``path``'s whole content, written beside it and renamed (a reader never sees half)."""
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".record-", suffix=".part", delete=False) as part:
        part.write(data)
    os.replace(part.name, path)


class Fill:
    """One file on its way into the cache, written as its bytes arrive.

    The first disk error (a full disk, a read-only one) gives it up: the part
    is removed, :meth:`Files.could_not_store` counts it, and the bytes still
    go to the client (and are still checked): a cache that cannot grow makes
    the edge slower, never a download fail. Nothing raised here is the disk's.
    """

    def __init__(self, files: Files, needed: int = 0):
        self.files = files
        self.needed = needed
        #: This file's failure is the first since the cache last stored one.
        self.first_trouble = False
        try:
            self._part = files.new_part()
        except OSError as exc:
            self._part = None
            self.first_trouble = files.could_not_store(exc, needed)

    @property
    def kept(self) -> bool:
        """Whether the bytes are still being written (no disk error so far)."""
        return self._part is not None

    def write(self, chunk: bytes) -> None:
        if self._part is None:
            return
        try:
            self._part.write(chunk)
        except OSError as exc:
            self._give_up(exc)

    def keep(self, key: str, digest: str) -> bool:
        """Move the complete file, whose bytes matched ``digest``, into the cache as ``key``;
        False when the disk would not take it (the last bytes may fail only on close)."""
        if self._part is None:
            return False
        try:
            self._part.close()
            self.files.commit(self._part.name, key, digest)
        except OSError as exc:
            self._give_up(exc)
            return False
        self._part = None
        return True

    def discard(self) -> None:
        """Remove what was written (wrong bytes, or the client went away)."""
        if self._part is None:
            return
        part, self._part = self._part, None
        try:
            part.close()
        except OSError:
            pass
        try:
            os.unlink(part.name)
        except OSError:
            pass

    def _give_up(self, exc: OSError) -> None:
        self.discard()
        self.first_trouble = self.files.could_not_store(exc, self.needed)
