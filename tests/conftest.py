"""Shared fixtures: an isolated environment for every test, a local upstream,
and a real devpi-server started from the files ``kit init`` generates.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from kit.cluster.lifecycle import free_ports
from kit.upstream.server import LocalUpstream
from kit.ops.sample import make_wheel

BIN = Path(sys.executable).parent
#: devpi's key derivation costs seconds and ~590 MB per start by default; for
#: tests, the cheapest argon2 settings (the production templates keep defaults).
FAST_DEVPI = {
    "DEVPISERVER_ARGON2_MEMORY_COST": "8",
    "DEVPISERVER_ARGON2_PARALLELISM": "1",
    "DEVPISERVER_ARGON2_TIME_COST": "1",
}
#: An admin password a user may well choose: it starts with "-" (an option to
#: argparse) and holds what sh would expand or split on. Real-server fixtures
#: use it so every place the password travels is proven with it.
AWKWARD_PASSWORD = "-pw$HOME'\"&;|`x`\\end"
LEAKY_PREFIXES = ("PIP_", "UV_", "TWINE_", "DEVPI", "POETRY_", "PDM_", "VIRTUAL_ENV", "PYTHONPATH", "XDG_", "BUILDOUT")


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment with none of the developer's packaging settings.

    The developer's pip config (extra index URLs, find-links) and any PIP_*,
    UV_* or TWINE_* variable would otherwise change what a client does.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(LEAKY_PREFIXES)}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """Every test runs with its own HOME and XDG folders and no PIP_*/UV_* leaks."""
    for key in list(os.environ):
        if key.startswith(LEAKY_PREFIXES):
            monkeypatch.delenv(key)
    for key, value in clean_env(tmp_path / "home").items():
        monkeypatch.setenv(key, value)


def free_port() -> int:
    return free_ports(1)[0]


def processes_under(folder: Path) -> list[int]:
    """Pids of the processes whose working folder is inside ``folder`` (cluster services run in SITE/cluster)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cwd = os.readlink(proc / "cwd")
            except OSError:
                continue
            if cwd == str(folder) or cwd.startswith(str(folder) + os.sep):
                found.append(int(proc.name))
    return found


def wait_http(url: str, proc: subprocess.Popen | None = None, timeout: float = 60.0, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            text = log.read_text() if log and log.exists() else ""
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}:\n{text[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def run(cmd: list[str], *, env: dict, cwd: Path | None = None, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a real client; on failure, show its whole output in the test report."""
    proc = subprocess.run(
        [str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


# -- distributions -----------------------------------------------------------

PRIVATE = "kitdemo-private"
UPSTREAM_ONLY = "kitdemo-upstream"


@dataclass
class Dists:
    private: Path  # the team's own kitdemo-private 1.0 (WHO = "team")
    upstream_folder: Path  # what the local upstream serves


@pytest.fixture(scope="session")
def dists(tmp_path_factory) -> Dists:
    root = tmp_path_factory.mktemp("dists")
    private = make_wheel(root / "private", PRIVATE, "1.0", marker="team")
    folder = root / "upstream"
    make_wheel(folder, UPSTREAM_ONLY, "1.0", marker="upstream")
    # The attack: the private name on the upstream, once with a higher version
    # and once with the same version but other bytes (same file name).
    make_wheel(folder, PRIVATE, "2.0", marker="attacker")
    make_wheel(folder / "same-version", PRIVATE, "1.0", marker="attacker")
    shutil.move(folder / "same-version" / private.name, folder / private.name)
    (folder / "same-version").rmdir()
    return Dists(private=private, upstream_folder=folder)


@pytest.fixture(scope="session")
def local_upstream(dists):
    with LocalUpstream(dists.upstream_folder) as upstream:
        yield upstream


# -- a real devpi-server from a generated site --------------------------------


@dataclass
class Server:
    site: Path
    url: str
    env: dict[str, str]
    log: Path

    def team_dir(self, team: str) -> Path:
        return self.site / "teams" / team


def kit_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "kit", *args]


@pytest.fixture(scope="session")
def devpi_site(tmp_path_factory, local_upstream):
    """A site for teams web and data, its devpi-server running as the generated files say.

    Runs the site's own init.sh, devpi-server -c devpi-server.yml and
    create-indexes.sh, so those files are proven by the programs that read them.
    """
    root = tmp_path_factory.mktemp("devpi")
    env = clean_env(root / "home", **FAST_DEVPI)
    port = free_port()
    site = root / "site"
    run(
        kit_cmd(
            "init", str(site), "--no-input",
            "--set", "setups=mirror,private,clients",
            "--set", f"upstream={local_upstream.url}",
            "--set", "teams=web,data",
            # Reads stay anonymous, as make_site's: tests/integration/site/test_client_credentials.py reads with credentials.
            "--set", "read_access=anonymous",
            "--set", "private_projects=data:kitdemo-data",
            "--set", f"master_port={port}",
            "--set", f"admin_password={AWKWARD_PASSWORD}",
        ),
        env=env,
    )
    server_dir = site / "server"
    run(["sh", server_dir / "init.sh"], env=env)
    log = root / "devpi.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [BIN / "devpi-server", "-c", "devpi-server.yml"], cwd=server_dir, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/+api", proc, log=log)
        run(["sh", server_dir / "create-indexes.sh"], env=env)
        yield Server(site=site, url=url, env=env, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def interrupted_at(argv: list[str], env: dict, line: str) -> tuple[int, str]:
    """Run ``argv``, press Ctrl-C half a second after it prints ``line``; its exit code and whole output."""
    proc = subprocess.Popen([str(a) for a in argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    seen = []
    try:
        for printed in proc.stdout:
            seen.append(printed)
            if line in printed:
                time.sleep(0.5)
                proc.send_signal(signal.SIGINT)
                break
        seen.append(proc.stdout.read())
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, "".join(seen)


@contextlib.contextmanager
def mounted_tmpfs(folder: Path, size: str):
    """A real tmpfs of ``size`` on ``folder`` (a full disk that holds for root too); skips
    saying why where it cannot be mounted (not root, no mount); always unmounted."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (a full disk) needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "kit-test-tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


# -- parallel runs (pytest-xdist, --dist loadgroup) ------------------------------


def _sitting(path: str) -> bool:
    """The tutorial's one sitting (its chapters, on their own ports 3141-3145, in one
    shell) and what reads chapters too (each chapter alone, the how-tos, the docs)."""
    parts = Path(path).parts
    return parts[:1] == ("tutorial",) or parts[:2] in (("tests", "tutorial"), ("tests", "docs"))


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup``: whole files to a worker, so a module's shared cluster or site
    is made once; the sitting is one unit, the largest, so it starts first.

    A scheduler of kit's own, not ``xdist_group`` marks: xdist 3.8 groups by a suffix it
    writes into ``item._nodeid``, which pytest 9 no longer reads, so the marks group nothing.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FilesAndTheSitting(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "the tutorial's sitting" if _sitting(path) else path

    return FilesAndTheSitting(config, log)
