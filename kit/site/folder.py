"""A site folder, found the way git finds a repository.

A kit site is a folder holding ``kit.toml`` (the answers) and
``.kit-manifest.json`` (what kit generated). Commands that work on a site
(``up``, ``down``, ``status``, ``logs``, ``check``, and ``init`` re-runs) take
an optional SITE_DIR; without it, the site is the current folder or the
nearest folder above it that is one. :meth:`Site.command` writes the fix hints
kit prints, naming the site folder only when the user is not already in it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kit.site.answers import Answers
from kit.core.errors import AnswerError, AnswerFileError, SiteDirError

__all__ = ["Site", "find_site_root", "read_manifest", "site_command", "shown_path", "home_short", "ANSWERS_FILE", "MANIFEST", "SITE_TLS"]

ANSWERS_FILE = "kit.toml"
MANIFEST = ".kit-manifest.json"


def is_site_root(folder: Path) -> bool:
    return (folder / MANIFEST).is_file() and (folder / ANSWERS_FILE).is_file()


def find_site_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` that is a kit site, or None."""
    folder = Path(start).absolute()
    for candidate in (folder, *folder.parents):
        if is_site_root(candidate):
            return candidate
    return None


def _shown(path: Path, given: Path | None) -> str:
    """How to name ``path`` in a command typed in the current folder ("" when inside it)."""
    cwd = Path.cwd()
    if cwd == path or path in cwd.parents:
        return ""
    relative = os.path.relpath(path, cwd)
    if not relative.startswith(".."):
        return relative
    return str(given) if given is not None else home_short(path)


def shown_path(path: Path, given: Path | None = None) -> str:
    """How to write ``path`` as a path from the current folder (``.``, ``..``, ``room``, ``~/x``)."""
    path = Path(path).absolute()
    if path in Path.cwd().parents:
        return os.path.relpath(path)
    return _shown(path, given) or "."


def site_command(path: Path, subcommand: str, *rest: str, given: Path | None = None) -> str:
    """A kit command line for the site at ``path``: ``kit up room``, or ``kit up`` inside it."""
    return " ".join(part for part in ("kit", subcommand, _shown(path, given), *rest) if part)


