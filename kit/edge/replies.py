"""What the edge answers with: its own short text answers, and an origin's
answer relayed as it came (its headers, less those of one connection).

Shared by every part of the edge that answers a request (:mod:`kit.edge.pages`,
:mod:`kit.edge.files`, :mod:`kit.edge.failover`, :mod:`kit.edge.writes`)."""

from __future__ import annotations

from aiohttp import web

from kit.edge.origins import Origin

__all__ = ["CHUNK", "text", "abort", "forwardable", "forward_headers", "file_headers", "relay", "none_answered", "refusal"]

#: Headers that belong to one connection, never forwarded (RFC 9110 7.6.1);
#: Server and Date are the edge's own.
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "host", "content-length", "server", "date",
})
CHUNK = 256 * 1024


def text(status: int, message: str, *, retry_after: bool = False, reason: str | None = None,
         headers: dict[str, str] | None = None) -> web.Response:
    # A short reason phrase too: clients such as twine show it, not the body.
    headers = {**(headers or {}), **({"Retry-After": "5"} if retry_after else {})}
    return web.Response(status=status, reason=reason, text=message, content_type="text/plain", headers=headers)


def none_answered(problems: str) -> web.Response:
    return text(503, f"kit edge: no backend answered ({problems}); check `kit status`.\n", retry_after=True,
                reason="No backend answered")


def refusal(decision: int, index: str) -> web.Response:
    """What a reader refused by :mod:`kit.edge.auth` gets: 401 (log in; the Basic challenge, without
    which pip, uv and the others never send their credentials), 503 (nobody could say) or 403."""
    if decision == 401:
        return text(401, f"kit edge: log in to read {index}: send your team's user name and password "
                    "or a read token (netrc)\n", reason="Unauthorized",
                    headers={"WWW-Authenticate": 'Basic realm="kit"'})
    if decision == 503:
        return text(503, f"kit edge: cannot tell whether you may read {index}: no origin answered and no "
                    "recent decision is kept for these credentials, so nothing private is served; "
                    "retry when `kit status` shows an origin healthy\n", retry_after=True,
                    reason="Authorisation unavailable")
    return text(403, f"kit edge: these credentials may not read {index}\n", reason="Forbidden")


def abort(request: web.Request) -> None:
    """Cut the connection mid-body: the client sees fewer bytes than Content-Length, never a whole wrong file."""
    if request.transport is not None:
        request.transport.abort()


def forwardable(headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}


def forward_headers(request: web.Request, public_url: str) -> dict[str, str]:
    """A client's headers as an origin gets them: with the edge's outside URL and the client's address."""
    headers = forwardable(request.headers)
    headers["X-Outside-Url"] = public_url
    if request.remote:
        headers["X-Forwarded-For"] = request.remote
    return headers


def file_headers(state: str, served_by: str) -> dict[str, str]:
    return {"Content-Type": "application/octet-stream", "Cache-Control": "max-age=31536000, immutable",
            "X-Cache": state, "X-Served-By": served_by, "Age": "0"}


async def relay(request: web.Request, upstream, origin: Origin, state: str, stats: dict) -> web.StreamResponse:
    """An origin's answer to the client as it came, streamed, never held whole."""
    response = web.StreamResponse(status=upstream.status, reason=upstream.reason,
                                  headers={**forwardable(upstream.headers), "X-Cache": state,
                                           "X-Served-By": origin.name})
    if upstream.content_length is not None:
        response.content_length = upstream.content_length
    await response.prepare(request)
    if request.method != "HEAD":
        async for chunk in upstream.content.iter_chunked(CHUNK):
            await response.write(chunk)
            stats["bytes_served"] += len(chunk)
    await response.write_eof()
    return response
