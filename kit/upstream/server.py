"""A local upstream: a folder of wheels and sdists served as a simple index.

It answers PEP 503 (HTML) and PEP 691 (JSON) on ``/simple/`` and serves the
files on ``/files/NAME``. The test suite mirrors from it instead of PyPI, and a
classroom can run a whole cluster from a folder prepared before the day.

It also speaks as much of PyPI's own API as bandersnatch (``api-method =
simple``) needs to mirror it: serials (``_last-serial`` in the PEP 691
listing, the ``X-PyPI-Last-Serial`` header), the JSON API on
``/pypi/NAME/json``, and every file again at PyPI's content-addressed path
``/packages/<sha256[:2]>/<sha256[2:4]>/<sha256[4:]>/NAME``.

The folder has no serials, so they are derived from the files: a file's
serial is its newest timestamp (mtime or ctime) in milliseconds, a project's
is the greatest of its files', the index's the greatest of all. Adding or
replacing a file raises them; removing one does not.

Run it alone with ``python -m kit.upstream FOLDER --port 8000``.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import re
import tarfile
import threading
import zipfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

from packaging.version import InvalidVersion, Version

from kit.core.names import normalize, project_of, version_of

__all__ = ["LocalUpstream", "normalize", "project_of", "version_of"]

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
SERIAL_HEADER = "X-PyPI-Last-Serial"


def _version_key(version: str) -> tuple:
    """Sort key for "the latest version" as PyPI picks it: final releases above pre-releases."""
    try:
        parsed = Version(version)
    except InvalidVersion:
        return (False, False, Version("0"))  # a name no tool can order sorts lowest
    return (True, not parsed.is_prerelease, parsed)


def _metadata(path: Path) -> tuple[str | None, tuple[str, ...] | None]:
    """``Requires-Python`` and ``Requires-Dist`` from a wheel's METADATA or an sdist's PKG-INFO.

    (None, None) when the file has neither or cannot be read: a broken file
    is still served, and pip will say what is wrong with it.
    """
    try:
        if path.name.endswith(".whl"):
            with zipfile.ZipFile(path) as zf:
                name = next(n for n in zf.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n))
                raw = zf.read(name)
        elif path.name.endswith((".tar.gz", ".tar.bz2")):
            with tarfile.open(path) as tf:
                member = next(m for m in tf.getmembers() if re.fullmatch(r"[^/]+/PKG-INFO", m.name))
                raw = tf.extractfile(member).read()
        else:
            return None, None
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, StopIteration, OSError, AttributeError, EOFError):
        return None, None
    headers = BytesHeaderParser().parsebytes(raw)
    return headers.get("Requires-Python"), tuple(headers.get_all("Requires-Dist") or ())


@dataclass(frozen=True)
class _File:
    name: str
    sha256: str
    md5: str
    size: int
    mtime_ns: int
    serial: int
    requires_python: str | None
    requires_dist: tuple[str, ...] | None

    @property
    def version(self) -> str:
        return version_of(self.name)

    @property
    def packages_path(self) -> str:
        # PyPI's layout; it hashes with BLAKE2b, but only the /packages/ prefix
        # matters to bandersnatch, and the sha256 is already known.
        return f"/packages/{self.sha256[:2]}/{self.sha256[2:4]}/{self.sha256[4:]}/{quote(self.name)}"

    @property
    def upload_time(self) -> datetime:
        # exact microseconds: bandersnatch stamps the mirrored file with this time
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=self.mtime_ns // 1000)


def _project_serial(files: list[_File]) -> int:
    return max((f.serial for f in files), default=0)


def _packaged(projects: dict[str, list[_File]], filename: str, sha256: str) -> _File | None:
    """The file at a ``/packages/`` path: its name and its current content must both match."""
    for file in projects.get(project_of(filename) or "", []):
        if file.name == filename and file.sha256 == sha256:
            return file
    return None


class _Index:
    """The folder's files by project; rescanned when the folder changes."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._projects: dict[str, list[_File]] = {}
        # what reading a file tells, by (name, mtime, ctime, size): computed once per version of a file
        self._facts: dict[tuple[str, int, int, int], tuple] = {}

    def projects(self) -> dict[str, list[_File]]:
        with self._lock:
            entries = sorted(p for p in self.folder.iterdir() if p.is_file() and project_of(p.name))
            stats = [p.stat() for p in entries]
            stamp = tuple((p.name, st.st_mtime_ns, st.st_ctime_ns, st.st_size) for p, st in zip(entries, stats))
            if stamp != self._stamp:
                projects: dict[str, list[_File]] = {}
                facts = {key: self._facts.get(key) or self._read(path) for path, key in zip(entries, stamp)}
                for (name, mtime, ctime, size), (sha256, md5, requires_python, requires_dist) in facts.items():
                    # ctime too: a file copied in with its old mtime kept (cp -p, unzip) is still new here
                    serial = max(mtime, ctime) // 1_000_000
                    file = _File(name, sha256, md5, size, mtime, serial, requires_python, requires_dist)
                    projects.setdefault(project_of(name), []).append(file)
                self._projects, self._stamp, self._facts = projects, stamp, facts
            return self._projects

    @staticmethod
    def _read(path: Path) -> tuple:
        data = path.read_bytes()
        return (hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest(),
                *_metadata(path))


