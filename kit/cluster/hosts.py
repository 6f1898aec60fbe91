"""A site spread over hosts, seen from its folder: each host's part is its bundle
(``SITE/hosts/NAME/``, see :mod:`kit.site.bundles`), run by a :class:`~kit.cluster.lifecycle.Cluster`
of its own; ``kit status SITE`` asks every host's services over the network.

Hosts start in the order their parts read from each other: the master's host first,
then the public mirror's, the mirrors', the edges', the balancers' last. ``kit up SITE``
and ``kit down SITE`` run every host's part only when every host is on this machine
(loopback addresses, as in the tutorial); on real machines each host runs its own.
"""

from __future__ import annotations

import ipaddress
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from kit.cluster.devpi import sync_state
from kit.cluster.lifecycle import Cluster
from kit.cluster.status import edge_summary
from kit.core import http
from kit.core.errors import ClusterError, SiteDirError
from kit.site.bundles import HOSTS_DIR, bundle_dir
from kit.site.folder import SITE_TLS, Site
from kit.site.hosts import Host
from kit.site.plan import Service, services_of

__all__ = ["SiteHosts", "HostRow", "ROLE_ORDER", "host_cluster"]

Say = Callable[[str], None]

#: The order hosts start in, by their first role in it (and stop in, reversed).
ROLE_ORDER = ("master", "public-mirror", "mirror", "edge", "balancer")
#: Each look at a service over the network: all of them together stay under a second.
PROBE_TIMEOUT = 0.8


def host_cluster(site: Site, name: str) -> Cluster:
    """The cluster of host ``name``'s part: its bundle in the site folder, or ``site`` itself
    when it is that host's bundle (copied to its machine)."""
    answers = site.answers
    if site.is_bundle:
        if name != answers.this_host:
            raise SiteDirError(f"{site} is the bundle of host {answers.this_host!r}, not {name!r}; "
                               f"leave out --host, or name {answers.this_host}")
        return Cluster(site)
    if not answers.is_multi_host:
        raise SiteDirError(f"{site} runs on one host (its kit.toml has no hosts table); leave out --host")
    if name not in {host.name for host in answers.hosts}:
        known = ", ".join(host.name for host in answers.hosts)
        raise SiteDirError(f"{site} has no host {name!r}; its hosts are: {known}")
    folder = bundle_dir(site.path, name)
    try:
        return Cluster(Site.load(folder))
    except SiteDirError:
        raise SiteDirError(f"{site} has no bundle for host {name!r} ({HOSTS_DIR}/{name}/); write it with: "
                           f"{site.command('init', '--no-input')}") from None


@dataclass
class HostRow:
    """One service of one host, as ``kit status SITE`` shows it."""

    host: str
    address: str
    name: str
    url: str
    healthy: bool
    detail: str
    behind: int | None = None
    #: For a mirror: every change applied and every file of them downloaded.
    in_sync: bool | None = None
    #: Whether it answered at all (from another machine, a pid says nothing).
    running: bool = False


