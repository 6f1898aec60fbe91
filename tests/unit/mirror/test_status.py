"""kit mirror status (kit.mirror.status) read from what a sync left on disk,
without running one: a mirror never synced, and a sync killed before it could
record how it ended."""

from __future__ import annotations

import fcntl

from kit.mirror.record import SyncRecord
from kit.mirror.status import mirror_status


def test_a_mirror_never_synced_says_how_to_start(tmp_path):
    status = mirror_status(tmp_path)
    assert status.summary() == "never synced (0 projects, 0 files, 0 bytes); run kit mirror sync"
    assert status.as_dict()["last_sync"] is None


def test_a_sync_killed_while_running_reads_as_interrupted(tmp_path):
    run = tmp_path / "mirror" / "run"
    run.mkdir(parents=True)
    SyncRecord(result="running", started=1000.0, projects=2).write(run / "last-sync.json")
    killed = mirror_status(tmp_path)
    assert killed.record.result == "interrupted"
    assert killed.summary(now=1000.0 + 2 * 3600) == "last sync interrupted 2 h ago (serial 0; 0 projects, 0 files, 0 bytes)"
    with open(run / "sync.lock", "a+") as lock:  # the lock a running kit mirror sync holds
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        running = mirror_status(tmp_path)
    assert running.record.result == "running"
    assert running.summary(now=1000.0 + 90).startswith("sync running since 1 min (serial 0;")
