"""Writing a file so that a reader sees the old bytes or the new ones, never a part.

The one way kit replaces a file another process may read (the static copy's
pages and files, the public mirror's sync record, the edge's settings, the
wheelhouse's README): written aside in the same folder under a name no one
else picks, then renamed over the target, which is atomic on one file
system. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

__all__ = ["replaced", "write_atomically"]


@contextlib.contextmanager
def replaced(path: Path) -> Iterator[IO[bytes]]:
    """A binary file to write; it replaces ``path`` when the block ends, and is
    removed instead when the block raises (so a check inside the block, a
    sha256 say, decides whether the bytes are kept)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def write_atomically(path: Path, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8)."""
    with replaced(path) as out:
        out.write(data.encode("utf-8") if isinstance(data, str) else data)
