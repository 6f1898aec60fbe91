"""kit.files: one way to replace a file a reader may be reading."""

from __future__ import annotations

import pytest

from kit.core.files import replaced, write_atomically
from kit.mirror.record import SyncRecord


def test_write_atomically_replaces_and_leaves_nothing_aside(tmp_path):
    target = tmp_path / "deep" / "page.json"
    write_atomically(target, "old")
    write_atomically(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["page.json"]


def test_a_block_that_raises_keeps_the_old_bytes(tmp_path):
    (tmp_path / "copy").mkdir()
    target = tmp_path / "copy" / "file.whl"
    target.write_bytes(b"good")
    with pytest.raises(ValueError):
        with replaced(target) as out:
            out.write(b"half a download")
            raise ValueError("sha256 mismatch")
    assert target.read_bytes() == b"good"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.whl"]


def test_the_mirror_sync_record_is_written_under_a_name_no_other_writer_picks(tmp_path):
    """Once written through a fixed "last-sync.json.tmp": two writers at once would share
    it, and anything left under that name (here a folder) broke every later write."""
    record = tmp_path / "last-sync.json"
    (tmp_path / "last-sync.json.tmp").mkdir()
    SyncRecord(result="ok", started=1.0, finished=2.0, serial=7).write(record)
    assert SyncRecord.read(record).serial == 7
