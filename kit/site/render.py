"""Rendering: cookiecutter templates → a site folder, safely.

A site is rendered in full into a temporary folder first. Only when that
succeeded does anything reach ``SITE_DIR``: a new site is moved into place in
one rename; an existing site is updated file by file after checking, against
the manifest of what kit wrote last time, that no generated file was edited by
hand. Files the user added are never touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from kit.site.answers import Answers, dump_answers, is_requirement_file, netloc, upstream_is_folder
from kit.site.clients import render_team, team_context
from kit.core.errors import HandEditedError, SiteDirError
from kit.site import systemd
from kit.site.indexes import IndexPlan
from kit.site.plan import HITCH_FILE, MirrorPaths, bandersnatch_master, edge_config, hitch_conf, varnishd_argv
from kit.site.bundles import bundle_answers, bundle_dir, bundle_readme, prune_bundle
from kit.site.folder import ANSWERS_FILE, MANIFEST, SITE_SECRETS, SITE_TLS, Site, read_manifest
from kit.site.monitoring import write_monitoring
from kit.site.templating import fix_modes, render_template, write_private

__all__ = ["render_site", "staged_site", "check_site_dir", "SitePlan", "SiteChanges", "MANIFEST", "ANSWERS_FILE"]

def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the site ----------------------------------------------------------------


@dataclass
class SiteChanges:
    """What :func:`render_site` did, relative to the site folder."""

    created: list[str]
    updated: list[str]
    removed: list[str]
    unchanged: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)


def check_site_dir(site_dir: Path) -> Site | None:
    """Refuse a folder kit must not write into; return the site (read once) if it is one."""
    if site_dir.exists() and not site_dir.is_dir():
        raise SiteDirError(f"{site_dir} is a file, not a folder; choose another SITE_DIR")
    manifest = read_manifest(site_dir) if site_dir.is_dir() else None
    if site_dir.is_dir() and manifest is None and _entries(site_dir):
        raise SiteDirError(f"{site_dir} is not empty and is not a kit site; choose a new or empty folder")
    parent = site_dir if site_dir.is_dir() else _existing_parent(site_dir)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SiteDirError(f"{parent} is not writable; choose a folder you can write to")
    return Site.load(site_dir, given=site_dir) if manifest is not None else None


def _entries(folder: Path, *, but: Path | None = None) -> list[Path]:
    """What ``folder`` holds, ``but`` (kit's own staging folder) left out."""
    try:
        return [p for p in folder.iterdir() if but is None or p.name != but.name]
    except OSError as exc:
        raise SiteDirError(f"cannot read {folder} ({exc.strerror}); choose a folder you can read") from None


def _existing_parent(path: Path) -> Path:
    """The nearest folder above ``path`` that exists: where a new site is staged."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise SiteDirError(f"{parent} is a file, not a folder; choose another SITE_DIR")
            return parent
    return Path("/")


def site_context(answers: Answers, site_secrets: Mapping[str, str], site_dir: Path) -> dict[str, Any]:
    """Everything the site templates need: the answers, the site's secrets, and
    where it lives (systemd units and crontabs take absolute paths only)."""

    site_dir = Path(site_dir).absolute()
    names = [entry for entry in answers.mirror_projects if not is_requirement_file(entry)]
    return {
        "site_dir": str(site_dir),
        "python": sys.executable,
        "public_mirror": "public-mirror" in answers.setups,
        "mirror_master": bandersnatch_master(answers),
        "mirror_master_is_local": upstream_is_folder(answers.upstream),
        "mirror_data_dir": str(MirrorPaths.of(site_dir).data),
        "mirror_web_dir": str(MirrorPaths.of(site_dir).web),
        "mirror_names": names,
        "mirror_files": [entry for entry in answers.mirror_projects if is_requirement_file(entry)],
        "mirror_everything": not answers.mirror_projects,
        "devpi_upstream": answers.devpi_upstream,
        "answers": answers.as_dict(),
        "setups": list(answers.setups),
        "upstream": answers.upstream,
        "upstream_is_default": answers.mirror_url is None,
        "upstream_folder": upstream_is_folder(answers.upstream),
        "mirror_url": answers.mirror_url,
        "upstream_port": answers.upstream_port,
        "host": answers.host,
        "bind_host": answers.bind_host,
        "master_port": answers.master_port,
        "mirror_port": answers.mirror_port,
        "edge_port": answers.edge_port,
        "master_url": answers.master_url,
        "needs_tls_warning": answers.needs_trusted_host,
        "admin_password": answers.admin_password,
        "private_projects": list(answers.private_projects),
        "devpi_secret": site_secrets["devpi"],
        "purge_secret": site_secrets["purge"],
        # cluster/edge-read-credentials: the devpi user the edge reads private indexes as.
        "edge_read_password": answers.edge_read_password,
        # An https site with its own CA: each team's files point at the team folder's copy of it.
        "teams": [dict(team_context(answers, team), password_variable=IndexPlan.password_variable(team),
                       ca_file=str(site_dir / "teams" / team / "ca.pem") if answers.site_ca else "")
                  for team in answers.teams],
        "private": "private" in answers.setups,
        "cluster_master_url": f"http://{netloc(answers.address_of('master'), answers.master_port)}",
        "master_bind": answers.address_of("master"),
        "mirror_bind": answers.this.address if answers.this is not None else "127.0.0.1",
        # A site spread over hosts: every edge on every host takes the purges, on its client port
        # (over TLS on an https site: the edges' certificate names the site's host, checked
        # against the site CA kit made, or the system's for the operator's own certificate).
        "purge_cafile": "../tls/ca.pem" if answers.is_multi_host and answers.site_ca else "",
        "purge_tls_name": answers.host if answers.is_multi_host and answers.tls else "",
        # Where master and mirror tell the edge which pages a commit changed
        # (with Varnish, Varnish and the shield behind it: both cache pages).
        # (An https edge takes them on its plain-http listener, from this machine only.)
        "edge_purge_url": " ".join(
            f"{answers.scheme}://{netloc(host.address, answers.edge_port)}/+edge/purge"
            for host in answers.hosts_with("edge")) if answers.is_multi_host else " ".join(
            f"http://{netloc(host, port)}/+edge/purge"
            for host, port in ([(answers.edge_host, answers.http_port if answers.redirects and answers.edge != "varnish"
                                 else answers.edge_port)]
                               + ([("127.0.0.1", answers.shield_port)] if answers.edge == "varnish" else []))),
        "edge": answers.edge,
        "tls": answers.tls,
        "shield_port": answers.shield_port,
        "base_url": answers.base_url,
        "varnishd_argv": varnishd_argv(answers, site_dir),
        # systemd units (cluster/systemd/, mirror/): each service's command line as kit up runs it, from
        # SITE/cluster, as the dedicated user; home folders hidden unless the site or kit lives in one.
        "units": systemd.units_of(answers, site_dir),
        "service_user": systemd.SERVICE_USER,
        "cluster_dir": str(site_dir / "cluster"),
        "cluster_run_dir": str(site_dir / "cluster" / "run"),
        "mirror_run_dir": str(MirrorPaths.of(site_dir).run),
        "protect_home": systemd.protect_home(
            site_dir, *systemd.python_paths(),
            *([answers.upstream] if upstream_is_folder(answers.upstream) else [])),
    }


def existing_tls(site_dir: Path) -> dict[str, str]:
    """The TLS files a site already has (see :data:`SITE_TLS`), by name: kept on every re-render."""
    found = {}
    for name, file in SITE_TLS.items():
        try:
            found[name] = (Path(site_dir) / file).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError):
            continue
    return found


def write_site_tls(answers: Answers, dest: Path, site_name: str, existing: Mapping[str, str]) -> None:
    """The site CA and the server certificate of an https site without the operator's own:
    the existing ones kept, a server certificate made anew when it no longer fits (another
    host, near its expiry: see :func:`kit.site.tls.server_fits`), and each team folder
    given the CA's certificate (never its key)."""
    from kit.site import tls  # cryptography: only for a site that needs it

    ca = tls.Pair(existing.get("ca", ""), existing.get("ca_key", ""))
    try:
        tls.expiry(ca.cert)
        usable_ca = bool(ca.key) and tls.days_left(ca.cert) > tls.RENEW_DAYS
    except ValueError:
        usable_ca = False
    if not usable_ca:
        ca = tls.make_ca(site_name)
    server = tls.Pair(existing.get("cert", ""), existing.get("key", ""))
    if not (usable_ca and tls.server_fits(server, ca, answers.host)):
        server = tls.make_server(ca, answers.host)
    folder = dest / "tls"
    folder.mkdir(exist_ok=True)
    for name, text in (("ca", ca.cert), ("ca_key", ca.key), ("cert", server.cert), ("key", server.key)):
        write_private(dest / SITE_TLS[name], text)
    teams = dest / "teams"
    for team in (teams.iterdir() if teams.is_dir() else ()):
        write_private(team / "ca.pem", ca.cert)


def build_site(answers: Answers, dest: Path, *, site_dir: Path, site_secrets: Mapping[str, str] | None = None,
               site_tls: Mapping[str, str] | None = None) -> None:
    """Render the whole site for ``answers`` into the new folder ``dest``, to be moved to ``site_dir``.

    ``site_secrets``: the existing site's, kept on every re-render (changing
    devpi's would log everybody out); any missing is 256 new random bits,
    derived from nothing, so neither kit.toml nor the admin password gives
    it away.
    """
    given = site_secrets or {}
    all_secrets = {name: given.get(name) or secrets.token_hex(32) for name in SITE_SECRETS}
    context = site_context(answers, all_secrets, site_dir)
    render_template("site", context, dest)
    if not ({"mirror", "private"} & set(answers.setups)):
        shutil.rmtree(dest / "server")
    else:
        # What create-indexes.sh makes, in the same type kit up configures from.
        write_private(dest / "server" / "indexes.json", IndexPlan.from_answers(answers).to_json(), 0o644)
    if "cluster" not in answers.setups or (answers.is_multi_host and not answers.this_host):
        shutil.rmtree(dest / "cluster")  # a site spread over hosts has its hosts' bundles instead
    else:

        # The edge's settings come from the edge's own config type, so they always load.
        edge_config(answers).write(dest / "cluster" / "edge.json")
        if answers.edge != "varnish":
            (dest / "cluster" / "edge.vcl").unlink()
        elif answers.tls:
            write_private(dest / "cluster" / HITCH_FILE, hitch_conf(answers, site_dir))
    if "public-mirror" not in answers.setups:
        shutil.rmtree(dest / "mirror")
    units = dest / "cluster" / "systemd"
    if units.is_dir():
        # One unit per service of services_of: no shield without Varnish, no local upstream for a URL,
        # a host's own services only.
        for unit in units.glob("kit-*.service"):
            if unit.name.removeprefix("kit-").removesuffix(".service") not in context["units"]:
                unit.unlink()
    if "clients" in answers.setups and not answers.this_host:
        teams = dest / "teams"
        teams.mkdir()
        for team in context["teams"]:
            render_team(team, teams / team["team"])
    if answers.site_ca:
        write_site_tls(answers, dest, Path(site_dir).absolute().name, site_tls or {})
    if "cluster" in answers.setups and not answers.this_host:
        # Prometheus's scrape configuration and alerts, a Grafana dashboard: the whole site's, in its folder only.
        write_monitoring(answers, dest, site_dir, edge_config(answers).static_copy_every)
    if answers.is_multi_host:
        # Nothing runs from the site folder itself: each host's part is its bundle.
        for folder in ("cluster", "mirror"):
            shutil.rmtree(dest / folder, ignore_errors=True)
        for host in answers.hosts:
            build_bundle(answers.for_host(host.name), bundle_dir(dest, host.name),
                         site_dir=bundle_dir(site_dir, host.name), site_secrets=all_secrets, site_tls=dest / "tls")
    write_private(dest / ANSWERS_FILE, dump_answers(answers))
    _finish(dest)


def _finish(dest: Path) -> None:
    """Modes fixed, then the manifest of everything in ``dest``."""
    fix_modes(dest)
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    manifest = {"files": {name: _sha256(dest / name) for name in files}}
    write_private(dest / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def build_bundle(answers: Answers, dest: Path, *, site_dir: Path, site_secrets: Mapping[str, str],
                 site_tls: Path) -> None:
    """Render host ``answers.this``'s bundle into ``dest`` (see :mod:`kit.site.bundles`):
    the site's templates for that host, then only what its roles need."""
    context = site_context(answers, site_secrets, site_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    render_template("site", context, dest)
    this = answers.this
    if "edge" in this.roles:
        edge_config(answers).write(dest / "cluster" / "edge.json")
    if "balancer" in this.roles:
        from kit.site.balancer import write_balancer_files

        write_balancer_files(answers, this, dest / "cluster", Path(site_dir).absolute() / "cluster")
    prune_bundle(answers, dest, context["units"], site_tls)
    write_private(dest / "README.md", bundle_readme(answers, context["units"], Path(site_dir).absolute()), 0o644)
    write_private(dest / ANSWERS_FILE, dump_answers(bundle_answers(answers)))
    _finish(dest)


class SitePlan:
    """A site rendered into a staging folder, not yet in place: what would
    change (:attr:`changes`), then :meth:`apply`. Made by :func:`staged_site`."""

    def __init__(self, site_dir: Path, staged: Path, old: dict[str, str] | None, new_files: list[str]):
        self.site_dir, self.staged, self.old, self.new_files = site_dir, staged, old, new_files
        self.changes = self._changes()

    def _changes(self) -> SiteChanges:
        files = [f for f in self.new_files if f != MANIFEST]
        if self.old is None:
            return SiteChanges(created=files, updated=[], removed=[], unchanged=[])
        changes = SiteChanges([], [], [], [])
        for name in files:
            src, dst = self.staged / name, self.site_dir / name
            if dst.is_file() and _sha256(dst) == _sha256(src) and _mode(dst) == _mode(src):
                changes.unchanged.append(name)
            else:
                (changes.updated if dst.exists() else changes.created).append(name)
        changes.removed = [n for n in sorted(set(self.old) - set(self.new_files)) if (self.site_dir / n).is_file()]
        return changes

    def apply(self) -> SiteChanges:
        """Move the staged site into place; return what changed.

        A new site is renamed into place in one step; an existing empty folder
        (``kit init .``, or ``kit init ../x`` from inside x) is kept and gets
        the staged files moved into it: removing it and renaming over it would
        pull the folder from under a shell that is in it.
        """
        if self.old is None:
            if self.site_dir.is_dir():
                # Staged inside the folder itself: anything else appeared since the check.
                if _entries(self.site_dir, but=self.staged.parent):
                    raise SiteDirError(
                        f"{self.site_dir} is not empty any more; choose a new or empty folder"
                    )
                for entry in sorted(self.staged.iterdir()):
                    os.replace(entry, self.site_dir / entry.name)
                self.site_dir.chmod(0o700)  # as private as a site kit makes itself
            else:
                self.site_dir.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.staged, self.site_dir)
        else:
            for name in self.changes.created + self.changes.updated:
                dst = self.site_dir / name
                _private_dirs(dst.parent, self.site_dir)
                os.replace(self.staged / name, dst)
            for name in self.changes.removed:
                path = self.site_dir / name
                path.unlink()
                _prune_empty_dirs(path.parent, self.site_dir)
            if self.changes.changed or _sha256(self.staged / MANIFEST) != _sha256(self.site_dir / MANIFEST):
                os.replace(self.staged / MANIFEST, self.site_dir / MANIFEST)
        return self.changes


@contextlib.contextmanager
def staged_site(answers: Answers, site_dir: Path, existing: Site | None, *, force: bool = False) -> Iterator[SitePlan]:
    """Render the site for ``answers`` next to ``site_dir`` and yield its plan;
    the staging folder is removed on exit, applied or not. ``existing`` is the
    site already there, as :func:`check_site_dir` read it (None for a new one).

    Raises :class:`SiteDirError` for a folder kit must not use and
    :class:`HandEditedError` when a generated file was changed by hand
    (unless ``force``), before anything is written.
    """
    site_dir = Path(site_dir)
    old_manifest = existing.manifest if existing is not None else None
    # Staged where the files will land, so that moving them is a rename on one
    # file system: in the folder itself when it exists (a site, or an empty
    # folder), else in the nearest existing folder above it; never a folder
    # created for it, which a failure would leave behind. mkdtemp makes it
    # 0700 (it holds kit.toml and the secrets) and the with removes it.
    staging_parent = site_dir if site_dir.is_dir() else _existing_parent(site_dir)
    try:
        staging = tempfile.TemporaryDirectory(prefix=".kit-staging-", dir=staging_parent)
    except OSError as exc:  # a read-only disk, /sys's EPERM for root, a name too long
        raise SiteDirError(f"cannot write in {staging_parent} ({exc.strerror or exc}); "
                           "choose a folder you can write to") from None
    with staging as tmp:
        staged = Path(tmp, "site")
        build_site(answers, staged, site_dir=site_dir,
                   site_secrets=existing.secrets if existing is not None else None,
                   site_tls=existing_tls(site_dir) if existing is not None else None)
        new_files = sorted(str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file())
        if old_manifest is not None:
            _refuse_hand_edits(site_dir, old_manifest, new_files, force=force)
        yield SitePlan(site_dir, staged, old_manifest, new_files)


def render_site(answers: Answers, site_dir: Path, *, force: bool = False) -> SiteChanges:
    """Write (or update) the site for ``answers`` in ``site_dir``; see :func:`staged_site`."""
    with staged_site(answers, site_dir, check_site_dir(Path(site_dir)), force=force) as plan:
        return plan.apply()


def _refuse_hand_edits(site_dir: Path, old: dict[str, str], new_files: list[str], *, force: bool) -> None:
    edited = []
    for name, digest in sorted(old.items()):
        path = site_dir / name
        if path.is_file() and _sha256(path) != digest:
            edited.append(name)
    # A file the user created where kit now wants to write one is theirs too.
    edited += [n for n in new_files if n not in old and n != MANIFEST and (site_dir / n).exists()]
    if edited and not force:
        raise HandEditedError(sorted(edited))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _private_dirs(folder: Path, top: Path) -> None:
    """Make ``folder`` (under the site ``top``) and its missing parents, 0700 whatever the umask."""
    missing = []
    while folder != top and not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir()
        path.chmod(0o700)


def _prune_empty_dirs(folder: Path, top: Path) -> None:
    while folder != top and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
