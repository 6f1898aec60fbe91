"""Tiny sample distributions, built by hand: the tour's packages and the tests'.

A wheel is a zip with a module and a dist-info folder; writing one directly
takes milliseconds, needs neither a network nor a build backend, and lets a
test make two files with the same name and version but different bytes (the
dependency-confusion case).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import zipfile
from pathlib import Path

__all__ = ["make_sample", "make_wheel"]


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _write_wheel(path: Path, files: dict[str, bytes], dist_info: str) -> Path:
    record_name = f"{dist_info}/RECORD"
    rows = [(name, _record_hash(data), str(len(data))) for name, data in files.items()]
    rows.append((record_name, "", ""))
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            # A fixed date keeps the bytes of a wheel the same on every build.
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
        info = zipfile.ZipInfo(record_name, date_time=(2020, 1, 1, 0, 0, 0))
        zf.writestr(info, buf.getvalue())
    return path


def make_wheel(
    folder: Path, name: str, version: str, *, marker: str = "", requires: tuple[str, ...] = (), requires_python: str = ""
) -> Path:
    """Write ``name-version-py3-none-any.whl`` whose module says ``WHO = marker``."""
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += f"Requires-Python: {requires_python}\n" if requires_python else ""
    metadata += "".join(f"Requires-Dist: {req}\n" for req in requires)
    files = {
        f"{module}/__init__.py": f"WHO = {marker or 'unset'!r}\nVERSION = {version!r}\n".encode(),
        f"{dist_info}/METADATA": metadata.encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: kit-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    folder.mkdir(parents=True, exist_ok=True)
    return _write_wheel(folder / f"{module}-{version}-py3-none-any.whl", files, dist_info)


def make_sample(folder: Path | str, name: str, version: str, says: str) -> Path:
    """``kit sample``: :func:`make_wheel` with the user's input checked first.

    The name is normalised (``My_Pkg`` → ``my-pkg``) so the wheel's file and
    module names follow from it.
    """
    from kit.site import validate
    from kit.core.errors import AnswerError

    name = validate.project_name("--name", name)
    version = validate.version("--version", version)
    says = validate.text("--says", says)
    folder = validate.path("FOLDER", folder)
    try:
        return make_wheel(folder, name, version, marker=says)
    except OSError as exc:
        raise AnswerError("FOLDER", f"cannot write the wheel into {folder} ({exc.strerror}); choose a folder you can write to") from None
