"""kit's one lock: a lock file that one process holds at a time (the public
mirror's sync holds one per site).

The lock is :mod:`filelock`'s (``flock`` on Linux, as bandersnatch locks): the
kernel lets it go when the holder exits, killed or not, so a crash never leaves
a lock to remove by hand. filelock empties the lock file as it tries it, so the
holder's pid is kept beside it (``sync.lock`` → ``sync.pid``): a refusal names
who holds the lock.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable, Iterator

from kit.core.files import write_atomically

__all__ = ["held", "is_held", "holder_of"]


def _pid_file(lock: Path) -> Path:
    return lock.with_suffix(".pid")


def holder_of(lock: Path) -> str:
    """The pid of the process that holds ``lock``, as its pid file says ("?" when it does not say)."""
    try:
        text = _pid_file(lock).read_text().strip()
    except OSError:
        return "?"
    return text if text.isdigit() else "?"


@contextlib.contextmanager
def held(lock: Path, busy: Callable[[str], BaseException]) -> Iterator[None]:
    """Hold the lock file ``lock`` for the block, or raise ``busy(pid)`` at once
    when another process holds it (``pid``: the holder's, "?" when unknown)."""
    from filelock import FileLock, Timeout  # 20-50 ms (it loads asyncio): imported by the commands that lock

    lock = Path(lock)
    file_lock = FileLock(lock)
    try:
        file_lock.acquire(blocking=False)
    except Timeout:
        raise busy(holder_of(lock)) from None
    try:
        write_atomically(_pid_file(lock), f"{os.getpid()}\n")
        yield
    finally:
        _pid_file(lock).unlink(missing_ok=True)
        file_lock.release()  # filelock removes the lock file too


def is_held(lock: Path) -> bool:
    """Does a process hold ``lock`` right now? Looking never waits, and makes no folder."""
    lock = Path(lock)
    if not lock.exists():
        return False  # the holder keeps the file while it holds the lock
    from filelock import FileLock, Timeout

    file_lock = FileLock(lock)
    try:
        file_lock.acquire(blocking=False)
    except Timeout:
        return True
    except OSError:
        return False  # a folder we cannot write to: nobody here holds it
    file_lock.release()
    return False
