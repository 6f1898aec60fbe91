"""How a cluster's services run: detached processes with a pid file and a
log each under ``SITE/cluster/run/``, stopped as process groups, watched
through their health URLs.

Everything under ``run/`` is the owner's alone: devpi's databases hold
password hashes, the logs hold request lines. The folders are made 0700 and
every process kit starts there runs with umask 077, so what it creates is
0600/0700 too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from kit.core import http
from kit.core.errors import ClusterError
from kit.core.processes import alive, cmdline, stop_groups, wait_answering
from kit.site.plan import Service

__all__ = ["Supervisor", "Probe", "Trouble", "PRIVATE_UMASK", "HEALTHY", "UNHEALTHY"]

#: Files and folders created by kit's services: for their owner only.
PRIVATE_UMASK = 0o077

HEALTHY = "healthy"
UNHEALTHY = "unhealthy"  # it answered, but not 200


@dataclass(frozen=True)
class Probe:
    """One look at a service's health URL."""

    #: :data:`HEALTHY`, :data:`UNHEALTHY`, or how the call failed (:data:`kit.core.http.HUNG`, ``REFUSED``, ``BROKEN``).
    state: str
    #: Why it is not healthy, in words ("" when healthy).
    reason: str = ""
    #: The health URL's body as JSON, when it was JSON.
    body: Any = None
    timeout: float = http.READ_TIMEOUT

    @property
    def healthy(self) -> bool:
        return self.state == HEALTHY


@dataclass(frozen=True)
class Trouble:
    """A running service that is not healthy: the problem and the fix, for one line."""

    problem: str
    fix: str
    #: It accepts connections but does not answer: every call to it costs a timeout.
    hung: bool = False

    def __str__(self) -> str:
        return f"{self.problem}; {self.fix}"


