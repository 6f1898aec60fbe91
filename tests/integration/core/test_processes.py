"""Processes and ports: a zombie is dead, a busy port names who holds it,
and kit down stops a cluster's services together."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from kit.core.processes import alive, port_holder, stop_groups
from kit.cluster.lifecycle import free_ports


def test_a_zombie_is_not_alive():
    """`kit down` took ~8 s every time: services started by an earlier `kit up`
    are not kit's children, and a stopped one stays a zombie until init reaps
    it, which kit counted as running. Here the zombie's parent never reaps it."""
    parent = subprocess.Popen(["sh", "-c", "sleep 0.2 & echo $!; exec sleep 30"], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        deadline = time.monotonic() + 5
        while Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child did not become a zombie"
            time.sleep(0.05)
        assert not alive(child)
        assert alive(parent.pid)
    finally:
        parent.kill()
        parent.wait()


def test_stop_groups_stops_every_group_at_once():
    procs = [subprocess.Popen(["sleep", "30"], start_new_session=True) for _ in range(3)]
    try:
        stop_groups([p.pid for p in procs], timeout=5)
        assert not any(alive(p.pid) for p in procs)
    finally:
        for p in procs:
            p.kill()


def test_port_holder_names_the_listening_process(tmp_path):
    (port,) = free_ports(1)
    server = subprocess.Popen(
        [sys.executable, "-c", f"import socket,time; s=socket.socket(); s.bind(('127.0.0.1',{port})); s.listen(); "
         "print('ready', flush=True); time.sleep(30)"],
        cwd=tmp_path, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout.readline().strip() == "ready"
        holder = port_holder(port)
        assert holder is not None and holder.pid == server.pid
        assert holder.program.startswith("python") and holder.cwd == tmp_path
    finally:
        server.kill()
        server.wait()
    assert port_holder(port) is None
