"""The master-and-replica site of the plugin's tests.

Module-scoped, so test_hooks.py and test_watcher.py each start their own: the
watcher tests change the site as they go (uploads, web/private's whitelist,
acme/private's title, data's password), and the scheduler hands whole files to
different workers, where a session-scoped site would be started once per
worker anyway and then kept running to the end of the session.
"""

from __future__ import annotations

import secrets
import shutil

import pytest

from kit.plugin.settings import read_secret
from tests.support.plugin import Receiver
from tests.support.plugin_devpi import Devpi, Site, make_indexes, secret_file


@pytest.fixture(scope="module")
def site(tmp_path_factory, local_upstream):
    """A master and its replica, both with the plugin (each with its own
    receiver), and the indexes of :data:`tests.support.plugin_devpi.INDEXES` on the master.

    The master's purge options are in its YAML file, the secret file given
    relative to the folder devpi runs in; the replica's URL comes from
    DEVPISERVER_KIT_PURGE_URL, so both ways of setting it are used.
    """
    root = tmp_path_factory.mktemp("plugin")
    devpi_secret = secret_file(root, secrets.token_urlsafe(32), name="devpi-secret")
    purges, replica_purges = Receiver(), Receiver()
    master_dir, replica_dir = root / "master", root / "replica"
    master = Devpi(master_dir, options={"role": "primary", "kit-purge-url": purges.url, "kit-purge-secretfile": "purge-secret"})
    replica = None
    try:
        master.init(devpi_secret)
        secret = read_secret(secret_file(master_dir))
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
