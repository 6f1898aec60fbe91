"""What a sync leaves on disk: kit's record of it (``run/last-sync.json``),
bandersnatch's serial (``data/status``), and the pages and files it wrote,
read alike by the sync that writes them and by ``kit mirror status`` and
``verify``."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from kit.core.files import write_atomically

__all__ = ["SyncRecord", "count_tree", "project_pages", "read_serial"]


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
    """The files below ``folder`` and their bytes (none when it does not exist)."""
    files = size = 0
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
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
