"""``kit mirror sync``: the public mirror, a static, PEP 381-style copy of chosen
upstream projects, made by bandersnatch.

A site with the ``public-mirror`` setup has ``SITE/mirror/``:

``bandersnatch.conf``   rendered by ``kit init``: the upstream, the listed projects
``data/``               bandersnatch's folder; ``data/web/`` is what is served
                        (``/mirror/`` on the edge), ``data/status`` its serial
``run/``                kit's own: the settings of the last sync, its record
                        (``last-sync.json``), bandersnatch's log, a lock

:func:`sync_mirror` holds the site's sync lock, finds the upstream (a folder
is served by a local upstream of its own), plans what to mirror
(:mod:`kit.mirror.plan`), checks the storage (:mod:`kit.mirror.storage`), runs
bandersnatch (:mod:`kit.mirror.bandersnatch`), adds core metadata to the
wheels and pages it wrote (:mod:`kit.mirror.metadata`), and refreshes the
edge's static copy of the team indexes. :mod:`kit.mirror.verify` checks every file against
its page; :mod:`kit.mirror.status` reads what the last sync left.
"""

from __future__ import annotations

import configparser
import contextlib
from pathlib import Path
from typing import Iterator

from kit.core.errors import MirrorError, one_line
from kit.core.locks import held
from kit.core.report import plural
from kit.mirror.bandersnatch import run_bandersnatch
from kit.mirror.metadata import add_core_metadata, note_changed_projects
from kit.mirror.plan import SyncPlan, plan_sync
from kit.mirror.progress import Progress, quiet
from kit.mirror.record import SyncRecord
from kit.core.report import byte_size
from kit.mirror.storage import check_storage
from kit.site.answers import DEFAULT_UPSTREAM, Answers, upstream_is_folder
from kit.site.plan import REINSTALL, MirrorPaths, bandersnatch_master, edge_config

__all__ = ["default_master", "sync_mirror"]


def default_master() -> str:
    """PyPI's URL as bandersnatch's own defaults name it (kit never writes it itself)."""
    from importlib import resources

    parser = configparser.RawConfigParser()
    parser.read_string(resources.files("bandersnatch").joinpath("defaults.conf").read_text(encoding="utf-8"))
    return parser.get("mirror", "master")


def _sync_lock(paths: MirrorPaths) -> contextlib.AbstractContextManager[None]:
    paths.run.mkdir(parents=True, exist_ok=True)
    return held(paths.lock, lambda pid: MirrorError(f"another kit mirror sync is running for this site (pid {pid}); "
                                                    "wait for it to finish"))


@contextlib.contextmanager
def _upstream_for(answers: Answers) -> Iterator[str]:
    """The upstream's base URL for this sync: a folder is served for it by a local upstream of its own."""
    if upstream_is_folder(answers.upstream):
        from kit.upstream.server import LocalUpstream

        folder = Path(answers.upstream)
        if not folder.is_dir():
            raise MirrorError(f"the upstream folder {folder} does not exist; restore it or change upstream")
        with LocalUpstream(folder) as local:
            yield f"http://127.0.0.1:{local.port}"
    elif answers.upstream == DEFAULT_UPSTREAM:
        try:
            yield default_master()
        except ModuleNotFoundError:
            raise MirrorError(f"bandersnatch is not installed; install kit again with its dependencies: "
                              f"{REINSTALL}") from None
    else:
        yield bandersnatch_master(answers)


def sync_mirror(site, *, say: Progress = quiet, dry_run: bool = False, repair: bool = False,
                refresh_static: bool = True, warn: Progress | None = None) -> SyncRecord | SyncPlan:
    """Sync the public mirror of ``site`` (a :class:`kit.site.folder.Site`) now.

    Resolves, estimates, checks the storage, runs bandersnatch (``say`` gets
    one line per project) and records the result; with ``dry_run``, stops
    after the estimate and returns the plan. With ``repair``, every project
    is synced again and every file compared with its sha256 (a missing or
    corrupt one is downloaded again), not only what changed upstream. ``warn``
    gets the lines a quiet sync (``say`` left quiet, for cron) must still print:
    a wheel that disagrees with its page; ``say`` gets them when not given. Raises :class:`MirrorError`
    (nothing mirrored when raised before bandersnatch starts),
    :class:`MirrorStorageError` and :class:`MirrorInterrupted`.
    """
    answers = site.answers
    if "public-mirror" not in answers.setups:
        raise MirrorError(f"{site.path} has no public mirror; add it with: "
                          f"{site.command('init', '--set', 'setups=' + ','.join((*answers.setups, 'public-mirror')))}")
    paths = MirrorPaths.of(site.path)
    with _sync_lock(paths), _upstream_for(answers) as master:
        say(f"upstream: {master if not upstream_is_folder(answers.upstream) else answers.upstream}")
        plan = plan_sync(answers.mirror_projects, master, paths.web, say=say)
        what = "every project of the upstream" if plan.everything else plural(len(plan.projects), "project")
        if plan.estimated:
            say(f"to mirror: {what}, {plural(plan.files, 'file')}, {byte_size(plan.bytes)} "
                f"({byte_size(plan.new_bytes)} not on disk yet)")
        else:
            say(f"to mirror: {what} (too many to estimate: check the storage yourself)")
        if plan.missing_dependencies:
            say(f"not on the upstream, mirrored without them: {', '.join(plan.missing_dependencies)}")
        free = check_storage(paths.data, plan.new_bytes if plan.estimated else 0)
        say(f"storage: {paths.data}, {byte_size(free)} free")
        if dry_run:
            return plan
        if repair:
            # With no serial recorded, bandersnatch syncs every project and checks each file's hash.
            (paths.data / "status").unlink(missing_ok=True)
            say("repair: every project is synced again and every file checked")
        try:
            record = run_bandersnatch(paths, master, plan, say)
        finally:
            note_changed_projects(paths, everything=repair)
        if record.result == "ok":
            add_core_metadata(paths, say, recheck=repair, warn=warn)
    if record.result == "ok" and refresh_static:
        _refresh_static_copy(site, say)
    return record


def _edge_reader(site, config) -> str:
    """The Authorization the edge reads private indexes with: from its credentials file where
    the site has one (a host's bundle holds no admin password to derive it from)."""
    from kit.core.names import EDGE_READER
    from kit.edge.auth import basic_header, read_credentials

    path = site.path / "cluster" / config.read_credentials_file
    if path.is_file():
        return read_credentials(path)
    return basic_header(EDGE_READER, site.answers.edge_read_password)


def _refresh_static_copy(site, say: Progress) -> None:
    """The issue's promise: every sync also refreshes the edge's static copy of the team indexes."""
    from kit.edge.static_copy import refresh

    answers = site.answers
    if answers.is_multi_host and not answers.runs("edge"):
        return  # each edge host keeps its own static copy, refreshed by its edge
    config = edge_config(answers)
    if not config.static_copy_dir:
        return
    folder = site.path / "cluster" / config.static_copy_dir
    try:
        result = refresh(config.static_copy_sources, config.static_copy_indexes, folder,
                         outside_url=config.public_url,
                         authorization=_edge_reader(site, config) if config.private_reads else "")
    except Exception as exc:  # the mirror is synced; a copy that cannot be written is said, not fatal
        say(f"static copy: not refreshed ({one_line(exc)})")
        return
    if result.errors:
        say("static copy: not refreshed (the cluster is not running; kit up refreshes it every "
            f"{config.static_copy_every:.0f} s)")
    else:
        say(f"static copy: serial {result.serial}, {plural(result.projects, 'project')}, "
            f"{plural(result.files, 'file')}")
