"""The site's cluster as ``kit check`` sees it: each service's health, the
mirror's lag, the edge's view of its origins, the age of the static copy the
edge falls back on, and a project published by two teams.

The cluster's modules are imported when a check looks (``kit check
--lint-only`` loads none of them).
"""

from __future__ import annotations

from kit.core import http
from kit.core.wait import wait_until
from kit.ops.check.findings import ClusterState, Finding, and_

#: How long kit check gives the cluster to settle before calling what it sees a
#: failure: a mirror that follows is back in sync within a second or two of a
#: change, the edge re-probes its origins every 2 s (Varnish needs two 1 s
#: probes), and a failed static-copy refresh is retried after 2 s.
SETTLE_SECONDS = 5.0


def _settled(look, good, seconds: float = SETTLE_SECONDS):
    """``look()`` until ``good`` of it, or ``seconds`` passed: the last look."""
    return wait_until(look, seconds, 0.2, accept=good)


def _health(url: str):
    """A service's health answer as JSON; None when it does not answer."""
    answer = http.get(url)
    return answer.json() if answer.ok else None


def cluster_findings(site) -> tuple[list[Finding], ClusterState | None]:
    """The site's cluster: a finding for each service (healthy, or what is
    wrong and the command that fixes it), the mirror's lag, the edge's view of
    its origins, the static copy's age, and a warning for a project published
    by two teams; and the :class:`ClusterState` the team checks need (None
    for a site without a cluster).

    With nothing running, one finding says so. Every look is bounded (see
    :mod:`kit.core.http`): a hung service costs seconds.
    """
    from kit.cluster.lifecycle import Cluster

    if "cluster" not in site.answers.setups or not (site.path / "cluster").is_dir():
        return [], None
    cluster = Cluster(site)
    up = site.command("up")
    rows = cluster.status()
    if not any(row.running for row in rows):
        names = and_([row.name for row in rows])
        return [Finding("cluster", "cluster running", False, f"nothing is running ({names} stopped)",
                        f"start the cluster: {up}"), *disk_findings(site)], ClusterState(running=False)
    findings, state = [], ClusterState()
    for row in rows:
        if not row.running:
            state.stopped.append(row.name)
            gone = "; its process is gone (killed, or it crashed)" if row.detail.startswith("stale pid") else ""
            findings.append(Finding("cluster", f"{row.name} healthy", False, f"{row.name} is not running{gone}",
                                    f"start it again: {up}"))
        elif not row.healthy:
            state.unhealthy.append(row.name)
            state.hung = state.hung or row.hung
            problem = row.detail.removesuffix(f"; {row.fix}") if row.fix else row.detail
            findings.append(Finding("cluster", f"{row.name} healthy", False, problem, row.fix or up))
        elif row.degraded:
            findings.append(Finding("cluster", f"{row.name} caches files", False, row.degraded,
                                    f"free space on (or remount read-write) the disk of {site.path / 'cluster' / 'run'}; "
                                    "it serves every request meanwhile"))
        else:
            findings.append(Finding("cluster", f"{row.name} healthy", True, f"{row.url} answers (pid {row.pid})"))
    healthy = {row.name: row for row in rows if row.healthy}
    if "master" in healthy and "mirror" in healthy:
        findings.append(_mirror_lag(site))
    if "edge" in healthy:
        findings.append(_edge_origins(site, cluster, healthy))
    copy = _static_copy(site, cluster, healthy)
    if copy is not None:
        findings.append(copy)
    if "master" in healthy and "private" in site.answers.setups:
        findings += _shared_names(healthy["master"].url, site.answers.teams)
    # After the services' health: a full disk is a warning, the services' state comes first.
    return findings + disk_findings(site), state


def disk_findings(site, statvfs=None) -> list[Finding]:
    """A warning for each disk of the site's parts that is 80 % used or more (naming the parts
    and the fix), else one passing finding with each part's use; ``statvfs`` for a test."""
    import os

    from kit.cluster.disk import disk_use, disk_warnings

    uses = disk_use(site.path, site.answers, statvfs or os.statvfs)
    warnings = disk_warnings(uses, site.command)
    if not warnings:
        return [Finding("cluster", "disks have room", True, "; ".join(use.line() for use in uses))]
    return [Finding("cluster", "disks have room", False, problem, fix, warning=True) for problem, fix in warnings]


def _mirror_lag(site) -> Finding:
    """How many changes (devpi serials) the mirror is behind the master, given a moment to catch up."""
    from kit.cluster.devpi import sync_state
    from kit.cluster.status import devpi_status

    def look():
        mirror = devpi_status(site.answers, "mirror")
        return mirror, sync_state(mirror, devpi_status(site.answers, "master"))

    mirror, state = _settled(look, lambda seen: seen[1].in_sync)
    if state.in_sync:
        return Finding("cluster", "mirror in sync", True,
                       f"0 changes behind the master (both at serial {mirror.get('serial')})")
    return Finding("cluster", "mirror in sync", False, f"{state.detail}, still after {SETTLE_SECONDS:g} s",
                   f"see {site.command('logs', 'mirror')}; if it stays behind, restart it: "
                   f"{site.command('down')} then {site.command('up')}")


