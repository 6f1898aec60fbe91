"""kit's devpi-server plugin as devpi loads it (kit/plugin/hooks.py): devpi
lists it and says where it purges; uploads complete while the edge hangs or is
down; without options it does nothing; broken purge settings stop devpi at start.

Real devpi-servers run with the plugin (tests/support/plugin_devpi.py), and a
small HTTP server (tests/support/plugin.py) stands in for the edge's purge
endpoint: it records what arrives, or hangs, or is not there at all.
"""

from __future__ import annotations

import secrets
import time

import pytest

from kit.plugin.hooks import FEATURE
from kit.ops.sample import make_wheel
from tests.support.plugin import Receiver
from tests.support.plugin_devpi import ROOT_PASSWORD, Devpi, api_client, login, secret_file, upload
from tests.conftest import free_port


def test_devpi_lists_the_plugin(site):
    with api_client() as client:
        api = client.get(f"{site.master.url}/+api").json()["result"]
    assert FEATURE in api["features"]
    assert "pkgindex-kit" in site.master.status()["versioninfo"]
    site.master.wait_log(f"kit-purge: purging changed pages at {site.purges.url} (secret from "
                         f"{site.master.folder / 'purge-secret'})")


# -- when the edge is down or hangs, and without options ---------------------------------------------


@pytest.fixture(scope="module")
def devpi_secret(tmp_path_factory):
    return secret_file(tmp_path_factory.mktemp("devpi-secret"), secrets.token_urlsafe(32), name="devpi-secret")


@pytest.mark.parametrize("edge", ["hanging", "down"])
def test_uploads_complete_while_the_edge_hangs_or_is_down_and_devpi_logs_it(tmp_path, devpi_secret, edge):
    hanging = Receiver("hang")
    url = hanging.url if edge == "hanging" else f"http://127.0.0.1:{free_port()}/+edge/purge"
    server = Devpi(tmp_path / "devpi", options={"kit-purge-url": url, "kit-purge-secretfile": "purge-secret"})
    secret_file(server.folder)
    try:
        server.init(devpi_secret).start()
        auth = login(server.url, "root", ROOT_PASSWORD)
        with api_client() as client:
            assert client.put(f"{server.url}/root/dev", json={"type": "stage", "bases": []}, headers=auth).status_code in (200, 201)
        # The httpx timeout (60 s) is the guard; each upload returns long before it.
        upload(server.url, "root/dev", make_wheel(tmp_path, "kitdemo-one", "1.0"), auth)
        if edge == "hanging":
            hanging.wait_count(1)  # a purge is in flight, unanswered, while devpi goes on
        upload(server.url, "root/dev", make_wheel(tmp_path, "kitdemo-two", "1.0"), auth)
        line = server.wait_log("kit-purge: could not purge")
        assert url in line and "dropped, the edge revalidates on its own" in line
        with api_client() as client:
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
        with api_client() as client:
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
    secret_file(server.folder)
    secret_file(server.folder, name="open-secret", mode=0o644)
    server.init(devpi_secret)
    done = server.run_to_exit()
    assert done.returncode == 1
    assert f"fatal: kit-purge: {said.format(folder=server.folder)}" in done.stderr
