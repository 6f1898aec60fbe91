"""The site's own files: its secrets and devpi's databases (password
hashes), readable by the owner only."""

from __future__ import annotations

import stat
from pathlib import Path

from kit.core.report import plural
from kit.ops.check.findings import Finding
from kit.site.folder import SITE_SECRETS

#: Site files holding secrets, and folders holding devpi's databases (password hashes).
_SITE_SECRETS = ("kit.toml", "server/secrets.env", *(path for paths in SITE_SECRETS.values() for path in paths))
_DATABASES = ("cluster/run/master", "cluster/run/mirror", "server/data")


def open_to_others(folder: Path, names) -> list[tuple[str, int]]:
    """Each of the files ``names`` (in ``folder``) that exists and that its group or others may use, with its mode."""
    modes = [(name, stat.S_IMODE((folder / name).stat().st_mode)) for name in names if (folder / name).is_file()]
    return [(name, mode) for name, mode in modes if mode & 0o077]


def mode_problems(loose: list[tuple[str, int]]) -> list[str]:
    return [f"{name} is mode {mode:04o}" for name, mode in loose]


def site_findings(site_path: Path) -> list[Finding]:
    """The site's own secrets and devpi's databases: readable by the owner only."""
    findings = []
    loose = open_to_others(site_path, _SITE_SECRETS)
    fix = "chmod 600 " + " ".join(str(site_path / name) for name, _ in loose)
    findings.append(Finding("site", "secrets not world-readable", not loose,
                            "; ".join(mode_problems(loose)) or "kit.toml, secrets.env and devpi-secret are mode 0600",
                            "" if not loose else fix))
    folders = [name for name in _DATABASES if (site_path / name).is_dir()]
    readable = [p for name in folders for p in [site_path / name, *(site_path / name).rglob("*")]
                if p.stat().st_mode & 0o044]
    if readable:
        first = readable[0]
        findings.append(Finding(
            "site", "databases not world-readable", False,
            f"{plural(len(readable), 'file or folder', 'files or folders')} of devpi's databases, which hold "
            f"password hashes, {'is' if len(readable) == 1 else 'are'} readable by "
            f"others (e.g. {first.relative_to(site_path)} mode {stat.S_IMODE(first.stat().st_mode):04o})",
            "chmod -R go= " + " ".join(str(site_path / name) for name in folders),
        ))
    elif folders:
        findings.append(Finding("site", "databases not world-readable", True,
                                " and ".join(folders) + " are readable by their owner only"))
    return findings
