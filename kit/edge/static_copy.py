"""A static copy of the team indexes: the edge's last origin.

With the master and the mirror both down, the edge can serve only what it has
seen. The static copy closes that gap: every refresh copies each team index's
pages (both representations, exactly the bytes devpi served) and every file
they link into a folder laid out like devpi's URL paths::

    FOLDER/web/private/+simple/index.html            the root page: the copied projects
    FOLDER/web/private/+simple/index.v1_json         (PEP 691 JSON)
    FOLDER/web/private/+simple/PROJECT/index.html    devpi's page, as served
    FOLDER/web/private/+simple/PROJECT/index.v1_json
    FOLDER/web/private/+f/abc/def0123456789/NAME.whl the files those pages link
    FOLDER/STATUS.json                               when, from where, at which devpi serial

So every team package published before the last refresh installs through the
edge even when nobody ever fetched it there (:class:`StaticOrigin` is what the
edge reads).

Rules that keep the copy safe to read while it is refreshed (the edge reads it
from another thread, or another process):

* a file is written as a temporary file and renamed only once its bytes match
  the sha256 the page gives; a mismatch is an error, never kept;
* a page is written (temporary file, then ``os.replace``) only after every file
  it links is in place: a reader never sees a half-written page, nor a page
  linking a missing file; when a file cannot be had, the old page stays;
* a refresh with nothing new costs one request per index: when the source's
  devpi serial is the one the copy was made at, nothing changed.

The refresh uses httpx's blocking client (kit's HTTP client, :mod:`kit.core.http`):
it is a batch of plain requests, simplest written straight-line; the edge runs
it on a thread of its own, so its event loop never waits on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from kit.edge.cache import HTML, JSON, links_of
from kit.core.errors import one_line
from kit.core.files import replaced, write_atomically
from kit.core.http import CONNECT_TIMEOUT
from kit.core.names import normalize, project_of

__all__ = ["CopyResult", "refresh", "StaticOrigin", "StaticPage", "StaticFile", "read_status", "check_index"]

#: The file names a page is stored under, per representation.
PAGE_FILES = {HTML: "index.html", JSON: "index.v1_json"}
STATUS_FILE = "STATUS.json"
#: Left by the edge when it removed a corrupt file: the next refresh reads every page, even at the same serial.
DAMAGED_FILE = ".damaged"
_CONTENT_TYPES = {HTML: "text/html; charset=utf-8", JSON: JSON}
_INDEX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_PROJECT = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
#: A devpi file path: /USER/INDEX/+f/..., no dot segments left.
_FILE_PATH = re.compile(r"/[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*/\+f/[A-Za-z0-9._+/-]+")
_CHUNK = 256 * 1024
#: A page or file may take a source longer than kit.http's small API answers; connecting may not.
READ_TIMEOUT = 10.0


@dataclass
class CopyResult:
    """What a refresh did; also what ``STATUS.json`` holds (:func:`read_status`)."""

    #: Epoch seconds of the last refresh that completed without an error: every
    #: package published before it is in the copy. 0 when none completed yet.
    refreshed_at: float = 0.0
    serial: int | None = None  # devpi's X-Devpi-Serial the copy includes everything up to
    source: str = ""  # the URL it was read from
    indexes: list[str] = field(default_factory=list)
    projects: int = 0  # project pages in the copy
    files: int = 0  # files the copied pages link, all present
    bytes: int = 0  # their size
    attempted_at: float = 0.0  # epoch seconds of this refresh
    seconds: float = 0.0  # how long it took
    downloaded: int = 0  # files fetched by this refresh
    downloaded_bytes: int = 0
    unchanged: bool = False  # the serial had not moved: nothing was fetched but the index lists
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # sources that did not answer before ``source`` did

    @property
    def ok(self) -> bool:
        return not self.errors


class _SourceDown(Exception):
    """The source did not answer (refused, timed out, 5xx): try the next one."""


class _CopyError(Exception):
    """One project could not be copied (a file missing or wrong): its old page stays."""


def check_index(index: str) -> str:
    """``index`` when it names a devpi index (``USER/NAME``), else ValueError with a one-line reason."""
    if not isinstance(index, str) or not _INDEX.fullmatch(index) or index.split("/")[0].startswith("+"):
        raise ValueError(f"static copy: {index!r} is not an index name like TEAM/private")
    return index


def read_status(folder: Path) -> CopyResult | None:
    """The copy's STATUS.json, or None when there is none (or it cannot be read)."""
    try:
        data = json.loads((Path(folder) / STATUS_FILE).read_text(encoding="utf-8"))
        known = {k: v for k, v in data.items() if k in CopyResult.__dataclass_fields__}
        return CopyResult(**known)
    except (OSError, ValueError, TypeError):
        return None


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _root_pages(index: str, projects: list[str]) -> dict[str, bytes]:
    """The index's root page in both representations, listing ``projects``."""
    links = "".join(f'    <a href="{name}/">{name}</a><br>\n' for name in projects)
    html = (f"<!DOCTYPE html>\n<html>\n  <head><title>{index}: simple list (static copy)</title></head>\n"
            f"  <body>\n{links}  </body>\n</html>\n")
    data = {"meta": {"api-version": "1.0"}, "projects": [{"name": name} for name in projects]}
    return {HTML: html.encode(), JSON: json.dumps(data).encode()}


