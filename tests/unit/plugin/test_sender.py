"""The devpi plugin's purge sender (:mod:`kit.plugin.sender`) against a stand-in edge:
the contract on the wire, merged and bounded keys, failures logged one line at a time;
over httpx, what urllib did kept (no proxy from the environment; answers other than 2xx are failures)."""

from __future__ import annotations

import socket
import threading

from kit.plugin.sender import PurgeSender
from tests.conftest import free_port
from tests.support.plugin import ListLog, Receiver


def test_a_proxy_in_the_environment_never_sees_the_purge_nor_its_secret(monkeypatch):
    trap = socket.socket()
    trap.bind(("127.0.0.1", 0))
    trap.listen(8)
    trap.settimeout(0.2)
    proxy = f"http://127.0.0.1:{trap.getsockname()[1]}"
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    receiver = Receiver()
    try:
        log = ListLog()
        assert PurgeSender(receiver.url, "s" * 64, log).send({"web/private"}, 9) is True, log.lines
        assert receiver.purges[0].authorization == "Bearer " + "s" * 64
    finally:
        receiver.stop()
    try:
        trap.accept()
        raise AssertionError("the purge went through the proxy")
    except TimeoutError:
        pass
    finally:
        trap.close()


def test_sender_posts_the_contract_with_the_bearer_secret(receiver):
    sender = PurgeSender(receiver.url, "s" * 64, ListLog())
    assert sender.send({"web/private/b", "web/private"}, 7) is True
    purge = receiver.purges[0]
    assert purge.authorization == "Bearer " + "s" * 64
    assert purge.content_type == "application/json" and purge.path == "/+edge/purge"
    assert purge.body == {"keys": ["web/private", "web/private/b"], "serial": 7}


def test_sender_merges_what_arrives_together_and_bounds_what_waits(receiver):
    """Keys added while none is sent go out in one request, with the newest serial;
    past max_keys the pending set is coarsened to whole indexes."""
    sender = PurgeSender(receiver.url, "s" * 64, ListLog(), max_keys=3)
    sender.add({"web/private", "web/private/a"}, 5)
    sender.add({"web/private/a", "acme/private/a"}, 6)
    assert sender.pending() == 3
    sender.add({"acme/private/b"}, 4)
    assert sender.pending() == 2  # web/private/* and acme/private/*
    thread = threading.Thread(target=sender.thread_run, daemon=True)
    thread.start()
    try:
        receiver.wait_count(1)
    finally:
        sender.thread_shutdown()
        thread.join(10)
    assert not thread.is_alive()
    assert receiver.purges[0].body == {"keys": ["acme/private/*", "web/private/*"], "serial": 6}
    assert len(receiver.purges) == 1


def test_a_redirect_is_a_failure_and_the_secret_stays_home(receiver):
    receiver.mode = "redirect"
    log = ListLog()
    sender = PurgeSender(receiver.url, "s" * 64, log)
    assert sender.send({"web/private"}, 3) is False
    assert [p.path for p in receiver.purges] == ["/+edge/purge"]
    assert "HTTP 307" in log.lines[0][1]


def test_failures_are_logged_one_line_at_a_time_then_recovery_once(receiver):
    log = ListLog()
    down = f"http://127.0.0.1:{free_port()}/+edge/purge"
    sender = PurgeSender(down, "s" * 64, log, failure_log_interval=3600)
    assert sender.send({"web/private"}, 1) is False
    assert sender.send({"web/private"}, 2) is False
    assert sender.send({"web/private"}, 3) is False
    assert len(log.lines) == 1 and log.lines[0][0] == "warning"
    assert log.lines[0][1].startswith(f"kit-purge: could not purge 1 keys (serial 1) at {down}: ")
    assert "refused" in log.lines[0][1].lower() and "dropped" in log.lines[0][1]
    assert sender.stats["failures"] == 3
    sender.url = receiver.url
    assert sender.send({"web/private"}, 4) is True
    assert log.lines[1] == ("info", f"kit-purge: {receiver.url} takes purges again")
    # The next failure is held back by the interval, and counted.
    sender.url = down
    sender.send({"web/private"}, 5)
    assert len(log.lines) == 2 and sender._unreported == 3


def test_a_hanging_edge_costs_the_sender_its_timeout_only():
    receiver = Receiver("hang")
    try:
        log = ListLog()
        sender = PurgeSender(receiver.url, "s" * 64, log, timeout=0.2)
        assert sender.send({"web/private"}, 1) is False
        assert "no answer within 0.2 s" in log.lines[0][1] or "timed out" in log.lines[0][1]
    finally:
        receiver.stop()
