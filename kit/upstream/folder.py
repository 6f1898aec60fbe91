"""The local upstream's folder: its wheels and sdists by project, with what
each file's bytes tell (hashes, ``Requires-Python``, ``Requires-Dist``) and
its serial.

The folder has no serials, so they are derived from the files: a file's
serial is its newest timestamp (mtime or ctime) in milliseconds, a project's
is the greatest of its files', the index's the greatest of all. Adding or
replacing a file raises them; removing one does not.

Standard library, ``packaging`` and :mod:`kit.core` only: nothing here serves.
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
import threading
import zipfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from pathlib import Path
from urllib.parse import quote

from packaging.version import InvalidVersion, Version

from kit.core.names import project_of, version_of

__all__ = ["FolderIndex", "ReleaseFile", "file_at", "project_serial", "version_key"]


def version_key(version: str) -> tuple:
    """Sort key for "the latest version" as PyPI picks it: final releases above pre-releases."""
    try:
        parsed = Version(version)
    except InvalidVersion:
        return (False, False, Version("0"))  # a name no tool can order sorts lowest
    return (True, not parsed.is_prerelease, parsed)


def _metadata(path: Path) -> tuple[str | None, tuple[str, ...] | None]:
    """``Requires-Python`` and ``Requires-Dist`` from a wheel's METADATA or an sdist's PKG-INFO.

    (None, None) when the file has neither or cannot be read: a broken file
    is still served, and pip will say what is wrong with it.
    """
    try:
        if path.name.endswith(".whl"):
            with zipfile.ZipFile(path) as zf:
                name = next(n for n in zf.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n))
                raw = zf.read(name)
        elif path.name.endswith((".tar.gz", ".tar.bz2")):
            with tarfile.open(path) as tf:
                member = next(m for m in tf.getmembers() if re.fullmatch(r"[^/]+/PKG-INFO", m.name))
                raw = tf.extractfile(member).read()
        else:
            return None, None
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, StopIteration, OSError, AttributeError, EOFError):
        return None, None
    headers = BytesHeaderParser().parsebytes(raw)
    return headers.get("Requires-Python"), tuple(headers.get_all("Requires-Dist") or ())


@dataclass(frozen=True)
class ReleaseFile:
    name: str
    sha256: str
    md5: str
    size: int
    mtime_ns: int
    serial: int
    requires_python: str | None
    requires_dist: tuple[str, ...] | None

    @property
    def version(self) -> str:
        return version_of(self.name)

    @property
    def packages_path(self) -> str:
        # PyPI's layout; it hashes with BLAKE2b, but only the /packages/ prefix
        # matters to bandersnatch, and the sha256 is already known.
        return f"/packages/{self.sha256[:2]}/{self.sha256[2:4]}/{self.sha256[4:]}/{quote(self.name)}"

    @property
    def upload_time(self) -> datetime:
        # exact microseconds: bandersnatch stamps the mirrored file with this time
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=self.mtime_ns // 1000)


def project_serial(files: list[ReleaseFile]) -> int:
    return max((f.serial for f in files), default=0)


def file_at(projects: dict[str, list[ReleaseFile]], filename: str, sha256: str | None = None) -> ReleaseFile | None:
    """The folder's file of that name (and, for a ``/packages/`` path, that content), or None.

    Only names the folder lists are ever served: a name that climbs out of it
    (``../``) is no file of the folder's, whatever it points to.
    """
    for file in projects.get(project_of(filename) or "", []):
        if file.name == filename and sha256 in (None, file.sha256):
            return file
    return None


class FolderIndex:
    """The folder's files by project; rescanned when the folder changes."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._projects: dict[str, list[ReleaseFile]] = {}
        # what reading a file tells, by (name, mtime, ctime, size): computed once per version of a file
        self._facts: dict[tuple[str, int, int, int], tuple] = {}

    def projects(self) -> dict[str, list[ReleaseFile]]:
        with self._lock:
            # scandir: one stat per file on every request (a Path's is_file and stat would be two)
            with os.scandir(self.folder) as listing:
                entries = sorted((e for e in listing if project_of(e.name) and e.is_file()), key=lambda e: e.name)
                stamp = tuple((e.name, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
                              for e, st in ((e, e.stat()) for e in entries))
            if stamp != self._stamp:
                projects: dict[str, list[ReleaseFile]] = {}
                facts = {key: self._facts.get(key) or self._read(self.folder / key[0]) for key in stamp}
                for (name, mtime, ctime, size), (sha256, md5, requires_python, requires_dist) in facts.items():
                    # ctime too: a file copied in with its old mtime kept (cp -p, unzip) is still new here
                    serial = max(mtime, ctime) // 1_000_000
                    file = ReleaseFile(name, sha256, md5, size, mtime, serial, requires_python, requires_dist)
                    projects.setdefault(project_of(name), []).append(file)
                self._projects, self._stamp, self._facts = projects, stamp, facts
            return self._projects

    @staticmethod
    def _read(path: Path) -> tuple:
        data = path.read_bytes()
        return (hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest(),
                *_metadata(path))
