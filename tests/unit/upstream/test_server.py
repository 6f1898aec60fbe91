"""The local upstream speaks PEP 503 (HTML) and PEP 691 (JSON), as pip and devpi read them,
and enough of PyPI's own API (serials, JSON API, /packages/ paths) for bandersnatch to mirror it."""

from __future__ import annotations

import hashlib
import json

from kit.ops.sample import make_wheel
from kit.upstream.server import JSON_TYPE, LocalUpstream, project_of, version_of
from tests.support.upstream_http import fetch, fetch_json, status_of


def test_html_and_json_pages(tmp_path):
    wheel = make_wheel(tmp_path, "My_Pkg", "1.0")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    with LocalUpstream(tmp_path) as upstream:
        kind, body = fetch(upstream.url)
        assert kind == "text/html" and b'href="/simple/my-pkg/"' in body
        kind, body = fetch(upstream.url + "my-pkg/")
        assert f"#sha256={digest}".encode() in body
        kind, body = fetch(upstream.url + "my-pkg/", JSON_TYPE)
        data = json.loads(body)
        assert kind == JSON_TYPE and data["meta"]["api-version"] == "1.0"
        assert data["files"][0]["hashes"]["sha256"] == digest
        # a non-normalised name redirects to the normalised one
        kind, body = fetch(upstream.url + "My.Pkg/")
        assert f"#sha256={digest}".encode() in body
        _, data = fetch(upstream.url.replace("/simple/", "/files/") + wheel.name)
        assert data == wheel.read_bytes()


def test_project_names_from_file_names():
    assert project_of("Foo_Bar-1.0-py3-none-any.whl") == "foo-bar"
    assert project_of("zope.interface-6.0.tar.gz") == "zope-interface"
    assert project_of("README.txt") is None
    assert version_of("Foo_Bar-1.0rc1-py3-none-any.whl") == "1.0rc1"
    assert version_of("zope.interface-6.0.post1.tar.gz") == "6.0.post1"


def test_files_at_their_packages_path(tmp_path):
    wheel = make_wheel(tmp_path, "kitbs-alpha", "1.0", marker="first")
    with LocalUpstream(tmp_path) as upstream:
        data, _ = fetch_json(f"http://127.0.0.1:{upstream.port}/pypi/kitbs-alpha/json")
        url = data["urls"][0]["url"]
        assert fetch(url)[1] == wheel.read_bytes()
        assert status_of(url.replace("/packages/", "/packages/00")) == 404
        # the path names the content: once the file changes, its old path is gone
        make_wheel(tmp_path, "kitbs-alpha", "1.0", marker="second")
        assert status_of(url) == 404
        data, _ = fetch_json(f"http://127.0.0.1:{upstream.port}/pypi/kitbs-alpha/json")
        assert data["urls"][0]["url"] != url and fetch(data["urls"][0]["url"])[1] == wheel.read_bytes()
