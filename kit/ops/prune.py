"""``kit prune``: bound devpi's mirror of PyPI (root/pypi), which keeps every
file it ever fetched until the disk is full (devpi's users report 75 GB).

What goes: whole projects of root/pypi whose files nobody read for DAYS days
(``--older-than``), or, least recently read first, as many as it takes to
bring root/pypi's files under a size (``--max-size``). Through devpi's own
API (``DELETE /root/pypi/PROJECT`` as root): devpi removes the files and
forgets the project's links, the deletion is a commit the mirror (devpi's
replica) replays, removing its copies too, and the next read of the project
fetches its page and files from PyPI again. (Deleting one version,
``DELETE /root/pypi/PROJECT/VERSION``, removes the master's file but makes
no commit: the replica would keep its copy.) Nothing under devpi's folder is
removed behind its back, and no index but root/pypi is ever named: a
team's files cannot go.

"Nobody read it": devpi records no reads, but the edge sees every read of a
file (hits it answers from its own cache included) and keeps, beside its
cache, a record of when each root/pypi file was last read
(:class:`kit.edge.cache.ReadRecord`). A file the record never saw counts as
read when the record began. What the record cannot see: reads answered by
Varnish from its own cache (with the Varnish edge, kit's edge behind it sees
only Varnish's misses) and reads sent straight to a devpi port. A project
removed while still in use costs a fetch from PyPI, never a failed install.

The bytes a project frees are those of its files in the master's folder
(read, never written: ``run/master/+files/root/pypi/``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kit.cluster.devpi import DevpiAPI
from kit.core.errors import KitError
from kit.core.names import project_of
from kit.core.report import byte_size, plural
from kit.edge.cache import MIRRORED, READS_FILE, ReadRecord
from kit.site.answers import netloc
from kit.site.folder import Site

__all__ = ["Project", "prune", "mirrored_projects", "PruneError"]

#: The index pruned: devpi's mirror of PyPI, and no other.
MIRROR_INDEX = "root/pypi"
DAY = 86400.0


class PruneError(KitError):
    """kit prune cannot run here; the message says why and what to do."""


@dataclass
class Project:
    name: str
    files: list[str] = field(default_factory=list)  # paths as the edge serves them (/root/pypi/+f/...)
    bytes: int = 0
    last_read: float = 0.0  # seconds since the epoch

    def line(self, now: float) -> str:
        days = (now - self.last_read) / DAY
        return (f"{self.name}: {plural(len(self.files), 'file')}, {byte_size(self.bytes, binary=True)}, "
                f"last read {days:.0f} days ago")


def mirrored_projects(site: Site) -> tuple[list[Project], float]:
    """The projects whose files devpi's master holds in root/pypi, least recently read first, and
    when the record of reads began."""
    run = site.path / "cluster" / "run"
    since, last = ReadRecord.read(run / READS_FILE)
    if not since:
        raise PruneError(f"no record of reads of {MIRROR_INDEX}'s files yet ({run / READS_FILE}, which kit's "
                         f"edge keeps from its first start); nothing removed; start the cluster "
                         f"({site.command('up')}) and prune once it has run for the days you give")
    folder = run / "master" / "+files" / "root" / "pypi" / "+f"
    projects: dict[str, Project] = {}
    for where, _, names in os.walk(folder):
        for name in names:
            project = project_of(name)
            if project is None:
                continue
            path = Path(where) / name
            served_as = MIRRORED + path.relative_to(folder).as_posix()
            found = projects.setdefault(project, Project(project))
            found.files.append(served_as)
            try:
                found.bytes += path.stat().st_size
            except OSError:
                pass
            found.last_read = max(found.last_read, last.get(served_as, since))
    return sorted(projects.values(), key=lambda p: (p.last_read, p.name)), since


def prune(site: Site, *, older_than: float | None, max_size: int | None, dry_run: bool,
          say: Callable[[str], None] = print, now: float | None = None) -> tuple[int, int]:
    """Remove root/pypi's projects not read for ``older_than`` days, then the least recently read
    until root/pypi holds at most ``max_size`` bytes; (files, bytes) freed (or, ``dry_run``, that
    would be)."""
    answers = site.answers
    if "cluster" not in answers.setups:
        raise PruneError("kit prune bounds the cluster's devpi mirror of PyPI, and this site has no cluster; "
                         "add the cluster setup with kit init")
    if not (answers.runs("master") and answers.runs("edge")):
        raise PruneError("kit prune reads the edge's record of reads and the master's files: run it in a "
                         "folder whose host runs both (on a site spread over hosts, that is not supported yet)")
    now = time.time() if now is None else now
    projects, _ = mirrored_projects(site)
    doomed = [p for p in projects if older_than is not None and p.last_read < now - older_than * DAY]
    if max_size is not None:
        left = sum(p.bytes for p in projects) - sum(p.bytes for p in doomed)
        for project in projects:
            if left <= max_size:
                break
            if project not in doomed:
                doomed.append(project)
                left -= project.bytes
    api = None
    if doomed and not dry_run:
        api = DevpiAPI(f"http://{netloc(answers.address_of('master'), answers.master_port)}", timeout=60.0)
        api.login("root", answers.admin_password)
    files = size = 0
    for project in doomed:
        if api is not None:
            # devpi answers 404 for a project it does not know (any more): nothing to remove.
            api.delete(f"/{MIRROR_INDEX}/{project.name}")
        say(f"{'would remove' if dry_run else 'removed'} {project.line(now)}")
        files, size = files + len(project.files), size + project.bytes
    what = f"{plural(files, 'file')}, {byte_size(size, binary=True)} ({plural(len(doomed), 'project')} of {MIRROR_INDEX})"
    say(f"would free {what}; nothing removed (--dry-run)" if dry_run else f"freed {what}")
    return files, size
