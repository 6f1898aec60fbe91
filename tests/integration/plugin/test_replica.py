"""kit's mends to devpi's replica (kit/plugin/replica.py) on a real master and
replica: a file the master cannot give is reported in the replica's
``/+status`` (devpi-server 6.20 answered 500 there, for as long as the error
lasted); the files the replica still has to download are counted, so
"in sync" means the mirror holds what the master holds; and a new replica
downloads each file once, without the failed second download devpi made.
(The on-demand fetch of a team's file: test_reads.py, on a site with private
reads.)"""

from __future__ import annotations

import os
import secrets

import httpx
import pytest

from kit.cluster.devpi import sync_state
from kit.core.wait import wait_until
from kit.ops.sample import make_wheel
from tests.support.plugin_devpi import Devpi, make_indexes, secret_file, upload


@pytest.fixture
def pair(tmp_path, local_upstream):
    """A master with the indexes of the plugin's tests, and a replica of it, neither started."""
    devpi_secret = secret_file(tmp_path, secrets.token_urlsafe(32), name="devpi-secret")
    master = Devpi(tmp_path / "master", options={"role": "primary"})
    replica = Devpi(tmp_path / "replica", primary_url=master.url)
    try:
        master.init(devpi_secret).start()
        auth = make_indexes(master.url, local_upstream.url)
        replica.init(devpi_secret)
        yield master, replica, auth
    finally:
        replica.stop()
        master.stop()


def status_answer(server: Devpi) -> httpx.Response:
    return httpx.get(f"{server.url}/+status", headers={"Accept": "application/json"}, trust_env=False, timeout=10)


def caught_up(master: Devpi, replica: Devpi):
    """The replica's status once its serial is the master's."""
    master_serial = master.status()["serial"]
    answer = status_answer(replica)
    assert answer.status_code == 200, f"the replica's /+status answered {answer.status_code}: {answer.text[-400:]}"
    mirror = answer.json()["result"]
    return mirror if mirror["serial"] == master_serial else None


def test_a_file_the_master_cannot_give_is_reported_and_keeps_the_mirror_out_of_sync(pair, tmp_path):
    master, replica, auth = pair
    wheel = make_wheel(tmp_path / "wheels", "kitdemo-lost", "1.0")
    upload(master.url, "web/private", wheel, auth["web"])
    # The master loses the file before the (not yet started) replica fetched it.
    [stored] = (master.folder / "data" / "+files").rglob(wheel.name)
    stored.unlink()
    replica.start()

    def reported():
        mirror = caught_up(master, replica)
        return mirror if mirror and mirror["replication-errors"] else None

    mirror = wait_until(reported, 60, 0.2, fail=lambda: AssertionError(
        f"no replication error reported:\n{replica.log_text()[-3000:]}"))
    [(relpath, error)] = mirror["replication-errors"].items()
    assert relpath.endswith(wheel.name)
    assert error["url"].startswith(master.url) and error["url"].endswith(wheel.name)
    # Counted once, though devpi queued it twice (as it applied the change, and as it listed
    # what its data lacks); while a retry is being put back, one more for a moment.
    state = wait_until(lambda: sync_state(caught_up(master, replica), master.status()), 10, 0.1,
                       accept=lambda state: "1 file still to download" in state.detail,
                       fail=lambda: AssertionError(sync_state(caught_up(master, replica), master.status()).detail))
    assert state.behind == 0 and not state.in_sync and state.files_pending == 1
    assert wheel.name in state.detail, state.detail


def test_in_sync_once_every_file_is_downloaded(pair, tmp_path):
    master, replica, auth = pair
    replica.start()
    wheels = [make_wheel(tmp_path / "wheels", f"kitdemo-many{n}", "1.0") for n in range(3)]
    for wheel in wheels:
        upload(master.url, "web/private", wheel, auth["web"])
    mirror = wait_until(lambda: caught_up(master, replica), 60, 0.1)
    state = sync_state(mirror, master.status())
    if state.in_sync:
        # Said only once the files are there: the detail promises it.
        for wheel in wheels:
            assert next((replica.folder / "data" / "+files").rglob(wheel.name), None) is not None, wheel.name
    settled = wait_until(lambda: sync_state(caught_up(master, replica) or {}, master.status()), 60, 0.1,
                         accept=lambda s: s.in_sync)
    assert settled.detail == "in sync with the master"
    for wheel in wheels:
        assert next((replica.folder / "data" / "+files").rglob(wheel.name), None) is not None, wheel.name


def test_a_new_replica_downloads_each_file_once_without_errors(pair, tmp_path):
    """A replica started after uploads queues each file twice (as it applies the change, and as it
    lists what its data lacks); devpi's threads fetched both at once, the second failed and
    was tried again 11 s later. kit's plugin has the second wait for the first."""
    master, replica, auth = pair
    wheels = [make_wheel(tmp_path / "wheels", f"kitdemo-early{n}", "1.0") for n in range(4)]
    for wheel in wheels:  # big enough that a download is still running when the replica lists them
        with open(wheel, "ab") as out:
            out.write(os.urandom(20 * 1024 * 1024))
    for wheel in wheels:
        upload(master.url, "web/private", wheel, auth["web"])
    replica.start()
    wait_until(lambda: sync_state(caught_up(master, replica) or {}, master.status()), 30, 0.1,
               accept=lambda state: state.in_sync,
               fail=lambda: AssertionError(f"not in sync:\n{replica.log_text()[-3000:]}"))
    log = replica.log_text()
    assert "Error during file replication" not in log, log[-3000:]
    for wheel in wheels:
        assert next((replica.folder / "data" / "+files").rglob(wheel.name), None) is not None, wheel.name
