"""The bench's HTTP client: httpx, one keep-alive connection per target as
pip keeps one per host, and the failures it counts."""

from __future__ import annotations

import json
import re
import threading

import httpx

from kit.core.errors import one_line
from kit.ops.bench.result import ACCEPT, KEPT_ERRORS

__all__ = ["connection", "Failures", "fetch", "first_file", "trust", "tls_context"]

#: CA files the bench trusts besides the system's: an https site's own CA (see :func:`trust`).
_TRUSTED: list[str] = []


def trust(ca_file: str) -> None:
    """Trust ``ca_file`` (PEM) too in every later connection of this process: the bench reads
    an https site's edge as its teams do, with the site CA they are handed."""
    if ca_file not in _TRUSTED:
        _TRUSTED.append(ca_file)


def tls_context():
    """The TLS context of the bench's https connections: the system's CAs and the trusted ones."""
    import ssl

    context = ssl.create_default_context()
    for ca_file in _TRUSTED:
        context.load_verify_locations(cafile=ca_file)
    return context


def connection(root_url: str, timeout: float = 10.0) -> httpx.Client:
    """A client for ``root_url`` that keeps one connection alive across requests.

    Like kit's other calls to the cluster (kit.core.http): no proxies from the
    environment, no redirects followed. ``Accept-Encoding: identity`` (what
    Python's http.client asks for), so every target serves the bytes as
    stored, and the timings hold no compression. A kept-alive connection the
    server closed while idle is dropped by httpx before it is reused.
    """
    return httpx.Client(base_url=root_url, timeout=timeout, trust_env=False, follow_redirects=False,
                        headers={"Accept-Encoding": "identity"},
                        verify=tls_context() if root_url.startswith("https:") else True,
                        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))


class Failures:
    """Failed requests per target, and the first few messages."""

    def __init__(self):
        self.counts: dict[str, int] = {}
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def add(self, target: str, message: str, count: int = 1) -> None:
        with self._lock:
            self.counts[target] = self.counts.get(target, 0) + count
            if len(self.errors) < KEPT_ERRORS:
                self.errors.append(f"{target}: {message}")


def fetch(client: httpx.Client, path: str, target: str, failures: Failures) -> bytes | None:
    """The body of a GET (as pip asks for a page) answered 200; else the failure is counted and None returned."""
    try:
        response = client.get(path, headers={"Accept": ACCEPT})
    except httpx.HTTPError as exc:
        failures.add(target, f"GET {path}: {one_line(exc)}")
        return None
    if response.status_code != 200:
        failures.add(target, f"GET {path}: HTTP {response.status_code}")
        return None
    return response.content


def first_file(page: bytes) -> str | None:
    """The first file's URL (relative, as devpi writes it) in a JSON or HTML simple page."""
    try:
        files = json.loads(page).get("files") or []
        return files[0]["url"].split("#")[0] if files else None
    except (ValueError, AttributeError, KeyError, TypeError):
        found = re.search(rb'href="([^"#]+)', page)
        return found.group(1).decode() if found else None
