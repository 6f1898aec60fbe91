"""bandersnatch run by kit mirror sync (kit.mirror.bandersnatch): its failure
reported in one line and recorded; Ctrl-C in the middle keeps whole pages,
and the next sync resumes."""

from __future__ import annotations

import json
import signal
import subprocess

from kit.ops.sample import make_wheel
from tests.conftest import clean_env, kit_cmd
from tests.support.mirror import init_site, kit, make_upstream, mirrored, one_error_line


def test_an_interrupted_sync_keeps_whole_pages_and_the_next_one_resumes(tmp_path):
    env = clean_env(tmp_path / "home")
    upstream = tmp_path / "wheels"
    names = [f"kmt-many-{i:02d}" for i in range(40)]
    for name in names:
        make_wheel(upstream, name, "1.0")
    site = init_site(tmp_path, env, upstream, "mirror_projects=" + ",".join(names))
    # bandersnatch one project at a time, so there is a middle to interrupt
    conf = site / "mirror" / "bandersnatch.conf"
    conf.write_text(conf.read_text().replace("workers = 3", "workers = 1"))
    proc = subprocess.Popen(kit_cmd("mirror", "sync", str(site)), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("[3/40]"):
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "sync interrupted after" in err and "resumes where it stopped" in err
    done = mirrored(site)
    assert 3 <= len(done) < 40
    for page in (site / "mirror" / "data" / "web" / "simple").rglob("index.v1_json"):
        json.loads(page.read_text())  # never half a page
    status = kit("mirror", "status", str(site), env=env).stdout
    assert "last sync interrupted" in status
    assert (site / "mirror" / "data" / "todo").is_file()  # bandersnatch's list of what is left

    out = kit("mirror", "sync", str(site), env=env).stdout
    assert "resuming the sync that was interrupted" in out
    assert mirrored(site) == set(names)
    assert kit("mirror", "verify", str(site), env=env).stdout.startswith("ok: 40 files of 40 projects")


def test_a_failing_bandersnatch_is_reported_recorded_and_shown_in_status(tmp_path):
    """bandersnatch cannot store the files (a file where its packages folder goes): the sync fails
    with bandersnatch's own reason and the log to read, and status says so."""
    env = clean_env(tmp_path / "home")
    site = init_site(tmp_path, env, make_upstream(tmp_path / "wheels"), "mirror_projects=kmt-lib")
    web = site / "mirror" / "data" / "web"
    web.mkdir(parents=True)
    (web / "packages").write_text("not a folder")
    proc = kit("mirror", "sync", str(site), env=env, check=False)
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert line.startswith("kit: error: bandersnatch failed: Error syncing package: kmt-lib@")
    assert "NotADirectoryError: [Errno 20] Not a directory" in line and f"see {site / 'mirror' / 'run' / 'sync.log'}" in line
    assert "kit mirror sync" in (site / "mirror" / "run" / "sync.log").read_text()
    status = kit("mirror", "status", str(site), env=env).stdout
    assert status.startswith("public mirror: last sync failed ") and "\nlast sync: " in status