class _Copier:
    """One refresh from one source."""

    def __init__(self, client, source: str, folder: Path, outside_url: str, result: CopyResult):
        self.client, self.source, self.folder, self.result = client, source.rstrip("/"), folder, result
        self.outside_url = outside_url
        self.source_netloc = urlsplit(self.source).netloc

    def get(self, path: str, accept: str):
        import httpx

        headers = {"Accept": accept}
        if self.outside_url:
            headers["X-Outside-Url"] = self.outside_url  # absolute links then name the edge
        try:
            response = self.client.get(self.source + path, headers=headers)
        except httpx.HTTPError as exc:
            raise _SourceDown(f"{self.source}: {exc.__class__.__name__}: {one_line(exc)}") from None
        if response.status_code >= 500:
            raise _SourceDown(f"{self.source}{path}: HTTP {response.status_code}")
        return response

    def listing(self, index: str) -> tuple[list[str], list[str], int | None]:
        """The index's own projects (normalised), its bases, and the serial the answer was made at."""
        response = self.get(f"/{index}", "application/json")
        serial = response.headers.get("X-Devpi-Serial")
        if response.status_code != 200:
            raise _CopyError(f"{index}: HTTP {response.status_code} from {self.source}/{index}")
        try:
            result = response.json()["result"]
            names, bases = result.get("projects", []), result.get("bases", [])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise _CopyError(f"{index}: {self.source}/{index} is not a devpi index answer") from None
        projects = []
        for name in names:
            project = normalize(str(name))
            if not _PROJECT.fullmatch(project):
                self.result.errors.append(f"{index}: project name {name!r} skipped: not a valid name")
                continue
            projects.append(project)
        number = int(serial) if serial and serial.isdigit() else None
        return sorted(set(projects)), [b for b in bases if isinstance(b, str)], number

    def copy_project(self, index: str, project: str) -> bool:
        """Both pages of one project, after every file they link; False when the project is gone (404)."""
        path = f"/{index}/+simple/{project}/"
        bodies = {}
        for kind in (HTML, JSON):
            response = self.get(path, kind)
            if response.status_code == 404:
                return False
            if response.status_code != 200:
                raise _CopyError(f"{path}: HTTP {response.status_code}")
            content_type = response.headers.get("Content-Type", "")
            if kind == JSON and not content_type.startswith(JSON):
                raise _CopyError(f"{path}: {self.source} did not answer with PEP 691 JSON ({content_type})")
            bodies[kind] = (response.content, content_type)
        wanted: dict[str, str] = {}
        for body, content_type in bodies.values():
            wanted.update(self.file_links(body, content_type, path))
        for file_path, digest in sorted(wanted.items()):
            self.fetch_file(file_path, digest)
        folder = self.folder / index.lstrip("/") / "+simple" / project
        for kind, (body, _) in bodies.items():
            target = folder / PAGE_FILES[kind]
            if not _same_bytes(target, body):  # unchanged pages are not rewritten
                write_atomically(target, body)
        return True

    def file_links(self, body: bytes, content_type: str, page_path: str) -> dict[str, str]:
        """The page's links to files on the source (or the edge's public URL): path → sha256."""
        found = {}
        # links_of keeps absolute links only to the outside URL; links to the source itself count too.
        for base in {self.outside_url, self.source}:
            found.update(links_of(body, content_type, page_path, base))
        for url in _unverified_links(body, content_type):
            parts = urlsplit(urljoin(page_path, url))
            if "/+f/" in parts.path and (not parts.netloc or parts.netloc == self.source_netloc):
                if unquote(parts.path) not in found:
                    self.result.errors.append(f"{page_path}: {parts.path} has no sha256: not copied")
        for file_path in list(found):
            if not _FILE_PATH.fullmatch(file_path) or "/../" in file_path or "/./" in file_path:
                self.result.errors.append(f"{page_path}: link {file_path!r} is not a devpi file path: not copied")
                del found[file_path]
        return found

    def fetch_file(self, file_path: str, digest: str) -> None:
        """One file into the copy, once: written aside, renamed only when its sha256 matches."""
        import httpx

        target = self.folder / file_path.lstrip("/")
        if target.exists():
            return  # files never change under one path; the edge checks each when it serves it
        hasher = hashlib.sha256()
        size = 0
        with replaced(target) as out:  # kept only if the block ends without raising
            try:
                with self.client.stream("GET", self.source + file_path) as response:
                    if response.status_code >= 500:
                        raise _SourceDown(f"{self.source}{file_path}: HTTP {response.status_code}")
                    if response.status_code != 200:
                        raise _CopyError(f"{file_path}: HTTP {response.status_code}")
                    for chunk in response.iter_bytes(_CHUNK):
                        out.write(chunk)
                        hasher.update(chunk)
                        size += len(chunk)
            except httpx.HTTPError as exc:
                raise _SourceDown(f"{self.source}{file_path}: {exc.__class__.__name__}: {one_line(exc)}") from None
            if hasher.hexdigest() != digest:
                raise _CopyError(f"{file_path}: the bytes from {self.source} do not match the page's sha256: not kept")
        self.result.downloaded += 1
        self.result.downloaded_bytes += size


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _same_bytes(path: Path, body: bytes) -> bool:
    try:
        return path.stat().st_size == len(body) and path.read_bytes() == body
    except OSError:
        return False


