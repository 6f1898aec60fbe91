"""Core metadata (PEP 658/714) for the public mirror, which bandersnatch 6.8 does not write.

After each sync, for every wheel of the projects whose pages bandersnatch
rewrote, kit checks the wheel against the sha256 its page gives, writes its
METADATA beside it as ``FILE.whl.metadata`` (same permissions as the wheel),
and adds the metadata's sha256 to the wheel's link on each of the project's
pages: ``data-dist-info-metadata`` and ``data-core-metadata`` in
``index.html``/``index.v1_html``, ``dist-info-metadata`` and ``core-metadata``
in ``index.v1_json``. A resolver then fetches kilobytes instead of each wheel.

Which projects: bandersnatch lists every page and file it wrote in its
"diff file" (``diff-file`` in its settings, ``run/changed-files``), so a sync
costs a look at what changed, never a walk of every project. The names read
from it wait in ``run/core-metadata.json`` until they are done, so a step that
failed or was stopped is finished by the next sync. With no such state yet (the
first sync of this kit, or ``--repair``), every project is done once.

A wheel whose bytes disagree with its page gets no ``.metadata`` and its link
stays as bandersnatch wrote it (one warning line, printed even by a quiet sync;
``kit mirror sync --repair`` downloads it again). Every file is replaced by a
rename: a reader sees the old page or the new one, never a part.

Removed wheels: bandersnatch 6.8's ``mirror`` never deletes a file. A release
deleted upstream leaves its pages, its wheel stays on disk unlisted; a project
deleted upstream is skipped (its pages stay); one taken out of the projects is
no longer synced. Files go only when the operator runs ``bandersnatch delete
NAME`` (the files its JSON lists, not the ``.metadata`` beside them) or
``bandersnatch verify --delete`` (every file in ``packages/`` no JSON lists:
every ``.metadata`` too). So kit deletes a ``.metadata``: for a project it
does, when the wheel its page lists is gone; and whenever it does every project
(``--repair``, or the first sync of this kit), each ``.metadata`` in
``packages/`` whose wheel is gone or listed by no page (a wheel with no link
describes nothing a resolver reaches). ``kit mirror verify`` names a
``.metadata`` an advertised link lacks (after ``verify --delete``).
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from kit.core.core_metadata import METADATA_SUFFIX, CoreMetadataError, advertise, metadata_from_wheel
from kit.core.errors import one_line
from kit.core.files import replaced, write_atomically
from kit.core.report import plural
from kit.mirror.progress import Progress, quiet
from kit.mirror.record import page_files, project_pages
from kit.site.plan import MirrorPaths

__all__ = ["MetadataResult", "add_core_metadata", "changed_file_list", "changed_projects", "note_changed_projects"]

#: Each page file bandersnatch writes (simple-format ALL, HTML or JSON) and its Content-Type.
PAGE_FILES = {"index.html": "text/html", "index.v1_html": "text/html", "index.v1_json": "application/json"}


def changed_file_list(paths: MirrorPaths) -> Path:
    """Where bandersnatch lists what a sync wrote (its ``diff-file``)."""
    return paths.run / "changed-files"


def _state_file(paths: MirrorPaths) -> Path:
    return paths.run / "core-metadata.json"


@dataclass
class MetadataResult:
    projects: int = 0
    wheels: int = 0  # wheels advertised with core metadata
    written: int = 0  # .metadata files written in this run
    removed: int = 0  # .metadata files deleted: their wheel is gone or no page lists it
    pages: int = 0  # page files rewritten
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def changed_projects(listing: str, web: Path) -> set[str]:
    """The projects whose page a bandersnatch diff file (one path a line) lists."""
    web = web.resolve()
    names = set()
    for line in listing.splitlines():
        if not line.strip():
            continue
        try:
            parts = Path(line.strip()).resolve().relative_to(web).parts
        except ValueError:
            continue  # not under web/: bandersnatch's own files
        if len(parts) == 3 and parts[0] == "simple" and parts[2] in PAGE_FILES:
            names.add(parts[1])
    return names


def _read_state(paths: MirrorPaths) -> set[str] | None:
    """The projects still to do; None when no state was kept yet (every project is to do)."""
    try:
        return set(json.loads(_state_file(paths).read_text(encoding="utf-8"))["pending"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable: doing every project once is always right


def _write_state(paths: MirrorPaths, pending: set[str] | None) -> None:
    if pending is None:
        _state_file(paths).unlink(missing_ok=True)
    else:
        write_atomically(_state_file(paths), json.dumps({"pending": sorted(pending)}, indent=1) + "\n")


def note_changed_projects(paths: MirrorPaths, *, everything: bool = False) -> None:
    """Move the projects bandersnatch's last run wrote into kit's list of those still to do.

    Called after every run of bandersnatch, whatever its result, so pages it
    wrote before failing are done by the next successful sync. ``everything``
    (``--repair``) forgets the list: every project is done again.
    """
    listing = changed_file_list(paths)
    pending = None if everything else _read_state(paths)
    if pending is not None and listing.is_file():
        pending |= changed_projects(listing.read_text(encoding="utf-8", errors="replace"), paths.web)
    _write_state(paths, pending)
    listing.unlink(missing_ok=True)


def add_core_metadata(paths: MirrorPaths, say: Progress = quiet, *, recheck: bool = False,
                      warn: Progress | None = None) -> MetadataResult:
    """Write ``.metadata`` files and advertise them on the pages of every project still to do.

    With ``recheck`` (``--repair``), each ``.metadata`` already there is made
    again from its verified wheel too, and replaced when its bytes differ.
    ``warn`` gets each warning line (``say`` when not given): a quiet sync
    says nothing else but must still name a wheel that disagrees with its page.
    """
    started = time.monotonic()
    pending = _read_state(paths)
    if pending is None:
        folders = project_pages(paths.web)
    else:
        # A name is one folder of simple/: never a path out of it, whatever the state file says.
        folders = [paths.web / "simple" / name for name in sorted(pending)
                   if isinstance(name, str) and name and "/" not in name and not name.startswith(".")]
    result = MetadataResult()
    web = paths.web.resolve()
    warn = warn or say
    # Every wheel the pages list, when every page is read: what a .metadata in packages/ may describe.
    listed: set[Path] | None = set() if pending is None else None
    for folder in folders:
        if folder.is_dir():
            result.projects += 1
            if not _project(folder, web, result, warn, recheck, listed):
                listed = None  # a page not read: its wheels' .metadata are not known to be orphans
    if pending is None:
        _remove_orphans(paths.web / "packages", listed, result)
    _write_state(paths, set())
    result.seconds = time.monotonic() - started
    removed = f", {result.removed} orphaned .metadata deleted" if result.removed else ""
    say(f"core metadata: {plural(result.wheels, 'wheel')} of {plural(result.projects, 'project')} advertised, "
        f"{result.written} .metadata written, {plural(result.pages, 'page')} rewritten{removed} "
        f"in {result.seconds:.2f} s")
    return result


def _remove_orphans(packages: Path, listed: set[Path] | None, result: MetadataResult) -> None:
    """Delete each ``.metadata`` below ``packages`` whose wheel is gone or (``listed`` known) listed by no page."""
    for dirpath, _dirs, names in os.walk(packages):
        for name in names:
            if not name.endswith(".whl" + METADATA_SUFFIX):
                continue
            wheel = Path(dirpath, name[:-len(METADATA_SUFFIX)])
            if wheel.is_file() and (listed is None or wheel.resolve() in listed):
                continue
            if _remove(Path(dirpath, name)):
                result.removed += 1


def _remove(meta: Path) -> bool:
    """Delete an orphaned ``.metadata``, and its folder when that leaves it empty (as bandersnatch does)."""
    try:
        meta.unlink()
    except FileNotFoundError:
        return False
    with contextlib.suppress(OSError):
        meta.parent.rmdir()
    return True


def _project(folder: Path, web: Path, result: MetadataResult, say: Progress, recheck: bool,
             listed_wheels: set[Path] | None) -> bool:
    """One project: its wheels' ``.metadata`` made or read, then its pages rewritten.

    Adds each wheel its page lists to ``listed_wheels``; False when the page cannot be read.
    """
    try:
        listed = page_files(folder)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _warn(result, say, f"core metadata: simple/{folder.name}/ cannot be read ({one_line(exc)}); "
                           "its pages are left as they are")
        return False
    values: dict[str, str] = {}
    for url, expected in listed:
        path = unquote(url.partition("#")[0])
        if not path.rsplit("/", 1)[-1].endswith(".whl"):
            continue
        wheel = (folder / path).resolve()
        if web not in wheel.parents:
            continue  # a link out of the mirror: not kit's to describe
        if listed_wheels is not None:
            listed_wheels.add(wheel)
        value = _metadata_for(wheel, expected, result, say, recheck)
        if value is not None:
            values[path] = value
            result.wheels += 1
    if not values:
        return True

    def value_for(href: str) -> str | None:
        return values.get(unquote(html.unescape(href).partition("#")[0]))

    for name, content_type in PAGE_FILES.items():
        page = folder / name
        try:
            real = Path(os.path.realpath(page))
            body = real.read_bytes()
        except OSError:
            continue  # this format is not written (simple-format HTML or JSON only)
        rewritten = advertise(body, content_type, value_for)
        if rewritten != body:
            _replace(real, rewritten, stat.S_IMODE(real.stat().st_mode))
            result.pages += 1
    return True


def _metadata_for(wheel: Path, expected: str, result: MetadataResult, say: Progress, recheck: bool) -> str | None:
    """``sha256=HEX`` of the wheel's ``.metadata``, written first when missing; None when it cannot be vouched for."""
    target = wheel.with_name(wheel.name + METADATA_SUFFIX)
    known = None
    try:
        known = target.read_bytes()
        if not recheck and wheel.is_file():
            return f"sha256={hashlib.sha256(known).hexdigest()}"
    except FileNotFoundError:
        pass
    except OSError as exc:
        _warn(result, say, f"core metadata: {target.name} cannot be read ({exc.strerror}); not advertised")
        return None
    try:
        with open(wheel, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
            if not expected or digest != expected.lower():
                _warn(result, say, f"core metadata: {wheel.name} does not match the sha256 its page gives; "
                                   "no .metadata for it (kit mirror sync --repair downloads it again)")
                return None
            handle.seek(0)
            data = metadata_from_wheel(handle, wheel.name)
    except FileNotFoundError:
        # Not downloaded (bandersnatch said why), or deleted (bandersnatch delete): kit mirror verify names it.
        if known is not None and _remove(target):
            result.removed += 1
        return None
    except OSError as exc:
        _warn(result, say, f"core metadata: {wheel.name} cannot be read ({exc.strerror}); no .metadata for it")
        return None
    except CoreMetadataError as exc:
        _warn(result, say, f"core metadata: {one_line(exc)}; no .metadata for it")
        return None
    if data != known:
        _replace(target, data, mode)
        result.written += 1
    return f"sha256={hashlib.sha256(data).hexdigest()}"


def _replace(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` by a rename, with ``mode`` set before the name appears (the web server's user reads it)."""
    with replaced(path) as out:
        out.write(data)
        os.fchmod(out.fileno(), mode)


def _warn(result: MetadataResult, say: Progress, line: str) -> None:
    result.warnings.append(line)
    say(line)
