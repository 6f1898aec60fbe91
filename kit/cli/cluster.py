"""The commands that run the site's cluster: up, down, status, logs."""

from __future__ import annotations

from typing import Optional

import typer

# Imported as _say: several commands name progress's reporter say.
from kit.cli.common import SITE_ARG, say as _say, site_path


HOST_OPTION = typer.Option(None, "--host", metavar="NAME",
                           help="On a site spread over hosts: only host NAME's part (its bundle, hosts/NAME/).")


def _target(site_dir, host: str | None):
    """The cluster a command runs on: one host's part, a whole site spread over hosts
    (:class:`~kit.cluster.hosts.SiteHosts`), or a site of one host."""
    from kit.cluster.lifecycle import Cluster
    from kit.site.folder import Site

    path = site_path(site_dir)
    site = Site.find(path)
    if host is not None or site.is_bundle:
        from kit.cluster.hosts import host_cluster

        return host_cluster(site, host or site.answers.this_host)
    if site.answers.is_multi_host:
        from kit.cluster.hosts import SiteHosts

        return SiteHosts(site)
    return Cluster.load(path)


def up_command(site_dir: Optional[str] = SITE_ARG, host: Optional[str] = HOST_OPTION) -> None:
    """Start the site's cluster (master, mirror, edge) detached; return when all answer."""
    from kit.core.report import progress

    cluster = _target(site_dir, host)
    with progress("starting the cluster") as say:
        cluster.up(say=say)


def down_command(site_dir: Optional[str] = SITE_ARG, host: Optional[str] = HOST_OPTION) -> None:
    """Stop everything kit up started."""
    from kit.core.report import progress

    cluster = _target(site_dir, host)
    with progress("stopping the cluster") as say:
        stopped = cluster.down(say=say)
    if not stopped:
        _say(f"nothing is running in {cluster.site}; nothing to stop")


def status_command(
    site_dir: Optional[str] = SITE_ARG,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    wait: float = typer.Option(0, "--wait", metavar="SECONDS", min=0, help="Wait up to SECONDS for running services to be healthy and the mirror in sync."),
    host: Optional[str] = HOST_OPTION,
) -> None:
    """Show each service: URL, pid, health, and how far the mirror is behind.

    Exit code: 0 all healthy (or degraded: serving, with a reason shown),
    1 some service down, 3 nothing running.
    """
    from kit.cluster.lifecycle import status_json

    cluster = _target(site_dir, host)
    if not hasattr(cluster, "wait_ready"):
        return _site_status(cluster, as_json)
    rows = cluster.wait_ready(wait) if wait else cluster.status()
    if as_json:
        _say(status_json(rows))
    else:
        from kit.core.tables import Column, table_lines

        columns = [Column("service", 9), Column("url", 32), Column("pid", 7, right=True),
                   Column("state", 9, gap=2), Column("notes")]
        lines = table_lines(columns, ([r.name, r.url, r.pid or "-", _state(r), r.detail or r.role] for r in rows))
        _say("\n".join(lines))
        if "public-mirror" in cluster.answers.setups:
            from kit.mirror.status import mirror_status

            _say(f"public mirror: {mirror_status(cluster.site.path).summary()}")
        for warning in cluster.site.certificate_warnings():
            _say(f"warning: {warning}")
        from kit.cluster.varnish import exporter_off

        if exporter_off(cluster.answers):
            _say(f"warning: {exporter_off(cluster.answers)}")
        from kit.cluster.disk import disk_use, disk_warnings

        uses = disk_use(cluster.site.path, cluster.answers)
        _say("disk: " + "; ".join(use.line() for use in uses))
        for problem, fix in disk_warnings(uses, cluster.site.command):
            _say(f"warning: {problem}; {fix}")
    if not any(r.running for r in rows):
        if not as_json:
            _say(f"nothing is running; start it with: {cluster.site.command('up')}")
        raise typer.Exit(3)
    if not all(r.healthy for r in rows):
        raise typer.Exit(1)


def _site_status(hosts, as_json: bool) -> None:
    """``kit status SITE`` of a site spread over hosts: every host's services, asked over the network."""
    import json

    from kit.cluster.hosts import rows_json

    rows = hosts.status()
    if as_json:
        _say(json.dumps(rows_json(rows), indent=2))
    else:
        from kit.core.tables import Column, table_lines

        columns = [Column("host", 8), Column("service", 13), Column("url", 30), Column("state", 9, gap=2),
                   Column("notes")]
        state = lambda r: "healthy" if r.healthy else "unhealthy" if r.running else "down"
        _say("\n".join(table_lines(columns, ([r.host, r.name, r.url, state(r), r.detail] for r in rows))))
        for warning in hosts.site.certificate_warnings():
            _say(f"warning: {warning}")
    if not any(r.running for r in rows):
        if not as_json:
            _say(f"nothing answers; start each host with: {hosts.site.command('up', '--host', 'NAME')}")
        raise typer.Exit(3)
    if not all(r.healthy for r in rows):
        raise typer.Exit(1)


def _state(row) -> str:
    """A service's state as `kit status` names it."""
    return ("degraded" if row.degraded else "healthy") if row.healthy else "unhealthy" if row.running else "stopped"


def logs_command(
    site_dir: Optional[str] = SITE_ARG,
    service: Optional[str] = typer.Argument(None, help="upstream, master, mirror or edge (default: all)."),
    lines: int = typer.Option(40, "--lines", "-n", min=1, help="How many of the last lines to show."),
) -> None:
    """Show the service logs kept under SITE_DIR/cluster/run/logs."""
    from kit.cluster.lifecycle import Cluster

    site_dir = site_path(site_dir)
    if site_dir is not None and service is None and not site_dir.exists() and site_dir.name in _SERVICE_NAMES:
        site_dir, service = None, str(site_dir)  # `kit logs edge` inside a site
    cluster = Cluster.load(site_dir)
    names = [cluster.service(service).name] if service else [s.name for s in cluster.services()]
    for name in names:
        path = cluster.log_path(name)
        if len(names) > 1:
            _say(f"==> {name} ({path}) <==")
        if not path.is_file():
            _say(f"(no log yet: {name} has not been started)")
            continue
        text = path.read_text(errors="replace").splitlines()
        _say("\n".join(text[-lines:]))


_SERVICE_NAMES = {"upstream", "master", "mirror", "edge"}