_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def _unverified_links(body: bytes, content_type: str) -> list[str]:
    """Every link of a page, with or without a digest (to report those without one)."""
    if content_type.startswith(JSON):
        try:
            return [f["url"] for f in json.loads(body).get("files", []) if isinstance(f.get("url"), str)]
        except (ValueError, AttributeError, TypeError):
            return []
    return [href.partition("#")[0].replace("&amp;", "&") for href in _HREF.findall(body.decode("utf-8", "replace"))]



def _client(timeout: float, authorization: str = ""):
    import httpx

    # kit's rules (kit.http): no proxy from the environment, short timeouts; kept-alive
    # connections within one refresh (hundreds of small requests to one source).
    return httpx.Client(trust_env=False, follow_redirects=False,
                        headers={"Authorization": authorization} if authorization else None,
                        timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT))


def refresh(sources: list[str], indexes: list[str], folder: Path, *, outside_url: str = "",
            timeout: float = READ_TIMEOUT, force: bool = False, authorization: str = "") -> CopyResult:
    """Bring the static copy in ``folder`` up to date with the first of ``sources`` that answers.

    ``sources`` are devpi URLs in the order to try (the mirror first, then the
    master: reads off the master). ``indexes`` are the team indexes to copy
    (``TEAM/private``); each gets its own projects and those of the copied
    indexes it inherits, so a team's page lists a sibling's packages as devpi
    does. ``outside_url`` is sent as X-Outside-Url (the edge's public URL), so
    any absolute link names the edge. ``authorization``: the Authorization
    header of the edge's reader when the indexes are private. ``force`` re-reads every page even when
    the serial did not move. Never raises for a source's failure: the returned
    result (also written to ``folder/STATUS.json``) lists the errors.
    """
    started = time.monotonic()
    indexes = [check_index(i) for i in indexes]
    if not sources:
        raise ValueError("static copy: no source to copy from")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    previous = read_status(folder) or CopyResult()
    damaged = _mtime(folder / DAMAGED_FILE)
    force = force or damaged is not None
    problems: list[str] = []
    result = None
    with _client(timeout, authorization) as client:
        for source in sources:
            attempt = CopyResult(indexes=indexes, source=source.rstrip("/"), attempted_at=time.time())
            try:
                _copy_from(_Copier(client, source, folder, outside_url, attempt), indexes, previous, force)
            except _SourceDown as down:
                problems.append(str(down))
                continue
            result = attempt
            break
    if result is None:  # nobody answered: the copy stays as it was, and says why it is not newer
        result = CopyResult(**{**asdict(previous), "attempted_at": time.time(), "downloaded": 0,
                               "downloaded_bytes": 0, "unchanged": False, "errors": problems})
    else:
        result.skipped = problems  # sources that failed before this one answered: not errors of the copy
    result.seconds = round(time.monotonic() - started, 4)
    if result.ok:
        result.refreshed_at = result.attempted_at
        if damaged is not None and _mtime(folder / DAMAGED_FILE) == damaged:  # not marked again meanwhile
            _unlink(folder / DAMAGED_FILE)
    else:
        # Complete only up to the last refresh without an error.
        result.refreshed_at, result.serial = previous.refreshed_at, previous.serial
    write_atomically(folder / STATUS_FILE, (json.dumps(asdict(result), indent=2) + "\n").encode())
    return result


