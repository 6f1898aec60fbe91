"""``kit mirror sync``'s client to the upstream's JSON API: through the proxy this
shell names (PyPI behind a company proxy), never for an upstream on loopback,
and every failure one MirrorError naming the upstream.

The "proxy" is a real HTTP server on a free 127.0.0.1 port that answers as
the upstream would and records the absolute URLs asked of it: the upstream's
host name (``upstream.invalid``) resolves nowhere, so only a request sent
through the proxy can be answered at all.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading

import pytest

from kit.core.errors import MirrorError
from kit.mirror.upstream_client import UpstreamClient as _Upstream

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


class _Answers(http.server.BaseHTTPRequestHandler):
    """An upstream (or a proxy to one): kmt-app's JSON, the project list, 404 for the rest, 503 for "busy"."""

    def do_GET(self):
        self.server.asked.append(self.path)
        if self.path.endswith("/pypi/kmt-app/json"):
            body, status = json.dumps({"info": {"name": "kmt-app"}, "releases": {}}).encode(), 200
        elif self.path.endswith("/pypi/busy/json"):
            body, status = b"try later", 503
        elif self.path.endswith("/pypi/not-json/json"):
            body, status = b"<html>a login page</html>", 200
        elif self.path.endswith("/simple/"):
            body, status = json.dumps({"projects": [{"name": "KMT_App"}, {"name": "kmt.lib"}]}).encode(), 200
        else:
            body, status = b"no such project", 404
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def answering():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    server.asked = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def no_proxies(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def test_a_remote_upstream_is_asked_through_the_shells_proxy(no_proxies):
    with answering() as proxy:
        no_proxies.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_port}")
        upstream = _Upstream("http://upstream.invalid/")
        assert upstream.project("kmt-app")["info"]["name"] == "kmt-app"
        assert upstream.project("nothing-here") is None
        assert upstream.all_projects() == ["kmt-app", "kmt-lib"]
        assert proxy.asked == ["http://upstream.invalid/pypi/kmt-app/json", "http://upstream.invalid/pypi/nothing-here/json",
                               "http://upstream.invalid/simple/"]


def test_a_loopback_upstream_is_asked_directly_whatever_the_proxy(no_proxies):
    with answering() as proxy, answering() as upstream_server:
        no_proxies.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_port}")
        upstream = _Upstream(f"http://127.0.0.1:{upstream_server.server_port}")
        assert upstream.project("kmt-app")["info"]["name"] == "kmt-app"
        assert proxy.asked == [] and upstream_server.asked == ["/pypi/kmt-app/json"]


def test_failures_are_one_mirror_error_naming_the_upstream(no_proxies):
    from kit.core.processes import free_ports

    with answering() as server:
        base = f"http://127.0.0.1:{server.server_port}"
        upstream = _Upstream(base)
        with pytest.raises(MirrorError, match=rf"^the upstream answered HTTP 503 for {base}/pypi/busy/json; try again later$"):
            upstream.project("busy")
        with pytest.raises(MirrorError, match=r"^the upstream's answer for .*/pypi/not-json/json is not JSON; "):
            upstream.project("not-json")
    dead = f"http://127.0.0.1:{free_ports(1)[0]}"
    with pytest.raises(MirrorError, match=rf"^cannot reach the upstream at {dead} \(.+\); check the network"):
        _Upstream(dead).project("kmt-app")
    with pytest.raises(MirrorError, match=rf"^cannot list the projects of {dead}/simple/ \(.+\); check the upstream$"):
        _Upstream(dead).all_projects()


def test_a_socks_proxy_kit_cannot_use_is_one_line_with_the_fix(no_proxies):
    import sys

    no_proxies.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    no_proxies.setitem(sys.modules, "socksio", None)  # as where httpx's SOCKS extra is not installed
    with pytest.raises(MirrorError, match=r"^this shell names a SOCKS proxy .*; install socksio into it "
                                          r"\(pip install 'httpx\[socks\]'\) or unset the variable$"):
        _Upstream("http://upstream.invalid/")
