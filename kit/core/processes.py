"""Processes and ports on this machine: is a pid alive, who holds a port,
wait for a started server to answer, stop process groups quickly. Linux ``/proc`` is read where it exists; without
it, kit trusts pid files and says less about who holds a port.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from kit.core import http
from kit.core.wait import wait_until

__all__ = ["alive", "port_busy", "port_holder", "free_ports", "stop_groups", "wait_answering", "Holder",
           "system_program"]


def alive(pid: int) -> bool:
    """Is ``pid`` a running process? A zombie (exited, not yet reaped) is not."""
    try:
        # Reap it if it is our own finished child, so it does not linger as a zombie.
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A service detached by an earlier `kit up` is reaped by init, which may
    # take seconds (or never, in a container): a zombie must count as gone.
    return _state(pid) not in ("Z", "X")


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "?"
    return stat.rsplit(")", 1)[-1].split()[0]


def cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None


def cwd_of(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def port_busy(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        # As servers do: a port held only by closed connections (TIME_WAIT) is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_ports(count: int) -> list[int]:
    """``count`` different ports that are free on loopback right now.

    They are drawn below Linux's ephemeral range (32768 and up), where the
    kernel never puts the local end of an outgoing connection, so a port
    chosen now is still free when a server binds it a moment later.
    """
    ports: set[int] = set()
    while len(ports) < count:
        port = random.randrange(20000, 32000)
        if port not in ports and not port_busy("127.0.0.1", port):
            ports.add(port)
    return sorted(ports)


@dataclass(frozen=True)
class Holder:
    """The process listening on a port."""

    pid: int
    program: str  # a short name: "devpi-server", "nginx", "python3 -m http.server"
    cwd: Path | None


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(inode)
    return inodes


def port_holder(port: int) -> Holder | None:
    """The process listening on ``port``, when this user may see it."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            links = {os.readlink(fd) for fd in (proc / "fd").iterdir()}
        except OSError:
            continue
        if links & wanted:
            pid = int(proc.name)
            return Holder(pid, _program(cmdline(pid) or "?"), cwd_of(pid))
    return None


def _program(command: str) -> str:
    """``/x/.venv/bin/python3 /x/.venv/bin/devpi-server -c m.yml`` → ``devpi-server``."""
    words = command.split()
    if not words:
        return "?"
    names = [Path(w).name for w in words]
    if names[0].startswith("python") and len(names) > 1:
        if names[1] == "-m" and len(names) > 2:
            return f"python -m {names[2]}"
        if not names[1].startswith("-"):
            return names[1]  # the script: devpi-server, not python
    return names[0]


def stop_groups(pids: list[int], timeout: float = 5.0) -> None:
    """Stop the process groups led by ``pids``: SIGTERM all at once, SIGKILL what is left at ``timeout``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        living = [pid for pid in pids if alive(pid)]
        for pid in living:
            try:
                os.killpg(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        if wait_until(lambda: not any(alive(pid) for pid in living), timeout, 0.02):
            return


def wait_answering(proc: subprocess.Popen, url: str, timeout: float, *, exited: Callable[[int], BaseException],
                   silent: Callable[[], BaseException]) -> None:
    """Return once the server ``proc`` just started answers ``url`` with 200 (its health URL).

    Raise ``exited(code)`` as soon as it exits, ``silent()`` when it has not
    answered within ``timeout`` seconds: the caller's error, naming its log.
    """

    def answering() -> bool:
        if proc.poll() is not None:
            raise exited(proc.returncode)
        return http.get(url, timeout=1.0).ok

    wait_until(answering, timeout, 0.05, fail=silent)


#: Where Debian puts programs a normal user's PATH may lack (varnishd and nginx are in sbin).
_SYSTEM_FOLDERS = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin")


def system_program(name: str) -> str | None:
    """A program from the system's packages (varnishd, nginx, wrk), or None when it is not installed."""
    found = shutil.which(name)
    if found:
        return found
    return next((path for path in (f"{folder}/{name}" for folder in _SYSTEM_FOLDERS) if os.access(path, os.X_OK)),
                None)
