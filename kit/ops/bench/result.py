"""What a bench run is made of: its settings, its columns (targets), its rows
(measurements) and its result, with the constants every part shares."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

__all__ = [
    "BENCH_INDEX", "PROJECTS", "LISTED_PROJECT", "ACCEPT", "LISTED_TIMEOUT", "NGINX_HINT", "WRK_HINT", "KEPT_ERRORS", "RESOLVER_SET",
    "PYTHON", "VARNISH", "MASTER", "NGINX", "TARGETS", "ROWS", "FAILURE_ROWS", "ZERO_ROWS", "SIGNED_ROWS",
    "Say", "Settings", "Target", "Row", "BenchResult",
]

Say = Callable[[str], None]

#: The index the bench makes for itself (no bases, volatile) and deletes at the end.
BENCH_INDEX = "root/kit-bench"
#: How many projects an "install" reads: 23 pages and 23 files.
PROJECTS = 23
#: The project that gets one new version per upload (upload→listed).
LISTED_PROJECT = "kit-bench-listed"
#: What pip and uv send for a simple page: JSON preferred.
ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
#: An upload not listed after this long counts as failed.
LISTED_TIMEOUT = 5.0
NGINX_HINT = "apt-get install nginx-light"
WRK_HINT = "apt-get install wrk"
#: Errors kept for the report (the counts are always whole).
KEPT_ERRORS = 10

#: What the real resolvers install unless --resolver-set names others (from the site's
#: upstream, PyPI, through root/pypi): the set issue 23 measured, with their dependencies.
RESOLVER_SET = ("flask", "requests", "pytest", "rich", "python-dateutil")

PYTHON, VARNISH, MASTER, NGINX = "python edge", "varnish edge", "master", "nginx static"
TARGETS = (PYTHON, VARNISH, MASTER, NGINX)


@dataclass(frozen=True)
class Settings:
    """How much of each measurement: the defaults fit in a minute on two cores, but for the
    real resolvers (uv and pip, per target 1 + ``runs`` installs of ~30 wheels and ``runs``
    resolves, and once ``runs`` installs from a local folder: minutes)."""

    requests: int = 200  # sequential GETs per latency measurement
    rate_seconds: int = 3  # wrk's -d per target
    connections: int = 16  # wrk's -c
    uploads: int = 25  # per purged edge
    outage: float = 3.0  # seconds of installs with the master killed
    runs: int = 5  # measured resolves and installs per real resolver and target (0: no real-resolver rows)
    resolver_set: tuple[str, ...] = RESOLVER_SET  # what the real resolvers install (--resolver-set)

    @classmethod
    def of(cls, *, quick: bool = False, uploads: int | None = None, runs: int | None = None,
           resolver_set: tuple[str, ...] | None = None) -> "Settings":
        base = cls(requests=40, rate_seconds=1, uploads=5, outage=1.5, runs=1) if quick else cls()
        given = {"uploads": uploads, "runs": runs, "resolver_set": resolver_set}
        return cls(**{**asdict(base), **{key: value for key, value in given.items() if value is not None}})


@dataclass
class Target:
    """One column: where it listens, and what it is (or why it is not measured)."""

    name: str
    url: str | None  # its root, http://127.0.0.1:PORT; None when not measured
    note: str
    #: The master purges its pages after a change: upload→listed means something.
    purged: bool = False
    #: It reads from the mirror when the master is down: installs during a master kill.
    fails_over: bool = False

    @property
    def running(self) -> bool:
        return self.url is not None


@dataclass
class Row:
    """One measurement: per target a number, or the reason there is none."""

    key: str
    label: str
    unit: str
    values: dict[str, float | str] = field(default_factory=dict)

    def number(self, target: str) -> float | None:
        value = self.values.get(target)
        return value if isinstance(value, (int, float)) else None


#: key, label, unit: the rows in the order they are shown.
ROWS = (
    ("page_p50", "page latency p50", "ms"),
    ("page_p99", "page latency p99", "ms"),
    ("file_p50", "file latency p50", "ms"),
    ("file_p99", "file latency p99", "ms"),
    ("warm_page_rps", "warm page", "req/s"),
    # The same page with a team's Basic credentials: kit's edge decides each read
    # itself (read_access team or site), so this is what private reads cost.
    ("warm_page_auth_rps", "authorised page", "req/s"),
    ("fetch_23", "23 pages + 23 files", "s"),
    # Real resolvers (kit.ops.bench.resolvers) per client: resolving alone (a dry run: what the
    # index decides), then installing (resolving, downloading, unpacking); the install's floor is
    # the same install from a local folder, no index at all, and the index time what is above it.
    ("uv_resolve_s", "uv resolve median", "s"),
    ("uv_resolve_ratio", "uv resolve ÷ master", "×"),
    ("uv_resolve_mb", "uv resolve sent", "MB"),
    ("uv_s", "uv install median", "s"),
    ("uv_ratio", "uv install ÷ master", "×"),
    ("uv_mb", "uv sent/install", "MB"),
    ("uv_floor", "uv install floor", "s"),
    ("uv_index_s", "uv index time", "s"),
    ("uv_index_ratio", "uv index ÷ master", "×"),
    ("uv_no_range", "uv: no Range, logged", "count"),
    ("pip_resolve_s", "pip resolve median", "s"),
    ("pip_resolve_ratio", "pip resolve ÷ master", "×"),
    ("pip_resolve_mb", "pip resolve sent", "MB"),
    ("pip_s", "pip install median", "s"),
    ("pip_ratio", "pip install ÷ master", "×"),
    ("pip_mb", "pip sent/install", "MB"),
    ("pip_floor", "pip install floor", "s"),
    ("pip_index_s", "pip index time", "s"),
    ("pip_index_ratio", "pip index ÷ master", "×"),
    ("listed_p50", "upload→listed p50", "s"),
    ("listed_p99", "upload→listed p99", "s"),
    ("listed_max", "upload→listed max", "s"),
    ("kill_installs", "master killed: installs", "count"),
    ("kill_worst", "master killed: worst", "s"),
    ("failed_installs", "master killed: failed", "count"),
    ("failed_requests", "failed requests", "count"),
)
#: Rows that count failures: 0 is the good value (the others are > 0 when measured).
FAILURE_ROWS = ("failed_installs", "failed_requests")
#: Rows where 0 is a measured value but no failure: uv's "Range requests not supported" lines,
#: an index time no longer than the master's floor's noise.
ZERO_ROWS = ("uv_no_range", "uv_index_ratio", "pip_index_ratio")
#: Rows that may be below 0: an install's median less its floor, both measured on a shared machine.
SIGNED_ROWS = ("uv_index_s", "pip_index_s")


@dataclass
class BenchResult:
    site: str
    edge: str  # the site's edge: python or varnish
    targets: list[Target]
    rows: list[Row]
    tools: dict[str, str]  # what measured what: {"req/s": "wrk", "installs": "uv"}
    cores: int
    duration: float
    settings: Settings
    errors: list[str] = field(default_factory=list)

    def row(self, key: str) -> Row:
        return next(r for r in self.rows if r.key == key)

    @property
    def failed(self) -> int:
        """Failed requests, uploads and installs, over every target."""
        return int(sum(self.row(key).number(t.name) or 0 for key in FAILURE_ROWS for t in self.targets))

    def ratios(self) -> dict[str, float]:
        """Each target's warm-page req/s as a share of nginx's in the same run (empty without nginx)."""
        rates = self.row("warm_page_rps")
        ceiling = rates.number(NGINX)
        if not ceiling:
            return {}
        return {t.name: rates.number(t.name) / ceiling for t in self.targets
                if t.name != NGINX and rates.number(t.name) is not None}

    def authorised_share(self) -> float | None:
        """kit's edge's authorised warm-page req/s as a share of its anonymous ones (None unmeasured)."""
        authorised, anonymous = self.row("warm_page_auth_rps").number(PYTHON), self.row("warm_page_rps").number(PYTHON)
        return authorised / anonymous if authorised is not None and anonymous else None

    def as_dict(self) -> dict:
        return {
            "site": self.site, "edge": self.edge, "cores": self.cores, "duration": round(self.duration, 2),
            "tools": self.tools, "settings": asdict(self.settings), "failed": self.failed,
            "targets": [{"name": t.name, "url": t.url, "running": t.running, "note": t.note} for t in self.targets],
            "rows": [{"key": r.key, "label": r.label, "unit": r.unit, "values": r.values} for r in self.rows],
            "ratios_to_nginx": {name: round(value, 3) for name, value in self.ratios().items()},
            "authorised_to_anonymous": (None if self.authorised_share() is None
                                        else round(self.authorised_share(), 3)),
            "errors": self.errors,
        }
