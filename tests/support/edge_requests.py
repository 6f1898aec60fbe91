"""Request lines an edge must refuse or pass on: one list for the in-process handler and for Varnish."""

from __future__ import annotations



#: Request lines that name somewhere else to connect to, or are no path at all;
#: "T" is the trap's port. Each must be refused (400 or 405) with no connection anywhere.
REFUSED = [
    "CONNECT @127.0.0.1:T",
    "CONNECT x@127.0.0.1:T",
    "CONNECT 127.0.0.1:T",
    "CONNECT [::1]:T",
    "CONNECT localhost:T",
    "GET http://127.0.0.1:T/",
    "GET http://127.0.0.1:T/web/private/+simple/",
    "GET https://127.0.0.1:T/",
    "GET http://x@127.0.0.1:T/",
    "GET http://127.0.0.1:3141@127.0.0.1:T/",
    "POST http://127.0.0.1:T/web/private/",
    "HEAD http://[::1]:T/",
    "GET //127.0.0.1:T/",
    "GET //127.0.0.1:T/web/private/+simple/",
    "POST //127.0.0.1:T/web/private/",
    "GET /\\127.0.0.1:T/",
    "GET /\\\\127.0.0.1:T/",
    "GET /web\\..\\127.0.0.1:T/",
    "GET @127.0.0.1:T/",
    "GET 127.0.0.1:T",
    "GET x@127.0.0.1:T/",
    "GET *",
    "OPTIONS *",
    "OPTIONS /web/private/+simple/",
    "TRACE /",
    "PROPFIND /web/private/",
    "MKCOL /web/",
    "PRI *",
    "LINK /",
    "GET /web/private/+simple/#@127.0.0.1:T",
    "PUSH /web/private/",  # devpi's own method, which aiohttp's parser does not know: 400 from it
]


#: Targets that are paths, however odd: they go to the configured origin (which
#: answers as it sees fit), never anywhere else.
PASSED = [
    "GET /@127.0.0.1:T/",
    "GET /127.0.0.1:T/",
    "GET /%2F%2F127.0.0.1:T/",
    "GET /%5C127.0.0.1:T/",
    "GET /web/private/+simple/?url=http://127.0.0.1:T/",
    "GET /../../127.0.0.1:T/",
    "GET /web/private/+f/x/..%2F..%2F@127.0.0.1:T",
    "GET /%40127.0.0.1%3AT/",
    "GET /web/private/+simple/%ff%fe/",
    "POST /@127.0.0.1:T/",
    "PUT /http:%2F%2F127.0.0.1:T/",
    "DELETE /web/private/kitdemo/1.0",
]
