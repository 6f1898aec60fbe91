"""The edge's metrics in Prometheus's text format, served at ``GET /+edge/metrics``.

Almost everything is read when Prometheus scrapes, not counted per request:
the counters the edge keeps anyway (``Edge.stats``), its origins' health and
the serials they last answered with, the file and page caches, the static
copy, the disks. The one piece of per-request work is :meth:`Meter.record`,
called once as each answer leaves :meth:`kit.edge.app.Edge.handle`: a
dictionary increment for (kind, state), one bisect into fixed latency buckets
and a byte count; ``EdgeConfig.metrics = false`` turns it off (the
benchmark's baseline, ``benchmarks/bench_metrics.py``).

Each edge has a registry of its own (:class:`prometheus_client.CollectorRegistry`,
never the process-wide default one), so edges that share a process (the tests
run several) never share a counter.

Who may read it: whoever may read ``/+edge/stats`` (anyone who reaches the
main listener; the plain-http redirector answers ``/+edge/`` paths to this
machine only). Metrics say how much and how fast, never what: no label is a
project, a user, an index or a path, and nothing is a secret. Origins are
labelled by their URL, which is the site's own configuration.

The metrics (names fixed: the alert rules and the dashboard ``kit init``
writes read them):

``kit_edge_requests_total{kind,state}``
    kind: page, file, metadata (PEP 658 ``.metadata``), public_mirror (under
    ``/mirror/``), write (any method but GET and HEAD), own (``/+edge/``),
    other (passed on uncached). state, from the answer's ``X-Cache``: hit,
    revalidated (a page the origin confirmed with 304), miss, stale (served
    while no origin answered), static_copy (stale, from the static copy),
    passed (relayed from an origin, uncached); for answers the edge made
    itself: unauthorised (401, 403), refused (another 4xx: a method, target
    or Accept no index serves, a path it does not have), error (5xx: no
    origin answered, too many requests; also a request that raised), hit
    (any other answer from the edge itself: its own paths, the public mirror
    from disk).
``kit_edge_request_duration_seconds{kind}``
    Seconds from the request's arrival to its answer (a streamed answer: sent).
``kit_edge_sent_bytes_total{kind}``
    Body bytes of the answers by their Content-Length (none for HEAD, nor for
    a relayed answer without one).
``kit_edge_integrity_failures_total{where}``
    Bytes that did not match their sha256: where is cache (the edge's disk),
    origin (as they arrived) or static_copy.
``kit_edge_purges_total``, ``kit_edge_origin_up{origin,role}``, ``kit_edge_origin_errors_total{origin}``
    Purges received; whether reads use the origin now; its failures.
``kit_devpi_serial{origin,role}``, ``kit_devpi_replica_lag_serials{origin}``
    Each devpi's serial as the edge last saw it (its ``X-Devpi-Serial``, on
    the health checks and on every answer); master's minus each mirror's.
``kit_edge_cache_bytes``, ``kit_edge_cache_max_bytes``, ``kit_edge_cache_files``, ``kit_edge_cached_pages``
``kit_edge_static_copy_age_seconds``, ``kit_public_mirror_last_sync_timestamp_seconds``
``kit_disk_size_bytes{part}``, ``kit_disk_free_bytes{part}``, ``kit_disk_used_ratio{part}``
    The folders of ``EdgeConfig.disk_paths`` (os.statvfs, at scrape time).
``kit_tls_certificate_expiry_timestamp_seconds``, ``kit_edge_info{version}``
"""

from __future__ import annotations

import json
import os
from bisect import bisect_left
from pathlib import Path
from typing import Iterator

from aiohttp import web
from multidict import istr
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from kit import __version__

__all__ = ["BOUNDS", "KINDS", "STATES", "Meter", "EdgeCollector", "registry_of", "exposition",
           "CONTENT_TYPE_LATEST", "CertificateWatch", "certificate_expiry", "count_integrity", "last_sync_of", "state_of"]

#: The latency buckets' upper bounds, seconds.
BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
KINDS = ("page", "file", "metadata", "public_mirror", "write", "own", "other")
STATES = ("hit", "miss", "revalidated", "stale", "static_copy", "refused", "unauthorised", "error", "passed")
#: Where bytes failed their sha256: the key the edge's modules count under in ``Edge.stats``.
INTEGRITY_WHERE = {"cache": "integrity_failures_cache", "origin": "integrity_failures_origin",
                   "static_copy": "integrity_failures_static_copy"}


def count_integrity(stats: dict, where: str) -> None:
    """Count bytes that failed their sha256 ``where`` (cache, origin, static_copy) in the edge's ``stats``."""
    key = INTEGRITY_WHERE[where]
    stats[key] = stats.get(key, 0) + 1


_X_CACHE = {"MISS": "miss", "PASS": "passed"}
_Response = web.Response
# Header names as multidict's istr: a lookup then skips folding the name's case (half its cost).
_CACHE, _SERVED_BY = istr("X-Cache"), istr("X-Served-By")


