"""A kit site on free ports, its cluster really run by kit up and always stopped."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from kit.cluster.lifecycle import free_ports
from tests.conftest import BIN, free_port, kit_cmd, run


def make_site(root: Path, env: dict, upstream_folder: Path, *extra: str) -> Path:
    """``kit init`` on free ports; ``extra`` (``--set KEY=VALUE`` pairs and other options) wins over these defaults."""
    site = root / "site"
    ports = free_ports(4)
    answers = {"upstream": upstream_folder, "teams": "web", "master_port": ports[0], "mirror_port": ports[1],
               "edge_port": ports[2], "upstream_port": ports[3]}
    given = {extra[n + 1].split("=", 1)[0] for n, arg in enumerate(extra[:-1]) if arg == "--set"}
    defaults = [arg for key, value in answers.items() if key not in given for arg in ("--set", f"{key}={value}")]
    run(kit_cmd("init", str(site), "--no-input", *defaults, *extra), env=env)
    return site


@contextlib.contextmanager
def running_site(root: Path, env: dict, upstream_folder: Path, *extra: str):
    """A site made by :func:`make_site` with its cluster up: (site, kit up's output); always stopped."""
    site = make_site(root, env, upstream_folder, *extra)
    up = run(kit_cmd("up", str(site)), env=env)
    started = pids(site)
    try:
        yield site, up.stdout
    finally:
        # a test may have brought a service back (kit up): its new pid is stopped too
        stop_cluster(site, env, {**started, **{f"{name} (now)": pid for name, pid in pids(site).items()}})


def team_upload(site: Path, env: dict, wheel: Path, *, check: bool = True) -> subprocess.CompletedProcess:
    """twine upload of ``wheel`` with the web team's generated .pypirc (to the site's edge)."""
    return run([BIN / "twine", "upload", "--config-file", site / "teams" / "web" / ".pypirc", "-r", "web",
                "--disable-progress-bar", "--non-interactive", wheel], env=env, check=check)


def pids(site: Path) -> dict[str, int]:
    folder = site / "cluster" / "run" / "pids"
    return {p.stem: int(p.read_text()) for p in folder.glob("*.pid")} if folder.is_dir() else {}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def stop_cluster(site: Path, env: dict, started: dict[str, int]) -> None:
    """kit down, then make sure: never leave a server behind, even after a failed test."""
    run(kit_cmd("down", str(site)), env=env, check=False)
    deadline = time.monotonic() + 10
    while any(alive(p) for p in started.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in started.values():
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)


def status(site: Path, env: dict) -> list[dict]:
    proc = run(kit_cmd("status", str(site), "--json"), env=env, check=False)
    return json.loads(proc.stdout)


def edge_url(site: Path) -> str:
    config = json.loads((site / "cluster" / "edge.json").read_text())
    return f"http://127.0.0.1:{config['port']}"


def varnish_edge() -> tuple[str, ...]:
    """The answers of a Varnish edge, the shield on a free port."""
    return ("--set", "edge=varnish", "--set", f"shield_port={free_port()}")
