"""The local cluster: start, stop and inspect a site's master, mirror, edge
(and, for a folder upstream, the local upstream) as detached processes.

Everything a running cluster has lives under ``SITE/cluster/run/``: the data
folders, one log and one pid file per service. ``kit init`` never touches
that folder, and nothing here deletes data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from kit.answers import upstream_is_folder
from kit.exceptions import ClusterError, SiteDirError
from kit.processes import alive as _alive
from kit.processes import cmdline, free_ports, port_busy, port_holder, stop_groups
from kit.site import Site, find_site_root, site_command

__all__ = ["Cluster", "ServiceStatus", "free_ports"]

Say = Callable[[str], None]


@dataclass(frozen=True)
class Service:
    name: str
    role: str
    port: int
    url: str  # what users see
    health_path: str
    argv: tuple[str, ...]
    marker: str  # a word of its command line, to tell our process from a reused pid
    bind: str = "127.0.0.1"

    @property
    def health_url(self) -> str:
        host = "127.0.0.1" if self.bind == "0.0.0.0" else self.bind
        return f"http://{host}:{self.port}{self.health_path}"


@dataclass
class ServiceStatus:
    name: str
    role: str
    url: str
    pid: int | None
    running: bool
    healthy: bool
    detail: str = ""
    #: For the mirror: how many changes (devpi serials) it is behind the master.
    behind: int | None = None


def _bin(name: str) -> str:
    """A console script of kit's own environment (where devpi-server was installed with kit)."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        raise ClusterError(f"{name} is not installed; install kit with its dependencies: pip install pkgindex-kit")
    return found


def _http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