class SiteHosts:
    """The hosts of a site spread over hosts, from the site folder."""

    def __init__(self, site: Site):
        if not site.answers.is_multi_host or site.is_bundle:
            raise ValueError("SiteHosts takes a site folder with a hosts table")
        self.site = site
        self.answers = site.answers

    def start_order(self) -> list[Host]:
        return sorted(self.answers.hosts, key=lambda host: min(ROLE_ORDER.index(role) for role in host.roles))

    @property
    def on_this_machine(self) -> bool:
        """Whether every host is an address of this machine's loopback (the tutorial's laptop)."""
        return all(ipaddress.ip_address(host.address).is_loopback for host in self.answers.hosts)

    def _refuse_remote(self, verb: str) -> None:
        if not self.on_this_machine:
            raise ClusterError(
                f"{self.site}'s hosts are other machines: {verb} each host's part on its machine with kit "
                f"{verb} BUNDLE (the copy of {HOSTS_DIR}/NAME/), or here with "
                f"{self.site.command(verb, '--host', 'NAME')}")

    def up(self, say: Say = print) -> list[str]:
        """Start every host's part, in order (all on this machine); the services started, as HOST/NAME."""
        self._refuse_remote("up")
        started_at = time.monotonic()
        started = []
        for host in self.start_order():
            say(f"host {host.name} ({host.address}): {', '.join(host.roles)}")
            started += [f"{host.name}/{name}" for name in host_cluster(self.site, host.name).up(say=say)]
        say(f"site up in {time.monotonic() - started_at:.1f} s on {len(self.answers.hosts)} hosts; clients use "
            f"{self.answers.base_url}")
        return started

    def down(self, say: Say = print) -> list[str]:
        """Stop every host's part, balancers first (all on this machine); the services stopped."""
        self._refuse_remote("down")
        stopped = []
        for host in reversed(self.start_order()):
            stopped += [f"{host.name}/{name}" for name in host_cluster(self.site, host.name).down(say=say)]
        return stopped

    def services(self) -> list[tuple[Host, Service]]:
        """Every host's services, hosts in start order."""
        return [(host, service) for host in self.start_order()
                for service in services_of(self.answers.for_host(host.name), bundle_dir(self.site.path, host.name))]

    def status(self, timeout: float = PROBE_TIMEOUT) -> list[HostRow]:
        """Every service of every host, asked over the network at once (each look bounded by ``timeout``)."""
        if self.answers.site_ca:
            http.trust(str(self.site.path / SITE_TLS["ca"]))
        # keepalived answers nothing over the network; the floating address row says where it is.
        pairs = [(host, service) for host, service in self.services() if service.health_path]
        devpis = [("master", self.answers.address_of("master"), self.answers.master_port)]
        devpis += [("mirror", host.address, self.answers.mirror_port) for host in self.answers.hosts_with("mirror")]
        with ThreadPoolExecutor(max_workers=min(32, len(pairs) + len(devpis))) as pool:
            probes = [pool.submit(self._probe, service, timeout) for _host, service in pairs]
            states = {address: pool.submit(_devpi_status, address, port, timeout) for _n, address, port in devpis}
            floating = pool.submit(self._floating, timeout) if self.answers.floating_address else None
            answers = [probe.result() for probe in probes]
            devpi = {address: state.result() for address, state in states.items()}
        master = devpi.get(self.answers.address_of("master"))
        rows = []
        for (host, service), answer in zip(pairs, answers):
            body = answer.json() if answer.status else None
            detail = "" if answer.ok else answer.describe()
            behind = in_sync = None
            if answer.ok and service.name == "mirror":
                state = sync_state(devpi.get(host.address), master, "not answering")
                behind, detail, in_sync = state.behind, state.detail, state.in_sync
            elif answer.ok and service.name == "edge":
                detail = edge_summary(body)
            rows.append(HostRow(host.name, host.address, service.name, service.url, answer.ok,
                                detail or service.role, behind, in_sync, running=bool(answer.status)))
        if floating is not None:
            rows.append(floating.result())
        return rows

    def _floating(self, timeout: float) -> HostRow:
        """The floating address: whether it answers, and which balancer holds it (haproxy names
        itself in every answer's X-Kit-Balancer)."""
        from kit.site.answers import netloc
        from kit.site.balancer import BALANCER_HEADER

        address = self.answers.floating_address
        url = f"{self.answers.scheme}://{netloc(address, self.answers.edge_port)}"
        answer = http.get(f"{url}/+edge/health", timeout=timeout, tls_name=self.answers.host if self.answers.tls else "")
        holder = answer.headers.get(BALANCER_HEADER.lower(), "") if answer.status else ""
        detail = (f"held by {holder}" if holder else "answers") if answer.ok else answer.describe()
        return HostRow("floating", address, "address", url, answer.ok, detail, running=bool(answer.status))

    def _probe(self, service: Service, timeout: float) -> http.Answer:
        if service.health_port and self.answers.tls:
            # An https edge answers its health on its client port (its plain port answers this machine only).
            return http.get(f"{service.url}{service.health_path}", timeout=timeout, tls_name=self.answers.host)
        return http.get(service.health_url, timeout=timeout)


def _devpi_status(address: str, port: int, timeout: float) -> dict | None:
    from kit.site.answers import netloc

    # JSON asked for: with devpi-web loaded, /+status answers HTML otherwise.
    answer = http.get(f"http://{netloc(address, port)}/+status", headers={"Accept": "application/json"},
                      timeout=timeout)
    payload = answer.json() if answer.ok else None
    return payload.get("result") if isinstance(payload, dict) else None


def rows_json(rows: list[HostRow]) -> list[dict]:
    return [asdict(row) for row in rows]