def _copy_from(copier: _Copier, indexes: list[str], previous: CopyResult, force: bool) -> None:
    result = copier.result
    listings: dict[str, tuple[list[str], list[str]]] = {}
    for index in indexes:
        try:
            projects, bases, serial = copier.listing(index)
        except _CopyError as exc:
            result.errors.append(str(exc))
            continue
        listings[index] = (projects, bases)
        if result.serial is None:
            result.serial = serial  # the first answer's: every page read after it is at least as new
    if (not force and previous.ok and previous.refreshed_at and previous.serial is not None
            and result.serial == previous.serial and sorted(previous.indexes) == sorted(indexes) and result.ok):
        # Nothing happened on the index since the last complete copy: the copy is current.
        result.unchanged = True
        result.projects, result.files, result.bytes = previous.projects, previous.files, previous.bytes
        return
    for index, (own, _) in listings.items():
        projects = sorted(set(own).union(*(listings[b][0] for b in _inherited(index, listings))))
        copied = []
        for project in projects:
            try:
                if copier.copy_project(index, project):
                    copied.append(project)
            except _CopyError as exc:
                result.errors.append(str(exc))
                if (copier.folder / index / "+simple" / project / PAGE_FILES[HTML]).exists():
                    copied.append(project)  # its old page stays, and so in the list
        simple = copier.folder / index / "+simple"
        for kind, body in _root_pages(index, copied).items():
            write_atomically(simple / PAGE_FILES[kind], body)
        # Gone from the index: removed after the root page stopped listing it.
        for entry in simple.iterdir():
            if entry.is_dir() and entry.name not in copied:
                shutil.rmtree(entry, ignore_errors=True)
    _count_and_collect(copier.folder, indexes, result, collect=result.ok and len(listings) == len(indexes))


def _inherited(index: str, listings: dict) -> list[str]:
    """The copied indexes ``index`` inherits from, directly or through others (devpi's bases, transitively)."""
    seen, todo = [], list(listings[index][1])
    while todo:
        base = todo.pop(0)
        if base in listings and base != index and base not in seen:
            seen.append(base)
            todo.extend(listings[base][1])
    return seen


