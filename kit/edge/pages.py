"""The edge's index pages: kept in memory for ``page_ttl`` seconds per
representation (PEP 691 JSON or HTML), then revalidated; one fetch per page
at a time, however many clients ask while it is missing; served stale (or
from the static copy, when that is newer) when no origin answers; dropped by
devpi's purge plugin (``/+edge/purge``, :mod:`kit.edge.purge`) and by writes
the edge passed to the master (:mod:`kit.edge.writes`).

Every page fetched teaches :class:`~kit.edge.cache.Hashes` the sha256 of the
files it lists: the digests :mod:`kit.edge.files` serves files against.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from aiohttp import ClientResponse, web

from kit.core.names import project_of
from kit.core.purge_keys import key as purge_key, user_key
from kit.edge.auth import Authorizer
from kit.edge.cache import JSON, Hashes, Page, PageKey, Pages, links_of, upstream_accept
from kit.edge.config import EdgeConfig
from kit.edge.failover import AllFailed, Failover
from kit.edge.origins import Origin
from kit.edge.purge import PurgeRefused, check_authorization, parse_purge, read_secret
from kit.edge.replies import forwardable, none_answered
from kit.edge.static_copy import StaticOrigin

__all__ = ["IndexPages"]

log = logging.getLogger("kit.edge")


class IndexPages:
    """The pages the edge holds, the digests they taught it, and the fetches under way."""

    def __init__(self, config: EdgeConfig, failover: Failover, static: StaticOrigin | None, stats: dict,
                 authorizer: Authorizer | None = None):
        self.config = config
        #: Whose read decisions a purge of ``+user/USER`` drops.
        self.authorizer = authorizer
        self.failover = failover
        self.static = static
        self.stats = stats
        self.pages = Pages(config.max_pages)
        self.hashes = Hashes()
        self._fetches: dict[PageKey, asyncio.Task] = {}

    async def answer(self, request: web.Request, key: PageKey) -> web.StreamResponse:
        """A page request: from memory while fresh, else fetched (once for all who ask), else stale."""
        page = self.pages.get(key)
        if page is not None and time.monotonic() - page.stored_at < self.config.page_ttl:
            return _send(request, page, "HIT", "edge", self.stats)
        try:
            outcome = await self._fetch_once(key, request.path, page)
        except AllFailed as exc:
            copied = self._static_page(key, page)
            if copied is not None:
                self.stats["stale"] += 1
                self.stats["static_copy_served"] += 1
                return _send(request, copied, "STALE", "static-copy", self.stats)
            if page is None:
                return none_answered(str(exc))
            self.stats["stale"] += 1
            return _send(request, page, "STALE", "edge", self.stats)
        if isinstance(outcome, Page):
            if outcome is page:  # revalidated: the origin said 304
                return _send(request, page, "HIT", outcome.served_by, self.stats)
            self.stats["misses"] += 1
            return _send(request, outcome, "MISS", outcome.served_by, self.stats)
        status, headers, body, origin = outcome  # not a page to cache (a 404, a redirect): as the origin said
        self.stats["passes"] += 1
        # The body for HEAD too: aiohttp then sends its Content-Length, not its bytes.
        return web.Response(status=status, body=body,
                            headers={**headers, "X-Cache": "PASS", "X-Served-By": origin})

    async def learn_project_of(self, index: str, path: str) -> bool:
        """Fetch a file's project page (JSON) so its digest is known; False when no origin answered."""
        project = project_of(path.rsplit("/", 1)[-1])
        key = PageKey(index, project, JSON)
        try:
            await self._fetch_once(key, f"/{index}/+simple/{project}/", self.pages.get(key))
        except AllFailed:
            return False
        return True

    def _fetch_once(self, key: PageKey, path: str, known: Page | None) -> asyncio.Future:
        """The fetch of ``key`` under way, or a new one: a page expiring under load costs the origin one request.

        Shielded: a client that goes away does not cancel the fetch the others wait for.
        """
        task = self._fetches.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch(key, path, known))
            self._fetches[key] = task
            task.add_done_callback(self._fetch_done)
        return asyncio.shield(task)

    def _fetch_done(self, task: asyncio.Task) -> None:
        # Only this task's own entry: a purge may have let a newer fetch of the same page start.
        key = next((k for k, t in self._fetches.items() if t is task), None)
        if key is not None:
            del self._fetches[key]

    async def _fetch(self, key: PageKey, path: str, known: Page | None):
        """The page from the first origin that answers: a :class:`Page` (stored), or
        (status, headers, body, origin) for an answer not to cache; :class:`AllFailed` if none answers."""
        generation = self.pages.generation

        def headers(origin: Origin) -> dict[str, str]:
            # As the edge's reader (never a client's credentials): the page is shared by all who may read it.
            sent = {"Accept": upstream_accept(key.kind), "X-Outside-Url": self.config.public_url,
                    **self.failover.reader}
            if known is not None and known.etag and known.served_by == origin.name:
                sent["If-None-Match"] = known.etag
            return sent

        async def fetched(origin: Origin, response: ClientResponse):
            body = await response.read()
            if response.status == 304 and known is not None:
                known.stored_at = time.monotonic()
                return known
            if response.status != 200:
                return response.status, forwardable(response.headers), body, origin.name
            content_type = response.headers.get("Content-Type", "text/html")
            page = Page(body, content_type, time.monotonic(), origin.name, response.headers.get("ETag", ""))
            self.hashes.learn(links_of(body, content_type, path, self.config.public_url), key.index, key.project)
            self.pages.put(key, page, since=generation)
            return page

        return await self.failover.try_each("GET", path, fetched, headers=headers)

    def _static_page(self, key: PageKey, known: Page | None) -> Page | None:
        """The static copy's page for ``key`` when it is newer than the page the edge has (wall-clock ages)."""
        copied = self.static.page(key.index, key.project, key.kind) if self.static is not None else None
        if copied is None or (known is not None and time.monotonic() - known.stored_at <= copied.age):
            return None
        return Page(copied.body, copied.content_type, time.monotonic() - copied.age, "static-copy")

    # -- dropping pages ------------------------------------------------------------------

    async def purge(self, request: web.Request) -> web.StreamResponse:
        """``POST /+edge/purge`` from devpi's purge plugin: the keys of what changed, with the shared secret."""
        try:
            check_authorization(request.headers.get("Authorization"), read_secret(Path(self.config.purge_secret_file)))
            keys, serial = parse_purge(await request.read())
        except PurgeRefused as refused:
            headers = {"WWW-Authenticate": "Bearer"} if refused.status == 401 else {}
            return web.json_response({"error": refused.message}, status=refused.status, headers=headers)
        purged = sum(self.drop(key.index, key.project) for key in keys if not key.user)
        for key in keys:
            if key.user and self.authorizer is not None:
                purged += self.authorizer.forget_user(key.user)
        self.stats["purges"] += 1
        self.stats["purged"] += purged
        log.info("purge (serial %s): %s: %d entries", serial, ", ".join(_key_text(k) for k in keys), purged)
        return web.json_response({"purged": purged})

    def drop(self, index: str, project: str | None) -> int:
        """Forget what the edge holds of ``index``'s root page (``project`` ""),
        one project's pages, or (None) everything of the index; the number of pages dropped."""
        purged = self.pages.purge(index, project)
        # A fetch begun before the change must not answer requests made after it.
        for key in [k for k in self._fetches if k.under(index, project)]:
            del self._fetches[key]
        # Forgotten digests are learnt again from the next page, and a file is only
        # served against a digest a page vouches for: a release deleted on the
        # master is not served from here (unless no origin answers: then stale).
        # The bytes stay: files never change, and purges come in storms (a
        # restarted devpi replays its commits), which must not empty the cache.
        self.hashes.forget(index, project)
        return purged

    def __len__(self) -> int:
        return len(self.pages)


def _key_text(key) -> str:
    return user_key(key.user) if key.user else purge_key(key.index, key.project)


def _send(request: web.Request, page: Page, state: str, served_by: str, stats: dict) -> web.StreamResponse:
    """A page to a client (304 to a conditional GET that names its tag), with its state and age."""
    tag = page.tag  # a client's conditional GET costs no body
    headers = {
        "Content-Type": page.content_type,
        # Accept only: the two representations. devpi's "Vary: User-Agent"
        # would split every client cache by pip version.
        "Vary": "Accept",
        "Cache-Control": "max-age=0, must-revalidate",
        "ETag": tag,
        "X-Cache": state,
        "X-Served-By": served_by,
        "Age": str(int(time.monotonic() - page.stored_at)),
    }
    if state == "STALE":
        headers["Warning"] = '111 - "Revalidation Failed"'
    if request.headers.get("If-None-Match") == tag:
        return web.Response(status=304, headers=headers)
    if state == "HIT":
        stats["hits"] += 1
    stats["bytes_served"] += len(page.body)
    # The body for HEAD too: aiohttp sends the Content-Length a GET would get, and no bytes.
    return web.Response(body=page.body, headers=headers)