class _Handler(BaseHTTPRequestHandler):
    server_version = "kit-upstream"
    index: _Index  # set on the subclass made per server

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: the cluster keeps its own logs

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib naming
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:  # noqa: N802
        path = unquote(self.path.split("?", 1)[0])
        wants_json = JSON_TYPE in self.headers.get("Accept", "")
        projects = self.index.projects()
        if path in ("/simple", "/simple/"):
            if path == "/simple":
                return self._redirect("/simple/")
            return self._listing(projects, wants_json, head)
        match = re.fullmatch(r"/simple/([^/]+)/?", path)
        if match:
            name = match.group(1)
            if normalize(name) != name or not path.endswith("/"):
                return self._redirect(f"/simple/{normalize(name)}/")
            if name not in projects:
                return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain", head)
            return self._project(name, projects[name], wants_json, head)
        match = re.fullmatch(r"/pypi/([^/]+)/json/?", path)
        if match and normalize(match.group(1)) in projects:
            # PyPI redirects a non-normalised name; answering for the project is as good
            name = normalize(match.group(1))
            return self._json_api(name, projects[name], head)
        match = re.fullmatch(r"/files/([^/]+)", path)
        if match and project_of(match.group(1)):
            file = self.index.folder / match.group(1)
            if file.is_file():
                return self._send(HTTPStatus.OK, file.read_bytes(), "application/octet-stream", head)
        match = re.fullmatch(r"/packages/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{60})/([^/]+)", path)
        if match and _packaged(projects, match.group(4), "".join(match.group(1, 2, 3))):
            body = (self.index.folder / match.group(4)).read_bytes()
            return self._send(HTTPStatus.OK, body, "application/octet-stream", head)
        return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain", head)

    def _redirect(self, location: str) -> None:
        self.send_response(HTTPStatus.MOVED_PERMANENTLY)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _listing(self, projects: dict[str, list[_File]], wants_json: bool, head: bool) -> None:
        names = sorted(projects)
        serial = max((_project_serial(files) for files in projects.values()), default=0)
        if wants_json:
            body = {
                "meta": {"api-version": "1.0", "_last-serial": serial},
                "projects": [{"name": n, "_last-serial": _project_serial(projects[n])} for n in names],
            }
            return self._send(HTTPStatus.OK, json.dumps(body).encode(), JSON_TYPE, head, serial)
        links = "".join(f'<a href="/simple/{n}/">{html.escape(n)}</a>\n' for n in names)
        page = f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n"
        return self._send(HTTPStatus.OK, page.encode(), "text/html", head, serial)

    def _project(self, name: str, files: list[_File], wants_json: bool, head: bool) -> None:
        if wants_json:
            body = {
                "meta": {"api-version": "1.0"},
                "name": name,
                "files": [
                    {"filename": f.name, "url": f"/files/{quote(f.name)}", "hashes": {"sha256": f.sha256}}
                    for f in files
                ],
            }
            return self._send(HTTPStatus.OK, json.dumps(body).encode(), JSON_TYPE, head, _project_serial(files))
        links = "".join(
            f'<a href="/files/{quote(f.name)}#sha256={f.sha256}">{html.escape(f.name)}</a>\n' for f in files
        )
        page = f"<!DOCTYPE html>\n<html><body>\n<h1>Links for {html.escape(name)}</h1>\n{links}</body></html>\n"
        return self._send(HTTPStatus.OK, page.encode(), "text/html", head, _project_serial(files))

    def _json_api(self, name: str, files: list[_File], head: bool) -> None:
        """PyPI's JSON API for a project, with the fields bandersnatch and its filters read."""
        base = self._origin()
        releases: dict[str, list[dict]] = {}
        for file in sorted(files, key=lambda f: (_version_key(f.version), f.name)):
            releases.setdefault(file.version, []).append(self._release_file(file, base))
        latest = max(releases, key=_version_key)
        serial = _project_serial(files)
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
        return self._send(HTTPStatus.OK, json.dumps(body).encode(), "application/json", head, serial)

    def _origin(self) -> str:
        """This server as the client reached it: PyPI's JSON API gives absolute file URLs."""
        host, port = self.server.server_address[:2]
        return f"http://{self.headers.get('Host') or f'{host}:{port}'}"

    @staticmethod
    def _release_file(file: _File, base: str) -> dict:
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

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, head: bool, serial: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if serial is not None:
            self.send_header(SERIAL_HEADER, str(serial))
        self.end_headers()
        if not head:
            self.wfile.write(body)


class LocalUpstream:
    """Serve ``folder`` on ``host:port`` in a background thread (port 0: a free one).

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 0):
        self.folder = Path(folder)
        handler = type("Handler", (_Handler,), {"index": _Index(self.folder)})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        # stop() waits for serve_forever's next poll: 0.05 s instead of the default 0.5 s
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="kit-upstream", daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The simple index URL, as a devpi mirror_url or a pip index-url takes it."""
        return f"http://{self._server.server_address[0]}:{self.port}/simple/"

    def start(self) -> "LocalUpstream":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "LocalUpstream":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kit.upstream", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder of wheels and sdists")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    upstream = LocalUpstream(args.folder, args.host, args.port)
    print(f"serving {args.folder} as {upstream.url}", flush=True)
    try:
        upstream._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        upstream._server.server_close()


if __name__ == "__main__":
    main()