def state_of(kind: str, response) -> str:
    """The state an answer is counted under (see the module's docstring); None: it raised."""
    if response is None:
        return "error"
    headers = response.headers
    cache = headers.get(_CACHE)
    if cache == "HIT":
        # A fresh page is served by "edge"; one an origin confirmed (304) by that origin.
        return "hit" if kind != "page" or headers.get(_SERVED_BY) == "edge" else "revalidated"
    if cache is not None:
        if cache == "STALE":
            return "static_copy" if headers.get(_SERVED_BY) == "static-copy" else "stale"
        return _X_CACHE.get(cache, "passed")
    status = response.status
    if status == 401 or status == 403:
        return "unauthorised"
    if status >= 500:
        return "error"
    return "refused" if status >= 400 else "hit"


class Meter:
    """The per-request counts: requests by (kind, state), latency buckets and bytes by kind."""

    def __init__(self):
        #: Per kind, per state: answers.
        self.requests = {kind: dict.fromkeys(STATES, 0) for kind in KINDS}
        #: Per kind: a count per bucket of BOUNDS, the last one past them all (+Inf).
        self.buckets = {kind: [0] * (len(BOUNDS) + 1) for kind in KINDS}
        self.seconds = dict.fromkeys(KINDS, 0.0)
        self.sent = dict.fromkeys(KINDS, 0)

    def record(self, kind: str, method: str, response, started: float, now: float) -> None:
        """One answer of ``kind`` (``response`` None when the handler raised), ``started`` and
        ``now`` by :func:`time.perf_counter`: the hot path's whole cost of metrics (about a
        microsecond: no allocation but the float of its time)."""
        elapsed = now - started
        self.buckets[kind][bisect_left(BOUNDS, elapsed)] += 1
        self.seconds[kind] += elapsed
        if response is None:
            self.requests[kind]["error"] += 1
            return
        headers = response.headers
        if headers.get(_CACHE) != "HIT":
            self.requests[kind][state_of(kind, response)] += 1
        elif kind != "page" or headers.get(_SERVED_BY) == "edge":
            self.requests[kind]["hit"] += 1  # the hot path: a warm page (state_of, inlined)
        else:
            self.requests[kind]["revalidated"] += 1
        if method != "HEAD":
            # A page's or a short answer's bytes are at hand (cheaper than its content_length).
            body = response.body if response.__class__ is _Response else None
            self.sent[kind] += len(body) if body.__class__ is bytes else (response.content_length or 0)


