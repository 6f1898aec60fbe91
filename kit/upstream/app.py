"""The local upstream's web application (aiohttp): a folder served as a simple index.

It answers PEP 503 (HTML) and PEP 691 (JSON) on ``/simple/`` and serves the
files on ``/files/NAME``. It also speaks as much of PyPI's own API as
bandersnatch (``api-method = simple``) needs to mirror it: serials
(``_last-serial`` in the PEP 691 listing, the ``X-PyPI-Last-Serial`` header),
the JSON API on ``/pypi/NAME/json``, and every file again at PyPI's
content-addressed path ``/packages/<sha256[:2]>/<sha256[2:4]>/<sha256[4:]>/NAME``.

Every page is made from the folder as it is at the request: a file added is
listed at once. Anything else is a 404 with the body ``not found``.
"""

from __future__ import annotations

import asyncio
import html
import json
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from kit.core.names import normalize
from kit.upstream.folder import FolderIndex, ReleaseFile, file_at, project_serial, version_key

__all__ = ["JSON_TYPE", "SERIAL_HEADER", "make_app"]

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
SERIAL_HEADER = "X-PyPI-Last-Serial"
SERVER = "kit-upstream"
INDEX = web.AppKey("index", FolderIndex)


def make_app(folder: Path) -> web.Application:
    """The application serving ``folder``; run it with aiohttp's runners (see :mod:`kit.upstream.server`)."""
    app = web.Application()
    app[INDEX] = FolderIndex(Path(folder))
    app.add_routes([
        web.get("/simple", _listing),
        web.get("/simple/", _listing),
        web.get("/simple/{name}", _project),
        web.get("/simple/{name}/", _project),
        web.get("/pypi/{name}/json", _json_api),
        web.get("/pypi/{name}/json/", _json_api),
        web.get("/files/{filename}", _file),
        web.get("/packages/{a:[0-9a-f]{2}}/{b:[0-9a-f]{2}}/{c:[0-9a-f]{60}}/{filename}", _file),
        web.get("/{anything:.*}", _not_found),
    ])
    app.on_response_prepare.append(_name_the_server)
    return app


async def _name_the_server(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER


async def _projects(request: web.Request) -> dict[str, list[ReleaseFile]]:
    # a thread: a rescan stats the folder and hashes new files, which must not stall the loop
    return await asyncio.to_thread(request.app[INDEX].projects)


def _answer(body: bytes, content_type: str, serial: int | None = None, status: int = 200) -> web.Response:
    headers = {"Content-Type": content_type}
    if serial is not None:
        headers[SERIAL_HEADER] = str(serial)
    return web.Response(body=body, status=status, headers=headers)


def _redirect(location: str) -> web.Response:
    return web.Response(status=301, headers={"Location": quote(location)})


async def _not_found(request: web.Request) -> web.Response:
    return _answer(b"not found\n", "text/plain", status=404)


def _wants_json(request: web.Request) -> bool:
    return JSON_TYPE in request.headers.get("Accept", "")


async def _listing(request: web.Request) -> web.Response:
    if request.path == "/simple":
        return _redirect("/simple/")
    projects = await _projects(request)
    names = sorted(projects)
    serial = max((project_serial(files) for files in projects.values()), default=0)
    if _wants_json(request):
        body = {
            "meta": {"api-version": "1.0", "_last-serial": serial},
            "projects": [{"name": n, "_last-serial": project_serial(projects[n])} for n in names],
        }
        return _answer(json.dumps(body).encode(), JSON_TYPE, serial)
    links = "".join(f'<a href="/simple/{n}/">{html.escape(n)}</a>\n' for n in names)
    return _answer(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n".encode(), "text/html", serial)


async def _project(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if normalize(name) != name or not request.path.endswith("/"):
        return _redirect(f"/simple/{normalize(name)}/")
    files = (await _projects(request)).get(name)
    if files is None:
        return await _not_found(request)
    serial = project_serial(files)
    if _wants_json(request):
        body = {
            "meta": {"api-version": "1.0"},
            "name": name,
            "files": [
                {"filename": f.name, "url": f"/files/{quote(f.name)}", "hashes": {"sha256": f.sha256}}
                for f in files
            ],
        }
        return _answer(json.dumps(body).encode(), JSON_TYPE, serial)
    links = "".join(f'<a href="/files/{quote(f.name)}#sha256={f.sha256}">{html.escape(f.name)}</a>\n' for f in files)
    page = f"<!DOCTYPE html>\n<html><body>\n<h1>Links for {html.escape(name)}</h1>\n{links}</body></html>\n"
    return _answer(page.encode(), "text/html", serial)


async def _json_api(request: web.Request) -> web.Response:
    """PyPI's JSON API for a project, with the fields bandersnatch and its filters read."""
    # PyPI redirects a non-normalised name; answering for the project is as good
    name = normalize(request.match_info["name"])
    files = (await _projects(request)).get(name)
    if files is None:
        return await _not_found(request)
    base = _origin(request)
    releases: dict[str, list[dict]] = {}
    for file in sorted(files, key=lambda f: (version_key(f.version), f.name)):
        releases.setdefault(file.version, []).append(_release_file(file, base))
    latest = max(releases, key=version_key)
    serial = project_serial(files)
    # Like PyPI: the latest release's dependencies, from its first file that declares them.
    latest_files = sorted((f for f in files if f.version == latest), key=lambda f: not f.name.endswith(".whl"))
    requires_dist = next((list(f.requires_dist) for f in latest_files if f.requires_dist is not None), None)
    body = {
        "info": {
            "name": name,
            "version": latest,
            "requires_python": next((f["requires_python"] for f in releases[latest] if f["requires_python"]), None),
            "requires_dist": requires_dist or None,
            "yanked": False,
            "yanked_reason": None,
        },
        "last_serial": serial,
        "releases": releases,
        "urls": releases[latest],
        "vulnerabilities": [],
    }
    return _answer(json.dumps(body).encode(), "application/json", serial)


def _origin(request: web.Request) -> str:
    """This server as the client reached it: PyPI's JSON API gives absolute file URLs."""
    host = request.headers.get("Host")
    if not host:
        host, port = request.transport.get_extra_info("sockname")[:2]
        host = f"{host}:{port}"
    return f"http://{host}"


def _release_file(file: ReleaseFile, base: str) -> dict:
    return {
        "filename": file.name,
        "url": base + file.packages_path,
        "size": file.size,
        "digests": {"sha256": file.sha256, "md5": file.md5},
        "md5_digest": file.md5,
        "upload_time": file.upload_time.strftime("%Y-%m-%dT%H:%M:%S"),
        "upload_time_iso_8601": file.upload_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "requires_python": file.requires_python,
        "yanked": False,
        "yanked_reason": None,
        "packagetype": "bdist_wheel" if file.name.endswith(".whl") else "sdist",
        "python_version": file.name.split("-")[2] if file.name.endswith(".whl") else "source",
    }


async def _file(request: web.Request) -> web.Response:
    """A file by its name (``/files/``), or by its name and content (``/packages/``)."""
    digest = "".join(request.match_info.get(part, "") for part in "abc") or None
    file = file_at(await _projects(request), request.match_info["filename"], digest)
    if file is None:
        return await _not_found(request)
    body = await asyncio.to_thread((request.app[INDEX].folder / file.name).read_bytes)
    return _answer(body, "application/octet-stream")