class Supervisor:
    """The processes of one cluster, run from ``folder`` (``SITE/cluster``).

    ``command`` writes a kit command line for the site (``kit logs SITE master``),
    for the fixes messages name.
    """

    def __init__(self, folder: Path, command: Callable[..., str]):
        self.folder = folder
        self.run_dir = folder / "run"
        self.logs_dir = self.run_dir / "logs"
        self.pids_dir = self.run_dir / "pids"
        self.command = command
        #: Services whose pid file was left by a process that is gone.
        self.stale: list[str] = []
        #: The log writers of the services this supervisor started (name → process).
        self._writers: dict[str, subprocess.Popen] = {}

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def pid_path(self, name: str) -> Path:
        return self.pids_dir / f"{name}.pid"

    # -- folders ---------------------------------------------------------------

    def check_folders(self) -> None:
        """Raise :class:`ClusterError` when a file stands where run/, logs/ or pids/ must be a folder."""
        for folder in (self.run_dir, self.logs_dir, self.pids_dir):
            if folder.exists() and not folder.is_dir():
                raise ClusterError(
                    f"{folder} is a file, but kit keeps the cluster's data, logs and pid files in a folder there; "
                    f"move the file aside, then run: {self.command('up')}"
                )

    def prepare(self) -> None:
        """Make run/, logs/ and pids/ (mode 0700), or raise :class:`ClusterError` naming what is in the way."""
        self.check_folders()
        for folder in (self.run_dir, self.logs_dir, self.pids_dir):
            try:
                folder.mkdir(mode=0o700, exist_ok=True)
                folder.chmod(0o700)  # also a folder an older kit made 0755
            except OSError as exc:
                raise ClusterError(f"cannot make {folder} ({exc.strerror or exc}); make it a folder you can write to, "
                                   f"then run: {self.command('up')}") from None

    def _open_log(self, name: str) -> int:
        path = self.log_path(name)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)
        return fd

    # -- processes --------------------------------------------------------------

    def pid_of(self, service: Service, *, clean: bool = True) -> int | None:
        """The pid of the running service, or None.

        A pid file whose process is gone (or is now another program) is
        stale: noted in :attr:`stale`, and removed when ``clean``.
        """
        path = self.pid_path(service.name)
        try:
            text = path.read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except IsADirectoryError:
            raise ClusterError(f"{path} is a folder, not a pid file; remove it, then run: {self.command('up')}") from None
        pid = int(text) if text.isdigit() else None
        if pid is not None and alive(pid) and _is_ours(pid, service.marker):
            return pid
        if clean:
            path.unlink()
        self.stale.append(f"{service.name} (pid {text or '?'})")
        return None

    def spawn(self, name: str, argv: list[str] | tuple[str, ...], env: dict, *, detached: bool) -> subprocess.Popen:
        """Run ``argv`` from the cluster folder, its output appended to ``name``'s log, with umask 077."""
        fd = self._open_log(name)
        try:
            # The log names the program, never its environment (devpi-init's holds the admin password).
            os.write(fd, f"\n--- kit up: {' '.join(argv)}\n".encode())
            return subprocess.Popen(
                list(argv), cwd=self.folder, env=env, stdin=subprocess.DEVNULL, stdout=fd, stderr=subprocess.STDOUT,
                umask=PRIVATE_UMASK,
                start_new_session=detached,  # detached: it outlives `kit up` and is stopped as a group
            )
        finally:
            os.close(fd)

    def start(self, service: Service, env: dict) -> subprocess.Popen:
        """Start ``service`` detached and write its pid file. Its output goes through a pipe
        to its log's writer (:mod:`kit.core.rotating_log`), which keeps the log bounded."""
        read_end, write_end = os.pipe()
        try:
            os.write(write_end, f"\n--- kit up: {' '.join(service.argv)}\n".encode())
            proc = subprocess.Popen(
                list(service.argv), cwd=self.folder, env=env, stdin=subprocess.DEVNULL, stdout=write_end,
                stderr=subprocess.STDOUT, umask=PRIVATE_UMASK,
                start_new_session=True,  # it outlives `kit up` and is stopped as a group
            )
            self._writers[service.name] = self._start_writer(service.name, read_end, proc.pid)
        finally:
            os.close(read_end)
            os.close(write_end)
        fd = os.open(self.pid_path(service.name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as pid_file:
            pid_file.write(f"{proc.pid}\n")
        return proc

    def _start_writer(self, name: str, read_end: int, group: int) -> subprocess.Popen:
        """The log writer of service ``name`` (pid ``group``), in the service's process group: kit
        down's signal reaches it too, and it ends once the service's last process closed the pipe."""
        # The log's name, not its path, on the command line: a command line is world-readable, a site's path
        # is nobody else's business. It runs in the logs folder, so it is found among the site's processes.
        argv = [sys.executable, "-m", "kit.core.rotating_log", self.log_path(name).name, str(LOG_MAX_BYTES),
                str(LOG_KEEP)]
        options = dict(stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, umask=PRIVATE_UMASK,
                       cwd=self.logs_dir)
        try:
            return subprocess.Popen(argv, process_group=group, **options)
        except PermissionError:  # the service is gone already (its group with it): the writer drains the pipe alone
            return subprocess.Popen(argv, start_new_session=True, **options)

    def drained(self, name: str, timeout: float = 2.0) -> None:
        """Wait (at most ``timeout`` seconds) until the log writer of ``name``, which has exited,
        has written its last lines."""
        writer = self._writers.get(name)
        if writer is not None:
            try:
                writer.wait(timeout)
            except subprocess.TimeoutExpired:
                pass

    def stop(self, pids: dict[str, int]) -> None:
        """Stop these services (name → pid) together and forget their pid files."""
        stop_groups(list(pids.values()))
        for name in pids:
            self.pid_path(name).unlink(missing_ok=True)

    # -- health ---------------------------------------------------------------------

    def probe(self, service: Service, timeout: float = http.READ_TIMEOUT) -> Probe:
        """One bounded look at ``service``'s health URL (a service without one, keepalived,
        is healthy while it runs: it is only looked at when its pid is alive)."""
        if not service.health_path:
            return Probe(HEALTHY, timeout=timeout)
        answer = http.get(service.health_url, timeout=timeout)
        body = answer.json() if answer.status else None
        if answer.ok:
            return Probe(HEALTHY, body=body, timeout=timeout)
        if answer.status:
            reason = body.get("reason") if isinstance(body, dict) and body.get("reason") else answer.describe()
            return Probe(UNHEALTHY, reason, body, timeout)
        return Probe(answer.failure, answer.describe(), timeout=timeout)

    def trouble(self, service: Service, pid: int, probe: Probe) -> "Trouble":
        """What is wrong with a running service that is not healthy, and the fix."""
        logs = self.command("logs", service.name)
        fix = f"see {logs}, or restart with {self.command('down')} then {self.command('up')}"
        if probe.state == http.HUNG:
            return Trouble(f"{service.name} (pid {pid}) accepts connections but does not answer within "
                           f"{probe.timeout:g} s — stopped or overloaded", fix, hung=True)
        if probe.state == http.REFUSED:
            return Trouble(f"{service.name} (pid {pid}) is running but refuses connections on port {service.port}", fix)
        return Trouble(f"{service.name} (pid {pid}) is unhealthy: {probe.reason}", fix)

    def wait_healthy(self, service: Service, proc: subprocess.Popen, timeout: float = 60.0) -> None:
        """Return once ``service`` answers its health URL; raise :class:`ClusterError` if it exits or never does."""
        logs = self.command("logs", service.name)
        if not service.health_path:
            # Nothing to ask: it is up once it has not exited within its first moments
            # (a configuration it refuses ends it at once).
            try:
                code = proc.wait(STARTUP_GRACE)
            except subprocess.TimeoutExpired:
                return
            self.drained(service.name)
            raise ClusterError(f"{service.name} exited with code {code} while starting: "
                               f"{self.last_line(service.name)}; see {logs}")
        wait_answering(
            proc, service.health_url, timeout,
            exited=lambda code: self.drained(service.name) or ClusterError(f"{service.name} exited with code {code} while starting: "
                                             f"{self.last_line(service.name)}; see {logs}"),
            silent=lambda: ClusterError(f"{service.name} did not answer {service.health_url} within {timeout:.0f} s; "
                                        f"see {logs}"),
        )

    def last_line(self, name: str) -> str:
        try:
            lines = [l for l in self.log_path(name).read_text(errors="replace").splitlines() if l.strip()]
        except OSError:
            return "no log"
        return lines[-1][-200:] if lines else "empty log"


#: Seconds a service without a health URL must keep running to count as started.
STARTUP_GRACE = 0.5

#: Each service's log under run/logs/ is turned over at this size, and this many old ones kept:
#: at most 40 MiB a service (kit.core.rotating_log).
LOG_MAX_BYTES = 10 * 1024**2
LOG_KEEP = 3


def _is_ours(pid: int, marker: str) -> bool:
    """Guard against a pid reused by another program after a crash."""
    command = cmdline(pid)
    return command is None or marker in command  # no /proc: trust the pid file
