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
import shlex
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from kit.answers import Answers, dump_answers, upstream_is_folder
from kit.exceptions import HandEditedError, SiteDirError
from kit.site import ANSWERS_FILE, MANIFEST

__all__ = ["render_site", "staged_site", "SitePlan", "render_template", "SiteChanges", "MANIFEST", "ANSWERS_FILE",
           "template_dir"]
#: Files holding secrets: written with mode 0600 wherever they land.
SECRET_FILES = {".pypirc", "ci.env", "secrets.env", "devpi-secret", ANSWERS_FILE}
#: Files that are run as programs.
EXECUTABLE_FILES = {"init.sh", "create-indexes.sh"}


def template_dir(name: str) -> Path:
    """Templates ship inside the wheel as kit/templates; a checkout keeps them at the top."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates" / name, here.parent / "templates" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"kit template {name!r} is missing from this installation")


def render_template(name: str, context: dict[str, Any], dest: Path) -> None:
    """Render ``templates/<name>`` with ``context`` into the new folder ``dest``.

    cookiecutter always gets an isolated config file, so it never reads the
    user's ~/.cookiecutterrc nor writes replay files into their home.
    """
    from cookiecutter.main import cookiecutter  # heavy: imported only when rendering

    with tempfile.TemporaryDirectory(prefix="kit-render-") as tmp:
        config = Path(tmp, "cookiecutter.yaml")
        config.write_text(
            f"cookiecutters_dir: {json.dumps(str(Path(tmp, 'cookiecutters')))}\n"
            f"replay_dir: {json.dumps(str(Path(tmp, 'replay')))}\n"
        )
        out = cookiecutter(
            str(template_dir(name)),
            no_input=True,
            # "_kit" is a private variable: cookiecutter passes it through unrendered.
            extra_context={"_kit": _jsonable(context)},
            output_dir=str(Path(tmp, "out")),
            config_file=str(config),
            accept_hooks=False,
        )
        shutil.move(out, dest)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fix_modes(folder: Path) -> None:
    """Secrets 0600, scripts 0755, everything else 0644: the same on every run."""
    for path in folder.rglob("*"):
        if path.is_file():
            if path.name in SECRET_FILES:
                path.chmod(stat.S_IRUSR | stat.S_IWUSR)
            elif path.name in EXECUTABLE_FILES:
                path.chmod(0o755)
            else:
                path.chmod(0o644)


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


def read_manifest(site_dir: Path) -> dict[str, str] | None:
    """The manifest of a kit site, or None when the folder is not one."""
    path = site_dir / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = data["files"]
        if not isinstance(files, dict):
            raise TypeError
        return {str(k): str(v) for k, v in files.items()}
    except (ValueError, KeyError, TypeError):
        raise SiteDirError(
            f"{path} is corrupt; restore it or re-generate the site into a new folder"
        ) from None


def check_site_dir(site_dir: Path) -> dict[str, str] | None:
    """Refuse a folder kit must not write into; return its manifest if it is a site."""
    if site_dir.exists() and not site_dir.is_dir():
        raise SiteDirError(f"{site_dir} is a file, not a folder; choose another SITE_DIR")
    manifest = read_manifest(site_dir) if site_dir.is_dir() else None
    if site_dir.is_dir() and manifest is None and any(site_dir.iterdir()):
        raise SiteDirError(f"{site_dir} is not empty and is not a kit site; choose a new or empty folder")
    parent = site_dir if site_dir.is_dir() else _existing_parent(site_dir)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SiteDirError(f"{parent} is not writable; choose a folder you can write to")
    return manifest


def _existing_parent(path: Path) -> Path:
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise SiteDirError(f"{parent} is a file, not a folder; choose another SITE_DIR")
            return parent
    return Path("/")


def site_context(answers: Answers) -> dict[str, Any]:
    """Everything the site templates need, derived from the answers only."""
    from kit.clients import team_context  # local: clients imports render

    return {
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
        # secrets.env is sourced by sh: quote it so "$", quotes or ";" stay literal
        "admin_password_sh": shlex.quote(answers.admin_password),
        "devpi_secret": _derived(answers, "devpi-secret"),
        "teams": [team_context(answers, team) for team in answers.teams],
        "private": "private" in answers.setups,
        "edge_public_url": answers.base_url if "cluster" in answers.setups else "",
        "cluster_master_url": f"http://127.0.0.1:{answers.master_port}",
        "cluster_mirror_url": f"http://127.0.0.1:{answers.mirror_port}",
    }


def _derived(answers: Answers, purpose: str) -> str:
    return hashlib.sha256(f"{purpose}:{answers.admin_password}".encode()).hexdigest()


def build_site(answers: Answers, dest: Path) -> None:
    """Render the whole site for ``answers`` into the new folder ``dest``."""
    from kit.clients import render_team

    context = site_context(answers)
    render_template("site", context, dest)
    if not ({"mirror", "private"} & set(answers.setups)):
        shutil.rmtree(dest / "server")
    if "cluster" not in answers.setups:
        shutil.rmtree(dest / "cluster")
    else:
        from kit.services import edge_config

        # The edge's settings come from the edge's own config type, so they always load.
        edge_config(answers).write(dest / "cluster" / "edge.json")
    if "clients" in answers.setups:
        teams = dest / "teams"
        teams.mkdir()
        for team in context["teams"]:
            render_team(team, teams / team["team"])
    (dest / ANSWERS_FILE).write_text(dump_answers(answers), encoding="utf-8")
    fix_modes(dest)
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    manifest = {"files": {name: _sha256(dest / name) for name in files}}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")


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
        """Move the staged site into place; return what changed."""
        if self.old is None:
            if self.site_dir.is_dir():
                self.site_dir.rmdir()  # checked empty when staged
            os.replace(self.staged, self.site_dir)
        else:
            for name in self.changes.created + self.changes.updated:
                dst = self.site_dir / name
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.staged / name, dst)
            for name in self.changes.removed:
                path = self.site_dir / name
                path.unlink()
                _prune_empty_dirs(path.parent, self.site_dir)
            if self.changes.changed or _sha256(self.staged / MANIFEST) != _sha256(self.site_dir / MANIFEST):
                os.replace(self.staged / MANIFEST, self.site_dir / MANIFEST)
        return self.changes


@contextlib.contextmanager
def staged_site(answers: Answers, site_dir: Path, *, force: bool = False) -> Iterator[SitePlan]:
    """Render the site for ``answers`` next to ``site_dir`` and yield its plan;
    the staging folder is removed on exit, applied or not.

    Raises :class:`SiteDirError` for a folder kit must not use and
    :class:`HandEditedError` when a generated file was changed by hand
    (unless ``force``), before anything is written.
    """
    site_dir = Path(site_dir)
    old_manifest = check_site_dir(site_dir)
    staging_parent = site_dir.absolute().parent
    staging_parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".kit-staging-", dir=staging_parent) as tmp:
        staged = Path(tmp, "site")
        build_site(answers, staged)
        new_files = sorted(str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file())
        if old_manifest is not None:
            _refuse_hand_edits(site_dir, old_manifest, new_files, force=force)
        yield SitePlan(site_dir, staged, old_manifest, new_files)


def render_site(answers: Answers, site_dir: Path, *, force: bool = False) -> SiteChanges:
    """Write (or update) the site for ``answers`` in ``site_dir``; see :func:`staged_site`."""
    with staged_site(answers, site_dir, force=force) as plan:
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


def _prune_empty_dirs(folder: Path, top: Path) -> None:
    while folder != top and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
