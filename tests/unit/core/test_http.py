"""kit.http: loopback calls ignore the shell's proxies, and every way a call
can fail comes back as an answer, bounded in time."""

from __future__ import annotations

import socket

import pytest

from kit.core import http
from kit.ops.sample import make_wheel
from kit.upstream.server import LocalUpstream
from tests.conftest import free_port


@pytest.fixture
def server(tmp_path):
    make_wheel(tmp_path / "wheels", "pkg", "1.0")
    with LocalUpstream(tmp_path / "wheels") as upstream:
        yield f"http://127.0.0.1:{upstream.port}"


def test_proxy_variables_are_ignored(server, monkeypatch):
    proxy = f"http://127.0.0.1:{free_port()}"  # nobody listens: through it, every call would fail
    for key in ("http_proxy", "HTTP_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(key, proxy)
    monkeypatch.setenv("NO_PROXY", "example.test")
    answer = http.get(f"{server}/simple/pkg/")
    assert answer.ok and b"pkg-1.0-py3-none-any.whl" in answer.body


def test_nobody_listening_is_refused():
    answer = http.get(f"http://127.0.0.1:{free_port()}/")
    assert answer.status == 0 and answer.failure == http.REFUSED and answer.describe() == "connection refused"


def test_a_server_that_never_answers_is_hung():
    with socket.socket() as sock:  # accepts connections (the kernel does), never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        answer = http.get(f"http://127.0.0.1:{sock.getsockname()[1]}/", timeout=0.5)
    assert answer.status == 0 and answer.failure == http.HUNG
    assert answer.describe() == "no answer within 0.5 s"


def test_an_http_error_is_an_answer(server):
    answer = http.get(f"{server}/simple/no-such-project/")
    assert answer.status == 404 and not answer.ok and answer.failure == ""


def test_a_bad_url_is_broken_not_an_exception():
    answer = http.get("http://[::1/")
    assert answer.status == 0 and answer.failure == http.BROKEN
