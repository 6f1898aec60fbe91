"""kit's devpi-server plugin (kit/devpi_plugin.py): after a commit, devpi
POSTs the keys of the changed index pages to the edge's purge endpoint.

The keys are computed without a server first; then a real devpi-server (and a
real replica) run with the plugin, and a small HTTP server in this module
stands in for the edge's purge endpoint (the edge is being rebuilt in
parallel): it records what arrives, or hangs, or is not there at all.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from kit.plugin.keys import collapse, inheritors, normalise, purge_keys
from kit.plugin.sender import PurgeSender
from kit.plugin.settings import read_secret, secret_path
from tests.support.plugin import ListLog, Receiver
from tests.conftest import BIN, FAST_DEVPI, clean_env, free_port, wait_http

ROOT_PASSWORD = "root-pw-for-tests"
#: Indexes of the real-server tests: acme/private inherits web/private, both
#: inherit root/pypi (a mirror of the local upstream); data/other inherits nothing.
INDEXES = {
    "root/pypi": [],
    "web/private": ["root/pypi"],
    "acme/private": ["web/private", "root/pypi"],
    "data/other": [],
}


# -- the keys, without a server ----------------------------------------------------------


def test_a_change_purges_the_stage_and_every_index_inheriting_it():
    assert inheritors("root/pypi", INDEXES) == {"root/pypi", "web/private", "acme/private"}
    assert inheritors("web/private", INDEXES) == {"web/private", "acme/private"}
    assert inheritors("acme/private", INDEXES) == {"acme/private"}
    assert inheritors("data/other", INDEXES) == {"data/other"}


def test_inheritance_through_a_cycle_and_a_chain():
    """kit's team indexes inherit each other (devpi skips bases already seen)."""
    bases = {
        "root/names": [],
        "web/private": ["root/names", "acme/private", "root/pypi"],
        "acme/private": ["root/names", "web/private", "root/pypi"],
        "ops/tools": ["acme/private"],
        "root/pypi": [],
    }
    assert inheritors("web/private", bases) == {"web/private", "acme/private", "ops/tools"}
    assert inheritors("root/names", bases) == {"root/names", "web/private", "acme/private", "ops/tools"}
    # A base that no longer exists (its index was deleted) still names its inheritors.
    assert inheritors("gone/index", {"web/private": ["gone/index"]}) == {"gone/index", "web/private"}


def test_keys_per_kind_of_change():
    assert purge_keys("web/private", "Kit_Demo.Purge", INDEXES) == {
        "web/private/kit-demo-purge", "acme/private/kit-demo-purge",
    }
    assert purge_keys("web/private", None, INDEXES) == {"web/private", "acme/private"}
    assert purge_keys("web/private", "*", INDEXES) == {"web/private/*", "acme/private/*"}
    assert purge_keys("root/pypi", "six", INDEXES) == {"root/pypi/six", "web/private/six", "acme/private/six"}


def test_names_are_normalised_as_pep_503_says():
    assert normalise("Foo__Bar.baz-Qux") == "foo-bar-baz-qux"


def test_too_many_keys_become_whole_indexes_never_fewer_pages():
    keys = {"web/private", "web/private/a", "web/private/b", "acme/private/c", "data/other", "root/pypi/*"}
    assert collapse(keys) == {"web/private/*", "acme/private/*", "data/other", "root/pypi/*"}


# -- the secret file -------------------------------------------------------------------------


