"""A stand-in for PyPI, for the tutorial's install steps, without the network.

Chapter 0 tells the reader to ``pip install`` kit (and the clients) into a
fresh virtual environment. To run that exactly, offline, the harness serves
an index (kit's own folder server) holding:

- kit's wheel, built from this checkout with its real build backend;
- a wheel of every distribution those installs need, rebuilt from the ones
  installed in the test environment (the files their ``RECORD`` lists), so
  the resolver sees the same versions that the test suite runs with.

The rebuilt wheels come from tests/support/real_wheels.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from packaging.utils import canonicalize_name

from tests.support.real_wheels import closure, repack

ROOT = Path(__file__).resolve().parents[2]


def build_kit_wheel(dest: Path) -> Path:
    """kit's own wheel, built by its build backend from this checkout."""
    before = set(dest.glob("*.whl"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "--wheel-dir", str(dest), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"building kit's wheel failed:\n{proc.stdout}\n{proc.stderr}")
    (wheel,) = set(dest.glob("*.whl")) - before
    return wheel


def build_wheelhouse(dest: Path, extras: tuple[str, ...] = ("tutorial",)) -> Path:
    """kit's wheel, and every wheel installing it with ``extras`` needs."""
    dest.mkdir(parents=True, exist_ok=True)
    kit_wheel = build_kit_wheel(dest)
    kit = _kit_distribution_name()
    needed = closure([f"{kit}[{','.join(extras)}]" if extras else kit])
    for name, dist in sorted(needed.items()):
        if name != canonicalize_name(kit):
            repack(dist, dest)
    return kit_wheel


def _kit_distribution_name() -> str:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
