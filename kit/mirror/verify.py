"""``kit mirror verify``: every file of every project page checked against the
sha256 the page publishes; names each missing or corrupt file, changes nothing."""

from __future__ import annotations

import hashlib
import html.parser
import json
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from kit.core.errors import MirrorError, one_line
from kit.core.report import plural
from kit.mirror.progress import Progress, quiet
from kit.mirror.record import project_pages
from kit.site.plan import MirrorPaths

__all__ = ["VerifyResult", "verify_mirror"]


@dataclass
class VerifyResult:
    projects: int = 0
    files: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [value for name, value in attrs if name == "href" and value]


def _page_files(page_dir: Path) -> list[tuple[str, str]]:
    """(url, sha256) of each file a project page lists: from its JSON page, else its HTML one.

    Raises ValueError for a page that cannot be read whole.
    """
    json_page, html_page = page_dir / "index.v1_json", page_dir / "index.html"
    if json_page.is_file():
        data = json.loads(json_page.read_text(encoding="utf-8"))
        return [(f["url"], (f.get("hashes") or {}).get("sha256", "")) for f in data["files"]]
    parser = _Links()
    parser.feed(html_page.read_text(encoding="utf-8"))
    found = []
    for href in parser.hrefs:
        url, _, fragment = href.partition("#")
        found.append((url, fragment.split("=", 1)[1] if fragment.startswith("sha256=") else ""))
    return found


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
            files = _page_files(page_dir)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            result.problems.append(f"unreadable page: simple/{page_dir.name}/ ({one_line(exc)})")
            continue
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
            if result.files % 500 == 0:
                say(f"checked {plural(result.files, 'file')}")
    return result
