"""``kit mirror verify``: every file of every project page checked against the
sha256 the page publishes; names each missing or corrupt file, changes nothing.

Each ``.metadata`` a page advertises (``data-core-metadata``, ``core-metadata``:
:mod:`kit.mirror.metadata` writes them) is checked too: against the sha256 each
page gives for it, and, when its wheel matched its own page, against the
METADATA inside that wheel. That costs a look at the wheel's zip directory and
one small member, next to the whole wheel already read for its sha256.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from kit.core.core_metadata import METADATA_SUFFIX, CoreMetadataError, declared_metadata_hashes, metadata_from_wheel
from kit.core.errors import MirrorError, one_line
from kit.core.report import plural
from kit.mirror.progress import Progress, quiet
from kit.mirror.record import page_files, project_pages
from kit.site.plan import MirrorPaths

__all__ = ["VerifyResult", "verify_mirror"]


@dataclass
class VerifyResult:
    projects: int = 0
    files: int = 0
    bytes: int = 0
    metadata: int = 0  # .metadata files checked
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_mirror(site_dir: Path, *, say: Progress = quiet) -> VerifyResult:
    """Check every file of every project page against the sha256 the page publishes.

    Names each missing or corrupt file and each page that cannot be read;
    never changes anything.
    """
    paths = MirrorPaths.of(site_dir)
    result = VerifyResult()
    if not (paths.web / "simple").is_dir():
        raise MirrorError(f"{paths.web} holds no mirror yet; run kit mirror sync first")
    web = paths.web.resolve()
    for page_dir in project_pages(paths.web):
        result.projects += 1
        try:
            files = page_files(page_dir)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            result.problems.append(f"unreadable page: simple/{page_dir.name}/ ({one_line(exc)})")
            continue
        verified: set[str] = set()  # the URLs (no fragment) whose file matched its page
        for url, expected in files:
            target = (page_dir / urllib.parse.unquote(url.split("#", 1)[0])).resolve()
            shown = os.path.relpath(target, web)
            if web not in target.parents:
                result.problems.append(f"outside the mirror: {url} (listed by {page_dir.name})")
                continue
            result.files += 1
            try:
                with open(target, "rb") as handle:
                    digest = hashlib.file_digest(handle, "sha256").hexdigest()
                result.bytes += target.stat().st_size
            except FileNotFoundError:
                result.problems.append(f"missing: {shown} (listed by {page_dir.name})")
                continue
            except OSError as exc:
                result.problems.append(f"unreadable: {shown} ({exc.strerror})")
                continue
            if not expected:
                result.problems.append(f"no sha256 on the page: {shown} (listed by {page_dir.name})")
            elif digest != expected:
                result.problems.append(f"corrupt: {shown} (sha256 {digest[:12]}…, its page says {expected[:12]}…)")
            else:
                verified.add(url.split("#", 1)[0])
            if result.files % 500 == 0:
                say(f"checked {plural(result.files, 'file')}")
        _verify_metadata(page_dir, web, verified, result)
    return result


def _declared(page_dir: Path) -> dict[str, set[str]]:
    """URL → the sha256 values the project's pages (HTML and JSON alike) give its core metadata."""
    declared: dict[str, set[str]] = {}
    for name, content_type in (("index.html", "text/html"), ("index.v1_html", "text/html"),
                               ("index.v1_json", "application/json")):
        try:
            body = (page_dir / name).read_bytes()
        except OSError:
            continue  # not written (simple-format HTML or JSON only); page_files named an unreadable page
        for url, digest in declared_metadata_hashes(body, content_type).items():
            declared.setdefault(url, set()).add(digest)
    return declared


def _verify_metadata(page_dir: Path, web: Path, verified: set[str], result: VerifyResult) -> None:
    """Each advertised ``.metadata`` of one project against its pages, and against its wheel when that matched."""
    for url, digests in sorted(_declared(page_dir).items()):
        wheel = (page_dir / urllib.parse.unquote(url)).resolve()
        if web not in wheel.parents:
            continue  # named as outside the mirror with its file
        meta = wheel.with_name(wheel.name + METADATA_SUFFIX)
        shown = os.path.relpath(meta, web)
        result.metadata += 1
        try:
            data = meta.read_bytes()
        except FileNotFoundError:
            result.problems.append(f"missing: {shown} (advertised by {page_dir.name})")
            continue
        except OSError as exc:
            result.problems.append(f"unreadable: {shown} ({exc.strerror})")
            continue
        digest = hashlib.sha256(data).hexdigest()
        for expected in sorted(digests - {digest}):
            result.problems.append(f"corrupt: {shown} (sha256 {digest[:12]}…, its page says {expected[:12]}…)")
        if digests == {digest} and url in verified:
            try:
                inside = metadata_from_wheel(wheel, wheel.name)
            except (CoreMetadataError, OSError) as exc:
                result.problems.append(f"corrupt: {shown} (its wheel holds none: {one_line(exc)})")
                continue
            if inside != data:
                result.problems.append(f"corrupt: {shown} (not the METADATA its wheel holds)")
