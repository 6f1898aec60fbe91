"""What a sync leaves on disk: kit's record of it (``run/last-sync.json``),
bandersnatch's serial (``data/status``), and the pages and files it wrote,
read alike by the sync that writes them and by ``kit mirror status`` and
``verify``."""

from __future__ import annotations

import html.parser
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from kit.core.core_metadata import METADATA_SUFFIX
from kit.core.files import write_atomically

__all__ = ["SyncRecord", "count_tree", "page_files", "project_pages", "read_serial"]


@dataclass
class SyncRecord:
    """What the last sync did; ``run/last-sync.json``."""

    result: str  # "ok", "failed", "interrupted", "running"
    started: float
    finished: float = 0.0
    serial: int = 0
    projects: int = 0
    synced: int = 0  # projects bandersnatch wrote pages for in this run
    files: int = 0
    bytes: int = 0
    message: str = ""

    @classmethod
    def read(cls, path: Path) -> "SyncRecord | None":
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def write(self, path: Path) -> None:
        write_atomically(path, json.dumps(asdict(self), indent=1) + "\n")

    def finish(self, result: str, message: str, path: Path) -> None:
        """Record how the sync ended: ``result`` with its one-line ``message``."""
        self.result, self.message = result, message
        self.write(path)


def read_serial(data: Path) -> int:
    """bandersnatch's serial in ``data/status``; 0 before its first whole sync (or after ``--repair`` removed it)."""
    try:
        return int((data / "status").read_text().strip())
    except (OSError, ValueError):
        return 0


def count_tree(folder: Path) -> tuple[int, int]:
    """The files below ``folder`` and their bytes (none when it does not exist); not the
    ``.metadata`` kit writes beside each wheel (:mod:`kit.mirror.metadata`): files means distributions."""
    files = size = 0
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            if name.endswith(METADATA_SUFFIX):
                continue
            try:
                size += os.stat(os.path.join(dirpath, name)).st_size
                files += 1
            except OSError:
                continue
    return files, size


def project_pages(web: Path) -> list[Path]:
    """The folder of each project page under ``web/simple/``, by name; none before the first sync."""
    simple = web / "simple"
    return sorted(p for p in simple.iterdir() if p.is_dir()) if simple.is_dir() else []


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [value for name, value in attrs if name == "href" and value]


def page_files(page_dir: Path) -> list[tuple[str, str]]:
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
