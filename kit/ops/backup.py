"""``kit backup`` and ``kit restore``: an archive of what a site cannot fetch again, and a
site made again from it.

What cannot be fetched again: the master's data (users and their password hashes,
devpi-tokens' tokens, which live in their user's record, the indexes, their settings and
every file a team uploaded), ``kit.toml`` (the answers and the admin password) and the
secrets ``kit init`` made at random (devpi's secret, which signs logins and tokens; the
edge's purge secret; an https site's CA and certificate). Everything else is made again:
the generated files from ``kit.toml``, the mirror (a devpi replica) from the master at
``kit up``, the edge's cache and static copy from the master, root/pypi's mirrored files
from the upstream (:data:`LEFT_OUT` says so in the output).

The master's data goes through devpi's own ``devpi-export``, while the cluster runs:
devpi reads the whole export in one read transaction, at one serial (devpi's storage
appends every change, so a read never waits for a write and no write waits for the
export); the restore is ``devpi-import`` into the new master's data folder.

The archive is a .tar.gz: ``manifest.json`` first (kit's and devpi-server's versions,
the master's serial, the sha256 of every other member), then ``site/…`` and
``devpi-export/…``. A restore checks every member against it before it writes anything.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Callable

from kit import __version__
from kit.core.errors import ClusterError, KitError
from kit.core.files import replaced
from kit.core.report import byte_size, plural
from kit.site.folder import ANSWERS_FILE, SITE_SECRETS, SITE_TLS, Site, is_site_root, shown_path

__all__ = ["BackupError", "Backup", "Restored", "backup_site", "restore_site", "manifest_for", "check_members",
           "site_members", "LEFT_OUT", "ARCHIVE_MANIFEST", "FORMAT"]

Say = Callable[[str], None]

#: The archive's first member.
ARCHIVE_MANIFEST = "manifest.json"
#: The archive's layout version: a restore refuses one it does not know.
FORMAT = 1
#: Where the members live in the archive.
SITE_PART, EXPORT_PART = "site", "devpi-export"
#: What a backup leaves out, and why (printed by kit backup, kept in the manifest).
LEFT_OUT = (
    "the mirror's data (cluster/run/mirror): a replica, it copies the master again at kit up",
    "the edge's cache and static copy (cluster/run/edge-cache, static-copy): fetched again from the master",
    "root/pypi's mirrored files: fetched again from the upstream when asked for",
    "the generated files (configs, team settings): made again from kit.toml by kit restore",
    "logs and pid files",
)
_HEX64 = re.compile(r"[0-9a-f]{64}")


class BackupError(KitError):
    """Raised for a backup or a restore kit refuses (bad input): one line with the fix."""


# -- the archive's members and manifest (pure) ----------------------------------------


def site_members(site_dir: Path) -> list[str]:
    """The site's own files a backup holds, relative to the site: kit.toml, the secrets
    files and the TLS files that exist (each secret once: the first file that holds it)."""
    names = [ANSWERS_FILE]
    names += [files[0] for files in SITE_SECRETS.values() if (site_dir / files[0]).is_file()]
    names += [file for file in SITE_TLS.values() if (site_dir / file).is_file()]
    return names


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_for(members: dict[str, str], *, devpi_server: str, serial: int | None,
                 now: datetime.datetime | None = None) -> dict:
    """The archive's manifest: versions, the master's serial, member → sha256, and what was left out."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return {"format": FORMAT, "kit": __version__, "devpi_server": devpi_server, "master_serial": serial,
            "created": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "members": dict(sorted(members.items())),
            "left_out": list(LEFT_OUT)}


def safe_member_name(name: str) -> bool:
    """Whether ``name`` is a relative path inside the archive's two parts (no ``..``, not absolute)."""
    path = PurePosixPath(name)
    return (not path.is_absolute() and ".." not in path.parts and len(path.parts) >= 2
            and path.parts[0] in (SITE_PART, EXPORT_PART) and "\\" not in name)


