"""Private reads: who may read an index, and devpi made to ask it of every read.

An index's option ``acl_pkg_read`` lists who may read it (user names,
``:AUTHENTICATED:`` for any user of the site, ``:ANONYMOUS:`` for anyone;
root always may), set like devpi's other ``acl_`` options (a list, or a
comma-separated string). An index without it (made before the option
existed) is readable by anyone, as before.

devpi itself asks ``pkg_read`` only of file downloads; its simple pages and
its JSON (index, project, version) answer anyone. :func:`guard_reads` asks
it of every GET and HEAD under ``/USER/INDEX/`` except the index's ``+api``:
no or wrong credentials get 401 with ``WWW-Authenticate: Basic
realm="kit"`` (without it pip, uv and the others never send theirs), a user
without the permission gets 403. The replica reads the master as devpi's
replica identity, which devpi's own rules let read everything.

``/+authcheck`` (what an edge asks before serving anything it keeps) answers
the same question for the URI in ``X-Original-URI``: 200 may read, 401 not
authenticated, 403 authenticated but not allowed.

devpi-web's pages of an index, a project, a version and its documentation
are routes under /USER/INDEX, guarded as above. Its search (``/+search``,
and the XML-RPC search POSTed to an index) reads one index of every project
of the site, which would name a team's private projects to anyone:
:func:`guard_search` wraps it so each request finds only projects of the
indexes it may read (:class:`ReadableSearch`), never from root/names (whose
placeholders name every team's published projects).
"""

from __future__ import annotations

from typing import Any

from kit.core.names import NAMES_INDEX

__all__ = [
    "ACL_OPTION", "REALM", "CachedIdentity", "ReadableSearch", "VerifiedPasswords", "add_www_authenticate",
    "guard_reads", "guard_search", "index_of", "is_index_read", "password_credentials", "password_hash", "principals",
    "read_refusal",
]

#: The index option listing who may read an index.
ACL_OPTION = "acl_pkg_read"
#: The realm of kit's Basic challenge.
REALM = "kit"
CHALLENGE = f'Basic realm="{REALM}"'
_READ_METHODS = ("GET", "HEAD")
#: Routes under /USER/INDEX that read nothing of the index's packages.
_OPEN_ROUTES = ("/{user}/{index}/+api",)


def principals(ixconfig: Any) -> list[str] | None:
    """Who may read the index of ``ixconfig`` (as devpi's hook returns it), or None to leave it to devpi."""
    if not isinstance(ixconfig, dict):
        return None
    value = ixconfig.get(ACL_OPTION)
    return list(value) if isinstance(value, (list, tuple)) else None


def is_index_read(method: str, route_name: str | None, matchdict: Any) -> bool:
    """Whether a request reads an index's packages: a GET or HEAD on a route under /USER/INDEX (but its +api)."""
    if method not in _READ_METHODS or not route_name or route_name in _OPEN_ROUTES:
        return False
    return isinstance(matchdict, dict) and bool(matchdict.get("user")) and bool(matchdict.get("index"))


def index_of(request: Any) -> tuple[str, str] | None:
    """(user, index) a request reads, when it reads one."""
    route = getattr(request, "matched_route", None)
    matchdict = getattr(request, "matchdict", None)
    if not is_index_read(request.method, route.name if route else None, matchdict):
        return None
    return matchdict["user"].rstrip("/"), matchdict["index"].rstrip("/")


def read_refusal(request: Any) -> int | None:
    """401 (not authenticated), 403 (authenticated, not allowed) or None (may read, or reads no index).

    An index that does not exist is left to devpi (404). Inside devpi's
    transaction, the request's context set (pyramid's ContextFound).
    """
    target = index_of(request)
    if target is None:
        return None
    xom = request.registry["xom"]
    if xom.model.getstage(*target) is None:
        return None
    if request.has_permission("pkg_read"):
        return None
    return 403 if request.authenticated_userid else 401


def refusal_response(status: int):
    from pyramid.httpexceptions import HTTPForbidden, HTTPUnauthorized

    if status == 401:
        return HTTPUnauthorized(headers={"WWW-Authenticate": CHALLENGE},
                                detail="this index is private: log in (your team's user, or a read token)")
    return HTTPForbidden(detail="your user may not read this index")


def guard_reads(event: Any) -> None:
    """pyramid ContextFound subscriber: refuses a read of an index the request may not read."""
    status = read_refusal(event.request)
    if status is not None:
        raise refusal_response(status)


def add_www_authenticate(event: Any) -> None:
    """pyramid NewResponse subscriber: every 401 says how to authenticate (Basic), or clients never do."""
    response = event.response
    if response.status_code == 401 and "WWW-Authenticate" not in response.headers:
        response.headers["WWW-Authenticate"] = CHALLENGE


#: Results a search page shows, as devpi-web pages them (whoosh's page length).
SEARCH_PAGE_LENGTH = 10


