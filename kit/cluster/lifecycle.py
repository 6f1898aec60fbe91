"""The local cluster: start, stop and inspect a site's master, mirror, edge
(and, for a folder upstream, the local upstream).

This module says what happens in which order; what runs is
:mod:`kit.site.plan`, how it runs :mod:`kit.cluster.supervisor`, and devpi's own steps
(data folders, indexes, a replica's state) :mod:`kit.cluster.devpi`.

Everything a running cluster has lives under ``SITE/cluster/run/``: the data
folders, one log and one pid file per service. ``kit init`` never touches
that folder, and nothing here deletes data.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from kit.core import http
from kit.cluster.devpi import DevpiAPI, DevpiError, IndexPlan, configure_indexes, init_argv, init_env, sync_state
from kit.core.errors import ClusterError, SiteDirError
from kit.core.processes import free_ports, port_busy, port_holder
from kit.core.report import plural
from kit.site.plan import Service, program, services_of
from kit.site.folder import Site, find_site_root, site_command
from kit.cluster.supervisor import Probe, Supervisor

__all__ = ["Cluster", "ServiceStatus", "free_ports", "status_json"]

Say = Callable[[str], None]

#: What a service reads from as it starts: started together with one of these, it starts once
#: that one answers. devpi's replica waits 5 s after a fetch its master refused (kit up took
#: 5 s longer one run in four when both started at once); the edge copies the team indexes
#: off the mirror when it starts (off the master only when no mirror answers).
_STARTS_AFTER = {"mirror": ("master",), "shield": ("mirror",), "edge": ("mirror", "shield")}


@dataclass
class ServiceStatus:
    name: str
    role: str
    url: str
    pid: int | None
    running: bool
    healthy: bool
    detail: str = ""
    #: For the mirror: how many changes (devpi serials) it is behind the master;
    #: None when unknown (the master not answering, say).
    behind: int | None = None
    #: For a running service that is not healthy: the fix ("" otherwise).
    fix: str = ""
    #: It accepts connections but does not answer: calls through it cost a timeout.
    hung: bool = False
    #: Healthy, but working in a lesser mode, and why: kit's edge (or shield)
    #: whose cache disk is full or read-only passes files through ("" otherwise).
    degraded: str = ""


class Cluster:
    """One site's cluster. Build it with :meth:`load`."""

    def __init__(self, site: Site):
        self.site = site
        self.answers = site.answers
        self.dir = site.path / "cluster"
        self.supervisor = Supervisor(self.dir, site.command)
        self.run_dir = self.supervisor.run_dir
        self.logs_dir = self.supervisor.logs_dir
        self.pids_dir = self.supervisor.pids_dir

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

    @property
    def stale(self) -> list[str]:
        """Services whose pid file was left by a process that is gone."""
        return self.supervisor.stale

    # -- the services ------------------------------------------------------

    def services(self) -> list[Service]:
        return services_of(self.answers, self.site.path)

    def service(self, name: str) -> Service:
        for service in self.services():
            if service.name == name:
                return service
        names = ", ".join(s.name for s in self.services())
        raise ClusterError(f"unknown service {name!r}; this cluster has: {names}")

    def log_path(self, name: str) -> Path:
        return self.supervisor.log_path(name)

    def pid_of(self, service: Service, *, clean: bool = True) -> int | None:
        return self.supervisor.pid_of(service, clean=clean)

    # -- commands ----------------------------------------------------------

    def up(self, say: Say = print) -> list[str]:
        """Start whatever is not running; return the names started.

        Raises :class:`ClusterError` (having stopped what it started) when a
        port is busy, a running service hangs, or a service does not become healthy.
        """
        self.stale.clear()
        started_at = time.monotonic()
        self.supervisor.prepare()
        services = self.services()
        running = {s.name: self.pid_of(s) for s in services}
        for stale in self.stale:
            say(f"cleaned a stale pid file: {stale} was not running")
        # A running service that hangs would make every step below wait on it.
        for service in services:
            pid = running[service.name]
            if pid is not None:
                probe = self.supervisor.probe(service)
                if not probe.healthy:
                    raise ClusterError(str(self.supervisor.trouble(service, pid, probe)))
        to_start = [s for s in services if running[s.name] is None]
        if not to_start:
            # Answers may have changed (a new team): bring the indexes in line.
            self._configure_master(self.service("master"))
            say(f"already up: {', '.join(s.name for s in services)} running; indexes match kit.toml; "
                f"see {self.site.command('status')}")
            return []
        if self.answers.edge == "varnish" and any(s.name == "edge" for s in to_start):
            # Before anything starts: no varnishd, or a VCL it cannot load, is one line, not a dead edge.
            from kit.cluster.varnish import VCL_FILE, check_vcl

            check_vcl(self.dir / VCL_FILE, fix=self.site.command("init", "--no-input"))
        if any(s.name in ("master", "mirror") for s in to_start):
            # Before anything starts: a neighbour's pip install (setuptools 82 has no
            # pkg_resources) would otherwise surface as devpi-init's traceback line.
            from kit.core.environment import devpi_problem

            problem = devpi_problem()
            if problem:
                raise ClusterError(problem)
        busy = [s for s in to_start if port_busy(s.bind, s.port)]
        if busy:
            raise ClusterError(self._busy_message(busy[0]))
        env = service_env(os.environ)
        self._init_data([s.name for s in to_start], env, say)
        starting = {s.name for s in to_start}
        waits_for = {s.name: [d for d in _STARTS_AFTER.get(s.name, ()) if d in starting] for s in to_start}
        procs = {}
        answering: set[str] = set()

        def start_ready() -> None:
            """Start each service whose origins (those starting with it) answer by now."""
            for service in to_start:
                if service.name not in procs and all(d in answering for d in waits_for[service.name]):
                    procs[service.name] = self.supervisor.start(service, env)
                    say(f"{service.name:8} starting on {service.url} ({service.role})")

        try:
            start_ready()
            for service in to_start:  # an origin comes before the services that wait for it
                self.supervisor.wait_healthy(service, procs[service.name])
                answering.add(service.name)
                if service.name == "master":
                    start_ready()  # the mirror starts while the master is configured
                    self._configure_master(service)
                say(f"{service.name:8} healthy after {time.monotonic() - started_at:.1f} s")
                start_ready()
            if "mirror" in procs or "master" in procs:
                self._wait_mirror_in_sync(say)
        except BaseException:
            self.supervisor.stop({name: proc.pid for name, proc in procs.items()})
            raise
        say(f"cluster up in {time.monotonic() - started_at:.1f} s; clients use {self.service('edge').url}")
        return list(procs)

    def _init_data(self, names: list[str], env: dict, say: Say) -> None:
        """devpi-init the data folders that do not exist yet (master and mirror in parallel)."""
        jobs = []
        for name, config in (("master", "master.yml"), ("mirror", "mirror.yml")):
            if name not in names or (self.run_dir / name).exists():
                continue
            primary = name == "master"
            argv = init_argv(program("devpi-init"), config, primary=primary,
                             own_root_pypi=self.answers.mirror_url is not None)
            # The admin password travels in the environment, never on a command line.
            job_env = init_env(env, self.answers.admin_password if primary else None)
            jobs.append((name, self.supervisor.spawn(name, argv, job_env, detached=False)))
            say(f"{name:8} creating its data folder run/{name}")
        for name, proc in jobs:
            code = proc.wait()
            if code != 0:
                raise ClusterError(f"{name}: devpi-init failed (exit {code}): {self.supervisor.last_line(name)}; "
                                   f"see {self.site.command('logs', name)}")

    def _configure_master(self, service: Service) -> None:
        """root/pypi, root/names and one private index per team, as the answers say; safe to repeat."""
        api = DevpiAPI(service.url)
        try:
            api.login("root", self.answers.admin_password)
        except DevpiError as exc:
            if "HTTP 401" not in str(exc):
                raise ClusterError(f"master: {exc}; see {self.site.command('logs', 'master')}") from None
            raise ClusterError(
                "master: the admin password in kit.toml is not the master's; put the old one back "
                f"({self.site.command('init', '--set', 'admin_password=OLD')}) or, with the cluster down, change the "
                f"master's: cd {self.dir} && devpi-passwd -c master.yml root"
            ) from None
        try:
            configure_indexes(api, IndexPlan.from_answers(self.answers))
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
        shown = "an unknown number of changes" if behind is None else plural(behind, "change")
        say(f"warning: the mirror is still {shown} behind the master; see {self.site.command('status')}")

    def _devpi_status(self, name: str) -> dict | None:
        """A devpi service's ``/+status`` result, or None when it does not answer in time."""
        port = self.answers.master_port if name == "master" else self.answers.mirror_port
        answer = http.get(f"http://127.0.0.1:{port}/+status")
        payload = answer.json() if answer.ok else None
        return payload.get("result") if isinstance(payload, dict) else None

    def mirror_lag(self) -> int | None:
        """How many changes the mirror has not applied yet (None if unknown, e.g. the master not answering)."""
        mirror = self._devpi_status("mirror")
        if mirror is None:
            return None
        return sync_state(mirror, self._devpi_status("master")).behind

    def down(self, say: Say = print) -> list[str]:
        """Stop every running service, all at once; return the names stopped (edge first)."""
        self.stale.clear()
        self.supervisor.check_folders()
        running = {}
        for service in reversed(self.services()):
            pid = self.pid_of(service)
            if pid is not None:
                running[service.name] = pid
        self.supervisor.stop(running)
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
        """Each service's state; every look is bounded, so a hung service costs seconds, never a hang."""
        self.stale.clear()
        self.supervisor.check_folders()
        rows = []
        probes: dict[str, Probe | None] = {}
        for service in self.services():
            stale_before = len(self.stale)
            pid = self.pid_of(service, clean=False)  # status only looks; kit up and down clean
            probe = self.supervisor.probe(service) if pid is not None else None
            probes[service.name] = probe
            healthy = probe is not None and probe.healthy
            trouble = self.supervisor.trouble(service, pid, probe) if probe is not None and not healthy else None
            if len(self.stale) > stale_before:
                detail = "stale pid file: the process is gone"
            else:
                detail = str(trouble) if trouble else ""
            behind = None
            if service.name == "mirror" and healthy:
                master_probe = probes.get("master")
                master_ok = master_probe is not None and master_probe.healthy
                master_state = "not answering" if master_probe is not None else "not running"
                state = sync_state(self._devpi_status("mirror"), self._devpi_status("master") if master_ok else None,
                                   master_state)
                behind, detail = state.behind, state.detail
            degraded = ""
            if healthy and isinstance(probe.body, dict) and probe.body.get("edge") == "degraded":
                degraded = str(probe.body.get("reason") or "degraded")
                detail = f"degraded: {degraded}"
            if service.name == "edge" and healthy and not detail:
                body = probe.body
                if self.answers.edge == "varnish" and isinstance(body, dict):
                    from kit.cluster.varnish import counters

                    body = {**body, **counters(self.site.path)}
                detail = f"{service.role}; {edge_summary(body)}"
            rows.append(ServiceStatus(
                service.name, service.role, service.url, pid, pid is not None, healthy, detail, behind,
                fix=trouble.fix if trouble else "", hung=bool(trouble and trouble.hung), degraded=degraded,
            ))
        return rows

    def wait_ready(self, timeout: float = 30.0) -> list[ServiceStatus]:
        """Status once every running service is healthy and, with the master healthy, the mirror
        in sync (or at the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.status()
            by_name = {r.name: r for r in rows}
            master_ok = "master" in by_name and by_name["master"].healthy
            ready = all(r.healthy for r in rows if r.running) and all(
                r.behind == 0 for r in rows if r.name == "mirror" and r.healthy and master_ok
            )
            if ready or time.monotonic() >= deadline:
                return rows
            time.sleep(0.1)


#: Loopback names, for NO_PROXY: the services reach each other there.
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def service_env(environ) -> dict[str, str]:
    """The services' environment: the user's, without devpi settings (the
    config files say everything), and with loopback exempt from any proxy.

    A proxy may be how the master reaches the upstream, so it is kept; but the
    mirror must reach the master on 127.0.0.1 directly.
    """
    env = {k: v for k, v in environ.items() if not k.startswith("DEVPISERVER_")}
    for key in ("NO_PROXY", "no_proxy"):
        present = [name.strip() for name in env.get(key, "").split(",") if name.strip()]
        env[key] = ",".join(present + [name for name in _LOOPBACK if name not in present])
    return env


#: The edge's counters as ``kit status`` words them: counter → (one, many).
_COUNTER_WORDS = {
    "hits": ("hit", "hits"),
    "misses": ("miss", "misses"),
    "stale": ("stale answer", "stale answers"),
    "passes": ("pass", "passes"),
    "integrity_failures": ("integrity failure", "integrity failures"),
}


def _counted(key: str, value) -> str:
    one, many = _COUNTER_WORDS[key]
    return plural(value, one, many) if isinstance(value, int) else f"{value} {many}"


def edge_summary(health) -> str:
    """One line of the edge's counters (its health answer carries them)."""
    if not isinstance(health, dict):
        return "no stats"
    if health.get("edge") == "varnish":
        # Varnish's counters (from varnishstat) and its view of the origins (its health probes).
        counts = {k: health[k] for k in ("hits", "misses", "stale", "passes") if k in health}
        origins = health.get("origins") if isinstance(health.get("origins"), dict) else {}
        seen = ", ".join(f"{name} {'up' if up else 'DOWN'}" for name, up in origins.items())
        line = ", ".join(_counted(k, v) for k, v in counts.items()) or "no counters (varnishstat not found)"
        return f"{line}; origins: {seen}" if seen else line
    counts = {k: health.get(k, 0) for k in ("hits", "misses", "stale", "passes", "integrity_failures")}
    line = ", ".join(_counted(k, v) for k, v in counts.items())
    copy = health.get("static_copy")
    return f"{line}; {static_copy_summary(copy)}" if isinstance(copy, dict) else line


def static_copy_summary(copy: dict) -> str:
    """``static copy: refreshed 12 s ago (serial 40, 3 projects, 5 files)``, and the last error if any."""
    if copy.get("age") is None:
        text = "static copy: none yet"
    else:
        text = (f"static copy: refreshed {copy['age']:.0f} s ago (serial {copy.get('serial')}, "
                f"{plural(copy.get('projects', 0), 'project')}, {plural(copy.get('files', 0), 'file')})")
    if copy.get("errors"):
        text += f", last refresh: {plural(copy['errors'], 'error')} ({copy.get('last_error', '')})"
    return text


def status_json(rows: list[ServiceStatus]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2)
