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


def _chatty_service(lines: int, last: str):
    """A service (no health URL) that writes ``lines`` numbered lines, then ``last``, then waits to be stopped."""
    import sys

    from kit.site.plan import Service

    script = (f"import sys, time\nfor n in range({lines}): sys.stdout.write(f'line {{n}} ' + 'x' * 90 + '\\n')\n"
              f"print({last!r}, flush=True)\ntime.sleep(60)\n")
    return Service("chatty", "test", 0, "", "", (sys.executable, "-c", script, "chatty-service"), "chatty-service")


def test_a_service_writing_more_than_its_log_bound_leaves_the_bound_and_its_last_lines(tmp_path, monkeypatch):
    from kit.cluster import supervisor as module
    from kit.core.processes import wait_until

    monkeypatch.setattr(module, "LOG_MAX_BYTES", 64 * 1024)
    supervisor = module.Supervisor(tmp_path, lambda *words: "kit " + " ".join(words))
    supervisor.prepare()
    service = _chatty_service(20_000, "the last line before it was stopped")  # ~2 MB: 30 times the bound
    proc = supervisor.start(service, {"PATH": "/usr/bin:/bin"})
    log = supervisor.log_path("chatty")
    try:
        wait_until(lambda: log.exists() and "the last line before" in log.read_text(errors="replace"), 30, 0.05)
    finally:
        supervisor.stop({"chatty": proc.pid})
    supervisor.drained("chatty")
    kept = sorted(path.name for path in supervisor.logs_dir.iterdir())
    assert kept == ["chatty.log", "chatty.log.1", "chatty.log.2", "chatty.log.3"]
    assert sum(path.stat().st_size for path in supervisor.logs_dir.iterdir()) <= 64 * 1024 * (module.LOG_KEEP + 1)
    assert supervisor.last_line("chatty") == "the last line before it was stopped"
    # Whole lines, in order across the files: the newest old one ends where the log begins.
    newest_old = (supervisor.logs_dir / "chatty.log.1").read_text().splitlines()
    assert newest_old[-1].startswith("line ") and all(line.endswith("x" * 90) for line in newest_old)
    assert not alive(proc.pid)


def test_a_service_that_dies_as_it_starts_is_named_with_its_last_line(tmp_path):
    import sys

    from kit.cluster.supervisor import Supervisor
    from kit.core.errors import ClusterError
    from kit.site.plan import Service

    supervisor = Supervisor(tmp_path, lambda *words: "kit " + " ".join(words))
    supervisor.prepare()
    script = "import sys\nprint('starting', flush=True)\nsys.exit('error: the port is taken, said as it died')\n"
    service = Service("dying", "test", 0, "", "", (sys.executable, "-c", script, "dying-service"), "dying-service")
    proc = supervisor.start(service, {"PATH": "/usr/bin:/bin"})
    with pytest.raises(ClusterError) as info:
        supervisor.wait_healthy(service, proc)
    assert "error: the port is taken, said as it died" in str(info.value)
