"""A service's log, bounded: what a service writes to its standard output
goes through a pipe to this small program, which appends it to ``NAME.log``
and, before that file would pass ``max_bytes``, renames it ``NAME.log.1``
(``.1`` to ``.2``, ..., the oldest beyond ``keep`` removed) and starts a new one.

A pipe rather than a copy-and-truncate by whoever looks now and then: every
byte the service wrote is on disk as soon as it is written (nothing is lost
between a copy and a truncate), and the log is bounded whether or not
anything looks. So at most ``max_bytes × (keep + 1)`` bytes are on disk, and
the newest lines, the ones a failure report shows, are always in ``NAME.log``.

The program ends when the pipe is closed (the service and all its children
are gone); it ignores SIGTERM, SIGINT and SIGHUP, so that stopping the
service's process group does not lose the last lines the service writes on
its way out.

Run as ``python -m kit.core.rotating_log LOG MAX_BYTES KEEP`` with the pipe as
its standard input (:mod:`kit.cluster.supervisor` does).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

__all__ = ["RotatingLog", "copy_to", "MAX_BYTES", "KEEP"]

#: Each service's log is renamed at this size...
MAX_BYTES = 10 * 1024**2
#: ...and this many renamed logs are kept (``NAME.log.1`` the newest).
KEEP = 3


class RotatingLog:
    """``path``, appended to, turned over before it would pass ``max_bytes``."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES, keep: int = KEEP):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.keep = keep
        self._fd = self._open()
        self.size = os.fstat(self._fd).st_size
        #: Bytes that could not be written (a full disk).
        self.dropped = 0

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def write(self, data: bytes) -> None:
        while data and self.size + len(data) > self.max_bytes:
            # Cut at the last line end that fits, so a line is not split between two files
            # (a line longer than the whole bound is cut at the bound).
            room = self.max_bytes - self.size
            cut = data.rfind(b"\n", 0, room) + 1 if room > 0 else 0
            if not cut and not self.size:
                cut = self.max_bytes
            self._write(data[:cut])
            data = data[cut:]
            self.rotate()
            if self.size:
                break  # the log could not be turned over (see rotate): it goes on where it is
        self._write(data)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError:
            # A full disk: these lines are lost, the service is not (a reader that stopped
            # reading would fill the pipe and stop the service on its next write).
            self.dropped += len(view)
        self.size += len(data) - len(view)

    def rotate(self) -> None:
        os.close(self._fd)
        try:
            oldest = self.path.with_name(f"{self.path.name}.{self.keep}")
            oldest.unlink(missing_ok=True)
            for n in range(self.keep - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{n}")
                if older.exists():
                    older.rename(self.path.with_name(f"{self.path.name}.{n + 1}"))
            if self.keep:
                self.path.rename(self.path.with_name(f"{self.path.name}.1"))
            else:
                self.path.unlink(missing_ok=True)
        except OSError:
            pass  # the folder will not change now: the log goes on where it is
        finally:
            self._fd = self._open()
            self.size = os.fstat(self._fd).st_size

    def close(self) -> None:
        os.close(self._fd)


def copy_to(source: int, log: RotatingLog, chunk: int = 64 * 1024) -> None:
    """Copy what is read from the file descriptor ``source`` into ``log`` until its end."""
    while block := os.read(source, chunk):
        log.write(block)


def main(argv: list[str]) -> int:
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    path, max_bytes, keep = argv
    log = RotatingLog(Path(path), int(max_bytes), int(keep))
    try:
        copy_to(sys.stdin.fileno(), log)
    finally:
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