@pytest.mark.parametrize("method, path, form, body, target", [
    ("POST", "/web/private/", {":action": "file_upload", "name": "Acme_Data"}, None, ("web/private", "acme-data")),
    ("POST", "/web/private", {":action": "submit", "name": "acme.data"}, None, ("web/private", "acme-data")),
    ("POST", "/web/private/", {":action": "doc_upload", "name": "x"}, None, ("web/private", "x")),
    ("POST", "/web/private/", {":action": "remove_pkg_info", "name": "x"}, None, None),
    ("POST", "/web/private/", {"name": "x"}, None, None),
    ("PUSH", "/data/private", None, {"name": "x", "version": "1", "targetindex": "web/private"}, ("web/private", "x")),
    ("POST", "/data/private/", None, {"name": "x", "version": "1", "targetindex": "web/private"}, ("web/private", "x")),
    ("PUSH", "/data/private", None, {"name": "x", "version": "1", "posturl": "http://elsewhere/"}, None),
    ("PUSH", "/data/private", None, {"name": "x", "targetindex": "bad"}, None),
    ("PUSH", "/data/private", None, ["not", "a", "dict"], None),
    ("POST", "/+login", None, {"user": "web", "password": "x"}, None),
    ("POST", "/web/private/+simple/x/refresh", None, None, None),
    ("PUT", "/web/private", {":action": "file_upload", "name": "x"}, None, None),
    ("GET", "/web/private/", {":action": "file_upload", "name": "x"}, None, None),
])
def test_what_adds_a_project_to_an_index(method, path, form, body, target):
    from kit.plugin.ownership import upload_target

    assert upload_target(method, path, form, body) == target


def _secret_file(folder: Path, text: str | None = None, mode: int = 0o600, name: str = "purge-secret") -> Path:
    path = folder / name
    path.write_text(secrets.token_hex(32) + "\n" if text is None else text)
    path.chmod(mode)
    return path


def test_the_secret_is_read_stripped(tmp_path):
    path = _secret_file(tmp_path)
    assert read_secret(path) == path.read_text().strip()
    assert len(read_secret(path)) == 64


@pytest.mark.parametrize("text, mode, said", [
    (None, 0o604, "can be read by every user of this machine; run: chmod 600"),
    ("", 0o600, "is empty"),
    ("  \n", 0o600, "is empty"),
    ("short", 0o600, "does not hold one token"),
    ("two words " + "a" * 40, 0o600, "does not hold one token"),
])
def test_a_bad_secret_file_is_refused_naming_it_and_the_fix(tmp_path, text, mode, said):
    from devpi_server.main import Fatal

    path = _secret_file(tmp_path, text, mode)
    with pytest.raises(Fatal) as caught:
        read_secret(path)
    assert said in str(caught.value) and str(path) in str(caught.value)


def test_a_missing_secret_file_is_refused(tmp_path):
    from devpi_server.main import Fatal

    with pytest.raises(Fatal, match="does not exist; write the edge's purge secret"):
        read_secret(tmp_path / "nothing-here")


def test_a_relative_secret_path_is_taken_from_the_working_folder_as_devpi_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert secret_path("purge-secret") == tmp_path / "purge-secret"
    assert secret_path("~/s") == Path(os.environ["HOME"]) / "s"


def test_sender_posts_the_contract_with_the_bearer_secret(receiver):
    sender = PurgeSender(receiver.url, "s" * 64, ListLog())
    assert sender.send({"web/private/b", "web/private"}, 7) is True
    purge = receiver.purges[0]
    assert purge.authorization == "Bearer " + "s" * 64
    assert purge.content_type == "application/json" and purge.path == "/+edge/purge"
    assert purge.body == {"keys": ["web/private", "web/private/b"], "serial": 7}


def test_sender_merges_what_arrives_together_and_bounds_what_waits(receiver):
    """Keys added while none is sent go out in one request, with the newest serial;
    past max_keys the pending set is coarsened to whole indexes."""
    sender = PurgeSender(receiver.url, "s" * 64, ListLog(), max_keys=3)
    sender.add({"web/private", "web/private/a"}, 5)
    sender.add({"web/private/a", "acme/private/a"}, 6)
    assert sender.pending() == 3
    sender.add({"acme/private/b"}, 4)
    assert sender.pending() == 2  # web/private/* and acme/private/*
    thread = threading.Thread(target=sender.thread_run, daemon=True)
    thread.start()
    try:
        receiver.wait_count(1)
    finally:
        sender.thread_shutdown()
        thread.join(10)
    assert not thread.is_alive()
    assert receiver.purges[0].body == {"keys": ["acme/private/*", "web/private/*"], "serial": 6}
    assert len(receiver.purges) == 1