class Cluster:
    """One site's cluster. Build it with :meth:`load`."""

    def __init__(self, site: Site):
        self.site = site
        self.answers = site.answers
        self.dir = site.path / "cluster"
        self.run_dir = self.dir / "run"
        self.logs_dir = self.run_dir / "logs"
        self.pids_dir = self.run_dir / "pids"
        #: Services whose pid file was left by a process that is gone.
        self.stale: list[str] = []

    @classmethod
    def load(cls, site_dir: Path | None = None) -> "Cluster":
        """The cluster of the site at or above ``site_dir`` (default: the current folder)."""
        site = Site.find(site_dir)
        if "cluster" not in site.answers.setups or not (site.path / "cluster").is_dir():
            raise SiteDirError(
                f"{site} has no cluster; add it with: "
                + site.command("init", "--set", "setups=" + ",".join((*site.answers.setups, "cluster")))
            )
        return cls(site)

    # -- the services ------------------------------------------------------

    def services(self) -> list[Service]:
        a = self.answers
        py = sys.executable
        found = []
        if upstream_is_folder(a.upstream):
            found.append(Service(
                "upstream", "local upstream: the upstream folder as a simple index", a.upstream_port,
                f"http://127.0.0.1:{a.upstream_port}/simple/", "/simple/",
                (py, "-m", "kit.upstream", a.upstream, "--host", "127.0.0.1", "--port", str(a.upstream_port)),
                "kit.upstream",
            ))
        found += [
            Service("master", "devpi primary: indexes, uploads", a.master_port, f"http://127.0.0.1:{a.master_port}",
                    "/+api", (_bin("devpi-server"), "-c", "master.yml"), "master.yml"),
            Service("mirror", "devpi replica of the master", a.mirror_port, f"http://127.0.0.1:{a.mirror_port}",
                    "/+api", (_bin("devpi-server"), "-c", "mirror.yml"), "mirror.yml"),
            Service("edge", "CDN edge: caching proxy clients use", a.edge_port, a.base_url,
                    "/+edge/health", (py, "-m", "kit.edge", "edge.json"), "kit.edge", a.bind_host),
        ]
        return found

    def service(self, name: str) -> Service:
        for service in self.services():
            if service.name == name:
                return service
        names = ", ".join(s.name for s in self.services())
        raise ClusterError(f"unknown service {name!r}; this cluster has: {names}")

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def _pid_path(self, name: str) -> Path:
        return self.pids_dir / f"{name}.pid"

    # -- processes ---------------------------------------------------------

    def pid_of(self, service: Service, *, clean: bool = True) -> int | None:
        """The pid of the running service, or None.

        A pid file whose process is gone (or is now another program) is
        stale: noted in :attr:`stale`, and removed when ``clean``.
        """
        path = self._pid_path(service.name)
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            return None
        pid = int(text) if text.isdigit() else None
        if pid is not None and _alive(pid) and _is_ours(pid, service.marker):
            return pid
        if clean:
            path.unlink()
        self.stale.append(f"{service.name} (pid {text or '?'})")
        return None

    def _start(self, service: Service, env: dict) -> subprocess.Popen:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.pids_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path(service.name), "ab") as log:
            log.write(f"\n--- kit up: {' '.join(service.argv)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                service.argv, cwd=self.dir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # detached: it outlives `kit up` and is stopped as a group
            )
        self._pid_path(service.name).write_text(f"{proc.pid}\n")
        return proc

    def _stop(self, pids: dict[str, int]) -> None:
        """Stop these services (name → pid) together and forget their pid files."""
        stop_groups(list(pids.values()))
        for name in pids:
            self._pid_path(name).unlink(missing_ok=True)

    # -- commands ----------------------------------------------------------

    def up(self, say: Say = print) -> list[str]:
        """Start whatever is not running; return the names started.

        Raises :class:`ClusterError` (having stopped what it started) when a
        port is busy or a service does not become healthy.
        """
        self.stale = []
        started_at = time.monotonic()
        services = self.services()
        running = {s.name: self.pid_of(s) for s in services}
        for stale in self.stale:
            say(f"cleaned a stale pid file: {stale} was not running")
        to_start = [s for s in services if running[s.name] is None]
        if not to_start:
            # Answers may have changed (a new team): bring the indexes in line.
            self._configure_master(self.service("master"))
            say(f"already up: {', '.join(s.name for s in services)} running; indexes match kit.toml; "
                f"see {self.site.command('status')}")
            return []
        busy = [s for s in to_start if port_busy(s.bind, s.port)]
        if busy:
            raise ClusterError(self._busy_message(busy[0]))
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEVPISERVER_")}
        self._init_data([s.name for s in to_start], env, say)
        procs: dict[str, subprocess.Popen] = {}
        try:
            for service in to_start:
                procs[service.name] = self._start(service, env)
                say(f"{service.name:8} starting on {service.url} ({service.role})")
            for service in [s for s in services if s.name in procs]:
                self._wait_healthy(service, procs[service.name])
                if service.name == "master":
                    self._configure_master(service)
                say(f"{service.name:8} healthy after {time.monotonic() - started_at:.1f} s")
            if "mirror" in procs or "master" in procs:
                self._wait_mirror_in_sync(say)
        except BaseException:
            self._stop({name: proc.pid for name, proc in procs.items()})
            raise
        say(f"cluster up in {time.monotonic() - started_at:.1f} s; clients use {self.service('edge').url}")
        return list(procs)

    def _init_data(self, names: list[str], env: dict, say: Say) -> None:
        """devpi-init the data folders that do not exist yet (master and mirror in parallel)."""
        jobs = []
        for name, config in (("master", "master.yml"), ("mirror", "mirror.yml")):
            if name not in names or (self.run_dir / name).exists():
                continue
            argv = [_bin("devpi-init"), "-c", config]
            if name == "master":
                # "--opt=value": a password that starts with "-" must not read as an option
                argv.append(f"--root-passwd={self.answers.admin_password}")
                if self.answers.mirror_url is not None:
                    argv.append("--no-root-pypi")  # kit creates root/pypi with the site's upstream
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            log = open(self.log_path(name), "ab")
            jobs.append((name, subprocess.Popen(argv, cwd=self.dir, env=env, stdout=log, stderr=subprocess.STDOUT), log))
            say(f"{name:8} creating its data folder run/{name}")
        for name, proc, log in jobs:
            code = proc.wait()
            log.close()
            if code != 0:
                raise ClusterError(f"{name}: devpi-init failed (exit {code}): {self._last_line(name)}; "
                                   f"see {self.site.command('logs', name)}")

    def _wait_healthy(self, service: Service, proc: subprocess.Popen, timeout: float = 60.0) -> None:
        url = service.health_url
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ClusterError(
                    f"{service.name} exited with code {proc.returncode} while starting: "
                    f"{self._last_line(service.name)}; see {self.site.command('logs', service.name)}"
                )
            if _http_ok(url, timeout=1.0):
                return
            time.sleep(0.05)
        raise ClusterError(f"{service.name} did not answer {url} within {timeout:.0f} s; "
                           f"see {self.site.command('logs', service.name)}")

    def _configure_master(self, service: Service) -> None:
        """root/pypi and one private index per team, as the answers say; safe to repeat."""
        from kit.devpi import DevpiAPI, DevpiError

        api = DevpiAPI(service.url)
        a = self.answers
        try:
            api.login("root", a.admin_password)
        except DevpiError:
            raise ClusterError(
                "master: the admin password in kit.toml is not the master's; put the old one back "
                f"({self.site.command('init', '--set', 'admin_password=OLD')}) or, with the cluster down, change the "
                f"master's: cd {self.dir} && devpi-passwd -c master.yml root"
            ) from None
        try:
            if a.mirror_url is not None:
                api.ensure_index("root/pypi", {"type": "mirror", "mirror_url": a.mirror_url, "title": "Upstream mirror"})
            if "private" in a.setups:
                for team in a.teams:
                    api.ensure_user(team, a.team_password(team))
                    api.ensure_index(
                        f"{team}/private",
                        {"type": "stage", "bases": ["root/pypi"], "mirror_whitelist": [], "volatile": False},
                    )
        except DevpiError as exc:
            raise ClusterError(f"master: setting up the indexes failed: {exc}; see {self.site.command('logs', 'master')}") from None

    def _wait_mirror_in_sync(self, say: Say, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        behind = None
        while time.monotonic() < deadline:
            behind = self.mirror_lag()
            if behind == 0:
                return
            time.sleep(0.1)
        say(f"warning: the mirror is still {behind} changes behind the master; see {self.site.command('status')}")

    def mirror_lag(self) -> int | None:
        """How many changes the mirror has not applied yet (None if unknown)."""
        mirror = _devpi_status(self.answers.mirror_port)
        if mirror is None:
            return None
        primary = _devpi_status(self.answers.master_port)
        # With the master gone, the mirror's last word from it is the best we have.
        primary_serial = primary["serial"] if primary else mirror.get("primary-serial")
        try:
            return int(primary_serial) - int(mirror["serial"])
        except (KeyError, TypeError, ValueError):
            return None

    def down(self, say: Say = print) -> list[str]:
        """Stop every running service, all at once; return the names stopped (edge first)."""
        self.stale = []
        running = {}
        for service in reversed(self.services()):
            pid = self.pid_of(service)
            if pid is not None:
                running[service.name] = pid
        self._stop(running)
        for name, pid in running.items():
            say(f"{name:8} stopped (pid {pid})")
        for stale in self.stale:
            say(f"cleaned a stale pid file: {stale} was not running")
        return list(running)

    def _busy_message(self, service: Service) -> str:
        """Who holds a service's port, and the fix: kit down for a kit site, else another port."""
        key = "upstream_port" if service.name == "upstream" else f"{service.name}_port"
        other_port = self.site.command("init", "--set", f"{key}=N")
        holder = port_holder(service.port)
        if holder is None:
            who = "another program listens there"
        else:
            who = f"{holder.program} (pid {holder.pid}) listens there"
            # kit's services run in SITE/cluster: name the site, whose kit down frees it.
            site_root = find_site_root(holder.cwd) if holder.cwd is not None and holder.cwd.name == "cluster" else None
            if site_root is not None and site_root != self.site.path:
                return (f"port {service.port} ({service.name}) is busy: {who}, started by the kit site "
                        f"{site_root}; stop that cluster with: {site_command(site_root, 'down')}; nothing was started")
        return (f"port {service.port} ({service.name}) is busy: {who}; stop it, or pick another port with: "
                f"{other_port}; nothing was started")

    def status(self) -> list[ServiceStatus]:
        self.stale = []
        rows = []
        for service in self.services():
            stale_before = len(self.stale)
            pid = self.pid_of(service, clean=False)  # status only looks; kit up and down clean
            healthy = pid is not None and _http_ok(service.health_url)
            detail = "stale pid file: the process is gone" if len(self.stale) > stale_before else ""
            lag = self.mirror_lag() if service.name == "mirror" and healthy else None
            if lag is not None:
                detail = "in sync with the master" if lag == 0 else f"{lag} changes behind the master"
            rows.append(ServiceStatus(service.name, service.role, service.url, pid, pid is not None, healthy, detail, lag))
        return rows

    def wait_ready(self, timeout: float = 30.0) -> list[ServiceStatus]:
        """Status once every running service is healthy and the mirror in sync (or at the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.status()
            ready = all(r.healthy for r in rows if r.running) and all(
                r.behind == 0 for r in rows if r.name == "mirror" and r.healthy
            )
            if ready or time.monotonic() >= deadline:
                return rows
            time.sleep(0.1)

    def _last_line(self, name: str) -> str:
        try:
            lines = [l for l in self.log_path(name).read_text(errors="replace").splitlines() if l.strip()]
        except FileNotFoundError:
            return "no log"
        return lines[-1][-200:] if lines else "empty log"


def _devpi_status(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/+status", timeout=2) as response:
            return json.loads(response.read())["result"]
    except (OSError, ValueError, KeyError):
        return None


def status_json(rows: list[ServiceStatus]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2)


def _is_ours(pid: int, marker: str) -> bool:
    """Guard against a pid reused by another program after a crash."""
    command = cmdline(pid)
    return command is None or marker in command  # no /proc: trust the pid file
