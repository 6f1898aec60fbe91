"""kit.core.processes.wait_answering: start a server, wait for its health URL; a real server, really run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kit.core.processes import free_ports, stop_groups, wait_answering


class NoAnswer(Exception):
    pass


def test_it_returns_once_the_server_answers(tmp_path):
    port = free_ports(1)[0]
    (tmp_path / "health").write_text("ok")
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_answering(proc, f"http://127.0.0.1:{port}/health", 30, exited=lambda code: NoAnswer(f"exited {code}"),
                       silent=lambda: NoAnswer("silent"))
        assert proc.poll() is None
    finally:
        stop_groups([proc.pid])
        proc.wait()


def test_a_server_that_exits_while_starting_is_the_callers_error_at_once():
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    with pytest.raises(NoAnswer, match="^exited with code 3 while starting$"):
        wait_answering(proc, "http://127.0.0.1:9/health", 600,
                       exited=lambda code: NoAnswer(f"exited with code {code} while starting"),
                       silent=lambda: NoAnswer("silent"))


def test_a_server_that_never_answers_is_the_callers_error_at_the_timeout():
    port = free_ports(1)[0]
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(NoAnswer, match=rf"^nothing answered on port {port} within 0.5 s$"):
            wait_answering(proc, f"http://127.0.0.1:{port}/health", 0.5, exited=lambda code: NoAnswer("exited"),
                           silent=lambda: NoAnswer(f"nothing answered on port {port} within 0.5 s"))
    finally:
        proc.kill()
        proc.wait()
