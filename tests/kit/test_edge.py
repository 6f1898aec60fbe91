"""The edge alone, in front of real small servers that fail in each way it
must survive: refusing connections, hanging, and answering 5xx."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kit.edge import EdgeConfig, make_server
from kit.sample import make_wheel
from kit.upstream import LocalUpstream
from tests.conftest import free_port


@pytest.fixture
def mirror(tmp_path):
    make_wheel(tmp_path / "wheels", "pkg", "1.0", marker="mirror")
    with LocalUpstream(tmp_path / "wheels") as upstream:
        yield f"http://127.0.0.1:{upstream.port}"


@contextlib.contextmanager
def serve_edge(tmp_path, master: str, mirror: str):
    """A real edge on a free port, with short timeouts; always shut down."""
    config = EdgeConfig(host="127.0.0.1", port=0, public_url="http://edge.test", master=master, mirrors=[mirror],
                        cache_dir=str(tmp_path / "cache"), connect_timeout=0.5, read_timeout=0.5, retry_after=60)
    server = make_server(config)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def hung_master():
    """Accepts connections and never answers: a master that froze."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture
def failing_master():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get("X-Kit-Edge", ""), response.read()


@pytest.mark.parametrize("master_kind", ["refused", "hung", "5xx"])
def test_reads_fall_over_to_the_mirror(tmp_path, mirror, hung_master, failing_master, master_kind):
    master = {"refused": f"http://127.0.0.1:{free_port()}", "hung": hung_master, "5xx": failing_master}[master_kind]
    with serve_edge(tmp_path, master, mirror) as (_, edge):
        status, _, page = get(f"{edge}/simple/pkg/")
        assert status == 200 and b"pkg-1.0-py3-none-any.whl" in page
        health = get(f"{edge}/+edge/health")[2].decode()
        assert '"failovers": 1' in health and "skipped" in health


def test_package_files_are_cached_and_survive_every_backend_dying(tmp_path, mirror):
    with serve_edge(tmp_path, f"http://127.0.0.1:{free_port()}", mirror) as (server, edge):
        first = get(f"{edge}/files/pkg-1.0-py3-none-any.whl")
        assert first[1] == "miss"
        server.RequestHandlerClass.edge.config.mirrors = [f"http://127.0.0.1:{free_port()}"]  # the mirror is gone too
        second = get(f"{edge}/files/pkg-1.0-py3-none-any.whl")
        assert second[1] == "hit" and second[2] == first[2]
        with pytest.raises(urllib.error.HTTPError) as error:
            get(f"{edge}/simple/pkg/")  # pages are not cached (yet): nobody answers
        assert error.value.code == 503


def test_writes_go_to_the_master_only_and_get_a_clear_503(tmp_path, mirror):
    with serve_edge(tmp_path, f"http://127.0.0.1:{free_port()}", mirror) as (_, edge):
        request = urllib.request.Request(f"{edge}/team/private/", data=b"upload", method="POST")
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request, timeout=10)
        assert error.value.code == 503 and error.value.reason == "Master down, uploads paused"
        assert error.value.headers["Retry-After"] == "5"
        assert "installs keep working from the mirror" in error.value.read().decode()


def test_a_chunked_body_is_refused_with_411(tmp_path, mirror):
    import http.client

    with serve_edge(tmp_path, f"http://127.0.0.1:{free_port()}", mirror) as (server, _):
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
        conn.request("POST", "/team/private/", body=iter([b"part"]), headers={"Transfer-Encoding": "chunked"})
        response = conn.getresponse()
        assert response.status == 411 and b"Content-Length" in response.read()
        conn.close()


def test_health_counts_every_request_under_concurrency(tmp_path, mirror):
    with serve_edge(tmp_path, mirror, mirror) as (_, edge):
        url = f"{edge}/files/pkg-1.0-py3-none-any.whl"
        assert get(url)[1] == "miss"
        with ThreadPoolExecutor(16) as pool:
            states = list(pool.map(lambda _: get(url)[1], range(200)))
        assert states == ["hit"] * 200
        health = json.loads(get(f"{edge}/+edge/health")[2])
        assert health["requests"] == 202 and health["cache_hits"] == 200 and health["failovers"] == 0


def test_health_is_unhealthy_when_the_cache_cannot_be_written(tmp_path, mirror):
    """Made unwritable in a way that holds for root too: the cache folder is replaced by a file."""
    with serve_edge(tmp_path, mirror, mirror) as (_, edge):
        assert get(f"{edge}/+edge/health")[0] == 200
        (tmp_path / "cache").rmdir()
        (tmp_path / "cache").write_text("not a folder")
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(f"{edge}/+edge/health", timeout=10)
        assert error.value.code == 503
        health = json.loads(error.value.read())
        assert health["edge"] == "unhealthy" and f"cache folder {tmp_path / 'cache'} cannot be written" in health["reason"]


def test_edge_config_round_trips_and_the_site_writes_it(tmp_path):
    from kit.answers import answers_from_raw
    from kit.render import render_site
    from kit.templating import template_dir
    from kit.services import edge_config

    config = EdgeConfig(host="127.0.0.1", port=1, public_url="http://x.test", master="http://127.0.0.1:2")
    config.write(tmp_path / "edge.json")
    assert EdgeConfig.load(tmp_path / "edge.json") == config
    answers = answers_from_raw({"upstream": str(tmp_path), "edge_port": 3999, "master_port": 3998, "mirror_port": 3997})
    render_site(answers, tmp_path / "site")
    written = tmp_path / "site" / "cluster" / "edge.json"
    assert EdgeConfig.load(written) == edge_config(answers)
    assert edge_config(answers).master == "http://127.0.0.1:3998" and edge_config(answers).mirrors == ["http://127.0.0.1:3997"]
    assert oct(written.stat().st_mode & 0o777) == "0o644"
    assert not (template_dir("site") / "{{cookiecutter.dirname}}" / "cluster" / "edge.json").exists()