def test_a_redirect_is_a_failure_and_the_secret_stays_home(receiver):
    receiver.mode = "redirect"
    log = ListLog()
    sender = PurgeSender(receiver.url, "s" * 64, log)
    assert sender.send({"web/private"}, 3) is False
    assert [p.path for p in receiver.purges] == ["/+edge/purge"]
    assert "HTTP 307" in log.lines[0][1]


def test_failures_are_logged_one_line_at_a_time_then_recovery_once(receiver):
    log = ListLog()
    down = f"http://127.0.0.1:{free_port()}/+edge/purge"
    sender = PurgeSender(down, "s" * 64, log, failure_log_interval=3600)
    assert sender.send({"web/private"}, 1) is False
    assert sender.send({"web/private"}, 2) is False
    assert sender.send({"web/private"}, 3) is False
    assert len(log.lines) == 1 and log.lines[0][0] == "warning"
    assert log.lines[0][1].startswith(f"kit-purge: could not purge 1 keys (serial 1) at {down}: ")
    assert "refused" in log.lines[0][1].lower() and "dropped" in log.lines[0][1]
    assert sender.stats["failures"] == 3
    sender.url = receiver.url
    assert sender.send({"web/private"}, 4) is True
    assert log.lines[1] == ("info", f"kit-purge: {receiver.url} takes purges again")
    # The next failure is held back by the interval, and counted.
    sender.url = down
    sender.send({"web/private"}, 5)
    assert len(log.lines) == 2 and sender._unreported == 3


def test_a_hanging_edge_costs_the_sender_its_timeout_only():
    receiver = Receiver("hang")
    try:
        log = ListLog()
        sender = PurgeSender(receiver.url, "s" * 64, log, timeout=0.2)
        assert sender.send({"web/private"}, 1) is False
        assert "no answer within 0.2 s" in log.lines[0][1] or "timed out" in log.lines[0][1]
    finally:
        receiver.stop()


# -- real devpi-servers with the plugin ------------------------------------------------------------


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
        argv = [BIN / "devpi-init", "-c", "devpi.yml", "--no-root-pypi"]
        if "role: replica" in (self.folder / "devpi.yml").read_text():
            argv = argv[:-1]
        done = subprocess.run(argv, cwd=self.folder, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return self

    def run_to_exit(self) -> subprocess.CompletedProcess:
        """Start devpi-server expecting it to refuse (exit); a guard timeout if it serves instead."""
        return subprocess.run([BIN / "devpi-server", "-c", "devpi.yml"], cwd=self.folder, env=self.env,
                              capture_output=True, text=True, timeout=60)

    def start(self) -> "Devpi":
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([BIN / "devpi-server", "-c", "devpi.yml"], cwd=self.folder, env=self.env,
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


def _client() -> httpx.Client:
    return httpx.Client(trust_env=False, timeout=60, headers={"Accept": "application/json"})


def login(url: str, user: str, password: str) -> dict[str, str]:
    import base64

    with _client() as client:
        answer = client.post(f"{url}/+login", json={"user": user, "password": password})
    answer.raise_for_status()
    token = answer.json()["result"]["password"]
    return {"X-Devpi-Auth": base64.b64encode(f"{user}:{token}".encode()).decode()}


# -- when the edge is down or hangs, and without options ---------------------------------------------


@pytest.fixture(scope="module")
def devpi_secret(tmp_path_factory):
    return _secret_file(tmp_path_factory.mktemp("devpi-secret"), secrets.token_urlsafe(32), name="devpi-secret")