def registry_of(edge) -> CollectorRegistry:
    """A registry of the edge's own (never prometheus_client's global one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EdgeCollector(edge))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


class EdgeCollector(Collector):
    """Everything the edge knows, read at scrape time."""

    def __init__(self, edge):
        self.edge = edge

    def collect(self) -> Iterator[Metric]:
        edge = self.edge
        yield from self._requests(edge.meter)
        stats = edge.stats
        integrity = CounterMetricFamily("kit_edge_integrity_failures", "Bytes that did not match their sha256, "
                                        "by where they were read", labels=["where"])
        for where, key in INTEGRITY_WHERE.items():
            integrity.add_metric([where], stats.get(key, 0))
        yield integrity
        yield CounterMetricFamily("kit_edge_purges", "Purges received from devpi", value=stats.get("purges", 0))
        yield from self._origins(edge)
        yield GaugeMetricFamily("kit_edge_cache_bytes", "Bytes of the edge's file cache", value=edge.files.bytes)
        yield GaugeMetricFamily("kit_edge_cache_max_bytes", "The file cache's bound",
                                value=edge.config.max_cache_bytes)
        yield GaugeMetricFamily("kit_edge_cache_files", "Files in the edge's file cache", value=len(edge.files))
        yield GaugeMetricFamily("kit_edge_cached_pages", "Index pages in the edge's memory", value=len(edge.pages))
        if edge.static is not None:
            age = edge.static.age()
            if age is not None:
                yield GaugeMetricFamily("kit_edge_static_copy_age_seconds",
                                        "Seconds since the static copy was last refreshed", value=age)
        if edge.config.public_mirror_dir:
            synced = last_sync_of(Path(edge.config.public_mirror_dir))
            if synced is not None:
                yield GaugeMetricFamily("kit_public_mirror_last_sync_timestamp_seconds",
                                        "When the public mirror last synced successfully", value=synced)
        yield from _disks(edge.config.disk_paths)
        expiry = edge.certificate.expiry()
        if expiry is not None:
            yield GaugeMetricFamily("kit_tls_certificate_expiry_timestamp_seconds",
                                    "When the site's TLS certificate (the edge's, or hitch's before Varnish) "
                                    "expires (notAfter)", value=expiry)
        info = GaugeMetricFamily("kit_edge_info", "The edge's version", labels=["version"])
        info.add_metric([__version__], 1)
        yield info

    @staticmethod
    def _requests(meter: Meter | None) -> Iterator[Metric]:
        requests = CounterMetricFamily("kit_edge_requests", "Requests by kind and cache state",
                                       labels=["kind", "state"])
        duration = HistogramMetricFamily("kit_edge_request_duration_seconds", "Seconds to answer, by kind",
                                         labels=["kind"])
        sent = CounterMetricFamily("kit_edge_sent_bytes", "Body bytes sent, by kind", labels=["kind"])
        if meter is not None:
            for kind, states in meter.requests.items():
                for state, count in states.items():
                    if count:  # a series appears with its first answer, as Prometheus's client does
                        requests.add_metric([kind, state], count)
            for kind in KINDS:
                counts, total, cumulative = meter.buckets[kind], 0, []
                for bound, count in zip((*map(_le, BOUNDS), "+Inf"), counts):
                    total += count
                    cumulative.append((bound, total))
                duration.add_metric([kind], cumulative, sum_value=meter.seconds[kind])
                sent.add_metric([kind], meter.sent[kind])
        yield requests
        yield duration
        yield sent

    @staticmethod
    def _origins(edge) -> Iterator[Metric]:
        up = GaugeMetricFamily("kit_edge_origin_up", "1 while reads use the origin, 0 while they skip it",
                               labels=["origin", "role"])
        errors = CounterMetricFamily("kit_edge_origin_errors", "Connections refused, cut off or timed out, "
                                     "and failed health checks", labels=["origin"])
        serial = GaugeMetricFamily("kit_devpi_serial", "Each devpi's serial as the edge last saw it",
                                   labels=["origin", "role"])
        lag = GaugeMetricFamily("kit_devpi_replica_lag_serials", "The master's serial minus the mirror's",
                                labels=["origin"])
        now = edge.origins.clock()
        master = edge.origins.master
        for origin, role in _origins_of(edge):
            up.add_metric([origin.url, role], 0 if origin.skipped(now) else 1)
            errors.add_metric([origin.url], origin.errors)
            if origin.serial is not None:
                serial.add_metric([origin.url, role], origin.serial)
                if role == "mirror" and master.serial is not None:
                    lag.add_metric([origin.url], master.serial - origin.serial)
        yield from (up, errors, serial, lag)


def _origins_of(edge):
    yield edge.origins.master, "master"
    for origin in edge.origins.mirrors:
        yield origin, "mirror"
    host = getattr(edge.mirror, "failover", None)  # the public-mirror host's server (a multi-host site)
    if host is not None:
        yield host.origins.master, "public_mirror"


def _le(bound: float) -> str:
    return repr(bound)


def _disks(paths: dict[str, str]) -> Iterator[Metric]:
    size = GaugeMetricFamily("kit_disk_size_bytes", "Size of the file system holding the part's folder",
                             labels=["part"])
    free = GaugeMetricFamily("kit_disk_free_bytes", "Bytes free for unprivileged use there", labels=["part"])
    used = GaugeMetricFamily("kit_disk_used_ratio", "Share used, as df counts it", labels=["part"])
    for part, folder in sorted(paths.items()):
        try:
            st = os.statvfs(folder)
        except OSError:  # not made yet (a first start), or gone: nothing to say of it
            continue
        taken = (st.f_blocks - st.f_bfree) * st.f_frsize
        available = st.f_bavail * st.f_frsize
        size.add_metric([part], st.f_blocks * st.f_frsize)
        free.add_metric([part], available)
        used.add_metric([part], taken / (taken + available) if taken + available else 0.0)
    yield from (size, free, used)


def last_sync_of(web: Path) -> float | None:
    """When the public mirror in bandersnatch's ``web`` folder last synced successfully (seconds
    since the epoch), or None: what ``kit mirror status`` reads, kit's record of the last sync
    (``mirror/run/last-sync.json``, beside ``mirror/data/web``) when it ended well, else the time
    bandersnatch last wrote its serial (``data/status``, written after a whole sync only)."""
    found = []
    try:
        record = json.loads((web.parent.parent / "run" / "last-sync.json").read_text(encoding="utf-8"))
        if record.get("result") == "ok" and isinstance(record.get("finished"), (int, float)):
            found.append(float(record["finished"]))
    except (OSError, ValueError, AttributeError):
        pass
    try:
        found.append((web.parent / "status").stat().st_mtime)
    except OSError:
        pass
    return max(found) if found else None


class CertificateWatch:
    """The notAfter of a certificate file, read again whenever the file changes (a renewal,
    whoever serves it: the edge itself, or hitch in front of Varnish), so the metric never
    reports a certificate that was replaced."""

    def __init__(self, cert_file: str):
        self.cert_file = cert_file
        self._seen: tuple | None = None
        self._expiry: float | None = None

    def expiry(self) -> float | None:
        if not self.cert_file:
            return None
        try:
            stat = os.stat(self.cert_file)
            seen = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        except OSError:
            return None
        if seen != self._seen:
            self._seen, self._expiry = seen, certificate_expiry(self.cert_file)
        return self._expiry


def certificate_expiry(cert_file: str) -> float | None:
    """The notAfter of the first certificate in ``cert_file`` (seconds since the epoch); None without one."""
    if not cert_file:
        return None
    from cryptography import x509  # only for an edge that speaks TLS

    try:
        certificate = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    except (OSError, ValueError):
        return None
    return certificate.not_valid_after_utc.timestamp()


