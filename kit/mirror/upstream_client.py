"""kit's client to the upstream's JSON API (``BASE/pypi/NAME/json`` and
``BASE/simple/``), which ``kit mirror sync`` resolves dependencies from."""

from __future__ import annotations

import json
import ssl
import urllib.parse

from kit.core.errors import MirrorError, one_line
from kit.core.names import normalize
from kit.site.answers import is_loopback

__all__ = ["TIMEOUT", "UpstreamClient", "is_loopback_url"]

#: Seconds to wait for one answer of the upstream while resolving.
TIMEOUT = 30.0


class UpstreamClient:
    """The upstream's JSON API (``BASE/pypi/NAME/json``), as bandersnatch reads it.

    Not :mod:`kit.core.http`: that client ignores the environment's proxies, which
    is right for the cluster on loopback but not for PyPI behind a company proxy;
    this one honours them (httpx's ``trust_env``).
    """

    def __init__(self, base: str):
        import httpx

        self.base = base.rstrip("/")
        # No proxy for a local upstream: a proxy of this machine would not reach 127.0.0.1.
        # The system's certificates (as urllib and pip use), not certifi's alone: a company
        # proxy's own CA is installed there. One connection per request, nothing to close.
        try:
            self.client = httpx.Client(trust_env=not is_loopback_url(self.base), verify=ssl.create_default_context(),
                                       timeout=TIMEOUT, follow_redirects=True,
                                       limits=httpx.Limits(max_keepalive_connections=0))
        except ImportError:  # httpx needs socksio for a socks5:// proxy (ALL_PROXY=socks5://…)
            raise MirrorError("this shell names a SOCKS proxy (ALL_PROXY or another *_PROXY variable) and kit's "
                              "environment cannot use one; install socksio into it (pip install 'httpx[socks]') "
                              "or unset the variable") from None

    def project(self, name: str) -> dict | None:
        """A project's JSON metadata, or None when the upstream does not have it."""
        import httpx

        url = f"{self.base}/pypi/{urllib.parse.quote(name)}/json"
        try:
            response = self.client.get(url, headers={"Accept": "application/json"})
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise MirrorError(f"cannot reach the upstream at {self.base} ({one_line(exc)}); check the "
                              "network, or start the cluster if the upstream is a folder") from None
        if response.status_code == 404:
            return None
        if not response.is_success:
            raise MirrorError(f"the upstream answered HTTP {response.status_code} for {url}; try again later")
        try:
            return json.loads(response.content)
        except ValueError:
            raise MirrorError(f"the upstream's answer for {url} is not JSON; is {self.base} a PyPI-like "
                              "index (…/simple/ beside …/pypi/NAME/json)?") from None

    def all_projects(self) -> list[str]:
        import httpx

        url = f"{self.base}/simple/"
        try:
            response = self.client.get(url, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
            if not response.is_success:
                raise ValueError(f"HTTP {response.status_code}")
            return sorted(normalize(p["name"]) for p in json.loads(response.content)["projects"])
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, KeyError, TypeError) as exc:
            raise MirrorError(f"cannot list the projects of {url} ({one_line(exc)}); check the upstream") from None


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is this machine (no proxy can reach it for us)."""
    return is_loopback(urllib.parse.urlsplit(url).hostname or "")
