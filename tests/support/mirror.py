"""Public-mirror sites (kit mirror sync) of a local upstream folder."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kit.ops.sample import make_wheel
from tests.conftest import kit_cmd, run


def make_upstream(folder: Path) -> Path:
    """An app with a dependency (and one behind an extra nobody asks for), and a bystander."""
    make_wheel(folder, "kmt-app", "1.0", requires=("kmt-lib>=1", 'kmt-opt; extra == "x"'))
    make_wheel(folder, "kmt-lib", "1.0")
    make_wheel(folder, "kmt-lib", "1.1", marker="lib-1.1")
    make_wheel(folder, "kmt-opt", "1.0")
    make_wheel(folder, "kmt-other", "1.0")
    return folder


def init_site(root: Path, env: dict, upstream: Path, *sets: str) -> Path:
    """A public-mirror site of ``upstream``; ``sets`` (KEY=VALUE) win over those two answers."""
    site = root / "site"
    given = {value.split("=", 1)[0] for value in sets}
    answers = [f"{key}={value}" for key, value in (("setups", "public-mirror"), ("upstream", upstream))
               if key not in given]
    run(kit_cmd("init", str(site), "--no-input", *[arg for value in (*answers, *sets) for arg in ("--set", value)]),
        env=env)
    return site


def mirrored(site: Path) -> set[str]:
    simple = site / "mirror" / "data" / "web" / "simple"
    return {p.name for p in simple.iterdir() if p.is_dir()} if simple.is_dir() else set()


def kit(*args: str, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    return run(kit_cmd(*args), env=env, check=check)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kit: error: ") and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]
