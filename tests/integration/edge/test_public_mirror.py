"""The edge serving a real bandersnatch tree at ``/mirror/`` (kit/edge_mirror.py).

bandersnatch mirrors two projects from kit's local upstream once for the
module; one edge process (as the cluster runs it) serves that tree, with
master and mirror at closed ports: the public mirror needs no origin. pip and
uv install from it; every other check is what a client sees on the wire."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import venv
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import pytest

from kit.ops.sample import make_wheel
from kit.upstream.server import LocalUpstream
from tests.conftest import BIN, clean_env, free_port, run
from tests.support.edge import edge_process
from tests.support.upstream import bandersnatch_conf, bandersnatch_mirror

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
SECRET = b"kit-test-secret: never served"


@dataclass
class Tree:
    root: Path  # holds mirror/ (bandersnatch's directory) and the secrets beside it
    web: Path
    wheels: dict[str, Path]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Tree:
    """A real bandersnatch mirror of kitmir-alpha 1.0 and kitmir-beta 1.0 (which requires kitmir-alpha);
    kitmir-gamma stays upstream (not in the allowlist). Secrets lie beside web/ and outside the mirror."""
    root = tmp_path_factory.mktemp("public-mirror")
    upstream = root / "upstream"
    wheels = {
        "kitmir-alpha": make_wheel(upstream, "kitmir-alpha", "1.0", marker="alpha"),
        "kitmir-beta": make_wheel(upstream, "kitmir-beta", "1.0", marker="beta", requires=("kitmir-alpha",)),
    }
    make_wheel(upstream, "kitmir-gamma", "1.0", marker="gamma")
    with LocalUpstream(upstream) as local:
        bandersnatch_mirror(bandersnatch_conf(root, local, "kitmir-alpha", "kitmir-beta"), root / "home")
    web = root / "mirror" / "web"
    assert (web / "simple" / "kitmir-beta" / "index.v1_json").is_file()
    (root / "mirror" / "secret.txt").write_bytes(SECRET)  # beside web/
    outside = root / "outside" / "aa" / "bb"
    outside.mkdir(parents=True)
    (outside / "secret.whl").write_bytes(SECRET)
    # Symlinks inside web/ that lead outside it: a page, a file, a folder.
    (web / "simple" / "kitmir-link").mkdir()
    (web / "simple" / "kitmir-link" / "index.html").symlink_to(root / "mirror" / "secret.txt")
    (web / "packages" / "ee" / "ff" / "gg").mkdir(parents=True)
    (web / "packages" / "ee" / "ff" / "gg" / "leak.whl").symlink_to(root / "mirror" / "secret.txt")
    (web / "packages" / "zz").symlink_to(root / "outside")
    return Tree(root=root, web=web, wheels=wheels)


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def edge(tree):
    """One edge for the module; its public_mirror_dir is relative to its working folder, as cache_dir is."""
    folder = tree.root / "edge"
    with edge_process(folder, closed_port_url(), [closed_port_url()], public_mirror_dir="../mirror/web") as running:
        yield running


def fetch(edge, method: str, target: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """One request with ``target`` sent exactly as written (no dot-segment removal, no redirects followed)."""
    conn = http.client.HTTPConnection("127.0.0.1", edge.config.port, timeout=20)
    try:
        conn.request(method, target, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def stats(edge) -> dict:
    return json.loads(fetch(edge, "GET", "/+edge/stats")[2])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- real clients ------------------------------------------------------------------------


def test_pip_installs_from_the_public_mirror_through_the_edge(edge, tree, tmp_path):
    env = clean_env(tmp_path / "home")  # PIP_CONFIG_FILE=/dev/null: this machine's extra indexes stay out
    target = tmp_path / "site"
    run([BIN / "python", "-m", "pip", "install", "--no-cache-dir", "--index-url", f"{edge.url}/mirror/simple/",
         "--target", target, "kitmir-beta"], env=env)
    out = run([BIN / "python", "-c", "import kitmir_alpha as a, kitmir_beta as b; print(a.WHO, b.WHO)"],
              env=dict(env, PYTHONPATH=str(target))).stdout.split()
    assert out == ["alpha", "beta"]  # beta, and alpha as its dependency, both from the mirror


@pytest.mark.skipif(not (BIN / "uv").exists(), reason="uv is not installed in this venv")
def test_uv_installs_from_the_public_mirror_through_the_edge(edge, tmp_path):
    venv.EnvBuilder(with_pip=False, symlinks=True).create(tmp_path / "venv")
    python = tmp_path / "venv" / "bin" / "python"
    env = clean_env(tmp_path / "home", UV_CACHE_DIR=str(tmp_path / "uvcache"))
    run([BIN / "uv", "pip", "install", "--python", python, "--index-url", f"{edge.url}/mirror/simple/", "kitmir-beta"],
        env=env)
    out = run([python, "-c", "import kitmir_alpha as a, kitmir_beta as b; print(a.WHO, b.WHO)"], env=env).stdout.split()
    assert out == ["alpha", "beta"]


# -- pages ---------------------------------------------------------------------------------


def test_pages_in_html_and_json_as_accept_asks(edge, tree):
    status, headers, body = fetch(edge, "GET", "/mirror/simple/")
    assert status == 200 and headers["content-type"].startswith("text/html") and headers["vary"] == "Accept"
    assert body == (tree.web / "simple" / "index.html").read_bytes() and b'href="kitmir-beta/"' in body

    status, headers, body = fetch(edge, "GET", "/mirror/simple/", {"Accept": JSON_TYPE})
    listing = json.loads(body)
    assert status == 200 and headers["content-type"] == JSON_TYPE and headers["vary"] == "Accept"
    assert listing["meta"]["api-version"] and {p["name"] for p in listing["projects"]} == {"kitmir-alpha", "kitmir-beta"}

    # pip's Accept: JSON preferred; the page's file link, followed through the edge, gives the wheel's bytes
    accept = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
    status, headers, body = fetch(edge, "GET", "/mirror/simple/kitmir-alpha/", {"Accept": accept})
    page = json.loads(body)
    assert status == 200 and headers["content-type"] == JSON_TYPE and page["meta"]["api-version"]
    [entry] = page["files"]
    wheel = tree.wheels["kitmir-alpha"].read_bytes()
    link = urljoin("/mirror/simple/kitmir-alpha/", entry["url"])
    assert link.startswith("/mirror/packages/") and entry["hashes"]["sha256"] == sha256(wheel)
    assert fetch(edge, "GET", link)[2] == wheel

    html = fetch(edge, "GET", "/mirror/simple/kitmir-alpha/", {"Accept": "text/html"})
    assert html[1]["content-type"].startswith("text/html") and f"#sha256={sha256(wheel)}".encode() in html[2]


def test_a_page_s_head_has_its_length_and_an_unchanged_page_costs_a_304(edge):
    status, headers, body = fetch(edge, "GET", "/mirror/simple/kitmir-beta/")
    head = fetch(edge, "HEAD", "/mirror/simple/kitmir-beta/")
    assert head[0] == 200 and int(head[1]["content-length"]) == len(body) > 0 and head[2] == b""
    again = fetch(edge, "GET", "/mirror/simple/kitmir-beta/", {"If-None-Match": headers["etag"]})
    assert again[0] == 304 and again[2] == b""


def test_a_tree_with_one_representation_serves_that_one(edge, tree):
    """simple-format=HTML (or JSON) leaves one file per page: every client gets it whatever it prefers."""
    alpha = tree.web / "simple" / "kitmir-alpha"
    (tree.web / "simple" / "kitmir-htmlonly").mkdir()
    (tree.web / "simple" / "kitmir-htmlonly" / "index.html").write_bytes((alpha / "index.html").read_bytes())
    (tree.web / "simple" / "kitmir-jsononly").mkdir()
    (tree.web / "simple" / "kitmir-jsononly" / "index.v1_json").write_bytes((alpha / "index.v1_json").read_bytes())
    status, headers, body = fetch(edge, "GET", "/mirror/simple/kitmir-htmlonly/", {"Accept": JSON_TYPE})
    assert status == 200 and headers["content-type"].startswith("text/html") and body.startswith(b"<!DOCTYPE html>")
    status, headers, body = fetch(edge, "GET", "/mirror/simple/kitmir-jsononly/", {"Accept": "text/html"})
    assert status == 200 and headers["content-type"] == JSON_TYPE and json.loads(body)["files"]


def test_a_page_replaced_by_a_sync_is_served_new_at_once_and_a_temporary_file_never(edge, tree):
    """bandersnatch writes .index.html.XXXX and renames it over index.html."""
    folder = tree.web / "simple" / "kitmir-fresh"
    folder.mkdir()
    (folder / "index.html").write_text("<html><body>sync one</body></html>")
    assert fetch(edge, "GET", "/mirror/simple/kitmir-fresh/")[2] == b"<html><body>sync one</body></html>"
    temporary = folder / ".index.html.k1t2x3"
    temporary.write_text("<html><body>sync two")  # half written
    assert fetch(edge, "GET", "/mirror/simple/kitmir-fresh/")[2] == b"<html><body>sync one</body></html>"
    assert fetch(edge, "GET", f"/mirror/simple/kitmir-fresh/{temporary.name}")[0] in (400, 404)
    with open(temporary, "a") as rest:
        rest.write("</body></html>")
    os.replace(temporary, folder / "index.html")
    assert fetch(edge, "GET", "/mirror/simple/kitmir-fresh/")[2] == b"<html><body>sync two</body></html>"


# -- redirects, files, refusals ---------------------------------------------------------------


@pytest.mark.parametrize("target, location", [
    ("/mirror/simple", "/mirror/simple/"),
    ("/mirror/simple/kitmir-alpha", "/mirror/simple/kitmir-alpha/"),
    ("/mirror/simple/KitMir_Alpha/", "/mirror/simple/kitmir-alpha/"),
    ("/mirror/simple/KitMir.Alpha", "/mirror/simple/kitmir-alpha/"),
    ("/mirror/simple/My_Pkg/", "/mirror/simple/my-pkg/"),
])
def test_slashless_and_unnormalised_names_redirect_as_on_pypi(edge, target, location):
    status, headers, _ = fetch(edge, "GET", target)
    assert (status, headers["location"]) == (301, location)


def test_a_file_is_served_whole_with_its_length_and_head_sends_no_body(edge, tree):
    wheel = tree.wheels["kitmir-beta"]
    digest = sha256(wheel.read_bytes())
    path = f"/mirror/packages/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{wheel.name}"
    status, headers, body = fetch(edge, "GET", path)
    assert status == 200 and body == wheel.read_bytes()
    assert headers["content-type"] == "application/octet-stream" and "immutable" in headers["cache-control"]
    status, headers, body = fetch(edge, "HEAD", path)
    assert status == 200 and int(headers["content-length"]) == wheel.stat().st_size and body == b""


@pytest.mark.parametrize("target, names", [
    ("/mirror/simple/kitmir-gamma/", b"kitmir-gamma"),  # upstream, not mirrored
    ("/mirror/packages/00/00/0000/kitmir_alpha-9.9-py3-none-any.whl", b"kitmir_alpha-9.9"),
    ("/mirror/json/kitmir-alpha", b"/mirror/json/kitmir-alpha"),  # on disk, not served
    ("/mirror/packages/ee", b"/mirror/packages/ee"),  # a folder
    ("/mirror/", b"/mirror/"),
])
def test_what_the_mirror_lacks_is_a_404_naming_it(edge, target, names):
    status, headers, body = fetch(edge, "GET", target)
    assert status == 404 and headers["content-type"].startswith("text/plain")
    assert names in body and body.count(b"\n") == 1


TRAVERSALS = [
    "/mirror/../secret.txt",
    "/mirror/simple/../../secret.txt",
    "/mirror/%2e%2e/secret.txt",
    "/mirror/%2E%2E/secret.txt",
    "/mirror/simple/..%2f..%2fsecret.txt",
    "/mirror/simple/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/mirror/packages/aa/bb/cc/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt",
    "/mirror/simple/..%5c..%5csecret.txt",
    "/mirror/simple/..\\..\\secret.txt",
    "/mirror/packages/%2f/aa/bb/secret.txt",
    f"/mirror/packages/aa/bb/cc/%2f{'%2e%2e%2f' * 12}etc%2fpasswd",
    "/mirror/packages//aa/bb/secret.txt",
    "/mirror/simple/kitmir-alpha%00/",
    "/mirror/%252e%252e/secret.txt",  # encoded twice: a literal "%2e%2e" segment, not "..", so just missing
    "/mirror/simple/kitmir-link/",  # a page symlinked outside
    "/mirror/packages/ee/ff/gg/leak.whl",  # a file symlinked outside
    "/mirror/packages/zz/aa/bb/secret.whl",  # a folder symlinked outside
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_nothing_outside_the_mirror_folder_is_ever_served(edge, target):
    status, _, body = fetch(edge, "GET", target)
    assert status in (400, 404), (status, body)
    assert SECRET not in body and b"root:" not in body


def test_writes_are_refused_with_405(edge):
    for method in ("POST", "PUT", "DELETE"):
        status, headers, body = fetch(edge, method, "/mirror/simple/kitmir-alpha/")
        assert status == 405 and headers["allow"] == "GET, HEAD"
        assert body.decode().endswith("\n") and body.count(b"\n") == 1 and method.encode() in body


def test_the_stats_count_what_the_mirror_served(edge, tree):
    before = stats(edge)["mirror_served"]
    fetch(edge, "GET", "/mirror/simple/")
    fetch(edge, "HEAD", "/mirror/simple/kitmir-alpha/")
    fetch(edge, "GET", "/mirror/simple/kitmir-nope/")  # a 404: not served
    fetch(edge, "GET", "/mirror/simple")  # a redirect: not served
    assert stats(edge)["mirror_served"] == before + 2


def test_a_site_without_a_public_mirror_says_so(tmp_path):
    with edge_process(tmp_path, closed_port_url(), []) as bare:
        status, _, body = fetch(bare, "GET", "/mirror/simple/")
        assert status == 404 and b"this site has no public mirror (add the public-mirror setup)" in body
        assert stats(bare)["mirror_served"] == 0


# -- the path rule, without sockets --------------------------------------------------------


