"""The commands that save a site and make it again: backup and restore."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kit.cli.common import SITE_ARG, say as _say, site_path


def backup_command(
    site_dir: Optional[str] = SITE_ARG,
    to: str = typer.Option(..., "--to", metavar="FILE", help="The archive to write, a .tar.gz (mode 0600: it holds the site's secrets)."),
    force: bool = typer.Option(False, "--force", help="Replace FILE if it exists."),
) -> None:
    """Back up what the site cannot fetch again, while its cluster runs: kit.toml, its secrets, the master's data.

    The master's data (users, tokens, indexes, every uploaded file) is read
    with devpi's own devpi-export, at one serial, while the cluster keeps
    serving. Left out, and said so: the mirror's data, the edge's cache and
    static copy, root/pypi's mirrored files, the generated files (made again
    from kit.toml). The archive holds a manifest with the sha256 of every
    member, which kit restore checks; it is written aside and renamed into
    place, so FILE is whole or absent.
    """
    from kit.core.report import progress
    from kit.ops.backup import backup_lines, backup_site
    from kit.site.folder import Site
    from kit.site.validate import path as valid_path

    dest = valid_path("--to", to, folder=False, what="backup file")
    site = Site.find(site_path(site_dir))
    with progress("backing up") as say:
        result = backup_site(site, dest, force=force, say=say)
    _say("\n".join(backup_lines(result)))


def restore_command(
    archive: str = typer.Argument(..., metavar="FILE", help="A backup kit backup wrote."),
    site_dir: str = typer.Argument(..., metavar="SITE_DIR", help="The folder of the restored site: new or empty (or, with --replace, the site whose data folders were lost)."),
    replace: bool = typer.Option(False, "--replace", help="Restore onto the site in SITE_DIR, its cluster down and its cluster/run/master and cluster/run/mirror gone (a lost disk)."),
) -> None:
    """Make a site again from a backup: its files from kit.toml with the same secrets, the master's data imported.

    Every member is checked against the archive's manifest first; a damaged
    archive writes nothing. The site may land on another path or machine:
    the generated files name the new paths. The mirror starts empty and
    copies the master at kit up.
    """
    from kit.core.report import progress
    from kit.ops.backup import restore_lines, restore_site
    from kit.site.validate import path as valid_path

    source = valid_path("FILE", archive, folder=False, what="backup file")
    target = valid_path("SITE_DIR", site_dir, what="site folder")
    with progress("restoring") as say:
        result = restore_site(Path(source), Path(target), replace=replace, say=say)
    _say("\n".join(restore_lines(result, Path(target))))
