"""``kit check`` on a whole site: the cluster, then each team folder (lint,
then against the cluster), then the site's own files and the shell."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from kit.ops.check.cluster import cluster_findings
from kit.ops.check.environment import environment_findings
from kit.ops.check.findings import Finding, Hints
from kit.ops.check.lint import lint_team
from kit.ops.check.live import live_team
from kit.ops.check.site_files import site_findings


def default_package(upstream: str) -> str:
    """A name every index of the site should resolve: one from a folder upstream, else pip."""
    from kit.core.names import project_of
    from kit.site.answers import upstream_is_folder

    if upstream_is_folder(upstream):
        try:
            names = sorted(filter(None, (project_of(p.name) for p in Path(upstream).iterdir())))
        except OSError:
            names = []
        if names:
            return names[0]
    return "pip"


def check_site(
    site_dir: Path | None = None, package: str | None = None, live: bool = True,
    environ: Mapping[str, str] | None = None, strict: bool = False,
) -> list[Finding]:
    """The site's cluster (``live``); every team folder of a site: lint, then
    (``live``) against the cluster; then the shell's variables that would
    override the team files. With ``strict``, a warning that admits an
    attacker's package is a failure.

    ``site_dir`` is found like ``git`` finds a repository (default: the
    current folder or one above it). Raises
    :class:`~kit.core.errors.SiteDirError` when there is no site.
    """
    from kit.site.folder import Site

    site = Site.find(site_dir)
    if package is None and live:
        package = default_package(site.answers.upstream)
    hints = Hints(site.command("up"), site.command("status"), site.command("init"), site.command("down"))
    findings, cluster = [], None
    teams_dir = site.path / "teams"
    folders = sorted(p for p in teams_dir.iterdir() if p.is_dir()) if teams_dir.is_dir() else []
    if live:
        findings, cluster = cluster_findings(site)
    # Without a private index, every team reads the mirror, as open as it always was.
    read_access = site.answers.read_access if "private" in site.answers.setups else "anonymous"
    for number, folder in enumerate(folders):
        findings += lint_team(folder.name, folder, hints)
        if live and not (cluster and cluster.hung):  # through a hung service, each call would wait for its timeout
            # The next team (round the list) tries to read this team's index.
            stranger = folders[(number + 1) % len(folders)] if len(folders) > 1 else None
            findings += live_team(folder.name, folder, package, hints, cluster, read_access,
                                  (stranger.name, stranger) if stranger else None)
    # An https site's certificates: named within 14 days of their end, with how to renew them.
    # (A warning until it has expired: then every client is refused.)
    findings += [Finding("site", "TLS certificates", False, problem, fix, warning=" expired on " not in problem)
                 for problem, fix in (warning.split("; ", 1) for warning in site.certificate_warnings())]
    if findings:
        findings += site_findings(site.path)
        findings += environment_findings(os.environ if environ is None else environ)
    if strict:
        for finding in findings:
            if finding.warning and finding.admits_attacker:
                finding.warning = False
    return findings
