"""One bundle per host: ``SITE/hosts/NAME/``, what one machine of a site spread over
hosts needs, and nothing else.

A bundle is a site folder of its own (``kit.toml`` naming its host, a manifest,
``cluster/`` with the settings of that host's services), so that, copied to its
machine, ``kit up``, ``kit down`` and ``kit status`` run on it as they run on a
whole site; from the site folder, ``kit up SITE --host NAME`` runs the same.
Every service in it binds the host's own address and reaches the others by theirs.

The secrets a bundle holds, by role (a test reads every bundle for the others):

========== =====================================================================
master     devpi's secret, the purge secret, the admin password (in kit.toml:
           the master makes the users and indexes), the site CA's certificate
mirror     devpi's secret (a replica shares it), the purge secret, the CA's certificate
edge       the purge secret (it checks purges), the edge reader's password
           (``edge-read-credentials``), the TLS certificate and key
balancer   the TLS certificate and key only if haproxy ends TLS (see kit.site.balancer)
public-    none
mirror
========== =====================================================================

The site CA's key never leaves the site folder; team files stay in ``SITE/teams/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Mapping

from kit.site.answers import Answers
from kit.site.folder import SITE_TLS
from kit.site.hosts import Host

__all__ = ["HOSTS_DIR", "bundle_dir", "prune_bundle", "bundle_readme", "bundle_answers"]

#: Where a site spread over hosts keeps its bundles: ``SITE/hosts/NAME/``.
HOSTS_DIR = "hosts"

#: The files of SITE/cluster each role needs (with the systemd units of its services).
_CLUSTER_FILES = {
    "master": {"master.yml", "devpi-secret", "edge-purge-secret", "README.md"},
    "mirror": {"mirror.yml", "devpi-secret", "edge-purge-secret", "README.md"},
    "edge": {"edge.json", "edge-purge-secret", "edge-read-credentials", "README.md"},
    "balancer": {"haproxy.cfg", "keepalived.conf", "README.md"},
    "public-mirror": {"README.md"},
}


def bundle_dir(site_dir: Path, host: str) -> Path:
    """The bundle of ``host`` in the site folder ``site_dir``."""
    return Path(site_dir) / HOSTS_DIR / host


def bundle_answers(answers: Answers) -> Answers:
    """The answers a bundle's kit.toml holds: the admin password only on the master's host."""
    from dataclasses import replace

    this = answers.this
    assert this is not None, "bundle_answers takes answers.for_host(NAME)"
    return answers if "master" in this.roles else replace(answers, admin_password="")


def prune_bundle(answers: Answers, dest: Path, services: Mapping[str, object], site_tls: Path) -> None:
    """Take out of the rendered bundle ``dest`` what host ``answers.this`` does not run or need:
    ``services``, its services by name (their systemd units stay); ``site_tls``, the site's
    TLS folder, from which the bundle gets what its roles need."""
    this = answers.this
    assert this is not None
    for folder in ("server", "teams"):
        shutil.rmtree(dest / folder, ignore_errors=True)
    if "public-mirror" not in this.roles:
        shutil.rmtree(dest / "mirror", ignore_errors=True)
    cluster = dest / "cluster"
    keep = set().union(*(_CLUSTER_FILES[role] for role in this.roles))
    if answers.read_access == "anonymous":
        keep.discard("edge-read-credentials")
    for path in cluster.iterdir():
        if path.is_file() and path.name not in keep:
            path.unlink()
    units = cluster / "systemd"
    wanted = {f"kit-{name}.service" for name in services} | {"kit.target"}
    for unit in units.iterdir():
        if unit.name not in wanted:
            unit.unlink()
    _copy_tls(answers, this, dest, site_tls)


def _copy_tls(answers: Answers, this: Host, dest: Path, site_tls: Path) -> None:
    if not answers.site_ca:
        return
    from kit.site.templating import write_private

    names = []
    if {"master", "mirror"} & set(this.roles):
        names.append("ca")  # devpi checks the edges' certificates when it sends them purges
    if "edge" in this.roles or ("balancer" in this.roles and _balancer_ends_tls(answers)):
        names += ["ca", "cert", "key"]
    if not names:
        return
    (dest / "tls").mkdir(exist_ok=True)
    for name in dict.fromkeys(names):
        source = site_tls / Path(SITE_TLS[name]).name
        write_private(dest / SITE_TLS[name], source.read_text(encoding="ascii"), 0o644 if name == "ca" else 0o600)


def _balancer_ends_tls(answers: Answers) -> bool:
    from kit.site.balancer import ends_tls

    return ends_tls(answers)


def bundle_readme(answers: Answers, services: Mapping[str, object], site_path: Path) -> str:
    """README.md of a bundle (whose folder is ``site_path``): what runs there, how it gets to
    its machine, how it starts."""
    this = answers.this
    assert this is not None
    names = ", ".join(services) or "nothing"
    others = "\n".join(f"| {host.name} | {host.address} | {', '.join(host.roles)} |" for host in answers.hosts)
    return f"""# Host {this.name} ({this.address}): {', '.join(this.roles)}

This folder is what the machine with the address {this.address} needs of the kit site,
and nothing more: its services' settings (`cluster/`), the secrets its roles need and
no others, and its systemd units (`cluster/systemd/`). Every service binds
{this.address}. It runs: {names}.

## On this machine (from the site folder)

    kit up SITE --host {this.name}        # start its part
    kit status SITE --host {this.name}    # its services
    kit status SITE                  # every host, over the network

## On its own machine

1. Install kit there (the same version), as the site's README says.
2. Copy this folder over to the same path there (its systemd units name it), keeping
   its modes (it holds secrets):
   `rsync -a --mkpath {site_path}/ {this.address}:{site_path}/`
3. Start it: `kit up {site_path}` (or install the units of `cluster/systemd/`, see
   docs/howto/deploy-across-machines).
4. Check the whole site from any machine with the site folder: `kit status SITE`.

Do not edit these files: change the site's `kit.toml` in the site folder, run
`kit init` there again, and copy the bundle again.

## The site's hosts

| host | address | roles |
|---|---|---|
{others}
"""
