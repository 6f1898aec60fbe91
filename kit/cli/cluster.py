"""The commands that run the site's cluster: up, down, status, logs."""

from __future__ import annotations

from typing import Optional

import typer

# Imported as _say: several commands name progress's reporter say.
from kit.cli.common import SITE_ARG, say as _say, site_path


def up_command(site_dir: Optional[str] = SITE_ARG) -> None:
    """Start the site's cluster (master, mirror, edge) detached; return when all answer."""
    site_dir = site_path(site_dir)
    from kit.cluster.lifecycle import Cluster
    from kit.core.report import progress

    cluster = Cluster.load(site_dir)
    with progress("starting the cluster") as say:
        cluster.up(say=say)


def down_command(site_dir: Optional[str] = SITE_ARG) -> None:
    """Stop everything kit up started."""
    site_dir = site_path(site_dir)
    from kit.cluster.lifecycle import Cluster
    from kit.core.report import progress

    cluster = Cluster.load(site_dir)
    with progress("stopping the cluster") as say:
        stopped = cluster.down(say=say)
    if not stopped:
        _say(f"nothing is running in {cluster.site}; nothing to stop")


def status_command(
    site_dir: Optional[str] = SITE_ARG,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    wait: float = typer.Option(0, "--wait", metavar="SECONDS", min=0, help="Wait up to SECONDS for running services to be healthy and the mirror in sync."),
) -> None:
    """Show each service: URL, pid, health, and how far the mirror is behind.

    Exit code: 0 all healthy (or degraded: serving, with a reason shown),
    1 some service down, 3 nothing running.
    """
    from kit.cluster.lifecycle import Cluster, status_json

    cluster = Cluster.load(site_path(site_dir))
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
    if not any(r.running for r in rows):
        if not as_json:
            _say(f"nothing is running; start it with: {cluster.site.command('up')}")
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
