"""Real wheels with real dependencies, without the network: wheels rebuilt from
the distributions installed in the test environment (the files their
``RECORD`` lists), so a resolver sees the same versions the suite runs with.

A rebuilt wheel is what was installed: console scripts are left out (pip
writes them again from ``entry_points.txt``), other scripts (uv's binary)
and data files go back under ``.data/``. The tutorial's wheelhouse
(tests/tutorial/wheelhouse.py) and kit bench's real-resolver row
(tests/integration/ops/test_bench.py) both build on them.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import stat
import zipfile
from importlib import metadata
from pathlib import Path, PurePosixPath

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

_SKIPPED_DIST_INFO = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}

#: What kit bench's real-resolver row installs in the tests: like its default set (flask,
#: requests, pytest, rich, python-dateutil), with what the test environment has installed.
RESOLVER_SET = ("httpx", "rich", "typer", "pytest", "python-dateutil", "requests")


def closure(requirements: list[str]) -> dict[str, metadata.Distribution]:
    """Every installed distribution the requirements need, extras and markers evaluated."""
    found: dict[str, metadata.Distribution] = {}
    todo = [Requirement(r) for r in requirements]
    seen: set[tuple[str, frozenset]] = set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        key = (name, frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        dist = metadata.distribution(req.name)
        found[name] = dist
        for text in dist.requires or []:
            sub = Requirement(text)
            if sub.marker is not None:
                extras = req.extras or {""}
                if not any(sub.marker.evaluate(dict(default_environment(), extra=e)) for e in extras):
                    continue
            todo.append(sub)
    return found


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _entry_point_scripts(dist: metadata.Distribution) -> set[str]:
    return {ep.name for ep in dist.entry_points if ep.group in ("console_scripts", "gui_scripts")}


def repack(dist: metadata.Distribution, dest: Path) -> Path:
    """Write a wheel of the installed ``dist`` into ``dest``."""
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"]).lower()
    version = dist.version
    info_dir = f"{name}-{version}.dist-info"
    data_dir = f"{name}-{version}.data"
    wheel_meta = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip().split("-") for line in wheel_meta.splitlines() if line.startswith("Tag:")]
    # The compressed tag set of the file name: py2.py3-none-any, not just its first tag.
    tag = "-".join(".".join(dict.fromkeys(t[i] for t in tags)) for i in range(3)) if tags else "py3-none-any"
    generated = _entry_point_scripts(dist)
    members: dict[str, bytes] = {}
    for file in dist.files or []:
        parts = PurePosixPath(str(file)).parts
        if "__pycache__" in parts or str(file).endswith(".pyc"):
            continue
        if parts[0] == "..":
            # Outside site-packages: relative to the environment's prefix.
            rel = PurePosixPath(*[p for p in parts if p != ".."])
            if rel.parts[0] == "bin":
                if rel.name in generated:
                    continue  # pip writes console scripts itself
                arcname = f"{data_dir}/scripts/{rel.name}"
            else:
                arcname = f"{data_dir}/data/{rel}"
        elif parts[0].endswith(".dist-info"):
            if parts[-1] in _SKIPPED_DIST_INFO:
                continue
            arcname = f"{info_dir}/{PurePosixPath(*parts[1:])}"
        else:
            arcname = str(PurePosixPath(*parts))
        path = Path(file.locate())
        if path.is_file():
            members[arcname] = path.read_bytes()
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for arcname, data in members.items():
        writer.writerow([arcname, _hash(data), len(data)])
    writer.writerow([f"{info_dir}/RECORD", "", ""])
    wheel = dest / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as zf:
        for arcname, data in members.items():
            info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
            executable = arcname.startswith(f"{data_dir}/scripts/")
            # pip makes a script executable only when the entry says "regular file, mode +x".
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            zf.writestr(info, data)
        zf.writestr(f"{info_dir}/RECORD", record.getvalue())
    return wheel


def real_wheel_folder(dest: Path, requirements: tuple[str, ...] = RESOLVER_SET) -> list[Path]:
    """A wheel in ``dest`` of every installed distribution ``requirements`` need (the
    requirements themselves included): a folder an upstream serves as PyPI would serve them."""
    dest.mkdir(parents=True, exist_ok=True)
    return [repack(dist, dest) for _, dist in sorted(closure(list(requirements)).items())]
