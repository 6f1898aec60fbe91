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
import json
import logging
import time
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urljoin, urlsplit

from aiohttp import ClientResponse, web

from kit.core.core_metadata import advertise
from kit.core.names import project_of
from kit.core.purge_keys import key as purge_key, user_key
from kit.edge.auth import Authorizer
from kit.edge.cache import JSON, Hashes, Page, PageKey, Pages, accepts_gzip, links_of, upstream_accept
from kit.edge.config import EdgeConfig
from kit.edge.failover import AllFailed, Failover
from kit.edge.origins import Origin
from kit.edge.purge import PurgeRefused, check_authorization, parse_purge, read_secret
from kit.edge.replies import forwardable, none_answered
from kit.edge.simple_api import FileFact, FileFacts, acceptable, upgrade, upload_time
from kit.edge.static_copy import StaticOrigin

__all__ = ["IndexPages"]

log = logging.getLogger("kit.edge")

#: devpi's mirror index fetches a file from PyPI to answer a HEAD of it: the edge
#: never asks the size of its files that way (their entries go without size).
_FETCHED_ON_DEMAND = "/root/pypi/"
#: HEADs under way at once while a page's file facts are learnt.
_HEADS_AT_ONCE = 8


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
        #: Each file's size and upload time, for api-version 1.1 pages (:mod:`kit.edge.simple_api`).
        self.facts = FileFacts()
        #: What a page may say of each wheel's core metadata (PEP 658/714), by the wheel's
        #: path on this host: ``"sha256=HEX"``, ``"true"`` or None (set by the edge:
        #: :meth:`kit.edge.metadata.CoreMetadata.value_for`); None here: pages left as they are.
        self.metadata_value: Callable[[str, str | None], str | None] | None = None
        self._fetches: dict[PageKey, asyncio.Task] = {}

    async def answer(self, request: web.Request, key: PageKey) -> web.StreamResponse:
        """A page request: from memory while fresh, else fetched (once for all who ask), else stale."""
        if not acceptable(request.headers.get("Accept")):
            return web.Response(status=406, headers={"Vary": "Accept"}, text="kit edge: this index serves pages as "
                                "application/vnd.pypi.simple.v1+json or text/html; ask for one in Accept\n")
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

    async def digest_of(self, index: str, path: str) -> tuple[str | None, bool]:
        """The sha256 ``index``'s pages give the file at ``path`` (fetching its project page when
        the edge has not seen it), and whether an origin answered (True when none was asked).

        Read from the page just fetched when the shared :class:`Hashes` no longer has it: the
        first fetch of a page of devpi's mirror of PyPI makes devpi commit, and the purge of that
        commit may arrive before this coroutine reads the digest back."""
        expected = self.hashes.get(path)
        if expected is not None:
            return expected, True
        project = project_of(path.rsplit("/", 1)[-1])
        key = PageKey(index, project, JSON)
        page_path = f"/{index}/+simple/{project}/"
        try:
            page = await self._fetch_once(key, page_path, self.pages.get(key))
        except AllFailed:
            return None, False
        expected = self.hashes.get(path)
        if expected is None and isinstance(page, Page) and path.startswith(f"/{index}/"):
            expected = links_of(page.body, page.content_type, page_path, self.config.public_url).get(path)
        return expected, True

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

        # This page's own digests: a purge may make the shared Hashes forget them while the page
        # is upgraded below (an await), and the page must still say what it links.
        learnt: dict[str, str] = {}

        async def fetched(origin: Origin, response: ClientResponse):
            body = await response.read()
            if response.status == 304 and known is not None:
                known.stored_at = time.monotonic()
                known.serial = response.headers.get("X-Devpi-Serial", known.serial)
                return known
            if response.status != 200:
                return response.status, forwardable(response.headers), body, origin.name
            content_type = response.headers.get("Content-Type", "text/html")
            links = links_of(body, content_type, path, self.config.public_url)
            self.hashes.learn(links, key.index, key.project)
            learnt.update(links)
            return Page(body, content_type, time.monotonic(), origin.name, response.headers.get("ETag", ""),
                        response.headers.get("X-Devpi-Serial", ""))

        outcome = await self.failover.try_each("GET", path, fetched, headers=headers)
        if isinstance(outcome, Page) and outcome is not known:
            # Once per page fetched, never per request: api-version 1.1 and PEP 629's <meta>
            # (the one place every page the edge fetches passes through, once).
            if outcome.content_type.startswith(JSON):
                await self._learn_facts(outcome.body, path)
            body = upgrade(outcome.body, outcome.content_type, lambda url: self.facts.get(self._path_of(url, path)))
            if self.metadata_value is not None:
                # Every wheel the edge serves has its METADATA as WHEEL.metadata (made by the edge
                # from the verified wheel): resolvers read kilobytes instead of whole wheels.
                value_for = self.metadata_value

                def value(url: str) -> str | None:
                    file_path = self._path_of(url, path)
                    return value_for(file_path, learnt.get(file_path))

                body = advertise(body, outcome.content_type, value)
            etag = outcome.etag  # still the origin's, to revalidate with; clients get one of the bytes they get
            outcome = Page(body, outcome.content_type, outcome.stored_at, outcome.served_by, serial=outcome.serial)
            outcome.etag = etag
            if outcome.gzip_tag:  # compressed once, here, off the event loop: hits only send the bytes
                await asyncio.get_running_loop().run_in_executor(None, outcome.gzipped)
            self.pages.put(key, outcome, since=generation)
        return outcome

    def _path_of(self, url: str, page_path: str) -> str:
        """A file's path on this host, as :func:`~kit.edge.cache.links_of` resolves it ("" for a file elsewhere)."""
        parts = urlsplit(urljoin(page_path, url))
        if parts.netloc and parts.netloc != urlsplit(self.config.public_url).netloc:
            return ""
        return unquote(parts.path)

    async def _learn_facts(self, body: bytes, page_path: str) -> None:
        """Each file's size and upload time not known yet, from a HEAD to the origin (at most
        :data:`_HEADS_AT_ONCE` at a time); what no origin answers stays unknown."""
        try:
            urls = [entry["url"] for entry in json.loads(body).get("files", []) if isinstance(entry.get("url"), str)]
        except (ValueError, AttributeError, TypeError):
            return
        wanted = {path for path in map(lambda url: self._path_of(url, page_path), urls)
                  if path and not path.startswith(_FETCHED_ON_DEMAND) and self.facts.get(path) is None}
        slots = asyncio.Semaphore(_HEADS_AT_ONCE)

        async def answered(_origin: Origin, response: ClientResponse) -> FileFact | None:
            if response.status != 200 or not response.headers.get("Content-Length", "").isdigit():
                return None
            return FileFact(int(response.headers["Content-Length"]), upload_time(response.headers.get("Last-Modified")))

        async def learn(file_path: str) -> None:
            async with slots:
                try:
                    fact = await self.failover.try_each("HEAD", file_path, answered,
                                                        headers=lambda _origin: dict(self.failover.reader))
                except AllFailed:
                    return
            if fact is not None:
                self.facts.put(file_path, fact)

        await asyncio.gather(*(learn(p) for p in sorted(wanted)))

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
    """A page to a client, gzip-encoded when it is large and the client takes gzip (304
    to a conditional GET that names the tag of either encoding), with its state and age."""
    gzipped = bool(page.gzip_tag) and accepts_gzip(request.headers.get("Accept-Encoding"))
    headers = {
        "Content-Type": page.content_type,
        # Accept: the two representations; Accept-Encoding for a page large
        # enough to be sent gzip-encoded. devpi's "Vary: User-Agent" would
        # split every client cache by pip version.
        "Vary": "Accept, Accept-Encoding" if page.gzip_tag else "Accept",
        "Cache-Control": "max-age=0, must-revalidate",
        "ETag": page.gzip_tag if gzipped else page.tag,  # a client's conditional GET costs no body
        "X-Cache": state,
        "X-Served-By": served_by,
        "Age": str(int(time.monotonic() - page.stored_at)),
    }
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    if page.serial:
        # As devpi sent it: Varnish in front keeps no page older than the newest purge it had.
        headers["X-Devpi-Serial"] = page.serial
    if state == "STALE":
        headers["Warning"] = '111 - "Revalidation Failed"'
    if _names_a_tag_of(request.headers.get("If-None-Match"), page):
        return web.Response(status=304, headers=headers)
    if state == "HIT":
        stats["hits"] += 1
    body = page.gzipped() if gzipped else page.body
    stats["bytes_served"] += len(body)
    # The body for HEAD too: aiohttp sends the Content-Length a GET would get, and no bytes.
    return web.Response(body=body, headers=headers)


def _names_a_tag_of(if_none_match: str | None, page: Page) -> bool:
    """Whether If-None-Match names the page's tag, plain or gzip (weak comparison, as RFC 9110 says for it)."""
    if not if_none_match:
        return False
    if if_none_match in (page.tag, page.gzip_tag):  # what clients send: the one tag they were given
        return True
    named = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in named or page.tag in named or (bool(page.gzip_tag) and page.gzip_tag in named)
