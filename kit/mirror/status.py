"""``kit mirror status``: what the mirror holds, and when and how it was last
synced, read from what the last sync left (a sync that was killed reads as
interrupted)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from kit.core.locks import is_held
from kit.core.report import plural
from kit.mirror.record import SyncRecord, count_tree, project_pages, read_serial
from kit.core.report import byte_size
from kit.site.plan import MirrorPaths

__all__ = ["MirrorStatus", "mirror_status"]


@dataclass
class MirrorStatus:
    record: SyncRecord | None
    serial: int
    projects: int
    files: int
    bytes: int
    web: Path

    def as_dict(self) -> dict:
        """For ``kit mirror status --json``."""
        return {"serial": self.serial, "projects": self.projects, "files": self.files, "bytes": self.bytes,
                "last_sync": asdict(self.record) if self.record else None, "web": str(self.web)}

    def summary(self, now: float | None = None) -> str:
        """One line: what is mirrored, and when and how it was last synced."""
        size = f"{plural(self.projects, 'project')}, {plural(self.files, 'file')}, {byte_size(self.bytes)}"
        if self.record is None:
            return f"never synced ({size}); run kit mirror sync"
        age = _age((now or time.time()) - (self.record.finished or self.record.started))
        last = {"ok": "synced", "failed": "last sync failed", "interrupted": "last sync interrupted",
                "running": "sync running since"}.get(self.record.result, self.record.result)
        when = f"{age} ago" if self.record.result != "running" else age
        return f"{last} {when} (serial {self.serial}; {size})"


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def mirror_status(site_dir: Path) -> MirrorStatus:
    """What ``site_dir``'s mirror holds and what its last sync recorded."""
    paths = MirrorPaths.of(site_dir)
    record = SyncRecord.read(paths.record)
    if record is not None and record.result == "running" and not is_held(paths.lock):
        record.result = "interrupted"  # the sync was killed before it could say so
    files, size = count_tree(paths.web / "packages")
    return MirrorStatus(record, read_serial(paths.data), len(project_pages(paths.web)), files, size, paths.web)