def check_manifest(manifest: object, shown: str) -> dict[str, str]:
    """The members (name → sha256) of a manifest read from an archive; :class:`BackupError` when
    it is not one kit writes."""
    bad = f"{shown} is not a kit backup (its manifest is damaged); take another backup file"
    if not isinstance(manifest, dict) or not isinstance(manifest.get("members"), dict):
        raise BackupError(bad)
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{shown} is a kit backup of format {manifest.get('format')!r}, this kit reads {FORMAT}; "
                          "restore it with the kit version that wrote it "
                          f"({manifest.get('kit', 'unknown')})")
    members = manifest["members"]
    if not all(isinstance(v, str) and _HEX64.fullmatch(v) and safe_member_name(k) for k, v in members.items()):
        raise BackupError(bad)
    if f"{SITE_PART}/{ANSWERS_FILE}" not in members or f"{EXPORT_PART}/dataindex.json" not in members:
        raise BackupError(f"{shown} lacks kit.toml or devpi's export; it is not a whole kit backup: take another")
    return members


def check_members(expected: dict[str, str], found: dict[str, str], shown: str) -> None:
    """The members read from the archive (name → sha256 of their bytes) are those of its manifest."""
    for name, digest in sorted(found.items()):
        if name not in expected:
            raise BackupError(f"{shown} holds {name}, which its manifest does not list: it was changed after "
                              "kit backup wrote it; take another backup file")
        if expected[name] != digest:
            raise BackupError(f"{shown} is damaged: {name} does not match its sha256 in the manifest; "
                              "take another backup file")
    missing = sorted(set(expected) - set(found))
    if missing:
        raise BackupError(f"{shown} is incomplete: {plural(len(missing), 'member')} of its manifest missing "
                          f"({missing[0]}…); take another backup file")



# -- kit backup --------------------------------------------------------------------------


@dataclass(frozen=True)
class Backup:
    """What :func:`backup_site` wrote."""

    path: Path
    size: int
    serial: int | None
    users: list[str]
    indexes: list[str]
    files: int  # uploaded files (release files, docs) in the export


def _single_host(site: Site, command: str) -> None:
    if site.answers.is_multi_host or site.is_bundle:
        raise BackupError(f"{site} is spread over hosts; kit {command} works on a site on one machine for now: "
                          "back up the master host's cluster/run/master with devpi-export there")
    if "cluster" not in site.answers.setups or not (site.path / "cluster" / "master.yml").is_file():
        raise BackupError(f"{site} has no cluster, so no master data to back up; back up its kit.toml instead")


def _master_serial(site: Site) -> tuple[int | None, bool]:
    """The master's serial, and whether it runs: from its /+status when it answers, else
    from its database (read only)."""
    from kit.cluster.status import devpi_status

    status = devpi_status(site.answers, "master")
    if status and isinstance(status.get("serial"), int):
        return status["serial"], True
    import sqlite3

    database = site.path / "cluster" / "run" / "master" / ".sqlite"
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            return connection.execute("SELECT max(serial) FROM changelog").fetchone()[0], False
    except sqlite3.Error:
        return None, False


def _devpi(tool: str, args: list[str], cwd: Path, log: Path, what: str) -> None:
    """Run devpi's ``tool`` in ``cwd`` (a cluster folder), its output in ``log``; its files private."""
    from kit.cluster.starting import service_env
    from kit.site.plan import program

    with open(log, "wb") as out:
        code = subprocess.run([program(tool), "-c", "master.yml", *args], cwd=cwd, stdout=out,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=service_env(os.environ),
                              umask=0o077).returncode
    if code != 0:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        last = lines[-1].strip() if lines else "no output"
        raise ClusterError(f"{what}: {tool} failed (exit {code}): {last}")


