"""Uploads and changes: passed to the master only, the body streamed, never
held whole; a write the master accepted drops the pages of the index it
wrote (:func:`written`), so the uploader reads its own write at once."""

from __future__ import annotations

import asyncio

from aiohttp import ClientError, ClientTimeout, web

from kit.edge.failover import Failover, describe
from kit.edge.pages import IndexPages
from kit.edge.replies import forward_headers, relay, text

__all__ = ["write", "written"]


async def write(request: web.Request, failover: Failover, pages: IndexPages) -> web.StreamResponse:
    """An upload or change: to the master only, the body streamed, never held whole."""
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        return text(411, "kit edge: send a Content-Length, not a chunked body\n")
    config = failover.config
    master = failover.origins.for_write()
    headers = forward_headers(request, config.public_url)
    if request.content_length is not None:
        headers["Content-Length"] = str(request.content_length)
    timeout = ClientTimeout(sock_connect=config.connect_timeout, sock_read=config.write_timeout)
    path, _, query = request.raw_path.partition("?")
    try:
        async with failover.session.request(request.method, master.url_for(path, query, encoded=True),
                                            headers=headers, data=request.content if request.body_exists else None,
                                            allow_redirects=False, timeout=timeout) as upstream:
            failover.origins.answered(master)
            changed = written(request.path, request.headers, upstream.status)
            if changed is not None:
                # The uploader reads its own write at once; what else the change
                # touched (indexes inheriting this one) devpi's purge plugin names.
                pages.drop(changed, None)
            # A 5xx is the master's answer, not its absence: passed on as is, nothing marked down.
            failover.stats["passes"] += 1
            return await relay(request, upstream, master, "PASS", failover.stats)
    except (ClientError, asyncio.TimeoutError) as exc:
        reason = describe(exc)
        failover.origin_failed(master, request.method, request.path, reason)
        message = (
            f"kit edge: the master ({master.url}) is not answering ({reason}), "
            "so uploads and changes cannot be made now; installs keep working from the mirror. "
            "Retry when `kit status` shows the master healthy.\n"
        )
        return text(503, message, retry_after=True, reason="Master down, uploads paused")


def written(path: str, headers, status: int) -> str | None:
    """The index a write changed ("USER/INDEX"), for :meth:`IndexPages.drop`; None when it changed nothing here.

    Only a write with credentials (devpi's ``X-Devpi-Auth``, or Basic as twine
    sends it) that the master accepted (2xx) changes anything: a redirect, a
    refusal or an anonymous request never empties the cache. The index is the
    path's first two segments (an upload names its project in its body, which
    the edge does not read); ``/USER`` and ``/+login`` change no page.
    """
    if not 200 <= status < 300 or not (headers.get("X-Devpi-Auth") or headers.get("Authorization")):
        return None
    parts = path.split("/")
    if len(parts) < 3 or not parts[1] or not parts[2] or parts[1].startswith("+") or parts[2].startswith("+"):
        return None
    return f"{parts[1]}/{parts[2]}"