def _count_and_collect(folder: Path, indexes: list[str], result: CopyResult, *, collect: bool) -> None:
    """Count what the copied pages link; with ``collect``, remove files no page links any more."""
    linked: set[str] = set()
    projects = 0
    for index in indexes:
        simple = folder / index / "+simple"
        if not simple.is_dir():
            continue
        for page_dir in simple.iterdir():
            page = page_dir / PAGE_FILES[JSON]
            if not page.is_file():
                continue
            projects += 1
            for kind, name in PAGE_FILES.items():
                try:
                    linked.update(links_of((page_dir / name).read_bytes(), kind, f"/{index}/+simple/{page_dir.name}/"))
                except OSError:
                    pass
    result.projects, result.files, result.bytes = projects, 0, 0
    for path in linked:
        try:
            size = (folder / path.lstrip("/")).stat().st_size
        except OSError:
            continue
        result.files += 1
        result.bytes += size
    if not collect:
        return
    for user in folder.iterdir():
        if not user.is_dir():
            continue
        for stored in user.glob("*/+f/**/*"):
            if not stored.is_file() or "/" + stored.relative_to(folder).as_posix() in linked:
                continue
            if stored.name.endswith(".part") and time.time() - stored.stat().st_mtime < 3600:
                continue  # another refresh's file in progress (a manual one beside the edge's)
            _unlink(stored)


# -- what the edge reads ---------------------------------------------------------------


@dataclass(frozen=True)
class StaticPage:
    body: bytes
    content_type: str
    age: float  # seconds since the copy's last complete refresh


@dataclass(frozen=True)
class StaticFile:
    path: Path
    size: int
    sha256: str  # what a copied page says the bytes must be


class StaticOrigin:
    """The static copy as the edge reads it: pages by representation, files
    with the sha256 a copied page gives. Read only when every HTTP origin
    failed, so nothing here is on the edge's hot path."""

    def __init__(self, folder: Path, indexes: list[str]):
        self.folder = Path(folder)
        self.indexes = [check_index(i) for i in indexes]

    def status(self) -> CopyResult | None:
        return read_status(self.folder)

    def age(self) -> float | None:
        """Seconds since the last complete refresh (before the first, since the
        latest attempt, which wrote what it could); None when there is no copy."""
        status = self.status()
        when = status and (status.refreshed_at or status.attempted_at)
        return None if not when else max(0.0, time.time() - when)

    def page(self, index: str, project: str, kind: str) -> StaticPage | None:
        if index not in self.indexes:
            return None
        age = self.age()
        if age is None:
            return None
        name = PAGE_FILES[kind]
        path = self.folder / index / "+simple" / (f"{project}/{name}" if project else name)
        try:
            body = path.read_bytes()
        except OSError:
            return None
        return StaticPage(body, _CONTENT_TYPES[kind], age)

    def file(self, path: str) -> StaticFile | None:
        """A copied file and the digest a copied page gives it (its own index's page first)."""
        project = project_of(path.rsplit("/", 1)[-1])
        if project is None or not _FILE_PATH.fullmatch(path) or "/../" in path or self.age() is None:
            return None
        own = "/".join(path.split("/")[1:3])
        for index in sorted(self.indexes, key=lambda i: i != own):
            page = self.folder / index / "+simple" / project / PAGE_FILES[JSON]
            try:
                digest = links_of(page.read_bytes(), JSON, f"/{index}/+simple/{project}/").get(path)
            except OSError:
                continue
            if digest:
                stored = self.folder / path.lstrip("/")
                try:
                    return StaticFile(stored, stored.stat().st_size, digest)
                except OSError:
                    return None
        return None

    def drop(self, stored: StaticFile) -> None:
        """Remove a copied file found corrupt: the next refresh fetches it again."""
        _unlink(stored.path)
        (self.folder / DAMAGED_FILE).touch()

    def summary(self) -> dict:
        """For /+edge/health and kit status."""
        status = self.status()
        if status is None:
            return {"state": "none yet", "folder": str(self.folder)}
        # The age of the last complete copy: what "everything published before it installs" holds for.
        age = max(0.0, time.time() - status.refreshed_at) if status.refreshed_at else None
        return {
            "state": "ok" if status.ok else "errors",
            "age": None if age is None else round(age, 1),
            "serial": status.serial, "source": status.source, "projects": status.projects,
            "files": status.files, "bytes": status.bytes, "errors": len(status.errors),
            "last_error": status.errors[-1] if status.errors else "",
            "last_attempt_seconds": status.seconds,
        }

