"""The plugin's purge settings, checked as devpi checks its own: a bad one
stops devpi at start with one ``fatal:`` line naming the setting and the fix
(``kit-purge-url``: the edges' purge endpoints; ``kit-purge-secretfile``:
the secret shared with them, by :mod:`kit.core.secrets`' rules).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from kit.core import secrets
from kit.core.errors import SecretError

__all__ = ["check_url", "check_urls", "fatal", "read_secret", "secret_path"]


def fatal(message: str) -> Exception:
    # devpi prints a Fatal as "fatal: …" and exits 1, as it does for its own secretfile.
    from devpi_server.main import Fatal

    return Fatal(f"kit-purge: {message}")


def secret_path(value: str) -> Path:
    """Where ``kit-purge-secretfile`` points: as devpi resolves its own
    ``secretfile`` (``~`` expanded, a relative path from the working folder)."""
    return Path(value).expanduser().absolute()


def read_secret(path: Path) -> str:
    """The shared secret in ``path``, by :mod:`kit.core.secrets`' rules (a
    regular file, nothing for "others", one token of 32+ characters; group
    access allowed: an edge running as another user may share a group).

    Raises devpi's ``Fatal`` (devpi refuses to start) naming the file and the
    fix when a rule is broken, a missing file included. Starting anyway would
    leave every purge refused (or the secret exposed) while nothing looked wrong.
    """
    fix = f"write the edge's purge secret (64 hex characters) into {path}, chmod 600, or remove kit-purge-url"
    try:
        return secrets.read_secret(path, required=True, fix=fix)
    except SecretError as exc:
        raise fatal(str(exc)) from None


def check_urls(value: str) -> list[str]:
    """``kit-purge-url``: one URL or several separated by spaces (Varnish and
    the shield behind it both cache pages); devpi's ``Fatal`` for any that is no http(s) URL."""
    urls = value.split()
    if not urls:
        raise fatal("kit-purge-url is empty; give the edge's purge endpoint, e.g. http://127.0.0.1:3143/+edge/purge")
    return [check_url(url) for url in urls]


def check_url(url: str) -> str:
    """One purge URL, or devpi's ``Fatal`` when it is no http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise fatal(f"kit-purge-url {url!r} is not an http:// or https:// URL; "
                     "give the edge's purge endpoint, e.g. http://127.0.0.1:3143/+edge/purge")
    return url
