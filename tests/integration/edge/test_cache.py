"""The edge's store: a full disk, and a small bound kept by a real site's edge (kit up, real devpi)."""

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




def test_a_site_with_a_small_cache_bound_keeps_to_it_and_serves_evicted_files_right(tmp_path):
    """kit up with edge_cache_size=2M and eight ~450 kB wheels on root/pypi: after each download
    through the edge its cache folder holds at most 2 MiB, every file has its upstream bytes,
    and a file evicted since is served right when asked again."""
    import os

    from kit.ops.sample import make_wheel
    from tests.conftest import BIN, clean_env, run
    from tests.support.cluster import edge_url, running_site

    upstream = tmp_path / "upstream"
    wheels = [make_wheel(upstream, f"kitdemo-big{n}", "1.0", marker=os.urandom(400_000).hex()) for n in range(8)]
    assert sum(wheel.stat().st_size for wheel in wheels) > 3 * 1024**2
    env = clean_env(tmp_path / "home")
    with running_site(tmp_path, env, upstream, "--set", "edge_cache_size=2M") as (site, _):
        cache = site / "cluster" / "run" / "edge-cache"

        def download(wheel, into):
            project = wheel.name.split("-")[0].replace("_", "-")
            run([BIN / "pip", "download", "--no-deps", "--no-cache-dir", "-d", str(into),
                 "--index-url", f"{edge_url(site)}/root/pypi/+simple/", project], env=env)
            got = into / wheel.name
            assert hashlib.sha256(got.read_bytes()).digest() == hashlib.sha256(wheel.read_bytes()).digest()

        def cached_digests() -> set[str]:
            return {path.read_text().strip() for path in cache.glob("*.sha256")}

        for wheel in wheels:
            download(wheel, tmp_path / "first")
            held = sum(path.stat().st_size for path in cache.iterdir())
            assert held <= 2 * 1024**2, f"the edge cache holds {held} bytes, over its 2 MiB bound"
        first = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
        assert first not in cached_digests()  # evicted: least recently used
        download(wheels[0], tmp_path / "again")
        assert first in cached_digests()
        assert sum(path.stat().st_size for path in cache.iterdir()) <= 2 * 1024**2
