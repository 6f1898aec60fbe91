"""Core metadata (PEP 658/714) through kit's edge of a real cluster run by kit up: devpi's
pages mark the team's wheels (``enable-core-metadata`` in the generated master.yml), and
real pip and uv fetch ``WHEEL.metadata`` from the edge, which extracts it from the wheel it
holds verified. Metadata changed in the edge's cache on disk is never served, nor metadata
that disagrees with the hash an origin's page declares."""

from __future__ import annotations

import hashlib
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from kit.edge.cache import Files
from kit.ops.sample import make_wheel
from tests.conftest import BIN, PRIVATE, UPSTREAM_ONLY, clean_env, run
from tests.support.cluster import EdgeSite, running_site, team_upload
from tests.support.clients import new_venv, who
from tests.support.edge import edge_process

PEP691 = {"Accept": "application/vnd.pypi.simple.v1+json"}


@pytest.fixture(scope="module")
def site(tmp_path_factory, dists):
    """A running site with kit's own edge, and the team's kitdemo-private 1.0 uploaded through it."""
    root = tmp_path_factory.mktemp("metadata-site")
    env = clean_env(root / "home")
    with running_site(root, env, dists.upstream_folder) as (path, out):
        edge_site = EdgeSite("python", path, env, out)
        team_upload(path, env, dists.private)
        yield edge_site


def stats(site: EdgeSite) -> dict:
    return httpx.get(f"{site.url}/+edge/stats", timeout=10).json()


def wheel_link(site: EdgeSite, project: str, version: str = "") -> dict:
    """The entry of ``project``'s wheel (of ``version``, if given) on web/private's JSON page, with its path."""
    page_url = f"{site.url}/web/private/+simple/{project}/"
    page = httpx.get(page_url, headers=PEP691, timeout=10).json()
    entry = next(f for f in page["files"] if f["filename"].endswith(".whl") and f"-{version}" in f["filename"])
    return {**entry, "path": urljoin(page_url, entry["url"])[len(site.url):]}


