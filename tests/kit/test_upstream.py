"""The local upstream speaks PEP 503 (HTML) and PEP 691 (JSON), as pip and devpi read them."""

from __future__ import annotations

import hashlib
import json
import urllib.request

from kit.sample import make_wheel
from kit.upstream import JSON_TYPE, LocalUpstream, project_of


def fetch(url: str, accept: str = "text/html") -> tuple[str, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request) as response:
        return response.headers["Content-Type"], response.read()


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


def test_new_files_appear_without_restart(tmp_path):
    with LocalUpstream(tmp_path) as upstream:
        assert b"late" not in fetch(upstream.url)[1]
        make_wheel(tmp_path, "late", "1.0")
        assert b"/simple/late/" in fetch(upstream.url)[1]


def test_project_names_from_file_names():
    assert project_of("Foo_Bar-1.0-py3-none-any.whl") == "foo-bar"
    assert project_of("zope.interface-6.0.tar.gz") == "zope-interface"
    assert project_of("README.txt") is None
