"""Every process's command line, watched while something runs: a secret there is readable
by every user of the machine (``ps``), so none may ever appear in one."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path


def cmdlines() -> dict[int, tuple[int, bytes]]:
    """Every process now: pid → (parent pid, command line)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
                parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            found[int(proc.name)] = (parent, cmdline)
    return found


@contextlib.contextmanager
def watched_cmdlines():
    """Scan /proc again and again (in a thread) while the block runs; yields the list of every
    distinct command line seen, filled when the block ends (at least one full scan after it)."""
    seen: set[bytes] = set()
    stop = threading.Event()
    scans = [0]

    def scan() -> None:
        while not stop.is_set():
            seen.update(cmdline for _, cmdline in cmdlines().values())
            scans[0] += 1

    thread = threading.Thread(target=scan, daemon=True)
    found: list[bytes] = []
    thread.start()
    try:
        yield found
    finally:
        stop.set()
        thread.join()
        seen.update(cmdline for _, cmdline in cmdlines().values())
        found.extend(sorted(seen))
        assert scans[0] > 0


def leaked(found: list[bytes], secrets: dict[str, str]) -> list[str]:
    """The names of the ``secrets`` (name → value) that some command line in ``found`` holds."""
    return sorted(name for name, value in secrets.items() if value and any(value.encode() in c for c in found))
