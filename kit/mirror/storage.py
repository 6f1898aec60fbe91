"""The mirror's storage: whether its folder can take what a sync will add, and
sizes in words for people."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from kit.core.errors import MirrorStorageError, one_line
from kit.core.report import byte_size

__all__ = ["STORAGE_MARGIN", "check_storage"]

#: Room kept free besides the estimate: pages, JSON, and the file system's own.
STORAGE_MARGIN = 64 * 1024**2


def check_storage(data: Path, needed: int) -> int:
    """Make sure ``data`` exists, is writable and has room for ``needed`` more bytes; return the free bytes.

    Raises :class:`MirrorStorageError` with the fix.
    """
    try:
        data.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=data, prefix=".kit-write-test-"):
            pass
    except OSError as exc:
        raise MirrorStorageError(f"cannot write to the mirror's storage {data} ({exc.strerror or one_line(exc)}); "
                                 "make it writable by this user, or free the path") from None
    free = shutil.disk_usage(data).free
    if needed + STORAGE_MARGIN > free:
        raise MirrorStorageError(f"the mirror needs about {byte_size(needed)} more in {data}, which has "
                                 f"{byte_size(free)} free; free some space there, or list fewer projects")
    return free

