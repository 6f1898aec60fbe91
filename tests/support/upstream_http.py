"""Asking the local upstream over HTTP as pip, devpi and bandersnatch do: the body,
the decoded JSON and headers, or the status of an answer."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def fetch(url: str, accept: str = "text/html") -> tuple[str, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request) as response:
        return response.headers["Content-Type"], response.read()


def fetch_json(url: str, accept: str = "application/json") -> tuple[dict, dict]:
    """The decoded body and the headers of a JSON answer."""
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read()), dict(response.headers)


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
