"""What ``kit status`` shows of a cluster: one row per service (running,
healthy, the trouble and its fix, how far the mirror is behind, the edge's
counters), as words or as JSON.

Every look is bounded, so a hung service costs seconds, never a hang.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from kit.cluster.devpi import SyncState, sync_state
from kit.cluster.supervisor import Probe, Supervisor
from kit.core import http
from kit.core.report import plural
from kit.site.answers import Answers, netloc
from kit.site.folder import Site
from kit.site.plan import Service

__all__ = ["ServiceStatus", "StatusRows", "devpi_status", "devpi_status_and_trouble", "edge_summary",
           "static_copy_summary", "status_json"]


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
    #: For the mirror: every change applied and every file of them downloaded
    #: (what promoting it keeps); None for the other services.
    in_sync: bool | None = None
    #: For a running service that is not healthy: the fix ("" otherwise).
    fix: str = ""
    #: It accepts connections but does not answer: calls through it cost a timeout.
    hung: bool = False
    #: Healthy, but working in a lesser mode, and why: kit's edge (or shield)
    #: whose cache disk is full or read-only passes files through ("" otherwise).
    degraded: str = ""


def devpi_status(answers: Answers, name: str) -> dict | None:
    """The ``/+status`` result of devpi's master or mirror, or None when it does not answer in time."""
    return devpi_status_and_trouble(answers, name)[0]


def devpi_status_and_trouble(answers: Answers, name: str) -> tuple[dict | None, str]:
    """The ``/+status`` result of devpi's master or mirror, or None and why not
    (``no answer within 2 s``, ``HTTP 500``, ``no result in its answer``)."""
    port = answers.master_port if name == "master" else answers.mirror_port
    this = answers.this
    # On a host of a site spread over hosts: this host's own, else the one the site names.
    where = this.address if this is not None and name in this.roles else answers.address_of(name)
    # JSON asked for: with devpi-web loaded (the answer web), /+status answers a browser's HTML otherwise.
    answer = http.get(f"http://{netloc(where, port)}/+status", headers={"Accept": "application/json"})
    if not answer.ok:
        return None, f"/+status: {answer.describe()}"
    payload = answer.json()
    result = payload.get("result") if isinstance(payload, dict) else None
    return (result, "") if isinstance(result, dict) else (None, "/+status: no result in its answer")


class StatusRows:
    """The rows of one ``kit status``, made in the services' order (the mirror's
    row reads what the master's found)."""

    def __init__(self, site: Site, supervisor: Supervisor):
        self.site = site
        self.supervisor = supervisor
        self.probes: dict[str, Probe | None] = {}

    def row(self, service: Service) -> ServiceStatus:
        stale_before = len(self.supervisor.stale)
        pid = self.supervisor.pid_of(service, clean=False)  # status only looks; kit up and down clean
        probe = self.supervisor.probe(service) if pid is not None else None
        self.probes[service.name] = probe
        healthy = probe is not None and probe.healthy
        trouble = self.supervisor.trouble(service, pid, probe) if probe is not None and not healthy else None
        if len(self.supervisor.stale) > stale_before:
            detail = "stale pid file: the process is gone"
        else:
            detail = str(trouble) if trouble else ""
        behind = in_sync = None
        if service.name == "mirror" and healthy:
            state = self._mirror_state()
            behind, detail, in_sync = state.behind, state.detail, state.in_sync
        degraded = ""
        if healthy and isinstance(probe.body, dict) and probe.body.get("edge") == "degraded":
            degraded = str(probe.body.get("reason") or "degraded")
            detail = f"degraded: {degraded}"
        if service.name == "edge" and healthy and not detail:
            detail = f"{service.role}; {edge_summary(self._edge_health(probe.body))}"
        return ServiceStatus(
            service.name, service.role, service.url, pid, pid is not None, healthy, detail, behind, in_sync,
            fix=trouble.fix if trouble else "", hung=bool(trouble and trouble.hung), degraded=degraded,
        )

    def _mirror_state(self) -> SyncState:
        """How the (healthy) mirror stands against the master."""
        answers = self.site.answers
        if "master" not in self.probes and answers.runs("mirror") and not answers.runs("master"):
            # The master is on another host: asked over the network.
            master = devpi_status(answers, "master")
            mirror, trouble = devpi_status_and_trouble(answers, "mirror")
            return sync_state(mirror, master, "not answering", trouble)
        master_probe = self.probes.get("master")
        master_ok = master_probe is not None and master_probe.healthy
        master_state = "not answering" if master_probe is not None else "not running"
        mirror, trouble = devpi_status_and_trouble(answers, "mirror")
        return sync_state(mirror, devpi_status(answers, "master") if master_ok else None, master_state, trouble)

    def _edge_health(self, body):
        """The edge's health answer; Varnish's counters added (from varnishstat) for the Varnish edge."""
        if self.site.answers.edge == "varnish" and isinstance(body, dict):
            from kit.cluster.varnish import counters

            return {**body, **counters(self.site.path)}
        return body


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
