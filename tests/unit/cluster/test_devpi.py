"""kit.cluster.devpi without a server: devpi-init's command line, reading a
replica's /+status, and create-indexes' refusals (the index plan itself:
unit/site/test_indexes.py)."""

from __future__ import annotations

import sys

import pytest

from kit.cluster.devpi import DevpiError, init_argv, init_env, sync_state
from kit.core.errors import KitError


def test_devpi_error_is_a_kit_error():
    from kit.cluster.devpi import DevpiError as Reexported

    assert Reexported is DevpiError and issubclass(DevpiError, KitError)




def test_devpi_init_gets_the_password_in_its_environment_only():
    argv = init_argv("devpi-init", "master.yml", primary=True, own_root_pypi=True)
    assert argv == [sys.executable, "-m", "kit.plugin.launch", "devpi-init", "-c", "master.yml", "--no-root-pypi"]
    env = init_env({"PATH": "/bin"}, "-s3cret")
    assert env == {"PATH": "/bin", "DEVPISERVER_ROOT_PASSWD": "-s3cret"}
    assert init_env({"PATH": "/bin"}, None) == {"PATH": "/bin"}


REPLICA = {"serial": 7, "primary-serial": 7, "replication-errors": {}, "replica-in-sync-at": 1700000000.0}


def test_in_sync_only_when_the_master_says_the_same_serial():
    assert sync_state(REPLICA, {"serial": 7}).behind == 0
    assert sync_state(REPLICA, {"serial": 7}).detail == "in sync with the master"
    behind = sync_state(REPLICA, {"serial": 9})
    assert behind.behind == 2 and behind.detail == "2 changes behind the master (serial 7 of 9)"


def test_a_missed_upload_is_never_in_sync():
    """The replica last heard serial 7 and has it; the master took an upload (8), then went away."""
    state = sync_state(REPLICA, None)
    assert state.behind is None and "in sync" not in state.detail
    assert state.detail == "master not answering; mirror at serial 7, last heard the master at serial 7"
    assert sync_state(REPLICA, None, "not running").detail.startswith("master not running; ")


def test_replication_errors_are_shown():
    errors = {"web/private/+f/abc/kitdemo_private-1.0-py3-none-any.whl": {"message": "checksum mismatch"}}
    state = sync_state(dict(REPLICA, **{"replication-errors": errors}), {"serial": 7})
    assert state.detail == ("has the master's changes; 1 file still to download; replication errors: "
                            "web/private/+f/abc/kitdemo_private-1.0-py3-none-any.whl: checksum mismatch")
    assert state.behind == 0 and not state.in_sync


def metrics(pending: int) -> list:
    return [["devpi_server_replica_file_download_queue_size", "gauge", 0],
            ["kit_replica_files_pending", "gauge", pending]]


def test_in_sync_only_once_the_files_of_the_changes_are_downloaded():
    """A replica applies a change first and fetches its files after: promoting it before they
    arrive would lose them, so its serial alone does not make it in sync."""
    waiting = sync_state(dict(REPLICA, metrics=metrics(3), **{"replica-init-queue-finished-at": 1.0}), {"serial": 7})
    assert waiting.behind == 0 and waiting.files_pending == 3 and not waiting.in_sync
    assert waiting.detail == "has the master's changes; 3 files still to download"
    done = sync_state(dict(REPLICA, metrics=metrics(0), **{"replica-init-queue-finished-at": 1.0}), {"serial": 7})
    assert done.in_sync and done.detail == "in sync with the master"
    # Before it has listed the files its data lacks (once, after its first catch-up), it cannot know.
    listing = sync_state(dict(REPLICA, metrics=metrics(0), **{"replica-init-queue-finished-at": None}), {"serial": 7})
    assert not listing.in_sync and listing.detail == "has the master's changes; still listing the files it lacks"
    # Behind, the changes come first.
    assert sync_state(dict(REPLICA, metrics=metrics(3)), {"serial": 9}).detail.startswith("2 changes behind")


def test_a_mirror_without_kits_count_is_in_sync_on_its_serial():
    assert sync_state(REPLICA, {"serial": 7}).in_sync
    assert sync_state(dict(REPLICA, metrics=[["kit_replica_files_pending", "gauge", "?"]]), {"serial": 7}).in_sync




@pytest.mark.parametrize("text, environ, message", [
    ('{"mirror_url": null, "private_projects": [], "teams": [{"name": "web", "password_variable": "KIT_TEAM_WEB_PASSWORD"}]}',
     {"KIT_ADMIN_PASSWORD": "x" * 8}, "KIT_TEAM_WEB_PASSWORD is not set"),
    ('{"mirror_url": null, "private_projects": [], "teams": []}', {}, "KIT_ADMIN_PASSWORD is not set"),
    ("[1, 2]", {"KIT_ADMIN_PASSWORD": "x" * 8}, "indexes.json is not kit's index plan"),
])
def test_create_indexes_entry_point_says_what_is_missing_in_one_line(tmp_path, capsys, text, environ, message):
    from kit.cluster.devpi import main

    plan = tmp_path / "indexes.json"
    plan.write_text(text)
    assert main(["http://127.0.0.1:9", str(plan)], environ) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("create-indexes: error:")
