"""How much disk each part of a site uses, for ``kit status`` and ``kit check``:
the bytes in the part's folder and how full its filesystem is, with a warning
and its fix at :data:`WARN_AT` or more.

Kept fast on a large mirror: the filesystem's numbers come from one
``statvfs`` each (exact, instant); a part's own bytes come from a walk of
its folder that stops after :data:`WALK_CAP` entries and then says "at
least" (devpi keeps every mirrored file as its own file, and counting a
mirror of a million files would cost minutes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from kit.core.report import byte_size
from kit.site.answers import Answers
from kit.site.plan import disk_parts

__all__ = ["DiskUse", "WARN_AT", "WALK_CAP", "disk_use", "disk_warnings", "folder_bytes", "PART_NAMES"]

#: A filesystem this full (used share, as df counts it) gets a warning.
WARN_AT = 80.0
#: At most this many folder entries are counted per part.
WALK_CAP = 20_000

#: The parts, as the lines name them.
PART_NAMES = {"master": "master data", "mirror": "mirror data", "edge_cache": "edge cache",
              "public_mirror": "public mirror", "logs": "logs"}


@dataclass(frozen=True)
class DiskUse:
    part: str  # a key of PART_NAMES
    folder: Path
    bytes: int  # in the part's folder (at least, when not ``counted_all``)
    counted_all: bool
    mount: str  # the mount point of the folder's filesystem
    used_percent: float  # of that filesystem, as df shows it
    #: The part's own bound in bytes (the edge cache's edge_cache_size), 0 for none.
    bound: int = 0

    @property
    def name(self) -> str:
        return PART_NAMES[self.part]

    def line(self) -> str:
        """``edge cache  3.2 MiB of 10.0 GiB  on / (43% used)``"""
        size = ("" if self.counted_all else "at least ") + byte_size(self.bytes, binary=True)
        if self.bound:
            size += f" of {byte_size(self.bound, binary=True)}"
        return f"{self.name}: {size} on {self.mount} ({self.used_percent:.0f}% used)"



def folder_bytes(folder: Path, cap: int = WALK_CAP) -> tuple[int, bool]:
    """The bytes of the files under ``folder`` and whether all were counted (False past
    ``cap`` entries); (0, True) for a folder that is not there (yet)."""
    total, seen, stack = 0, 0, [str(folder)]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                seen += 1
                if seen > cap:
                    return total, False
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
    return total, True


def mount_of(path: Path) -> Path:
    """The mount point of the filesystem ``path`` (or its nearest existing parent) is on."""
    path = Path(os.path.abspath(path))
    while not path.exists():
        path = path.parent
    while not os.path.ismount(path):
        path = path.parent
    return path


def used_percent(path: Path, statvfs: Callable = os.statvfs) -> float:
    """How full ``path``'s filesystem is, as df counts it: used / (used + free for users)."""
    st = statvfs(path)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    room = used + st.f_bavail * st.f_frsize
    return 100.0 * used / room if room else 0.0


def part_folders(site_path: Path, answers: Answers) -> dict[str, Path]:
    """The folders of the parts this site (or host bundle) keeps on this machine, as the edge's
    metrics name them (:func:`kit.site.plan.disk_parts`, relative to SITE/cluster)."""
    cluster = Path(site_path) / "cluster"
    return {part: Path(os.path.normpath(cluster / folder)) for part, folder in disk_parts(answers).items()}


def disk_use(site_path: Path, answers: Answers, statvfs: Callable = os.statvfs,
             cap: int = WALK_CAP) -> list[DiskUse]:
    """Each part's disk use (``statvfs`` is ``os.statvfs``; a test passes its own)."""
    uses = []
    for part, folder in part_folders(site_path, answers).items():
        mount = mount_of(folder)
        size, counted_all = folder_bytes(folder, cap)
        uses.append(DiskUse(part, folder, size, counted_all, str(mount), used_percent(mount, statvfs),
                            answers.edge_cache_bytes if part == "edge_cache" else 0))
    return uses


def _fix(part: str, command: Callable[..., str]) -> str:
    return {
        "master": f"remove mirrored PyPI files nobody fetched lately: {command('prune', '--older-than', '90')}",
        "mirror": f"prune the master (the mirror follows it): {command('prune', '--older-than', '90')}",
        "edge_cache": "lower edge_cache_size (kit init --set edge_cache_size=2G, then kit down and kit up)",
        "public_mirror": "mirror fewer projects (mirror_projects), then kit mirror sync",
        "logs": "the logs are bounded (4 × 10 MiB a service); free room elsewhere",
    }[part]


def disk_warnings(uses: list[DiskUse], command: Callable[..., str]) -> list[tuple[str, str]]:
    """(problem, fix) for each filesystem at :data:`WARN_AT` % or more, naming its parts, largest first."""
    warnings = []
    for mount in dict.fromkeys(use.mount for use in uses):
        on_it = sorted((use for use in uses if use.mount == mount), key=lambda use: -use.bytes)
        percent = on_it[0].used_percent
        if percent < WARN_AT:
            continue
        parts = ", ".join(f"{use.name} {byte_size(use.bytes, binary=True)}" for use in on_it)
        warnings.append((f"the disk of {mount} is {percent:.0f}% used (at least {WARN_AT:.0f}%: it may fill); "
                         f"on it: {parts}",
                         "; or ".join(dict.fromkeys(_fix(use.part, command) for use in on_it))))
    return warnings
