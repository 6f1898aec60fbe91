"""The local cluster: start, stop and inspect a site's master, mirror, edge
(and, for a folder upstream, the local upstream).

This module says what happens in which order; what runs is planned by
:mod:`kit.site.plan`, how it runs is :mod:`kit.cluster.supervisor`'s, the steps
of ``kit up`` (checks first, devpi's data folders and indexes, services started
in order) are :mod:`kit.cluster.starting`'s, what ``kit status`` shows
:mod:`kit.cluster.status`'s, and devpi's own calls :mod:`kit.cluster.devpi`'s.

Everything a running cluster has lives under ``SITE/cluster/run/``: the data
folders, one log and one pid file per service. ``kit init`` never touches
that folder, and nothing here deletes data.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from kit.cluster.devpi import SyncState, sync_state
from kit.cluster.starting import (
    Starting, check_before_start, check_running, configure_master, init_data, service_env,
)
from kit.cluster.status import (
    ServiceStatus, StatusRows, devpi_status, devpi_status_and_trouble, edge_summary, static_copy_summary, status_json,
)
from kit.cluster.supervisor import Supervisor
from kit.core.errors import ClusterError, SiteDirError
from kit.core.processes import free_ports
from kit.core.report import plural
from kit.core.wait import wait_until
from kit.site.folder import Site
from kit.site.plan import PUBLIC_MIRROR, MirrorPaths, Service, services_of

#: How long kit up, and a drill before it starts, wait for the mirror to catch up: the master's
#: changes, then their files (a file whose first download failed is tried again after 11 s).
MIRROR_CATCH_UP_SECONDS = 15.0

__all__ = ["MIRROR_CATCH_UP_SECONDS", "Cluster", "ServiceStatus", "free_ports", "status_json", "edge_summary",
           "static_copy_summary", "service_env"]

Say = Callable[[str], None]


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
        master = site.answers.host_of("master")
        if master is not None and not site.is_bundle:
            # A site spread over hosts: what works on "the cluster" (tokens, checks, drills) works
            # on the master's part; kit up, down and status take each host (kit.cluster.hosts).
            from kit.site.bundles import bundle_dir

            site = Site.load(bundle_dir(site.path, master.name))
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
        if not services:
            raise ClusterError(f"{self.site} runs nothing itself: it is spread over hosts; start one host's part "
                               f"with {self.site.command('up', '--host', 'NAME')}")
        if any(s.name == PUBLIC_MIRROR for s in services):
            # What the public mirror's host serves exists before its first sync (an empty mirror).
            MirrorPaths.of(self.site.path).web.mkdir(parents=True, exist_ok=True)
        running = {s.name: self.pid_of(s) for s in services}
        for stale in self.stale:
            say(f"cleaned a stale pid file: {stale} was not running")
        check_running(self.supervisor, services, running)
        to_start = [s for s in services if running[s.name] is None]
        if not to_start:
            # Answers may have changed (a new team): bring the indexes in line.
            runs_master = any(s.name == "master" for s in services)
            if runs_master:
                configure_master(self.site, self.service("master"))
            say(f"already up: {', '.join(s.name for s in services)} running"
                + ("; indexes match kit.toml" if runs_master else "") + f"; see {self.site.command('status')}")
            return []
        check_before_start(self.site, to_start)
        from kit.cluster.varnish import exporter_off

        if exporter_off(self.answers):
            say(f"warning: {exporter_off(self.answers)}")
        env = service_env(os.environ)
        init_data(self.site, self.supervisor, [s.name for s in to_start], env, say)
        starting = Starting(self.supervisor, to_start, env, say)
        try:
            starting.run(started_at, lambda master: configure_master(self.site, master))
            if self.answers.runs("mirror") and ("mirror" in starting.procs or "master" in starting.procs):
                self._wait_mirror_in_sync(say)
        except BaseException:
            self.supervisor.stop({name: proc.pid for name, proc in starting.procs.items()})
            raise
        took = f"{time.monotonic() - started_at:.1f} s"
        if self.answers.is_multi_host:
            say(f"host {self.answers.this_host} up in {took}: {', '.join(s.name for s in services)}; "
                f"the whole site: {self.site_command('status')}")
        else:
            say(f"cluster up in {took}; clients use {self.service('edge').url}")
        return list(starting.procs)

    def site_command(self, subcommand: str) -> str:
        """A command for the whole site: from a bundle in SITE/hosts/NAME/, the site folder's."""
        if self.site.is_bundle:
            parent = self.site.path.parent.parent
            from kit.site.folder import is_site_root, site_command

            if is_site_root(parent):
                return site_command(parent, subcommand)
        return self.site.command(subcommand)

    def _wait_mirror_in_sync(self, say: Say, timeout: float = MIRROR_CATCH_UP_SECONDS) -> None:
        state = wait_until(self.mirror_sync, timeout, 0.1, accept=lambda state: state.in_sync)
        if not state.in_sync:
            if state.behind:
                shown = plural(state.behind, "change") + " behind the master"
            elif state.behind is None:
                shown = "an unknown number of changes behind the master"
            else:
                shown = f"not in sync with the master ({state.detail})"
            say(f"warning: the mirror is still {shown}; see {self.site.command('status')}")

    def mirror_sync(self) -> SyncState:
        """How the mirror stands against the master: changes not applied yet (None if
        unknown, e.g. the master not answering) and files not downloaded yet."""
        mirror, trouble = devpi_status_and_trouble(self.answers, "mirror")
        return sync_state(mirror, devpi_status(self.answers, "master"), mirror_trouble=trouble)

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

    def status(self) -> list[ServiceStatus]:
        """Each service's state; every look is bounded, so a hung service costs seconds, never a hang."""
        self.stale.clear()
        self.supervisor.check_folders()
        rows = StatusRows(self.site, self.supervisor)
        return [rows.row(service) for service in self.services()]

    def wait_ready(self, timeout: float = 30.0) -> list[ServiceStatus]:
        """Status once every running service is healthy and, with the master healthy, the mirror
        in sync (or at the timeout)."""
        return wait_until(self.status, timeout, 0.1, accept=_ready)


def _ready(rows: list[ServiceStatus]) -> bool:
    """Every running service healthy and, with the master healthy, the mirror in sync."""
    by_name = {r.name: r for r in rows}
    master_ok = "master" in by_name and by_name["master"].healthy
    return all(r.healthy for r in rows if r.running) and all(
        r.in_sync for r in rows if r.name == "mirror" and r.healthy and master_ok
    )
