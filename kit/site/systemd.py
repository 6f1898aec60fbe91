"""systemd units for a site's production services: what the templates in
``SITE/cluster/systemd/`` (and the public mirror's sync unit) need to know
beyond the answers.

The units run exactly what ``kit up`` runs (:func:`kit.site.plan.services_of`:
the same programs, arguments and folder), so a site behaves the same under
systemd as on a laptop. One site per machine: the unit names are fixed
(``kit-master.service`` …, grouped by ``kit.target``), as the ports are; a
second site on the same machine would need other ports and renamed units.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kit.site.plan import services_of

__all__ = ["SERVICE_USER", "UNITS_DIR", "TARGET", "HOME_TREES", "unit_name", "units_of", "protect_home",
           "python_paths"]

#: The dedicated system user (and group) the units run as; a drop-in
#: (``systemctl edit kit-master.service``) chooses another.
SERVICE_USER = "kit"
#: Where a site keeps its cluster's units.
UNITS_DIR = Path("cluster") / "systemd"
#: The unit that starts and stops them all.
TARGET = "kit.target"
#: What ``ProtectHome=yes`` hides from a service.
HOME_TREES = (Path("/home"), Path("/root"), Path("/run/user"))


def unit_name(service: str) -> str:
    """``kit-master.service`` for the service ``master`` of :func:`kit.site.plan.services_of`."""
    return f"kit-{service}.service"


def units_of(answers, site_dir: Path) -> dict[str, dict]:
    """Each cluster service by name: its unit's name, command line (``argv``) and what it is (``role``)."""

    return {service.name: {"unit": unit_name(service.name), "argv": list(service.argv), "role": service.role,
                           "port": service.port}
            for service in services_of(answers, site_dir)}


def _under(path: Path, tree: Path) -> bool:
    return path == tree or tree in path.parents


def protect_home(*paths: Path | str) -> str:
    """``ProtectHome=`` for services that must read ``paths``: ``yes`` (home
    folders hidden) unless one of them lives in a home folder, then
    ``read-only`` (readable, never writable but for ``ReadWritePaths=``)."""
    found = {Path(p).absolute() for p in paths} | {Path(p).resolve() for p in paths}
    return "read-only" if any(_under(p, tree) for p in found for tree in HOME_TREES) else "yes"


def python_paths() -> list[Path]:
    """Where kit's Python lives: the units run it (and devpi-server beside it)."""
    return [Path(sys.executable), Path(sys.prefix)]
