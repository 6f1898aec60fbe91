"""What a sync leaves on disk, read back (kit.mirror.record): kit's record of
the last sync, bandersnatch's serial, and the pages and files counted."""

from __future__ import annotations

from kit.mirror.record import SyncRecord, count_tree, project_pages, read_serial


def test_the_record_of_how_a_sync_ended_reads_back(tmp_path):
    path = tmp_path / "run" / "last-sync.json"
    path.parent.mkdir()
    record = SyncRecord(result="running", started=1.0, projects=2)
    record.write(path)
    record.finish("failed", "bandersnatch exited with 1", path)
    assert SyncRecord.read(path) == SyncRecord(result="failed", started=1.0, projects=2,
                                               message="bandersnatch exited with 1")


def test_no_record_or_one_that_is_not_kit_s_reads_as_none(tmp_path):
    """kit mirror status then says "never synced" rather than a traceback."""
    path = tmp_path / "last-sync.json"
    assert SyncRecord.read(path) is None
    for text in ("", "{", "[1, 2]", '{"result": "ok"}', '{"result": "ok", "started": 1, "colour": "red"}'):
        path.write_text(text)
        assert SyncRecord.read(path) is None, text


def test_the_serial_is_zero_until_bandersnatch_writes_a_number(tmp_path):
    assert read_serial(tmp_path) == 0  # before the first whole sync, or after --repair removed it
    (tmp_path / "status").write_text("garbage\n")
    assert read_serial(tmp_path) == 0
    (tmp_path / "status").write_text("4711\n")
    assert read_serial(tmp_path) == 4711


def test_projects_are_the_page_folders_and_files_are_counted_with_their_bytes(tmp_path):
    web = tmp_path / "web"
    assert project_pages(web) == [] and count_tree(web / "packages") == (0, 0)
    for name in ("kmt-lib", "kmt-app"):
        (web / "simple" / name).mkdir(parents=True)
    (web / "simple" / "index.html").write_text("the listing, not a project")
    assert [p.name for p in project_pages(web)] == ["kmt-app", "kmt-lib"]
    (web / "packages" / "ab" / "cd").mkdir(parents=True)
    (web / "packages" / "ab" / "cd" / "kmt_app-1.0-py3-none-any.whl").write_bytes(b"x" * 10)
    (web / "packages" / "kmt_lib-1.0.tar.gz").write_bytes(b"y" * 5)
    assert count_tree(web / "packages") == (2, 15)