def metadata_of(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA")))


def test_pip_and_uv_read_the_team_wheels_metadata_from_the_edge(site, tmp_path):
    env = site.pip_env()
    before = stats(site)["metadata"]
    python = new_venv(tmp_path / "pip-venv")
    run([BIN / "python", "-m", "pip", "--python", python, "install", "--no-cache-dir", PRIVATE, UPSTREAM_ONLY], env=env)
    assert who(python, env) == ("team", "1.0", "upstream")
    after_pip = stats(site)["metadata"]
    assert after_pip > before  # pip asked the edge for kitdemo-private's .metadata
    uv_python = new_venv(tmp_path / "uv-venv")
    run([BIN / "uv", "pip", "install", "--no-cache", "--python", uv_python, PRIVATE, UPSTREAM_ONLY], env=env)
    assert who(uv_python, env) == ("team", "1.0", "upstream")
    assert stats(site)["metadata"] > after_pip


def test_the_metadata_is_the_wheels_own_served_with_validators_and_never_unverified(site, dists):
    link = wheel_link(site, PRIVATE)
    assert link.get("core-metadata") is True or "sha256" in link.get("core-metadata", {})
    url = f"{site.url}{link['path']}.metadata"
    with httpx.Client(timeout=30) as client:
        answer = client.get(url)
        assert answer.status_code == 200 and answer.content == metadata_of(dists.private)
        digest = hashlib.sha256(answer.content).hexdigest()
        assert answer.headers["etag"] == f'"sha256-{digest}"'
        assert answer.headers["content-type"] == "application/octet-stream"
        assert client.get(url, headers={"If-None-Match": answer.headers["etag"]}).status_code == 304
        head = client.head(url)
        assert head.status_code == 200 and head.headers["content-length"] == str(len(answer.content))
        unknown = client.get(url.replace("1.0-py3", "7.0-py3"))
        assert unknown.status_code == 404 and "never served unverified" in unknown.text
    assert stats(site)["metadata"] >= 3


def test_metadata_changed_in_the_edges_cache_is_never_served(site, dists):
    link = wheel_link(site, PRIVATE)
    url = f"{site.url}{link['path']}.metadata"
    good = metadata_of(dists.private)
    assert httpx.get(url, timeout=30).content == good
    cache = Path(json.loads((site.site / "cluster" / "edge.json").read_text())["cache_dir"])
    cache = cache if cache.is_absolute() else site.site / "cluster" / cache
    stored = cache / f"{Files.name_of(link['path'])}.metadata"
    assert stored.read_bytes() == good
    stored.write_bytes(good.replace(b"kitdemo-private", b"kitdemo-evil"))
    # The edge serves what it extracted, from memory; the copy on disk is read (and checked:
    # tests/unit/edge/test_metadata.py) only once memory has let it go.
    for _ in range(3):
        again = httpx.get(url, timeout=30)
        assert again.status_code == 200 and again.content == good


def test_pages_advertise_the_sha256_of_metadata_the_edge_extracted(site, tmp_path):
    """Needs the page rewrite wired to CoreMetadata.value_for (kit/edge/pages.py)."""
    first = make_wheel(tmp_path, "kitdemo-meta", "1.0", marker="meta", requires=("kitdemo-upstream",))
    team_upload(site.site, site.env, first)
    link = wheel_link(site, "kitdemo-meta", "1.0")
    digest = hashlib.sha256(httpx.get(f"{site.url}{link['path']}.metadata", timeout=30).content).hexdigest()
    # A new release: the plugin purges the project's pages, and the edge fetches them again.
    team_upload(site.site, site.env, make_wheel(tmp_path, "kitdemo-meta", "1.1", marker="meta"))
    assert wheel_link(site, "kitdemo-meta", "1.0")["core-metadata"] == {"sha256": digest}
    html = httpx.get(f"{site.url}/web/private/+simple/kitdemo-meta/", headers={"Accept": "text/html"}, timeout=10)
    assert f'data-core-metadata="sha256={digest}"' in html.text
    assert f'data-dist-info-metadata="sha256={digest}"' in html.text


# -- an origin whose page declares a wrong metadata hash ------------------------------------------


def _declaring_origin(wheel: Path, declared: str) -> ThreadingHTTPServer:
    """An index serving one project page that links ``wheel`` with its true sha256 and declares
    ``declared`` as its metadata's (devpi declares no hash, so no devpi can play this origin)."""
    data = wheel.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    file_path = f"/web/private/+f/abc/{wheel.name}"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            if self.path == file_path:
                body, kind = data, "application/octet-stream"
            elif self.path.startswith("/web/private/+simple/kitdemo-declared/"):
                body = (f'<a href="../../+f/abc/{wheel.name}#sha256={digest}" '
                        f'data-core-metadata="sha256={declared}">{wheel.name}</a>\n').encode()
                kind = "text/html"
            else:
                body, kind = b"not here\n", "text/plain"
                self.send_response(404)
            if kind != "text/plain":
                self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_metadata_disagreeing_with_the_hash_the_origins_page_declares_is_never_served(tmp_path):
    wheel = make_wheel(tmp_path / "dists", "kitdemo-declared", "1.0", marker="declared")
    good = metadata_of(wheel)
    origin = _declaring_origin(wheel, "0" * 64)
    try:
        with edge_process(tmp_path / "edge", f"http://127.0.0.1:{origin.server_address[1]}", []) as edge:
            url = f"{edge.url}/web/private/+f/abc/{wheel.name}"
            answer = httpx.get(url + ".metadata", timeout=30)
            assert answer.status_code == 502 and good not in answer.content
            assert "does not match the sha256 its page declares" in answer.text
            assert edge.stats()["integrity_failures"] == 1 and edge.stats()["metadata"] == 0
            # The wheel itself matched its page's sha256: it is served.
            assert httpx.get(url, timeout=30).content == wheel.read_bytes()
    finally:
        origin.shutdown()
        origin.server_close()
