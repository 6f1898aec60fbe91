"""Real devpi-servers with kit's plugin, and what the plugin's tests do to
them through devpi's API: the indexes they make, logins and uploads."""

from __future__ import annotations

import base64
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

# devpi as kit up starts it: through kit's launcher, which leaves devpi-web (installed with the
# test extra) out unless the config asks for it.
from kit.plugin.launch import launch_argv
from tests.conftest import FAST_DEVPI, clean_env, free_port, wait_http
from tests.support.plugin import Receiver

ROOT_PASSWORD = "root-pw-for-tests"
TEAM_PASSWORD = "team-pw-for-tests"
#: Indexes of the real-server tests: acme/private inherits web/private, both
#: inherit root/pypi (a mirror of the local upstream); data/other inherits nothing.
INDEXES = {
    "root/pypi": [],
    "web/private": ["root/pypi"],
    "acme/private": ["web/private", "root/pypi"],
    "data/other": [],
}


def secret_file(folder: Path, text: str | None = None, mode: int = 0o600, name: str = "purge-secret") -> Path:
    path = folder / name
    path.write_text(secrets.token_hex(32) + "\n" if text is None else text)
    path.chmod(mode)
    return path


class Devpi:
    """A devpi-server in ``folder``, configured by ``devpi.yml`` there and
    started from that folder (so relative paths in it are relative to it)."""

    def __init__(self, folder: Path, *, options: dict[str, str] | None = None, env: dict[str, str] | None = None,
                 primary_url: str | None = None):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "devpi.log"
        self.env = clean_env(folder / "home", **FAST_DEVPI, **(env or {}))
        lines = ["devpi-server:", "  host: 127.0.0.1", f"  port: {self.port}", "  serverdir: data",
                 "  secretfile: devpi-secret"]
        if primary_url:
            lines += ["  role: replica", f"  primary-url: {primary_url}"]
        lines += [f"  {key}: {value}" for key, value in (options or {}).items()]
        (folder / "devpi.yml").write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    def init(self, devpi_secret: Path) -> "Devpi":
        shutil.copy(devpi_secret, self.folder / "devpi-secret")
        (self.folder / "devpi-secret").chmod(0o600)
        env = dict(self.env, DEVPISERVER_ROOT_PASSWD=ROOT_PASSWORD)
        argv = [*launch_argv("devpi-init"), "-c", "devpi.yml", "--no-root-pypi"]
        if "role: replica" in (self.folder / "devpi.yml").read_text():
            argv = argv[:-1]
        done = subprocess.run(argv, cwd=self.folder, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return self

    def run_to_exit(self) -> subprocess.CompletedProcess:
        """Start devpi-server expecting it to refuse (exit); a guard timeout if it serves instead."""
        return subprocess.run([*launch_argv("devpi-server"), "-c", "devpi.yml"], cwd=self.folder, env=self.env,
                              capture_output=True, text=True, timeout=60)

    def start(self) -> "Devpi":
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([*launch_argv("devpi-server"), "-c", "devpi.yml"], cwd=self.folder, env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT)
        wait_http(f"{self.url}/+api", self.proc, log=self.log)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_text().splitlines():
                if text in line:
                    return line
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in the log of devpi-server:\n{self.log_text()[-3000:]}")

    def status(self) -> dict:
        return httpx.get(f"{self.url}/+status", headers={"Accept": "application/json"}, trust_env=False).json()["result"]


def api_client() -> httpx.Client:
    return httpx.Client(trust_env=False, timeout=60, headers={"Accept": "application/json"})


def login(url: str, user: str, password: str) -> dict[str, str]:
    with api_client() as client:
        answer = client.post(f"{url}/+login", json={"user": user, "password": password})
    answer.raise_for_status()
    token = answer.json()["result"]["password"]
    return {"X-Devpi-Auth": base64.b64encode(f"{user}:{token}".encode()).decode()}


def upload(url: str, index: str, wheel: Path, auth: dict[str, str]) -> int:
    """Upload with devpi's API (what twine does); the commit's serial."""
    name, version = wheel.name.split("-")[:2]
    with api_client() as client:
        answer = client.post(
            f"{url}/{index}/", headers=auth,
            data={":action": "file_upload", "name": name, "version": version},
            files={"content": (wheel.name, wheel.read_bytes(), "application/octet-stream")},
        )
    assert answer.status_code == 200, answer.text
    return int(answer.headers["X-Devpi-Serial"])


def make_indexes(url: str, upstream_url: str) -> dict[str, dict[str, str]]:
    """The indexes of :data:`INDEXES`; the users' auth headers."""
    root = login(url, "root", ROOT_PASSWORD)
    with api_client() as client:
        def put(path, data, auth):
            answer = client.put(f"{url}/{path}", json=data, headers=auth)
            assert answer.status_code in (200, 201), answer.text

        put("root/pypi", {"type": "mirror", "mirror_url": upstream_url}, root)
        for user in ("web", "acme", "data"):
            put(user, {"password": TEAM_PASSWORD}, root)
        auth = {user: login(url, user, TEAM_PASSWORD) for user in ("web", "acme", "data")}
        for name, bases in INDEXES.items():
            if name != "root/pypi":
                user = name.split("/")[0]
                put(name, {"type": "stage", "bases": bases, "mirror_whitelist": [], "volatile": True}, auth[user])
    auth["root"] = root
    return auth


@dataclass
class Site:
    master: Devpi
    replica: Devpi
    purges: Receiver  # the master's
    replica_purges: Receiver
    secret: str
    auth: dict[str, dict[str, str]]
    wheels: Path
