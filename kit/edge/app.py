"""The CDN edge: a caching reverse proxy in front of the master and its mirror.

Clients talk only to the edge, and the edge is an index, never a proxy: a
request target that is not a path, or a method no index client uses, is
refused before any origin is asked (:func:`origin_form`, :data:`METHODS`).
Reads try the master first and fall over to the mirror
(:mod:`kit.edge.origins`, one loop in :mod:`kit.edge.failover`); writes go to
the master only (:mod:`kit.edge.writes`). Index pages are kept in memory for
``page_ttl`` seconds per representation (PEP 691 JSON or HTML), then
revalidated; devpi's purge plugin drops them sooner (:mod:`kit.edge.pages`,
:mod:`kit.edge.purge`). Package files are kept on disk and served only while
their bytes match the sha256 their index publishes (:mod:`kit.edge.files`,
:mod:`kit.edge.cache`); a disk that will not take a file costs the cache,
never the download. When no origin answers, what the edge has seen is served
stale, and what it has not seen comes from the static copy of the team
indexes it refreshes in the background (:mod:`kit.edge.static_copy`), its
last origin. Every cached answer passes :mod:`kit.edge.auth` for its index
first. Paths under ``/mirror/`` are the public mirror: bandersnatch's tree,
served from disk with no origin asked (:mod:`kit.edge.public_mirror`), or
from the public-mirror host of a multi-host site (:mod:`kit.edge.mirror_origin`).

This module is the wiring: aiohttp's low-level server, which sends every
request to :meth:`Edge.handle`; the handler, which refuses what no index is
asked and routes the rest (pages, files, writes, pass-through, the edge's own
``/+edge/`` paths); the edge's life cycle and its health. Its settings are
:class:`kit.edge.config.EdgeConfig`. Run it with ``python -m kit.edge CONFIG.json``.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import signal
import ssl
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from time import perf_counter

from aiohttp import web

from kit.core.errors import SecretError
from kit.core.names import NORMALIZED_PROJECT_RE, project_of
from kit.edge.auth import ALLOWED, Authorizer, index_of, read_credentials, reads_nothing
from kit.edge.cache import Files, PageKey, representation
from kit.edge.config import EdgeConfig
from kit.edge.failover import Failover
from kit.edge.files import PackageFiles
from kit.edge.metadata import METADATA_SUFFIX, CoreMetadata
from kit.edge.metrics import CONTENT_TYPE_LATEST, CertificateWatch, Meter, exposition, registry_of
from kit.edge.origins import Origins, check_forever
from kit.edge.pages import IndexPages
from kit.edge.mirror_origin import public_mirror
from kit.edge.public_mirror import NO_MIRROR
from kit.edge.purge import purge_state
from kit.edge.replies import refusal, text
from kit.edge.static_copy import StaticOrigin, check_index, refresh
from kit.edge.writes import write

__all__ = ["EdgeConfig", "Edge", "serve", "main"]

log = logging.getLogger("kit.edge")

_READS = ("GET", "HEAD")
#: The methods clients of an index use: pip, uv and every installer read (GET,
#: HEAD); twine and devpi upload (POST, also devpi's login); devpi's client
#: creates and changes users and indexes (PUT, PATCH), removes releases
#: (DELETE) and copies them between indexes (PUSH). Anything else (CONNECT,
#: OPTIONS, TRACE, WebDAV's) is refused before an origin is asked.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "PUSH"})
# (aiohttp's parser, llhttp, knows no PUSH and answers it 400 itself: `devpi
# push` works through the Varnish edge, or against the master.)
_ALLOW = ", ".join(sorted(METHODS))
#: Seconds before a failed refresh of the static copy is tried again.
_RETRY_STATIC = 2.0


def origin_form(target: str) -> bool:
    """Whether a request target is a path (RFC 9112's origin form, ``/path?query``),
    the only form an index is asked in.

    Not: absolute form (``http://host/…``, what a proxy is asked), authority
    form (``CONNECT host:port``), asterisk form (``OPTIONS *``); nor a path
    that a URL parser could read as a host (``//host/…``, ``/\\host/…``), nor
    one with a fragment, which no client sends.
    """
    return target.startswith("/") and not target.startswith("//") and "\\" not in target and "#" not in target


@functools.lru_cache(maxsize=4096)  # the same few thousand paths, asked again and again
def classify(path: str) -> tuple[str, str, str]:
    """("page", index, project), ("file" or "metadata", index, "") or ("other", "", "") for a request path.

    Pages are devpi's ``/USER/INDEX/+simple/`` and ``/USER/INDEX/+simple/PROJECT/``
    (a name not normalised, or no valid name at all, is left to devpi, uncached);
    files are its ``/USER/INDEX/+f/...`` paths of a valid project's files, and
    metadata those of a wheel's core metadata (``NAME.whl.metadata``, PEP 658).
    """
    parts = path.split("/")
    if len(parts) < 5 or parts[0] or not parts[1] or not parts[2] or parts[1].startswith("+"):
        return "other", "", ""
    index = f"{parts[1]}/{parts[2]}"
    if parts[3] == "+simple":
        if len(parts) == 5 and parts[4] == "":
            return "page", index, ""
        if len(parts) == 6 and parts[5] == "" and NORMALIZED_PROJECT_RE.fullmatch(parts[4]):
            return "page", index, parts[4]
    elif parts[3] == "+f" and NORMALIZED_PROJECT_RE.fullmatch(project_of(parts[-1]) or ""):
        return "file", index, ""
    elif (parts[3] == "+f" and parts[-1].endswith(".whl" + METADATA_SUFFIX)
          and NORMALIZED_PROJECT_RE.fullmatch(project_of(parts[-1][: -len(METADATA_SUFFIX)]) or "")):
        return "metadata", index, ""
    return "other", "", ""


class Edge:
    """The edge's state (origins, caches, counters) and the one handler every request goes to."""

    def __init__(self, config: EdgeConfig):
        self.config = config
        self.origins = Origins.of(config.master, config.mirrors, config.retry_after)
        self.files = Files(Path(config.cache_dir), config.max_cache_bytes)
        self.stats = {
            "requests": 0, "hits": 0, "misses": 0, "stale": 0, "passes": 0, "purges": 0, "purged": 0,
            "integrity_failures": 0, "unverified": 0, "failovers": 0, "bytes_served": 0, "static_copy_served": 0,
            "mirror_served": 0, "origin_5xx": 0, "refused": 0, "unauthorised": 0, "metadata": 0,
        }
        self.static = (StaticOrigin(Path(config.static_copy_dir), config.static_copy_indexes)
                       if config.static_copy_dir else None)
        self.failover = Failover(config, self.origins, self.stats)
        self.mirror = public_mirror(config, self.failover, self.files, self.stats)
        self.reader = read_credentials(Path(config.read_credentials_file)) if config.private_reads else ""
        if self.reader:
            self.failover.reader = {"Authorization": self.reader}
            self.authorizer = Authorizer(self.failover.authcheck, ttl=config.auth_ttl)
        else:
            self.authorizer = Authorizer()  # nobody to ask: every index is read by anyone
        self.pages = IndexPages(config, self.failover, self.static, self.stats, self.authorizer)
        self.package_files = PackageFiles(config, self.failover, self.pages, self.files, self.static, self.stats)
        #: ``.metadata`` answers; its ``value_for`` says what the pages may advertise.
        self.metadata = CoreMetadata(config, self.failover, self.pages, self.files, self.static, self.stats)
        self.pages.metadata_value = self.metadata.value_for
        self._refresher: asyncio.Task | None = None
        # One thread of its own: refreshes never run two at once, nor take the threads that hash files.
        self._refresh_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="static-copy")
        self._in_progress = 0
        self._checker: asyncio.Task | None = None
        #: The per-request counts of /+edge/metrics (None: off, and no per-request work at all).
        self.meter = Meter() if config.metrics else None
        self.registry = registry_of(self)
        #: The site's TLS certificate, for its expiry in /+edge/metrics: the one this edge serves,
        #: else the one hitch serves in front of Varnish (this edge is then its plain-http shield).
        self.certificate = CertificateWatch(config.tls_cert or config.watched_certificate)

    # -- life cycle ------------------------------------------------------------

    async def start(self, _app: web.Application | None = None) -> None:
        self.files.open()
        self.failover.open()
        self._checker = asyncio.create_task(check_forever(self.origins, self.failover.probe,
                                                          self.config.health_interval))
        if self.static is not None:
            self._refresher = asyncio.create_task(refresh_static_forever(self.config, self._refresh_thread,
                                                                        self.reader))

    async def stop(self, _app: web.Application | None = None) -> None:
        if self._checker is not None:
            self._checker.cancel()
        if self._refresher is not None:
            self._refresher.cancel()
        self._refresh_thread.shutdown(wait=False, cancel_futures=True)
        await self.failover.close()

    # -- the entry point ---------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Every request: refused, routed, answered; counted for /+edge/metrics in ``finally``."""
        meter = self.meter
        started = perf_counter() if meter is not None else 0.0
        kind, response = "other", None  # what the metrics count it as (kit.edge.metrics), set on the way
        try:
            self.stats["requests"] += 1
            # The request target as sent: with no "%" and no "?" it is the path
            # itself, and decoding it (yarl) would be a fifth of a cache hit's cost.
            raw = request.raw_path
            if request.method not in METHODS:
                self.stats["refused"] += 1
                response = text(405, f"kit edge: {request.method} is not a method of a package index; "
                                f"use one of {_ALLOW}\n", headers={"Allow": _ALLOW})
                return response
            if not origin_form(raw):
                # The edge is an index, never a proxy: no request names where it connects.
                self.stats["refused"] += 1
                response = text(400, "kit edge: the request target must be a path on this index (/USER/INDEX/...), "
                                "not a URL, a host or '*'\n")
                return response
            path = raw if "%" not in raw and "?" not in raw else request.path
            if path.startswith("/+edge/"):
                kind = "own"
                response = await self._own(request, path)
                return response
            if self._in_progress >= self.config.max_requests:
                response = text(503, "kit edge: too many requests in progress; retry shortly\n", retry_after=True)
                return response
            self._in_progress += 1
            try:
                if path.startswith("/mirror/"):  # it decodes the raw target itself, one segment at a time
                    kind = "public_mirror"
                    response = await self._public_mirror(request)
                    return response
                if request.method not in _READS:
                    kind = "write"
                    response = await write(request, self.failover, self.pages)
                    return response
                kind, index, project = classify(path)
                if not self.authorizer.everyone and not reads_nothing(path):
                    # Private reads: anything under /USER/INDEX/, cached or not, is authorised first.
                    response = await self._authorize(request, index or index_of(path))
                    if response is not None:
                        return response
                if kind == "other" or "?" in raw:
                    # A query never becomes part of a key: ?x=1, ?x=2... would fill the cache.
                    response = await self.failover.pass_read(request)
                elif kind == "page":
                    key = PageKey(index, project, representation(request.headers.get("Accept")))
                    response = await self.pages.answer(request, key)
                elif kind == "metadata":
                    response = await self.metadata.answer(request, index, path)
                else:
                    response = await self.package_files.answer(request, index, path)
                return response
            finally:
                self._in_progress -= 1
        finally:
            if meter is not None:
                meter.record(kind, request.method, response, started, perf_counter())

    def metrics(self) -> web.Response:
        """What ``/+edge/metrics`` says (:mod:`kit.edge.metrics`): Prometheus's text format, from
        this edge's own registry. Anyone who may read ``/+edge/stats`` may read it: it
        carries counts, sizes, times and the origins' URLs, no project, user, path or secret."""
        response = web.Response(body=exposition(self.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def _authorize(self, request: web.Request, index: str) -> web.StreamResponse | None:
        """None when the request may read ``index`` (or names none), else the refusal to send."""
        if not index:
            return None
        decision = await self.authorizer.decide(request.headers, index)
        if decision == ALLOWED:
            return None
        self.stats["unauthorised"] += 1
        return refusal(decision, index)

    async def _own(self, request: web.Request, path: str) -> web.StreamResponse:
        if path == "/+edge/health" and request.method in _READS:
            return web.json_response(self.health())  # degraded too: every request is still served
        if path == "/+edge/stats" and request.method in _READS:
            return web.json_response(self.stats_snapshot())
        if path == "/+edge/metrics" and request.method in _READS:
            return self.metrics()
        if path == "/+edge/purge" and request.method == "POST":
            return await self.pages.purge(request)
        return text(404, f"kit edge: no {request.method} {path}\n")

    async def _public_mirror(self, request: web.Request) -> web.StreamResponse:
        """bandersnatch's tree, from disk or from its host (:mod:`kit.edge.mirror_origin`); no authoriser (it is public)."""
        if self.mirror is None:
            return text(404, NO_MIRROR)
        response = await self.mirror.answer(request)
        if response.status < 300 or response.status == 304:
            self.stats["mirror_served"] += 1
        return response

    # -- health, stats -------------------------------------------------------------

    def health(self) -> dict:
        """What ``/+edge/health`` says. "degraded" (still HTTP 200: every request is
        served) when files cannot be cached: Varnish keeps sending it files, and
        ``kit status`` and ``kit check`` name the reason."""
        problem = self.files.problem()
        return {
            "edge": "degraded" if problem else "ok",
            **({"reason": f"{problem}; files are passed through (checked), not cached: free or fix the disk"}
               if problem else {}),
            "backends": self.origins.state(),
            "purge": purge_state(Path(self.config.purge_secret_file)),
            "cached_files": len(self.files),
            "cached_pages": len(self.pages),
            "cache_write_failures": self.files.write_failures,
            **self.stats,
            "static_copy": self.static.summary() if self.static is not None else None,
        }

    def stats_snapshot(self) -> dict:
        return {**self.stats, "origin_errors": self.origins.errors(), "cached_files": len(self.files),
                "cache_write_failures": self.files.write_failures,
                "cached_bytes": self.files.bytes, "cached_pages": len(self.pages),
                "static_copy": self.static.summary() if self.static is not None else None}


async def refresh_static_forever(config: EdgeConfig, thread: ThreadPoolExecutor, reader: str = "") -> None:
    """Refresh the static copy now and every ``static_copy_every`` seconds, in ``thread``,
    as the edge's reader (``reader``: its Authorization header, "" for none); a failure
    is logged, never fatal."""
    loop = asyncio.get_running_loop()
    copy = functools.partial(refresh, config.static_copy_sources, config.static_copy_indexes,
                             Path(config.static_copy_dir), outside_url=config.public_url,
                             timeout=config.read_timeout, authorization=reader)
    while True:
        try:
            result = await loop.run_in_executor(thread, copy)
            if result.errors:
                log.warning("static copy: %d errors (first: %s); it keeps serial %s", len(result.errors),
                            result.errors[0], result.serial)
            elif result.downloaded or not result.unchanged:
                log.info("static copy: serial %s from %s, %d projects, %d files (%d new) in %.2f s",
                         result.serial, result.source, result.projects, result.files, result.downloaded,
                         result.seconds)
        except Exception as exc:  # a full disk, a folder made unwritable: the edge serves on
            log.warning("static copy: refresh failed: %s: %s", exc.__class__.__name__, exc)
            result = None
        # A failed refresh is tried again soon: at kit up the edge starts beside
        # master and mirror, and its first refresh may find neither answering yet.
        failed = result is None or bool(result.errors)
        every = config.static_copy_every
        await asyncio.sleep(min(every, _RETRY_STATIC) if failed else every)


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is installed (about 15% more requests per second), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _raise_file_limit() -> None:
    """Every client connection is a file descriptor: allow as many as the hard limit lets (up to 65,536)."""
    try:
        import resource
    except ImportError:  # not on this platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def tls_context(config: EdgeConfig) -> ssl.SSLContext | None:
    """The server's TLS context (None for plain http); OSError or ssl.SSLError for an unreadable
    or mismatched certificate and key."""
    if not config.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_cert, config.tls_key or None)
    return context


def _this_machine(request: web.BaseRequest) -> bool:
    """Whether the request comes from this machine: over loopback, or from the address it
    was sent to (a host of a site spread over hosts checks its edge on its own address;
    a packet from elsewhere claiming one of this machine's addresses is dropped by the kernel,
    and could not complete a TCP handshake anyway)."""
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport else None
    own = transport.get_extra_info("sockname") if transport else None
    try:
        return bool(peer) and (ipaddress.ip_address(peer[0]).is_loopback
                               or (bool(own) and ipaddress.ip_address(peer[0]) == ipaddress.ip_address(own[0])))
    except ValueError:
        return False


def redirector(edge: "Edge", public_url: str):
    """The plain-http listener's handler: 308 to the same path and query on ``public_url`` (a
    method and body are kept by 308, unlike 301); the edge's own paths to this machine's
    services (health checks, devpi's purges), never over a network in clear."""
    origin = public_url.rstrip("/")

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        raw = request.raw_path
        if raw.startswith("/+edge/") and _this_machine(request):
            return await edge.handle(request)
        if not origin_form(raw):
            return text(400, "kit edge: the request target must be a path\n")
        return web.Response(status=308, headers={"Location": origin + raw},
                            text=f"kit edge: this site is served over TLS: {origin}{raw}\n")

    return handle


async def serve(config: EdgeConfig, stop: asyncio.Event, reload: asyncio.Event | None = None) -> None:
    """Serve until ``stop`` is set; read the certificate again whenever ``reload`` is set.
    aiohttp's low-level server, no router: :meth:`Edge.handle` sees every request, and a
    cache hit costs no routing."""
    context = tls_context(config)
    edge = Edge(config)
    await edge.start()
    server = web.Server(edge.handle, keepalive_timeout=config.idle_timeout,
                        access_log=logging.getLogger("aiohttp.access") if config.access_log else None)
    runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=5)
    await runner.setup()
    plain = None
    try:
        await web.TCPSite(runner, config.host, config.port, backlog=1024, ssl_context=context).start()
        if config.redirect_port:
            plain = web.ServerRunner(web.Server(redirector(edge, config.public_url)), handle_signals=False,
                                     shutdown_timeout=1)
            await plain.setup()
            await web.TCPSite(plain, config.redirect_host or config.host, config.redirect_port).start()
        print(f"kit edge on {config.host}:{config.port}{' (TLS)' if context else ''}: master {config.master}, "
              f"mirrors {config.mirrors}", flush=True)
        while not stop.is_set():
            waits = [asyncio.ensure_future(stop.wait())] + ([asyncio.ensure_future(reload.wait())] if reload else [])
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()
            if reload is not None and reload.is_set():
                reload.clear()
                _reload_certificate(config, context)
    finally:
        if plain is not None:
            await plain.cleanup()
        await runner.cleanup()
        await edge.stop()


def _reload_certificate(config: EdgeConfig, context: ssl.SSLContext | None) -> None:
    """A renewed certificate (certbot's deploy hook sends SIGHUP): new connections get it;
    a broken one is logged and the old one kept."""
    if context is None:
        return
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key or None)
    except (OSError, ssl.SSLError) as exc:
        log.error("kept the old certificate: cannot read %s: %s", config.tls_cert, exc)
        return
    log.info("certificate read again from %s", config.tls_cert)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.exit("usage: python -m kit.edge CONFIG.json")
    try:
        config = EdgeConfig.load(Path(args[0]))
        for index in config.static_copy_indexes:
            check_index(index)
        if config.private_reads:
            read_credentials(Path(config.read_credentials_file))
    # A missing file, bad JSON, an unknown setting, a bad index name, no usable read credentials.
    except (OSError, ValueError, TypeError, SecretError) as exc:
        sys.exit(f"kit edge: {args[0]}: {exc}")
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(message)s")
    _raise_file_limit()
    loop = _event_loop()
    stop, reload = asyncio.Event(), asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload.set)
    try:
        loop.run_until_complete(serve(config, stop, reload))
    except ssl.SSLError as exc:  # before OSError: it is one
        sys.exit(f"kit edge: cannot use the certificate {config.tls_cert} with the key {config.tls_key}: "
                 f"{exc.reason or exc}; give the key of that certificate")
    except OSError as exc:  # the port taken, most often
        if exc.filename:  # a certificate or key file
            sys.exit(f"kit edge: cannot read {exc.filename}: {exc.strerror or exc}; check the tls settings")
        sys.exit(f"kit edge: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}")
    finally:
        loop.close()


if __name__ == "__main__":
    main()
