"""The edge's store without sockets: representations, links, purges, files on disk."""

from __future__ import annotations

import hashlib

from kit.edge.cache import Files


def test_a_full_disk_gives_up_the_file_not_the_bytes_and_heals(tmp_path):
    """On a real 256 KiB tmpfs: a 1 MiB file is given up at the first write the disk refuses,
    its part removed; the cache says why until a file is stored again."""
    from tests.conftest import mounted_tmpfs

    with mounted_tmpfs(tmp_path / "cache", "256k") as folder:
        files = Files(folder, max_bytes=10**9)
        files.open()
        big = files.fill(1024 * 1024)
        for _ in range(4):
            big.write(b"x" * 256 * 1024)  # never raises: the disk's error is the cache's, not the caller's
        assert not big.kept and not big.keep("/u/i/+f/big", "0" * 64) and big.first_trouble
        assert "No space left on device" in files.problem() and files.write_failures == 1
        assert list(folder.iterdir()) == []
        small = files.fill(10)
        small.write(b"y" * 10)
        assert small.keep("/u/i/+f/small", hashlib.sha256(b"y" * 10).hexdigest())
        assert files.problem() == "" and files.lookup("/u/i/+f/small").size == 10


