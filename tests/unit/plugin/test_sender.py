"""The devpi plugin's purge sender over httpx: what urllib did, kept (no
proxy from the environment; answers other than 2xx are failures)."""

from __future__ import annotations

import socket

from kit.plugin.sender import PurgeSender
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
