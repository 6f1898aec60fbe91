"""The cluster's processes and their folders (kit.cluster.supervisor), really
run: a stale pid file found and cleaned, a service that dies as it starts named
with its log, a file where a run folder belongs said in one line."""

from __future__ import annotations

import pytest

from tests.conftest import clean_env, kit_cmd, run
from tests.support.cluster import alive, make_site, pids


def test_stale_pid_file_is_detected_and_cleaned(idle_site):
    site, env = idle_site
    folder = site / "cluster" / "run" / "pids"
    folder.mkdir(parents=True)
    (folder / "master.pid").write_text("999999\n")  # no such process
    down = run(kit_cmd("down", str(site)), env=env)
    assert "stale pid file: master (pid 999999)" in down.stdout
    assert not (folder / "master.pid").exists()


def test_corrupt_data_folder_fails_clearly_and_keeps_the_data(idle_site):
    site, env = idle_site
    data = site / "cluster" / "run" / "master"
    data.mkdir(parents=True)
    (data / ".sqlite").write_bytes(b"this is not a database")
    proc = run(kit_cmd("up", str(site)), env=env, check=False)
    assert proc.returncode == 1
    assert "master" in proc.stderr and f"kit logs {site} master" in proc.stderr and proc.stderr.count("\n") == 1
    assert (data / ".sqlite").read_bytes() == b"this is not a database"
    assert not any(alive(pid) for pid in pids(site).values())
    assert pids(site) == {}


@pytest.mark.parametrize("in_the_way", ["run", "run/logs", "run/pids"])
def test_a_file_where_the_run_folder_belongs_is_one_line(tmp_path, dists, in_the_way):
    env = clean_env(tmp_path / "home")
    site = make_site(tmp_path, env, dists.upstream_folder)
    path = site / "cluster" / in_the_way
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("a file")
    for command in ("up", "status", "down"):
        proc = run(kit_cmd(command, str(site)), env=env, check=False)
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1, (command, proc.stderr)
        assert f"{path} is a file" in proc.stderr and "Traceback" not in proc.stderr
    assert path.read_text() == "a file"
    assert pids(site) == {} if in_the_way != "run/pids" else True