def backup_site(site: Site, dest: Path, *, force: bool = False, say: Say = print) -> Backup:
    """Write the backup of ``site`` to ``dest`` (a .tar.gz, mode 0600, written aside and renamed
    into place), the cluster running or not. Raises :class:`BackupError` for bad input and
    :class:`ClusterError` when devpi-export fails; nothing is written then."""
    _single_host(site, "backup")
    dest = Path(dest)
    if not dest.name.endswith((".tar.gz", ".tgz")):
        raise BackupError(f"{dest} does not end in .tar.gz; name the backup file e.g. {dest.with_suffix('.tar.gz').name}")
    if dest.is_dir():
        raise BackupError(f"{dest} is a folder; name a backup file, e.g. {dest / 'site.tar.gz'}")
    if dest.exists() and not force:
        raise BackupError(f"{dest} exists; choose another name, or replace it with --force")
    parent = dest.parent if str(dest.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise BackupError(f"cannot write {dest}: {parent} is not a folder you can write to; choose another path")
    if (site.path / "cluster" / "run" / "master").resolve() in dest.absolute().parents:
        raise BackupError(f"{dest} is inside the master's data folder; write the backup elsewhere")
    if not (site.path / "cluster" / "run" / "master" / ".sqlite").is_file():
        raise BackupError(f"{site} has no master data yet (cluster/run/master); start it once: {site.command('up')}")
    serial, running = _master_serial(site)
    with tempfile.TemporaryDirectory(prefix=".kit-backup-", dir=parent.absolute()) as tmp:
        export = Path(tmp, EXPORT_PART)
        # devpi-export also rewrites the data folder's .nodeinfo with the role "standalone" (its
        # role is "auto"); harmless: master.yml says role: primary, which the next start writes back.
        say(f"exporting the master's data with devpi-export (serial {serial}"
            + ("; the cluster keeps serving)" if running else "; the master is not running)"))
        _devpi("devpi-export", [str(export)], site.path / "cluster", Path(tmp, "devpi-export.log"),
               "exporting the master's data")
        data = json.loads((export / "dataindex.json").read_text(encoding="utf-8"))
        files = [p for p in export.rglob("*") if p.is_file()]
        members = {f"{SITE_PART}/{name}": site.path / name for name in site_members(site.path)}
        members.update({f"{EXPORT_PART}/{p.relative_to(export).as_posix()}": p for p in files})
        say(f"hashing {plural(len(members), 'member')}")
        digests = {name: sha256_of(path) for name, path in members.items()}
        manifest = manifest_for(digests, devpi_server=str(data.get("devpi_server", "unknown")), serial=serial)
        say(f"writing {dest}")
        with replaced(dest) as out:
            _write_archive(out, manifest, members)
    indexes = sorted(data.get("indexes", {}))
    return Backup(dest, dest.stat().st_size, serial, sorted(data.get("users", {})), indexes,
                  len(files) - 1)


def _write_archive(out: IO[bytes], manifest: dict, members: dict[str, Path]) -> None:
    """The manifest first, then each member as a plain file (owner and times not kept)."""
    with tarfile.open(fileobj=out, mode="w|gz") as archive:
        payload = json.dumps(manifest, indent=1).encode("utf-8")
        archive.addfile(_entry(ARCHIVE_MANIFEST, len(payload)), io.BytesIO(payload))
        for name, path in sorted(members.items()):
            with open(path, "rb") as handle:
                archive.addfile(_entry(name, path.stat().st_size), handle)


def _entry(name: str, size: int) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.size, entry.mode, entry.mtime = size, 0o600, int(datetime.datetime.now().timestamp())
    return entry


def backup_lines(result: Backup) -> list[str]:
    """kit backup's last lines: what was left out, then the archive's size and what it holds."""
    lines = [f"left out (made again or fetched again): {item}" for item in LEFT_OUT]
    lines.append(f"backup written: {result.path} ({byte_size(result.size)}, mode 0600: it holds the site's secrets): "
                 f"kit.toml, the site's secrets, and the master's data at serial {result.serial} — "
                 f"{plural(len(result.users), 'user')}, {plural(len(result.indexes), 'index', 'indexes')}, "
                 f"{plural(result.files, 'uploaded file')}")
    return lines


# -- kit restore -------------------------------------------------------------------------


@dataclass(frozen=True)
class Restored:
    """What :func:`restore_site` made."""

    site: Path
    serial: int | None
    members: int


def read_archive(archive: Path, into: Path) -> dict:
    """Extract ``archive`` into the empty folder ``into``, checking every member against the
    manifest; return the manifest. :class:`BackupError` (with ``into`` to be thrown away) for
    anything else than an intact kit backup."""
    shown = str(archive)
    if not archive.is_file():
        raise BackupError(f"{archive} does not exist or is not a file; name a backup file kit backup wrote")
    found: dict[str, str] = {}
    try:
        with gzip.open(archive, "rb") as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
            manifest, expected = None, {}
            try:
                for entry in tar:
                    if manifest is None:
                        if entry.name != ARCHIVE_MANIFEST or not entry.isfile() or entry.size > 1 << 26:
                            raise BackupError(f"{shown} is not a kit backup (no manifest first); "
                                              "take a file kit backup wrote")
                        try:
                            manifest = json.loads(tar.extractfile(entry).read())
                        except ValueError:
                            raise BackupError(f"{shown} is not a kit backup (its manifest is damaged); "
                                              "take another backup file") from None
                        expected = check_manifest(manifest, shown)
                        continue
                    if not entry.isfile() or not safe_member_name(entry.name) or entry.name in found:
                        raise BackupError(f"{shown} holds {entry.name!r}, which no kit backup holds; "
                                          "take another backup file")
                    found[entry.name] = _extract(tar.extractfile(entry), into / entry.name)
            except BackupError:
                # A manifest or member that makes no sense may be a flipped byte in the compressed
                # stream: gzip's CRC, checked at the very end, then says "damaged" (below) instead.
                while raw.read(1 << 20):
                    pass
                raise
            # The rest of the stream too: gzip checks its CRC and length at the very end.
            while raw.read(1 << 20):
                pass
    except (tarfile.TarError, EOFError, OSError, UnicodeDecodeError, zlib.error) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            if exc.filename is None or str(exc.filename) == str(archive):
                raise BackupError(f"cannot read {archive} ({exc.strerror}); check its permissions") from None
            raise BackupError(f"cannot restore: writing {exc.filename} failed ({exc.strerror}); free space or "
                              "choose another folder") from None
        raise BackupError(f"{shown} is damaged or not a .tar.gz ({str(exc) or type(exc).__name__}); "
                          "take another backup file") from None
    if manifest is None:
        raise BackupError(f"{shown} is empty; take a file kit backup wrote")
    check_members(expected, found, shown)
    return manifest


def _extract(source: IO[bytes], path: Path) -> str:
    """Copy a member to ``path`` (mode 0600); its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    digest = hashlib.sha256()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def _restore_target(site_dir: Path, replace: bool) -> Site | None:
    """Refuse a SITE_DIR kit must not restore into; the site there for ``--replace``."""
    if not replace:
        if site_dir.exists() and not site_dir.is_dir():
            raise BackupError(f"{site_dir} is a file; restore into a new or empty folder")
        if site_dir.is_dir() and any(site_dir.iterdir()):
            if is_site_root(site_dir.absolute()):
                raise BackupError(f"{site_dir} is a site already; restore into a new or empty folder, or onto this "
                                  f"site once its data folders are lost: kit restore FILE {site_dir} --replace")
            raise BackupError(f"{site_dir} is not empty; restore into a new or empty folder")
        return None
    if not is_site_root(site_dir.absolute()):
        raise BackupError(f"{site_dir} is not a kit site, so --replace has nothing to restore onto; "
                          f"restore into a new folder: kit restore FILE {site_dir} (without --replace)")
    site = Site.load(site_dir, given=site_dir)
    from kit.cluster.supervisor import Supervisor
    from kit.site.plan import services_of

    supervisor = Supervisor(site.path / "cluster", site.command)
    running = [s.name for s in services_of(site.answers, site.path) if supervisor.pid_of(s, clean=False) is not None]
    if running:
        raise BackupError(f"{site}'s cluster is running ({', '.join(running)}); stop it first: {site.command('down')}")
    for name in ("master", "mirror"):
        data = site.path / "cluster" / "run" / name
        if data.is_dir() and any(data.iterdir()):
            raise BackupError(f"{site} still has data in cluster/run/{name}; --replace restores a site whose data "
                              f"folders are lost: move it away first (mv {shown_path(data)} {shown_path(data)}.old)")
    return site


def _restored_answers(folder: Path, shown: str):
    """The answers of the backup's kit.toml, as :meth:`Site.load` reads a site's."""
    from kit.core.errors import AnswerError
    from kit.site.answers import answers_from_raw, load_answers_file

    raw = load_answers_file(folder / ANSWERS_FILE)
    raw.setdefault("read_access", "anonymous")
    try:
        answers = answers_from_raw(raw)
    except AnswerError as exc:
        raise BackupError(f"the kit.toml in {shown} does not fit this machine: {exc}") from None
    if answers.is_multi_host:
        raise BackupError(f"{shown} is of a site spread over hosts; kit restore makes a site on one machine for now")
    return answers


def _restored_secrets(folder: Path) -> dict[str, str]:
    found = {}
    for name, files in SITE_SECRETS.items():
        try:
            text = (folder / files[0]).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if _HEX64.fullmatch(text):
            found[name] = text
    return found


def restore_site(archive: Path, site_dir: Path, *, replace: bool = False, say: Say = print) -> Restored:
    """Make the site of ``archive`` in ``site_dir`` (new or empty; or, with ``replace``, the
    site there, its cluster down and its data folders gone): its files generated again from
    the backup's kit.toml with the backup's secrets, and the master's data imported. The
    mirror starts empty and copies the master at ``kit up``. Everything is made aside and
    moved into place at the end: on any error nothing is written."""
    from kit.site.render import build_site, existing_tls

    archive, site_dir = Path(archive), Path(site_dir)
    if not archive.is_file():
        raise BackupError(f"{archive} does not exist or is not a file; name a backup file kit backup wrote")
    existing = _restore_target(site_dir, replace)
    target = site_dir.absolute()
    staging_parent = target if target.is_dir() else _existing_parent(target)
    if not os.access(staging_parent, os.W_OK | os.X_OK):
        raise BackupError(f"{staging_parent} is not writable; choose a folder you can write to")
    with tempfile.TemporaryDirectory(prefix=".kit-restore-", dir=staging_parent) as tmp:
        unpacked, staged = Path(tmp, "archive"), Path(tmp, "site")
        say(f"checking {archive} (the sha256 of every member)")
        manifest = read_archive(archive, unpacked)
        answers = _restored_answers(unpacked / SITE_PART, str(archive))
        secrets = _restored_secrets(unpacked / SITE_PART)
        say(f"making the site's files again from its kit.toml, with its secrets ({', '.join(sorted(secrets))})")
        build_site(answers, staged, site_dir=target, site_secrets=secrets,
                   site_tls=existing_tls(unpacked / SITE_PART))
        if (staged / "cluster" / "master.yml").is_file():
            say(f"importing the master's data with devpi-import (serial {manifest.get('master_serial')} "
                f"of devpi-server {manifest.get('devpi_server')})")
            (staged / "cluster" / "run").mkdir(mode=0o700)
            _devpi("devpi-import", ["--no-root-pypi", str(unpacked / EXPORT_PART)], staged / "cluster",
                   Path(tmp, "devpi-import.log"), "importing the master's data")
        if existing is None:
            _move_new(staged, target)
        else:
            _move_over(staged, target)
    return Restored(target, manifest.get("master_serial"), len(manifest["members"]))


def _existing_parent(path: Path) -> Path:
    for parent in path.parents:
        if parent.exists():
            return parent
    return Path("/")


def _move_new(staged: Path, target: Path) -> None:
    """A new site into place: renamed in one step, or its entries moved into the empty folder."""
    if target.is_dir():
        for entry in sorted(staged.iterdir()):
            os.replace(entry, target / entry.name)
        target.chmod(0o700)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)


def _move_over(staged: Path, target: Path) -> None:
    """The restored site onto the existing one: each generated file replaced, the master's
    data moved in; the rest of cluster/run (logs, an empty mirror folder) kept."""
    for path in sorted(staged.rglob("*")):
        relative = path.relative_to(staged)
        if relative.parts[:2] == ("cluster", "run"):
            continue
        if path.is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.replace(path, target / relative)
    data = staged / "cluster" / "run" / "master"
    if data.is_dir():
        run = target / "cluster" / "run"
        run.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name in ("master", "mirror"):
            if (run / name).is_dir():
                # Empty (_restore_target refused one holding data); an empty mirror folder would
                # keep kit up from making the mirror's data folder.
                (run / name).rmdir()
        os.replace(data, run / "master")


def restore_lines(result: Restored, site_dir: Path) -> list[str]:
    from kit.site.folder import site_command

    return [f"site restored in {shown_path(result.site)} from {plural(result.members, 'member')} "
            f"(the master's data at serial {result.serial}); the mirror starts empty and copies the master",
            f"next: {site_command(result.site, 'up', given=site_dir)}, then {site_command(result.site, 'check', given=site_dir)}"]
