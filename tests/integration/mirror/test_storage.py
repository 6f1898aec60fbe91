"""The mirror's storage (kit.mirror.storage): a folder kit mirror sync cannot
write to, or one too small for the estimate, is said before anything is fetched."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from kit.ops.sample import make_wheel
from tests.conftest import clean_env, kit_cmd, run
from tests.support.mirror import init_site, kit, make_upstream, one_error_line


def test_an_unwritable_storage_folder_is_said_before_anything_is_fetched(tmp_path):
    env = clean_env(tmp_path / "home")
    site = init_site(tmp_path, env, make_upstream(tmp_path / "wheels"), "mirror_projects=kmt-app")
    (site / "mirror" / "data").write_text("a file where the storage folder should be")
    proc = kit("mirror", "sync", str(site), env=env, check=False)
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert f"cannot write to the mirror's storage {site / 'mirror' / 'data'}" in line and "make it writable" in line


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="mounting a small file system needs root and unshare")
def test_a_storage_folder_too_small_for_the_estimate_is_refused(tmp_path):
    """A real 1 MB file system for data/, and an upstream project of 3 MB."""
    env = clean_env(tmp_path / "home")
    upstream = tmp_path / "wheels"
    big = make_wheel(upstream, "kmt-big", "1.0")
    import zipfile

    with zipfile.ZipFile(big, "a") as zf:
        zf.writestr("kmt_big/blob.bin", os.urandom(3 * 1024 * 1024))
    site = init_site(tmp_path, env, upstream, "mirror_projects=kmt-big")
    data = site / "mirror" / "data"
    data.mkdir()
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=1m kit-probe {data}"],
                           capture_output=True, text=True)
    if probe.returncode != 0:  # a container without CAP_SYS_ADMIN
        pytest.skip(f"cannot mount a small file system here: {probe.stderr.strip()}")
    command = " ".join(str(c) for c in kit_cmd("mirror", "sync", str(site)))
    proc = run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=1m kit-test {data} && {command}"],
               env=env, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = one_error_line(proc)
    assert "the mirror needs about 3.1 MB more in" in line and "free some space there, or list fewer projects" in line
