"""kit.core.locks: one holder at a time, and a refusal that names the holder's pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from kit.core.locks import held, holder_of, is_held


class Busy(Exception):
    pass


def refused(pid: str) -> Busy:
    return Busy(f"another kit mirror sync is running for this site (pid {pid}); wait for it to finish")


def test_a_second_holder_is_refused_with_the_first_holders_pid(tmp_path):
    lock = tmp_path / "run" / "sync.lock"
    lock.parent.mkdir()
    with held(lock, refused):
        assert is_held(lock)
        assert holder_of(lock) == str(os.getpid())
        with pytest.raises(Busy, match=rf"^another kit mirror sync is running for this site \(pid {os.getpid()}\); "):
            with held(lock, refused):
                pytest.fail("a second holder got the lock")
        assert holder_of(lock) == str(os.getpid())  # a refused try leaves the holder's pid alone
    assert not is_held(lock)
    with held(lock, refused):  # free again once the block ends
        pass


def test_the_lock_is_let_go_when_the_block_raises(tmp_path):
    lock = tmp_path / "sync.lock"
    with pytest.raises(KeyError):
        with held(lock, refused):
            raise KeyError("bandersnatch failed")
    assert not is_held(lock)
    assert not (tmp_path / "sync.pid").exists()


HOLDER = """
import sys, time
from pathlib import Path
from kit.core.locks import held
with held(Path(sys.argv[1]), RuntimeError):
    print("holding", flush=True)
    time.sleep(60)
"""


def test_another_process_holding_it_is_named_and_a_killed_holder_leaves_no_lock(tmp_path):
    lock = tmp_path / "sync.lock"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "holding\n"
        assert is_held(lock)
        with pytest.raises(Busy, match=rf"\(pid {proc.pid}\)"):
            with held(lock, refused):
                pass
    finally:
        proc.send_signal(signal.SIGKILL)  # no finally of its own runs: the kernel lets the lock go
        proc.wait()
    assert not is_held(lock)
    with held(lock, refused):
        assert holder_of(lock) == str(os.getpid())


def test_looking_at_a_lock_nobody_took_makes_no_folder(tmp_path):
    assert not is_held(tmp_path / "mirror" / "run" / "sync.lock")
    assert not (tmp_path / "mirror").exists()
