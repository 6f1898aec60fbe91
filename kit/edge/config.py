"""The edge's settings: what ``kit init`` writes as ``SITE/cluster/edge.json``
and the edge reads when it starts.

Apart from the edge's server (:mod:`kit.edge.app`) so that what only plans or
inspects a site (``kit status``, ``kit down``, ``kit check``, the systemd
units) never imports aiohttp: standard library only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from kit.core.files import write_atomically

__all__ = ["EdgeConfig", "READ_ACCESS"]

#: The answers of read_access (kit.site.answers asks the same three).
READ_ACCESS = ("team", "site", "anonymous")


@dataclass
class EdgeConfig:
    """What the edge needs; ``kit init`` writes it as ``SITE/cluster/edge.json``
    (from :func:`kit.site.plan.edge_config`), the edge reads it with :meth:`load`.
    Relative paths are relative to the edge's working folder (``SITE/cluster``)."""

    host: str
    port: int
    public_url: str  # what clients see, passed to devpi as X-Outside-Url
    master: str
    mirrors: list[str] = field(default_factory=list)
    cache_dir: str = "edge-cache"
    connect_timeout: float = 1.0
    read_timeout: float = 10.0
    #: After an origin fails, reads skip it for this long (or until the background check sees it back).
    retry_after: float = 5.0
    #: Uploads may take the master a while: the read timeout of a write.
    write_timeout: float = 300.0
    #: A cached page is served without asking for this long, then revalidated:
    #: what a lost purge costs at most.
    page_ttl: float = 5.0
    max_pages: int = 10000
    #: The file cache's size; least recently used files go first.
    max_cache_bytes: int = 10 * 1024**3
    #: Cached files up to this size are checked against their sha256 before
    #: any byte is sent (hashing runs at about 1-2 GB/s: 16 MiB costs ~10 ms,
    #: a fraction of sending it). Larger files are checked while they stream,
    #: the last chunk held back, and the connection dropped on a mismatch.
    verify_whole_max: int = 16 * 1024**2
    #: The shared secret devpi's purge plugin sends (``Authorization: Bearer``).
    purge_secret_file: str = "edge-purge-secret"
    #: Pooled connections to the origins, all of them together.
    origin_connections: int = 64
    #: Requests in progress at once; more get 503 at once rather than queueing without bound.
    max_requests: int = 1024
    #: Seconds between the background health checks of the origins.
    health_interval: float = 2.0
    #: A client connection with no request in progress is closed after this
    #: many seconds; so is a new one whose request headers have not all
    #: arrived by then (a slow or stuck client holds a descriptor, no more).
    idle_timeout: float = 30.0
    #: One log line per request. Off by default: it halves the edge's rate on a
    #: warm page (23,200 against 12,000 requests per CPU-second, 0.52×: two edges
    #: side by side in one run, 2026-12-04, 2-core machine); the log keeps every
    #: failover, integrity failure and purge, and /+edge/stats counts the rest.
    access_log: bool = False
    #: The static copy of the team indexes, the last origin ("" for none):
    #: refreshed from the mirrors, then the master, every ``static_copy_every`` seconds.
    static_copy_dir: str = ""
    static_copy_indexes: list[str] = field(default_factory=list)
    static_copy_every: float = 60.0
    #: bandersnatch's ``web`` folder, served at ``/mirror/`` ("" for none):
    #: ``/mirror/simple/`` is the mirror's index, for pip's ``--index-url``.
    public_mirror_dir: str = ""
    #: Or the public-mirror host's server of that folder ("http://ADDRESS:PORT", "" for none):
    #: every edge of a multi-host site serves ``/mirror/`` from it, pages kept for
    #: ``page_ttl``, files in the file cache, checked against their page's sha256.
    public_mirror_origin: str = ""
    #: The certificate chain and key the edge serves TLS with, PEM ("" for plain http).
    #: SIGHUP reads them again: renewed certificates are served without a restart.
    tls_cert: str = ""
    tls_key: str = ""
    #: A certificate another program serves for this site (hitch, when this edge is Varnish's
    #: shield): /+edge/metrics reports its expiry, so the alert on it works on a Varnish site too.
    watched_certificate: str = ""
    #: A plain-http listener (0 for none) answering 308 with the same path on ``public_url``;
    #: it serves the edge's own ``/+edge/`` paths (health, stats, metrics, purge) to this machine only.
    redirect_host: str = ""
    redirect_port: int = 0
    #: Who may read the indexes: "anonymous" (anyone who reaches the edge; no
    #: question asked), "site" or "team" (every read under /USER/INDEX/ is
    #: authorised first by the origins' /+authcheck, see kit.edge.auth).
    read_access: str = "anonymous"
    #: Seconds a read decision is kept per (credentials, index): what a lost
    #: revocation purge costs at most (never past a token's own expiry).
    auth_ttl: float = 5.0
    #: "kit-edge:PASSWORD", mode 0600: the devpi user the edge reads private
    #: pages and files as, once it has authorised the client ("" for none).
    read_credentials_file: str = ""
    #: Count each request for ``/+edge/metrics`` (kind, cache state, latency, bytes); false leaves
    #: only what is read at scrape time (the benchmark's baseline, benchmarks/bench_metrics.py).
    metrics: bool = True
    #: The folders of the parts this host runs (part -> folder: edge_cache, master, mirror,
    #: public_mirror, logs), whose disks /+edge/metrics reports (size, free, share used).
    disk_paths: dict[str, str] = field(default_factory=dict)

    @property
    def static_copy_sources(self) -> list[str]:
        """Where the static copy is refreshed from: the mirrors first (the master is spared), then the master."""
        return [*self.mirrors, self.master]

    def __post_init__(self) -> None:
        # edge.json is written by kit init but may be edited by hand: a setting of
        # the wrong type is refused at start, in one line, not on the first request.
        for setting in fields(self):
            value = getattr(self, setting.name)
            if not _of_type(value, setting.type):
                raise TypeError(f"{setting.name} must be {_TYPE_WORDS.get(setting.type, setting.type)}, "
                                f"not {json.dumps(value)}")
        if self.read_access not in READ_ACCESS:
            raise ValueError(f"read_access must be one of {', '.join(READ_ACCESS)}, not {json.dumps(self.read_access)}")
        if self.public_mirror_dir and self.public_mirror_origin:
            raise ValueError("public_mirror_dir and public_mirror_origin are both set: the public mirror is "
                             "served from this machine's disk or from its host, not both; keep one")
        if self.public_mirror_origin and not _http_url(self.public_mirror_origin):
            raise ValueError(f"public_mirror_origin must be http://ADDRESS:PORT (the public-mirror host's "
                             f"server), not {json.dumps(self.public_mirror_origin)}")
        if self.private_reads and not self.read_credentials_file:
            raise ValueError(f"read_access {self.read_access} needs read_credentials_file (the edge's "
                             "kit-edge:PASSWORD file); run kit init again to write it")

    @property
    def private_reads(self) -> bool:
        """Whether reads are authorised (read_access is not "anonymous")."""
        return self.read_access != "anonymous"

    @classmethod
    def load(cls, path: Path) -> "EdgeConfig":
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    def write(self, path: Path) -> None:
        write_atomically(Path(path), self.to_json())


#: The setting types of edge.json, as its refusals name them.
_TYPE_WORDS = {"str": "text", "int": "a whole number", "float": "a number", "bool": "true or false",
               "list[str]": "a list of text", "dict[str, str]": "a table of text"}


def _http_url(url: str) -> bool:
    """Whether ``url`` names an HTTP server (a host, no query, no credentials)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is no number
    except ValueError:
        return False
    return (parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.query and not parts.fragment
            and parts.username is None)


def _of_type(value: object, kind: str) -> bool:
    """Whether ``value`` (as JSON gives it) is of the annotated ``kind``; a bool is no number."""
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int)
    if kind == "float":
        return isinstance(value, (int, float))
    if kind == "str":
        return isinstance(value, str)
    if kind == "list[str]":
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    if kind == "dict[str, str]":
        return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    raise AssertionError(f"EdgeConfig has a setting of a type edge.json cannot check: {kind}")
