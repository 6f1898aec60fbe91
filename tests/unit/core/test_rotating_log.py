"""kit.core.rotating_log: a service's log turned over at its bound, whole lines kept
together, at most bound × (kept + 1) bytes on disk, the newest lines in NAME.log."""

from __future__ import annotations

import os

from kit.core.rotating_log import RotatingLog, copy_to


def test_the_log_is_turned_over_at_its_bound_and_keeps_the_newest_lines(tmp_path):
    tmp_path = tmp_path / "logs"
    tmp_path.mkdir()
    log = RotatingLog(tmp_path / "edge.log", max_bytes=1000, keep=2)
    read_end, write_end = os.pipe()
    lines = [f"request {n:05d}\n".encode() for n in range(2000)]  # 28 kB through a 1 kB log
    with os.fdopen(write_end, "wb") as pipe:
        for line in lines:
            pipe.write(line)
    copy_to(read_end, log)
    os.close(read_end)
    log.close()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["edge.log", "edge.log.1", "edge.log.2"]
    assert all(path.stat().st_size <= 1000 for path in tmp_path.iterdir())
    kept = b"".join((tmp_path / name).read_bytes() for name in ("edge.log.2", "edge.log.1", "edge.log"))
    assert kept.endswith(b"request 01999\n") and b"".join(lines).endswith(kept)  # whole lines, in order, the newest


def test_a_log_kit_finds_is_appended_to_and_counted(tmp_path):
    (tmp_path / "master.log").write_bytes(b"x" * 900 + b"\n")
    log = RotatingLog(tmp_path / "master.log", max_bytes=1000, keep=1)
    log.write(b"a line that fits\n")
    log.write(b"a line that does not fit" + b"." * 80 + b"\n")
    log.close()
    assert (tmp_path / "master.log").read_bytes() == b"a line that does not fit" + b"." * 80 + b"\n"
    assert (tmp_path / "master.log.1").read_bytes() == b"x" * 900 + b"\na line that fits\n"
