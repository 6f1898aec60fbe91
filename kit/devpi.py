"""A small client of devpi-server's HTTP API: just what ``kit up`` needs.

devpi-client would do, but each of its calls starts a Python process; the
cluster must be up in seconds, so kit talks JSON to the server directly.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

__all__ = ["DevpiAPI", "DevpiError"]


class DevpiError(Exception):
    """devpi-server answered an API call with an error."""


class DevpiAPI:
    def __init__(self, url: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._auth: str | None = None

    def _call(self, method: str, path: str, data: Any = None) -> tuple[int, Any]:
        body = None if data is None else json.dumps(data).encode()
        request = urllib.request.Request(self.url + path, data=body, method=method)
        request.add_header("Accept", "application/json")
        if body is not None:
            request.add_header("Content-Type", "application/json")
        if self._auth:
            request.add_header("X-Devpi-Auth", self._auth)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                payload = json.loads(exc.read() or b"null")
            except ValueError:
                payload = None
            return exc.code, payload

    def get(self, path: str) -> Any | None:
        """The ``result`` of a GET, or None for 404."""
        status, payload = self._call("GET", path)
        if status == 404:
            return None
        if status != 200:
            raise DevpiError(f"GET {path}: HTTP {status} {_message(payload)}")
        return payload.get("result") if isinstance(payload, dict) else payload

    def login(self, user: str, password: str) -> None:
        status, payload = self._call("POST", "/+login", {"user": user, "password": password})
        if status != 200:
            raise DevpiError(f"login as {user}: HTTP {status} {_message(payload)}")
        token = payload["result"]["password"]
        self._auth = base64.b64encode(f"{user}:{token}".encode()).decode()

    def put(self, path: str, data: dict) -> None:
        status, payload = self._call("PUT", path, data)
        if status not in (200, 201):
            raise DevpiError(f"PUT {path}: HTTP {status} {_message(payload)}")

    def patch(self, path: str, data: dict) -> None:
        status, payload = self._call("PATCH", path, data)
        if status != 200:
            raise DevpiError(f"PATCH {path}: HTTP {status} {_message(payload)}")

    def ensure_user(self, user: str, password: str) -> None:
        if self.get(f"/{user}") is None:
            self.put(f"/{user}", {"password": password})
        else:
            self.patch(f"/{user}", {"password": password})

    def ensure_index(self, name: str, config: dict) -> None:
        """Create the index ``user/index`` or bring its settings to ``config``."""
        current = self.get(f"/{name}")
        if current is None:
            self.put(f"/{name}", config)
            return
        wanted = {k: v for k, v in config.items() if k != "type"}
        if any(current.get(k) != v for k, v in wanted.items()):
            merged = {k: v for k, v in current.items() if k not in ("projects", "type")}
            merged.update(wanted)
            self.patch(f"/{name}", merged)

    def status(self) -> dict:
        return self.get("/+status") or {}


def _message(payload: Any) -> str:
    if isinstance(payload, dict) and payload.get("message"):
        return f"({payload['message']})"
    return ""
