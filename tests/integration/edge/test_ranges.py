"""Ranges and validators (:mod:`kit.edge.ranges`) from the real edge process in
front of a real devpi, asked by curl: byte-exact parts of the uploaded wheel,
the last byte, 416, 304 and HEAD, as a CDN answers them."""

from __future__ import annotations

import configparser
import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest

from tests.conftest import BIN, clean_env, run
from tests.support.edge import edge_process, get

#: A wheel the edge sends in one write, and one it sends with sendfile.
PROJECTS = {"kitdemo-ranges": 100 * 1024, "kitdemo-ranges-big": 600 * 1024}


def wheel_of(folder: Path, project: str, size: int) -> Path:
    """A wheel of ``project`` with ``size`` random bytes stored uncompressed."""
    module = project.replace("-", "_")
    path = folder / f"{module}-1.0-py3-none-any.whl"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as whl:
        whl.writestr(f"{module}/blob.bin", os.urandom(size))
        whl.writestr(f"{module}-1.0.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {project}\nVersion: 1.0\n")
        whl.writestr(f"{module}-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: kit-tests\n"
                                                      "Root-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{module}-1.0.dist-info/RECORD", "")
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def wheels(devpi_site, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ranges-dist")
    paths = {project: wheel_of(folder, project, size) for project, size in PROJECTS.items()}
    pypirc = configparser.ConfigParser(interpolation=None)
    pypirc.read(devpi_site.team_dir("web") / ".pypirc")
    # The credentials in twine's environment, never on its command line.
    env = {**devpi_site.env, "TWINE_USERNAME": pypirc["web"]["username"], "TWINE_PASSWORD": pypirc["web"]["password"]}
    run([BIN / "twine", "upload", "--repository-url", f"{devpi_site.url}/web/private/", "--disable-progress-bar",
         "--non-interactive", *paths.values()], env=env)
    return paths


def curl(tmp_path: Path, url: str, *options: str) -> tuple[int, dict[str, str], bytes]:
    """curl's status, headers (lower-case names) and body for ``url``; -q: no ~/.curlrc."""
    body, head = tmp_path / "curl.body", tmp_path / "curl.head"
    for old in (body, head):
        old.unlink(missing_ok=True)
    done = run(["curl", "-q", "-sS", "-o", body, "-D", head, "-w", "%{http_code}", *options, url],
               env=clean_env(tmp_path / "home"))
    lines = head.read_text("latin-1").splitlines()[1:]
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if ":" in line)}
    return int(done.stdout), headers, body.read_bytes() if body.exists() else b""


@pytest.mark.parametrize("project", PROJECTS)
def test_curl_gets_byte_exact_ranges_416_304_and_head_from_the_edge(tmp_path, devpi_site, wheels, project):
    """Old edge: the small wheel whole (200) for any Range, and no ETag from its sha256 for either."""
    data, size = wheels[project].read_bytes(), wheels[project].stat().st_size
    with edge_process(tmp_path, devpi_site.url, []) as edge:
        page = get(f"{edge.url}/web/private/+simple/{project}/")[2].decode()
        url = edge.url + "/web/private/" + page.split('href="../../')[1].split("#")[0]
        status, headers, body = curl(tmp_path, url)  # the first read fills the cache
        assert (status, body) == (200, data) and headers["x-cache"] == "MISS"
        status, headers, body = curl(tmp_path, url)
        assert (status, body) == (200, data) and headers["accept-ranges"] == "bytes"
        tag, modified = headers["etag"], headers["last-modified"]
        assert tag == f'"sha256-{hashlib.sha256(data).hexdigest()}"'
        for asked, start, stop in [("0-99", 0, 100), ("-1", size - 1, size), (f"{size - 1}-", size - 1, size),
                                   (f"{size // 2}-", size // 2, size), (f"1000-{size // 3}", 1000, size // 3 + 1)]:
            status, headers, body = curl(tmp_path, url, "-r", asked)
            assert (status, body) == (206, data[start:stop]), asked
            assert headers["content-range"] == f"bytes {start}-{stop - 1}/{size}"
            status, headers, _ = curl(tmp_path, url, "-I", "-r", asked)
            assert status == 206 and headers["content-length"] == str(stop - start)
        status, headers, _ = curl(tmp_path, url, "-r", f"{size}-")
        assert status == 416 and headers["content-range"] == f"bytes */{size}"
        assert curl(tmp_path, url, "-r", "0-1,5-6")[::2] == (200, data)
        assert curl(tmp_path, url, "-r", "0-9", "-H", 'If-Range: "sha256-old"')[::2] == (200, data)
        for validator in (f"If-None-Match: {tag}", f"If-Modified-Since: {modified}"):
            assert curl(tmp_path, url, "-H", validator)[::2] == (304, b"")
        status, headers, _ = curl(tmp_path, url, "-I")
        assert status == 200 and headers["content-length"] == str(size) and headers["etag"] == tag
        assert edge.stats()["ranges"] >= 5 and edge.stats()["not_modified"] == 2
