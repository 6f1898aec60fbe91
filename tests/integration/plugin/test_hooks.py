"""kit's devpi-server plugin (kit/plugin/): after a commit, devpi
POSTs the keys of the changed index pages to the edge's purge endpoint.

The keys are computed without a server first; then a real devpi-server (and a
real replica) run with the plugin, and a small HTTP server in this module
stands in for the edge's purge endpoint (the edge is being rebuilt in
parallel): it records what arrives, or hangs, or is not there at all.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kit.plugin.hooks import FEATURE
from kit.plugin.settings import read_secret
from kit.ops.sample import make_wheel
from tests.support.plugin import Receiver
from tests.conftest import BIN, FAST_DEVPI, clean_env, free_port, wait_http

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


# -- the keys, without a server ----------------------------------------------------------


# -- the secret file -------------------------------------------------------------------------


def _secret_file(folder: Path, text: str | None = None, mode: int = 0o600, name: str = "purge-secret") -> Path:
    path = folder / name
    path.write_text(secrets.token_hex(32) + "\n" if text is None else text)
    path.chmod(mode)
    return path


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


def upload(url: str, index: str, wheel: Path, auth: dict[str, str]) -> int:
    """Upload with devpi's API (what twine does); the commit's serial."""
    name, version = wheel.name.split("-")[:2]
    with _client() as client:
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
    with _client() as client:
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


@pytest.fixture(scope="module")
def site(tmp_path_factory, local_upstream):
    """A master and its replica, both with the plugin (each with its own
    receiver), and the indexes of :data:`INDEXES` on the master.

    The master's purge options are in its YAML file, the secret file given
    relative to the folder devpi runs in; the replica's URL comes from
    DEVPISERVER_KIT_PURGE_URL, so both ways of setting it are used.
    """
    root = tmp_path_factory.mktemp("plugin")
    devpi_secret = _secret_file(root, secrets.token_urlsafe(32), name="devpi-secret")
    purges, replica_purges = Receiver(), Receiver()
    master_dir, replica_dir = root / "master", root / "replica"
    master = Devpi(master_dir, options={"role": "primary", "kit-purge-url": purges.url, "kit-purge-secretfile": "purge-secret"})
    replica = None
    try:
        master.init(devpi_secret)
        secret = read_secret(_secret_file(master_dir))
        master.start()
        auth = make_indexes(master.url, local_upstream.url)
        replica_dir.mkdir()
        shutil.copy(master_dir / "purge-secret", replica_dir / "purge-secret")
        replica = Devpi(replica_dir, options={"kit-purge-secretfile": "purge-secret"},
                        env={"DEVPISERVER_KIT_PURGE_URL": replica_purges.url}, primary_url=master.url)
        replica.init(devpi_secret).start()
        yield Site(master, replica, purges, replica_purges, secret, auth, root / "wheels")
    finally:
        if replica is not None:
            replica.stop()
        master.stop()
        purges.stop()
        replica_purges.stop()


def test_devpi_lists_the_plugin(site):
    with _client() as client:
        api = client.get(f"{site.master.url}/+api").json()["result"]
    assert FEATURE in api["features"]
    assert "pkgindex-kit" in site.master.status()["versioninfo"]
    site.master.wait_log(f"kit-purge: purging changed pages at {site.purges.url} (secret from "
                         f"{site.master.folder / 'purge-secret'})")


def test_an_upload_purges_its_index_and_every_index_inheriting_it(site):
    wheel = make_wheel(site.wheels, "kitdemo_Purge.Me", "1.0")
    serial = upload(site.master.url, "web/private", wheel, site.auth["web"])
    wanted = {"web/private", "web/private/kitdemo-purge-me", "acme/private", "acme/private/kitdemo-purge-me"}
    found = site.purges.wait_for(wanted)
    for purge in found:
        assert purge.authorization == f"Bearer {site.secret}"
        assert purge.content_type == "application/json"
        # The serial of the newest change covered, as devpi numbers its commits.
        assert isinstance(purge.body["serial"], int) and purge.body["serial"] >= serial
    project_keys = {key for key in site.purges.keys() if key.endswith("/kitdemo-purge-me")}
    # root/pypi and data/other do not inherit web/private: their pages did not change.
    assert project_keys == {"web/private/kitdemo-purge-me", "acme/private/kitdemo-purge-me"}
    # The replica replays the commit, at the master's serial, and purges too.
    replica_found = site.replica_purges.wait_for(wanted)
    assert all(p.authorization == f"Bearer {site.secret}" and p.body["serial"] >= serial for p in replica_found)


def test_a_new_release_and_a_removal_purge_the_project_pages(site):
    make_wheel(site.wheels, "kitdemo-again", "1.0")
    upload(site.master.url, "web/private", site.wheels / "kitdemo_again-1.0-py3-none-any.whl", site.auth["web"])
    site.purges.wait_for({"web/private/kitdemo-again"})
    first = len(site.purges.purges)
    serial = upload(site.master.url, "web/private", make_wheel(site.wheels, "kitdemo-again", "2.0"), site.auth["web"])
    site.purges.wait_count(first + 1)
    site.purges.wait_for({"web/private/kitdemo-again", "acme/private/kitdemo-again"})
    assert any(p.body["serial"] >= serial and "acme/private/kitdemo-again" in p.body["keys"]
               for p in site.purges.purges[first:])
    # Removing a release (devpi's DELETE of a version) purges the same pages again.
    after_upload = len(site.purges.purges)
    with _client() as client:
        answer = client.delete(f"{site.master.url}/web/private/kitdemo-again/2.0", headers=site.auth["web"])
    assert answer.status_code == 200, answer.text
    removal_serial = int(answer.headers["X-Devpi-Serial"])
    deadline = time.monotonic() + 30
    while not any(p.body["serial"] >= removal_serial and "acme/private/kitdemo-again" in p.body["keys"]
                  for p in site.purges.purges[after_upload:]):
        assert time.monotonic() < deadline, f"no purge for the removal: {site.purges.purges[after_upload:]}"
        time.sleep(0.05)


def test_new_upstream_links_on_the_mirror_purge_every_index_inheriting_it(site):
    """root/pypi fetches kitdemo-upstream from the upstream and commits its links."""
    with _client() as client:
        answer = client.get(f"{site.master.url}/root/pypi/+simple/kitdemo-upstream/", headers={"Accept": "text/html"})
    assert answer.status_code == 200 and "kitdemo_upstream-1.0" in answer.text
    site.purges.wait_for({"root/pypi/kitdemo-upstream", "web/private/kitdemo-upstream",
                          "acme/private/kitdemo-upstream"})
    assert "data/other/kitdemo-upstream" not in site.purges.keys()


def test_an_index_setting_change_purges_the_whole_index_and_its_inheritors(site):
    since = site.purges.mark()
    with _client() as client:
        answer = client.patch(f"{site.master.url}/web/private", headers=site.auth["web"],
                              json=["mirror_whitelist+=kitdemo-upstream"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["mirror_whitelist"] == ["kitdemo-upstream"]
    site.purges.wait_for({"web/private/*", "acme/private/*"}, since)
    assert not {"root/pypi/*", "data/other/*"} & site.purges.keys(since)


def test_a_password_change_purges_nothing(site):
    """The user key holds passwords too; only index settings matter. Proven
    with a later change elsewhere: devpi replays commits in order, so once
    its purge has arrived, one for the password change would have too."""
    before = site.purges.mark()
    with _client() as client:
        answer = client.patch(f"{site.master.url}/data", headers=site.auth["root"], json={"password": "other-pw-1"})
        assert answer.status_code == 200, answer.text
        answer = client.patch(f"{site.master.url}/acme/private", headers=site.auth["root"], json=["title=changed"])
        assert answer.status_code == 200, answer.text
    site.purges.wait_for({"acme/private/*"}, before)
    assert site.purges.keys(before) == {"acme/private/*"}


# -- when the edge is down or hangs, and without options ---------------------------------------------


@pytest.fixture(scope="module")
def devpi_secret(tmp_path_factory):
    return _secret_file(tmp_path_factory.mktemp("devpi-secret"), secrets.token_urlsafe(32), name="devpi-secret")


@pytest.mark.parametrize("edge", ["hanging", "down"])
def test_uploads_complete_while_the_edge_hangs_or_is_down_and_devpi_logs_it(tmp_path, devpi_secret, edge):
    hanging = Receiver("hang")
    url = hanging.url if edge == "hanging" else f"http://127.0.0.1:{free_port()}/+edge/purge"
    server = Devpi(tmp_path / "devpi", options={"kit-purge-url": url, "kit-purge-secretfile": "purge-secret"})
    _secret_file(server.folder)
    try:
        server.init(devpi_secret).start()
        auth = login(server.url, "root", ROOT_PASSWORD)
        with _client() as client:
            assert client.put(f"{server.url}/root/dev", json={"type": "stage", "bases": []}, headers=auth).status_code in (200, 201)
        # The httpx timeout (60 s) is the guard; each upload returns long before it.
        upload(server.url, "root/dev", make_wheel(tmp_path, "kitdemo-one", "1.0"), auth)
        if edge == "hanging":
            hanging.wait_count(1)  # a purge is in flight, unanswered, while devpi goes on
        upload(server.url, "root/dev", make_wheel(tmp_path, "kitdemo-two", "1.0"), auth)
        line = server.wait_log("kit-purge: could not purge")
        assert url in line and "dropped, the edge revalidates on its own" in line
        with _client() as client:
            page = client.get(f"{server.url}/root/dev/+simple/kitdemo-two/", headers={"Accept": "text/html"})
        assert "kitdemo_two-1.0-py3-none-any.whl" in page.text
    finally:
        server.stop()
        hanging.stop()


def test_without_options_the_plugin_does_nothing_and_devpi_works(tmp_path, devpi_secret):
    server = Devpi(tmp_path / "devpi")
    try:
        server.init(devpi_secret).start()
        auth = login(server.url, "root", ROOT_PASSWORD)
        with _client() as client:
            assert client.put(f"{server.url}/root/dev", json={"type": "stage", "bases": []}, headers=auth).status_code in (200, 201)
            serial = upload(server.url, "root/dev", make_wheel(tmp_path, "kitdemo-one", "1.0"), auth)
            page = client.get(f"{server.url}/root/dev/+simple/kitdemo-one/", headers={"Accept": "text/html"})
        assert "kitdemo_one-1.0-py3-none-any.whl" in page.text
        # devpi's notifier has replayed the upload: a subscriber would have run by now.
        deadline = time.monotonic() + 30
        while server.status()["event-serial"] < serial:
            assert time.monotonic() < deadline, "devpi's notifier did not catch up"
            time.sleep(0.05)
        status = server.status()
        assert not [m for m in status["metrics"] if m[0].startswith("kit_purge")]
        assert "kit-purge" not in server.log_text()
    finally:
        server.stop()


@pytest.mark.parametrize("options, said", [
    ({"kit-purge-url": "http://127.0.0.1:9/+edge/purge", "kit-purge-secretfile": "missing-secret"},
     "secret file {folder}/missing-secret does not exist; write the edge's purge secret"),
    ({"kit-purge-url": "http://127.0.0.1:9/+edge/purge", "kit-purge-secretfile": "open-secret"},
     "secret file {folder}/open-secret can be read by every user of this machine; run: chmod 600"),
    ({"kit-purge-url": "http://127.0.0.1:9/+edge/purge"},
     "kit-purge-secretfile is not set; set both kit-purge-url and kit-purge-secretfile, or neither"),
    ({"kit-purge-url": "edge:3143", "kit-purge-secretfile": "purge-secret"},
     "kit-purge-url 'edge:3143' is not an http:// or https:// URL"),
])
def test_devpi_refuses_to_start_with_broken_purge_settings(tmp_path, devpi_secret, options, said):
    server = Devpi(tmp_path / "devpi", options=options)
    _secret_file(server.folder)
    _secret_file(server.folder, name="open-secret", mode=0o644)
    server.init(devpi_secret)
    done = server.run_to_exit()
    assert done.returncode == 1
    assert f"fatal: kit-purge: {said.format(folder=server.folder)}" in done.stderr
