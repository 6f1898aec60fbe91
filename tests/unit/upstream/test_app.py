"""The local upstream's aiohttp application in-process (aiohttp's ``TestServer``
and ``TestClient``, no subprocess): the pages pip and devpi read, the JSON API
bandersnatch reads, the files, the 404s, and no way out of the folder.

Escape attempts are written as raw bytes, so a target reaches the server
exactly as an attacker would send it (a client library would rewrite most).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from kit.ops.sample import make_wheel
from kit.upstream.app import JSON_TYPE, SERIAL_HEADER, make_app


def scenario(test):
    """Run an async test body on a fresh event loop (no plugin needed)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


@contextlib.asynccontextmanager
async def serving(folder: Path):
    async with TestClient(TestServer(make_app(folder), host="127.0.0.1")) as client:
        yield client


async def raw_get(client: TestClient, target: str) -> tuple[int, bytes]:
    """Status and body of ``GET target``, the target sent byte for byte."""
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: upstream.test\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@scenario
async def test_listing_and_project_pages_in_html_and_json(tmp_path):
    wheel = make_wheel(tmp_path, "My_Pkg", "1.0")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    async with serving(tmp_path) as client:
        page = await client.get("/simple/")
        assert page.headers["Content-Type"] == "text/html"
        assert '<a href="/simple/my-pkg/">my-pkg</a>' in await page.text()
        serial = int(page.headers[SERIAL_HEADER])
        listing = await client.get("/simple/", headers={"Accept": JSON_TYPE})
        assert listing.headers["Content-Type"] == JSON_TYPE
        assert await listing.json(content_type=None) == {
            "meta": {"api-version": "1.0", "_last-serial": serial},
            "projects": [{"name": "my-pkg", "_last-serial": serial}],
        }
        page = await client.get("/simple/my-pkg/")
        assert f'<a href="/files/{wheel.name}#sha256={digest}">{wheel.name}</a>' in await page.text()
        assert int(page.headers[SERIAL_HEADER]) == serial
        data = await (await client.get("/simple/my-pkg/", headers={"Accept": JSON_TYPE})).json(content_type=None)
        assert data["name"] == "my-pkg"
        assert data["files"] == [{"filename": wheel.name, "url": f"/files/{wheel.name}", "hashes": {"sha256": digest}}]
        # a HEAD answers the same headers, without the page
        head = await client.head("/simple/my-pkg/")
        assert head.status == 200 and int(head.headers["Content-Length"]) == len(await page.read())
        assert await head.read() == b""
        # a non-normalised name, or no final slash, redirects to the normalised page
        for path in ("/simple/My.Pkg/", "/simple/my-pkg", "/simple/MY_PKG"):
            moved = await client.get(path, allow_redirects=False)
            assert (moved.status, moved.headers["Location"]) == (301, "/simple/my-pkg/"), path
        moved = await client.get("/simple", allow_redirects=False)
        assert (moved.status, moved.headers["Location"]) == (301, "/simple/")
        # a file added while serving is listed on the next request
        make_wheel(tmp_path, "late", "1.0")
        assert "/simple/late/" in await (await client.get("/simple/")).text()


@scenario
async def test_json_api_as_bandersnatch_reads_it(tmp_path):
    old = make_wheel(tmp_path, "kitbs-alpha", "1.0")
    new = make_wheel(tmp_path, "kitbs-alpha", "2.0", requires_python=">=3.8", requires=("kitbs-lib>=1",))
    os.utime(new, ns=(os.stat(old).st_mtime_ns + 100 * 10**9,) * 2)  # its newest time: its serial
    async with serving(tmp_path) as client:
        answer = await client.get("/pypi/KitBS_Alpha/json", headers={"Host": "upstream.test:8000"})
        assert answer.headers["Content-Type"] == "application/json"
        data = await answer.json()
        assert set(data) == {"info", "last_serial", "releases", "urls", "vulnerabilities"}
        assert data["info"] == {"name": "kitbs-alpha", "version": "2.0", "requires_python": ">=3.8",
                                "requires_dist": ["kitbs-lib>=1"], "yanked": False, "yanked_reason": None}
        assert data["last_serial"] == int(answer.headers[SERIAL_HEADER]) == os.stat(new).st_mtime_ns // 1_000_000
        assert sorted(data["releases"]) == ["1.0", "2.0"] and data["urls"] == data["releases"]["2.0"]
        [file] = data["urls"]
        content = new.read_bytes()
        sha256 = hashlib.sha256(content).hexdigest()
        assert file["url"] == f"http://upstream.test:8000/packages/{sha256[:2]}/{sha256[2:4]}/{sha256[4:]}/{new.name}"
        assert (file["filename"], file["size"], file["digests"]["sha256"]) == (new.name, len(content), sha256)
        assert (file["packagetype"], file["python_version"], file["requires_python"]) == ("bdist_wheel", "py3", ">=3.8")
        # the file at its /packages/ path, as bandersnatch downloads it
        packaged = await client.get(file["url"].removeprefix("http://upstream.test:8000"))
        assert packaged.headers["Content-Type"] == "application/octet-stream" and await packaged.read() == content


@scenario
async def test_a_file_by_its_name(tmp_path):
    wheel = make_wheel(tmp_path, "kitbs-alpha", "1.0")
    async with serving(tmp_path) as client:
        answer = await client.get(f"/files/{wheel.name}")
        assert answer.status == 200 and answer.headers["Content-Type"] == "application/octet-stream"
        assert await answer.read() == wheel.read_bytes()


@scenario
async def test_unknown_projects_files_and_paths_are_404(tmp_path):
    wheel = make_wheel(tmp_path, "kitbs-alpha", "1.0")
    sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
    async with serving(tmp_path) as client:
        for path in ("/simple/kitbs-nope/", "/pypi/kitbs-nope/json", "/files/kitbs_nope-1.0-py3-none-any.whl",
                     f"/packages/00/{sha256[2:4]}/{sha256[4:]}/{wheel.name}",  # the name, not its content
                     "/", "/anything/else"):
            answer = await client.get(path)
            assert answer.status == 404, path
            assert answer.headers["Content-Type"] == "text/plain" and await answer.read() == b"not found\n"


@scenario
async def test_no_path_leads_out_of_the_folder(tmp_path):
    folder = tmp_path / "index"
    make_wheel(folder, "kitbs-alpha", "1.0")
    secret = make_wheel(tmp_path, "secret", "1.0", marker="not for the index")  # beside the folder, not in it
    nested = make_wheel(folder / "sub", "nested", "1.0")  # in a folder inside it: not served either
    sha256 = hashlib.sha256(secret.read_bytes()).hexdigest()
    packages = f"/packages/{sha256[:2]}/{sha256[2:4]}/{sha256[4:]}"
    async with serving(folder) as client:
        for target in (f"/files/../{secret.name}", f"/files/%2e%2e/{secret.name}", f"/files/..%2F{secret.name}",
                       f"/files/%2e%2e%2f{secret.name}", f"/files/%2E%2E%2F{secret.name}",
                       f"/simple/../../{secret.name}", f"/simple/%2e%2e/%2e%2e/{secret.name}",
                       f"{packages}/..%2F{secret.name}", f"{packages}/%2e%2e/{secret.name}",
                       f"/files/sub%2F{nested.name}", f"/files/sub/{nested.name}"):
            status, body = await raw_get(client, target)
            assert status in (400, 404), target
            assert secret.read_bytes() not in body and b"not for the index" not in body, target
        assert (await raw_get(client, "/simple/"))[1].count(b"<a ") == 1  # and nothing of theirs is listed
