"""A local upstream: a folder of wheels and sdists served as a simple index.

It answers PEP 503 (HTML) and PEP 691 (JSON) on ``/simple/`` and serves the
files on ``/files/``. The test suite mirrors from it instead of PyPI, and a
classroom can run a whole cluster from a folder prepared before the day.

Run it alone with ``python -m kit.upstream FOLDER --port 8000``.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import re
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

__all__ = ["LocalUpstream", "normalize", "project_of"]

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2")


def normalize(name: str) -> str:
    """PEP 503 name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


def project_of(filename: str) -> str | None:
    """The normalised project name of a distribution file, or None if it is not one."""
    if filename.endswith(".whl"):
        return normalize(filename.split("-", 1)[0])
    for suffix in _SUFFIXES:
        if filename.endswith(suffix):
            stem = filename[: -len(suffix)]
            if "-" in stem:
                return normalize(stem.rsplit("-", 1)[0])
    return None


@dataclass(frozen=True)
class _File:
    name: str
    sha256: str


class _Index:
    """The folder's files by project; rescanned when the folder changes."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._projects: dict[str, list[_File]] = {}
        self._digests: dict[tuple[str, int, int], str] = {}

    def projects(self) -> dict[str, list[_File]]:
        with self._lock:
            entries = sorted(p for p in self.folder.iterdir() if p.is_file() and project_of(p.name))
            stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in entries)
            if stamp != self._stamp:
                projects: dict[str, list[_File]] = {}
                for path, (name, mtime, size) in zip(entries, stamp):
                    key = (name, mtime, size)
                    if key not in self._digests:
                        self._digests[key] = hashlib.sha256(path.read_bytes()).hexdigest()
                    projects.setdefault(project_of(name), []).append(_File(name, self._digests[key]))
                self._projects, self._stamp = projects, stamp
            return self._projects


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
            return self._listing(sorted(projects), wants_json, head)
        match = re.fullmatch(r"/simple/([^/]+)/?", path)
        if match:
            name = match.group(1)
            if normalize(name) != name or not path.endswith("/"):
                return self._redirect(f"/simple/{normalize(name)}/")
            if name not in projects:
                return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain", head)
            return self._project(name, projects[name], wants_json, head)
        match = re.fullmatch(r"/files/([^/]+)", path)
        if match and project_of(match.group(1)):
            file = self.index.folder / match.group(1)
            if file.is_file():
                return self._send(HTTPStatus.OK, file.read_bytes(), "application/octet-stream", head)
        return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain", head)

    def _redirect(self, location: str) -> None:
        self.send_response(HTTPStatus.MOVED_PERMANENTLY)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _listing(self, names: list[str], wants_json: bool, head: bool) -> None:
        if wants_json:
            body = {"meta": {"api-version": "1.0"}, "projects": [{"name": n} for n in names]}
            return self._send(HTTPStatus.OK, json.dumps(body).encode(), JSON_TYPE, head)
        links = "".join(f'<a href="/simple/{n}/">{html.escape(n)}</a>\n' for n in names)
        page = f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n"
        return self._send(HTTPStatus.OK, page.encode(), "text/html", head)

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
            return self._send(HTTPStatus.OK, json.dumps(body).encode(), JSON_TYPE, head)
        links = "".join(
            f'<a href="/files/{quote(f.name)}#sha256={f.sha256}">{html.escape(f.name)}</a>\n' for f in files
        )
        page = f"<!DOCTYPE html>\n<html><body>\n<h1>Links for {html.escape(name)}</h1>\n{links}</body></html>\n"
        return self._send(HTTPStatus.OK, page.encode(), "text/html", head)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, head: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
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
        self._thread = threading.Thread(target=self._server.serve_forever, name="kit-upstream", daemon=True)

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