def read_manifest(folder: Path) -> dict[str, str] | None:
    """The manifest of a kit site (file → sha256), or None when the folder is not one."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = data["files"]
        if not isinstance(files, dict):
            raise TypeError
        return {str(k): str(v) for k, v in files.items()}
    except (ValueError, KeyError, TypeError, OSError):
        raise SiteDirError(f"{path} is corrupt; restore it or re-generate the site into a new folder") from None


#: The site's secrets (256 random bits each, hex) and the files that hold
#: them: the one devpi signs logins with, and the one the edge checks purges with.
SITE_SECRETS = {
    "devpi": ("cluster/devpi-secret", "server/devpi-secret"),
    "purge": ("cluster/edge-purge-secret",),
}
#: Where an https site keeps the TLS files kit makes (unless the operator gives their own):
#: the site CA's key apart from the certificate clients get (each team folder has a copy
#: of ``ca.pem``); the CA's key never leaves the site folder.
SITE_TLS = {
    "ca": "tls/ca.pem",
    "ca_key": "tls/ca-key.pem",
    "cert": "tls/server.pem",
    "key": "tls/server-key.pem",
}
_SECRET_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Site:
    """An existing site, read once: its folder, its answers (validated, and
    as kit.toml holds them), its manifest, and how to name it in a command.
    Everything that works on a site (init re-runs, render, cluster, check)
    is handed this, never a bare folder to read again."""

    path: Path  # absolute
    answers: Answers
    #: SITE_DIR as the user typed it (None when the site was found from the current folder).
    given: Path | None = None
    #: kit.toml as written: the defaults of a re-run.
    raw: dict[str, Any] = field(default_factory=dict, compare=False)
    #: What kit generated last time: file → sha256, to spot hand edits.
    manifest: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def load(cls, root: Path, given: Path | None = None) -> "Site":
        """The site whose folder is ``root``: manifest and answers read once.

        Raises :class:`SiteDirError` (not a site, corrupt manifest) or
        :class:`AnswerFileError` (kit.toml unreadable or invalid).
        """
        from kit.site.answers import answers_from_raw, load_answers_file

        root = Path(root).absolute()
        manifest = read_manifest(root)
        if manifest is None or not (root / ANSWERS_FILE).is_file():
            raise SiteDirError(f"{root} is not a kit site; create one with: kit init {root}")
        path = root / ANSWERS_FILE
        raw = load_answers_file(path)
        # A site made before kit asked who may read keeps what it had: reads for anyone.
        raw.setdefault("read_access", "anonymous")
        # A host's bundle (SITE/hosts/NAME/) says whose it is; only the master's holds the
        # admin password (a stand-in is validated, then taken away again).
        this_host = raw.pop("this_host", "")
        withheld = bool(this_host) and "admin_password" not in raw
        try:
            if not isinstance(this_host, str):
                raise AnswerError("this_host", "is not a host name; copy the bundle again from the site folder")
            answers = answers_from_raw({**raw, "admin_password": "withheld"} if withheld else raw)
            if this_host:
                answers = replace(answers.for_host(this_host), admin_password="" if withheld else answers.admin_password)
        except AnswerError as exc:
            raise AnswerFileError(f"{path}: {exc}") from None
        return cls(root, answers, given, raw, manifest)

    @property
    def is_bundle(self) -> bool:
        """Whether this folder is one host's bundle (``SITE/hosts/NAME/``), not a whole site."""
        return bool(self.answers.this_host)

    def certificate_warnings(self) -> list[str]:
        """One line per certificate of an https site that expires within
        :data:`kit.site.tls.WARN_DAYS` days, with how to renew it ("" lines for none)."""
        answers = self.answers
        if not answers.tls:
            return []
        from kit.site.tls import expiring

        up_again = f"then restart the edge: {self.command('down')} and {self.command('up')}"
        if answers.tls_cert:
            renew = (f"renew it (certbot renew, or your CA's way), {up_again} (or send the edge SIGHUP: "
                     "it reads a renewed certificate again)")
            return [f"TLS certificate {problem}; {renew}" for _what, problem in
                    expiring({"certificate": answers.tls_cert})]
        fixes = {"server": f"make a new one: {self.command('init', '--no-input')}, {up_again}",
                 "ca": f"make a new site CA: {self.command('init', '--no-input')}, {up_again}, and hand every "
                       "team the new ca.pem"}
        files = {"server": str(self.path / SITE_TLS["cert"]), "ca": str(self.path / SITE_TLS["ca"])}
        return [f"{'site CA' if what == 'ca' else 'TLS certificate'} {problem}; {fixes[what]}"
                for what, problem in expiring(files)]

    @property
    def secrets(self) -> dict[str, str]:
        """The site's secrets its files hold (see :data:`SITE_SECRETS`), by name."""
        found = {}
        # A site spread over hosts keeps them in its hosts' bundles (SITE/hosts/NAME/cluster/).
        bundles = sorted((self.path / "hosts").glob("*")) if (self.path / "hosts").is_dir() else []
        for name, files in SITE_SECRETS.items():
            for path in [self.path / file for file in files] + [bundle / files[0] for bundle in bundles]:
                try:
                    text = path.read_text(encoding="ascii").strip()
                except (OSError, UnicodeDecodeError):
                    continue
                if _SECRET_RE.match(text):
                    found[name] = text
                    break
        return found

    @classmethod
    def find(cls, site_dir: Path | None = None) -> "Site":
        """The site at or above ``site_dir`` (default: the current folder).

        Raises :class:`SiteDirError` with the fix when there is none.
        """
        start = Path.cwd() if site_dir is None else Path(site_dir)
        if site_dir is not None and not start.exists():
            raise SiteDirError(f"{site_dir} does not exist; create a site there with: kit init {site_dir}")
        root = find_site_root(start)
        if root is None:
            if site_dir is None:
                raise SiteDirError(
                    f"no kit site in {home_short(start.absolute())} or any folder above it; cd into a site, "
                    "name one (e.g. kit status my-site), or create one with: kit init my-site"
                )
            raise SiteDirError(f"{site_dir} is not a kit site; create one with: kit init {site_dir}")
        return cls.load(root, site_dir if site_dir is not None and root == start.absolute() else None)

    @property
    def arg(self) -> str:
        """The SITE_DIR to type in a command from the current folder ("" when inside the site)."""
        return _shown(self.path, self.given)

    def command(self, subcommand: str, *rest: str) -> str:
        """A kit command line for this site, e.g. ``kit up room`` or, inside it, ``kit up``."""
        return site_command(self.path, subcommand, *rest, given=self.given)

    def __str__(self) -> str:
        """The site in a message, from the current folder: ``room``, ``.``, or ``../..`` from
        inside it (a command typed there needs no SITE_DIR; a message still names the folder)."""
        return shown_path(self.path, self.given)


def home_short(path: Path, home: Path | None = None) -> str:
    """``path`` with the home folder written ``~``, as the guide writes it."""
    home = Path.home() if home is None else home
    return "~/" + str(path.relative_to(home)) if home in path.parents else str(path)
