"""kit.cluster.disk and the disk findings of kit check: each part's bytes and its
filesystem's use, a warning naming the part, the disk and the fix at 80 % or more
(the filesystem's numbers given by a stand-in statvfs)."""

from __future__ import annotations

import os
from types import SimpleNamespace

from kit.cluster.disk import disk_use, disk_warnings, folder_bytes
from kit.ops.check.cluster import disk_findings
from kit.site.answers import answers_from_raw


def _statvfs(percent: float):
    """A filesystem of 1000 blocks of 4 KiB, ``percent`` of them used, the rest free for users."""
    def statvfs(_path):
        used = int(10 * percent)
        return os.statvfs_result((4096, 4096, 1000, 1000 - used, 1000 - used, 0, 0, 0, 0, 255))
    return statvfs


def _site(tmp_path, **raw):
    answers = answers_from_raw({"setups": "mirror,private,cluster", "edge_cache_size": "2M", **raw})
    cache = tmp_path / "cluster" / "run" / "edge-cache"
    cache.mkdir(parents=True)
    (cache / "a.file").write_bytes(b"x" * 300_000)
    return SimpleNamespace(path=tmp_path, answers=answers, command=lambda *words: "kit " + " ".join(words))


def test_a_disk_85_percent_used_is_a_warning_naming_the_part_the_disk_and_the_fix(tmp_path):
    site = _site(tmp_path)
    [finding] = disk_findings(site, _statvfs(85))
    assert finding.result == "warn" and not finding.ok
    assert "is 85% used" in finding.detail and "edge cache 293.0 KiB" in finding.detail
    assert "master data" in finding.detail and "kit prune --older-than 90" in finding.fix
    assert "edge_cache_size" in finding.fix


def test_a_disk_under_80_percent_passes_with_each_parts_use(tmp_path):
    site = _site(tmp_path)
    [finding] = disk_findings(site, _statvfs(79))
    assert finding.ok and "edge cache: 293.0 KiB of 2.0 MiB" in finding.detail and "(79% used)" in finding.detail
    assert disk_warnings(disk_use(site.path, site.answers, _statvfs(79)), site.command) == []


def test_a_large_folder_is_counted_up_to_a_cap_and_said_to_be_at_least(tmp_path):
    for n in range(30):
        (tmp_path / f"{n}.file").write_bytes(b"x" * 10)
    assert folder_bytes(tmp_path, cap=100) == (300, True)
    size, counted_all = folder_bytes(tmp_path, cap=10)
    assert size <= 100 and not counted_all
    assert folder_bytes(tmp_path / "not-there") == (0, True)
