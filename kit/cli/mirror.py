"""The public mirror's sub-app: kit mirror sync, verify, status."""

from __future__ import annotations

from typing import Optional

import typer

# Imported as _say: several commands name progress's reporter say.
from kit.cli.common import SITE_ARG, KitGroup, say as _say, site_path, warn as _warn


mirror_app = typer.Typer(
    name="mirror", cls=KitGroup, no_args_is_help=True, rich_markup_mode=None,
    help="The site's public mirror (the public-mirror setup): sync it with bandersnatch, verify it, show its state.",
)


def _mirror_site(site_dir: str | None):
    from kit.site.folder import Site

    return Site.find(site_path(site_dir))


@mirror_app.command("sync")
def mirror_sync_command(
    site_dir: Optional[str] = SITE_ARG,
    dry_run: bool = typer.Option(False, "--dry-run", help="Resolve the projects and estimate the storage; download nothing."),
    repair: bool = typer.Option(False, "--repair", help="Sync every project again and download each missing or corrupt file, not only what changed upstream."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print errors only (for cron)."),
) -> None:
    """Sync the public mirror now: resolve the projects and their dependencies,
    check the storage, run bandersnatch, refresh the edge's static copy.

    Safe to interrupt: the pages served are always whole, and the next sync
    resumes where this one stopped. Exit code: 0 synced, 1 failed, 130 interrupted.
    """
    from kit.mirror.sync import sync_mirror
    from kit.core.report import progress

    site = _mirror_site(site_dir)
    if quiet:
        # Errors only, and the warnings cron must mail: a wheel that disagrees with its page.
        sync_mirror(site, dry_run=dry_run, repair=repair, warn=_warn)
        return
    with progress("syncing the public mirror") as say:
        sync_mirror(site, say=say, dry_run=dry_run, repair=repair)
    if dry_run:
        _say(f"dry run: nothing downloaded; sync with: {site.command('mirror sync')}")


@mirror_app.command("verify")
def mirror_verify_command(site_dir: Optional[str] = SITE_ARG) -> None:
    """Check every mirrored file against the sha256 its page publishes; name each missing or corrupt one.

    Exit code: 0 when every file matches, 1 otherwise.
    """
    from kit.core.report import byte_size
    from kit.mirror.verify import verify_mirror
    from kit.core.report import plural, progress

    site = _mirror_site(site_dir)
    with progress("verifying the public mirror") as say:
        result = verify_mirror(site.path, say=say)
    for problem in result.problems:
        _say(problem)
    summary = f"{plural(result.files, 'file')} of {plural(result.projects, 'project')} ({byte_size(result.bytes)})"
    if result.problems:
        _say(f"{plural(len(result.problems), 'problem')} in {summary}; "
             f"fix: {site.command('mirror sync', '--repair')} downloads what is missing or corrupt again")
        raise typer.Exit(1)
    _say(f"ok: {summary}, every sha256 matches its page")


@mirror_app.command("status")
def mirror_status_command(
    site_dir: Optional[str] = SITE_ARG,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Show the last sync (result, age, serial) and what the mirror holds."""
    import json

    from kit.mirror.status import mirror_status

    site = _mirror_site(site_dir)
    state = mirror_status(site.path)
    if as_json:
        _say(json.dumps(state.as_dict(), indent=1))
        return
    _say(f"public mirror: {state.summary()}")
    if state.record is not None and state.record.message and state.record.result != "ok":
        _say(f"last sync: {state.record.message}")