class ReadableSearch:
    """devpi-web's search index, answering each request only with what it may read.

    Results are filtered before they are paged, so a page is full and its
    count true for this reader: the private projects of others are neither
    listed nor counted. Anything else is devpi-web's index itself.
    """

    def __init__(self, index: Any, current_request=None):
        self._index = index
        if current_request is None:
            from pyramid.threadlocal import get_current_request as current_request
        self._current_request = current_request

    def __getattr__(self, name: str) -> Any:
        return getattr(self._index, name)

    def _may_read(self, request: Any, user: str, index: str) -> bool:
        if f"{user}/{index}" == NAMES_INDEX:
            # Its placeholders (one per published name, version 0.0.0.dev0) hold names for
            # resolvers: as search results they would list every team's private projects.
            return False
        stage = request.registry["xom"].model.getstage(user, index)
        return stage is not None and bool(request.has_permission("pkg_read", stage))

    def query_projects(self, querystring: str, page: int | None = 1) -> dict:
        request = self._current_request()
        if request is None:  # not a request's search (devpi-web's own indexing): nothing to hide from
            return self._index.query_projects(querystring, page=page)
        result = self._index.query_projects(querystring, page=None)
        readable: dict[tuple[str, str], bool] = {}
        items = []
        for item in result["items"]:
            user, index = (item["data"].get("path", "").strip("/").split("/") + ["", ""])[:2]
            if (user, index) not in readable:
                readable[(user, index)] = self._may_read(request, user, index)
            if readable[(user, index)]:
                items.append(item)
        return paged(result, items, page)

    def query_packages(self, searchinfo: Any, sro: list) -> list:
        request = self._current_request()
        if request is not None:
            sro = [stage for stage in sro if request.has_permission("pkg_read", stage)]
        return self._index.query_packages(searchinfo, sro)


def paged(result: dict, items: list, page: int | None) -> dict:
    """``result`` (devpi-web's, of every page) holding ``items`` only, cut to ``page`` (None: all)."""
    info = dict(result["info"], found=len(items), total=len(items))
    if page is not None:
        pagecount = max(1, -(-len(items) // SEARCH_PAGE_LENGTH))
        page = min(max(1, page), pagecount)
        items = items[(page - 1) * SEARCH_PAGE_LENGTH: page * SEARCH_PAGE_LENGTH]
        info.update(pagecount=pagecount, pagenum=page)
    return {**result, "items": items, "info": info}


def guard_search(registry: Any) -> None:
    """Wrap devpi-web's search index, when devpi-web is loaded, in a :class:`ReadableSearch`."""
    found = registry.get("search_index") if hasattr(registry, "get") else None
    if found is not None and not isinstance(found, ReadableSearch):
        registry["search_index"] = ReadableSearch(found)


def authcheck_forbidden(request: Any) -> bool | None:
    """devpi's hook for /+authcheck: True (403) for a user who may not read the index; False for
    anyone else reading an index, so devpi's own rule (403 to anonymous on files) is not asked."""
    if index_of(request) is None:
        return None
    return read_refusal(request) == 403


def authcheck_unauthorized(request: Any) -> bool | None:
    """devpi's hook for /+authcheck: True (401) for no or wrong credentials on an index they may not read."""
    if index_of(request) is None:
        return None
    return True if read_refusal(request) == 401 else None


class VerifiedPasswords:
    """Passwords devpi has verified lately, so a reader's next requests skip the hash.

    devpi hashes users' passwords with argon2: each request carrying a
    password costs ~0.2 s of CPU (measured here: 5 requests/s against 230
    with a login or devpi-tokens token), and with private reads every page a
    client or the edge reads carries one. A password devpi accepted is taken
    again for ``ttl`` seconds while the user's password hash is the one it
    was checked against: a changed password, or a deleted user, misses at
    once. Keys are HMACs under a key of this process, never the passwords.
    """

    def __init__(self, ttl: float = 10.0, limit: int = 10_000, clock=None):
        import hmac
        import secrets
        import time

        self.ttl, self.limit = ttl, limit
        self._clock = clock or time.monotonic
        self._key = secrets.token_bytes(32)
        self._hmac = hmac
        self._entries: dict[bytes, tuple[str, float, list[str]]] = {}

    def _id(self, user: str, password: str) -> bytes:
        return self._hmac.new(self._key, f"{user}\0{password}".encode(), "sha256").digest()

    def remember(self, user: str, password: str, pwhash: str | None, groups: list[str]) -> None:
        if not pwhash:
            return
        if len(self._entries) >= self.limit:
            self._entries.clear()  # a flood of one-off credentials: start again, never grow
        self._entries[self._id(user, password)] = (pwhash, self._clock() + self.ttl, list(groups))

    def groups(self, user: str, password: str, pwhash: str | None) -> list[str] | None:
        """The groups of a password accepted lately with this very hash, or None (verify it)."""
        entry = self._entries.get(self._id(user, password))
        if entry is None or not pwhash:
            return None
        if entry[0] != pwhash or entry[1] < self._clock():
            self._entries.pop(self._id(user, password), None)
            return None
        return entry[2]


def password_credentials(request: Any, credentials: Any) -> tuple[str, str] | None:
    """(user, password) of a request's Basic credentials, when they may be a password: not a
    devpi-tokens token (cheap to check, revocable on its own) nor devpi's own login token header."""
    if not isinstance(credentials, tuple) or len(credentials) != 2 or not all(credentials):
        return None
    if request.headers.get("X-Devpi-Auth") or str(credentials[1]).startswith("devpi-"):
        return None
    return str(credentials[0]), str(credentials[1])


def password_hash(request: Any, user: str) -> str | None:
    found = request.registry["xom"].model.get_user(user)
    record = found.get(credentials=True) if found is not None else None
    return (record or {}).get("pwhash")


class CachedIdentity:
    """An identity taken from :class:`VerifiedPasswords` (devpi's identities have these two attributes)."""

    def __init__(self, username: str, groups: list[str]):
        self.username = username
        self.groups = groups
