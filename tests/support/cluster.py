"""A kit site on free ports, its cluster really run by kit up and always stopped."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from kit.cluster.lifecycle import free_ports
from kit.cluster.varnish import INSTALL_HINT, check_vcl, varnishd_path
from kit.core.errors import ClusterError
from kit.core.wait import wait_until
from tests.conftest import BIN, free_port, kit_cmd, run


def make_site(root: Path, env: dict, upstream_folder: Path, *extra: str) -> Path:
    """``kit init`` on free ports; ``extra`` (``--set KEY=VALUE`` pairs and other options) wins over these defaults."""
    site = root / "site"
    ports = free_ports(4)
    # Reads stay anonymous unless a test asks for private reads (--set read_access=team).
    answers = {"upstream": upstream_folder, "teams": "web", "read_access": "anonymous", "master_port": ports[0], "mirror_port": ports[1],
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
    """The answers of a Varnish edge, the shield and Varnish's metrics exporter on free ports."""
    return ("--set", "edge=varnish", "--set", f"shield_port={free_port()}",
            "--set", f"varnish_exporter_port={free_port()}")


def edge_kind(kind: str) -> tuple[str, ...]:
    """The answers of a site whose edge is ``kind`` ("python" or "varnish"); the test is
    skipped, saying why, when Varnish cannot run here."""
    if kind != "varnish":
        return ()
    missing = varnish_missing()
    if missing:
        pytest.skip(missing)
    return varnish_edge()


def front_url(site: Path) -> str:
    """The URL clients use: the edge's port in kit.toml (Varnish's on a Varnish site, where
    edge.json is the shield's)."""
    return "http://127.0.0.1:" + re.search(r"edge_port = (\d+)", (site / "kit.toml").read_text()).group(1)


def origins_up(health: dict) -> bool:
    """Whether an edge's /+edge/health calls every origin up: Varnish says so per origin
    (``origins``), kit's edge per backend (``backends``: "in use" or "skipped")."""
    if "origins" in health:
        return all(health["origins"].values())
    return all(state == "in use" for state in health["backends"].values())


def origins_all_up(site: Path, timeout: float = 15) -> None:
    """Wait until the edge calls every origin up (a precondition, not what a test proves):
    after a restarted master, Varnish's probe needs two good answers a second apart, and
    kit's edge skips an origin that failed until its next health check."""
    def health() -> dict:
        with urllib.request.urlopen(front_url(site) + "/+edge/health", timeout=10) as response:
            return json.loads(response.read())

    wait_until(lambda: origins_up(health()), timeout, 0.2,
               fail=lambda: AssertionError(f"the edge's origins did not come up: {health()}"))


def wait_mirror_in_sync(site: Path, env: dict, timeout: float = 30) -> None:
    wait_until(lambda: {r["name"]: r for r in status(site, env)}["mirror"]["in_sync"], timeout,
               fail=lambda: AssertionError("the mirror did not catch up with the master"))


def restored(site: Path, env: dict) -> None:
    """kit up after a test stopped a service, then wait until the edge uses every origin
    and the mirror is in sync again: the next test, whichever it is, finds the cluster whole."""
    run(kit_cmd("up", str(site)), env=env)
    origins_all_up(site)
    wait_mirror_in_sync(site, env)


def varnish_missing() -> str | None:
    """Why a Varnish edge cannot run here (no varnishd, or no varnish-modules for its
    xkey), in kit's own words; None when it can."""
    if varnishd_path() is None:
        return f"varnishd is not installed (Debian: {INSTALL_HINT})"
    with tempfile.TemporaryDirectory() as folder:
        vcl = Path(folder) / "xkey.vcl"
        vcl.write_text('vcl 4.1;\nimport xkey;\nbackend b { .host = "127.0.0.1"; .port = "9"; }\n')
        try:
            check_vcl(vcl)
        except ClusterError as error:
            return str(error)
    return None


@dataclass
class EdgeSite:
    """A running site and which edge it has in front: "python" (kit's edge) or "varnish"
    (Varnish, kit's edge behind it as its shield)."""

    kind: str
    site: Path
    env: dict
    up_output: str

    @property
    def url(self) -> str:
        return front_url(self.site)

    def pip_env(self) -> dict:
        """The web team's pip.conf and uv.toml, as a developer of the team has them."""
        team = self.site / "teams" / "web"
        return dict(self.env, PIP_CONFIG_FILE=str(team / "pip.conf"), UV_CONFIG_FILE=str(team / "uv.toml"))