def _edge_origins(site, cluster, healthy: dict) -> Finding:
    """Which origins the edge uses and skips, from its own health answer. A
    failure only when it skips one that answers kit: an origin that is down
    is already a failure of its own, with its fix."""
    edge = cluster.service("edge")
    names = {service.local_url: service.name for service in cluster.services()}

    def look() -> dict[str, bool] | None:
        body = _health(edge.health_url)
        if not isinstance(body, dict):
            return None
        if isinstance(body.get("origins"), dict):  # Varnish: its probes' verdicts, by backend name
            return {name: bool(up) for name, up in body["origins"].items()}
        if isinstance(body.get("backends"), dict):  # kit's edge: URL → "in use" or "skipped"
            return {names.get(url, url): state == "in use" for url, state in body["backends"].items()}
        return None

    def skipped_healthy(origins) -> list[str]:
        return [name for name, used in (origins or {}).items() if not used and name in healthy]

    origins = _settled(look, lambda seen: seen is not None and not skipped_healthy(seen))
    if origins is None:
        return Finding("cluster", "edge sees its origins", False, "the edge's health answer names no origins",
                       f"see {site.command('logs', 'edge')}")
    # An origin down since less than a probe ago is still "in use" to the edge.
    shown = ", ".join(f"{name} {'in use' if used else 'skipped'}" if name in healthy
                      else f"{name} skipped (down)" if not used else f"{name} down (the edge has not noticed yet)"
                      for name, used in origins.items())
    wrong = skipped_healthy(origins)
    if wrong:
        return Finding("cluster", "edge sees its origins", False,
                       f"{shown}: the edge skips {and_(wrong)}, which {'answers' if len(wrong) == 1 else 'answer'} kit",
                       f"see {site.command('logs', 'edge')}; restart it: {site.command('down')} then {site.command('up')}")
    return Finding("cluster", "edge sees its origins", True, shown)


def _static_copy(site, cluster, healthy: dict) -> Finding | None:
    """The age of the static copy of the team indexes, which the edge (the
    shield, with Varnish) serves when master and mirror are both down. None
    for a site without one, or when what serves it is down (said already)."""
    from kit.cluster.status import static_copy_summary
    from kit.site.plan import edge_config

    config = edge_config(site.answers)
    server = "shield" if site.answers.edge == "varnish" else "edge"
    if not config.static_copy_dir or server not in healthy:
        return None
    sources_up = [name for name in ("mirror", "master") if name in healthy]
    limit = 2 * config.static_copy_every + 30  # a refresh missed, and one under way
    health_url = cluster.service(server).health_url

    def look() -> dict | None:
        body = _health(health_url)
        copy = body.get("static_copy") if isinstance(body, dict) else None
        return copy if isinstance(copy, dict) else None

    def fresh(copy) -> bool:
        return copy is not None and copy.get("age") is not None and copy["age"] <= limit

    copy = _settled(look, fresh) if sources_up else look()
    check, logs = "static copy fresh", site.command("logs", server)
    if copy is None:
        return Finding("cluster", check, False, f"the {server}'s health answer says nothing of its static copy",
                       f"see {logs}")
    summary = static_copy_summary(copy).removeprefix("static copy: ")
    if not sources_up:
        # Master and mirror are down (each a failure above): the copy is what serves team pages now.
        ok = copy.get("age") is not None
        return Finding("cluster", check, ok, f"{summary}; serving team pages while master and mirror are down",
                       "" if ok else f"start master and mirror: {site.command('up')}")
    if fresh(copy):
        return Finding("cluster", check, True, summary)
    every = f"the {server} refreshes it every {config.static_copy_every:g} s from {and_(sources_up)}"
    return Finding("cluster", check, False, f"{summary}; {every}", f"see why in {logs}")


def _shared_names(master_url: str, teams: tuple[str, ...]) -> list[Finding]:
    """A name published by two teams merges their files on both teams' pages (the indexes inherit each other)."""
    from kit.cluster.devpi import DevpiAPI, DevpiError

    api = DevpiAPI(master_url, timeout=http.READ_TIMEOUT)
    owners: dict[str, list[str]] = {}
    try:
        for team in teams:
            for name in api.projects(f"{team}/private"):
                owners.setdefault(name, []).append(team)
    except DevpiError:
        return []
    return [
        Finding("cluster", "one team per project", False,
                f"{name} is published by {' and '.join(by)}: their files mix on every team's page",
                f"keep {name} on one team's index; remove it from the other (devpi remove)", warning=True,
                admits_attacker=True)
        for name, by in sorted(owners.items()) if len(by) > 1
    ]
