"""``kit bench``: the edges side by side, measured on a running site.

Targets (the columns): kit's Python edge, the Varnish edge, the master
directly, and nginx serving the same bytes as static files (the ceiling
for a page that is already cached). On a site whose edge is kit's own, the
Varnish edge is a temporary one with the site's rules in front of the same
master and mirror (:class:`kit.cluster.varnish.TemporaryVarnish`), when varnishd is
installed. What each is measured on is a bench
index, ``root/kit-bench``, made for the run and deleted after it: 23 tiny
projects (an install of 23 projects reads 23 pages and 23 files), and one
project that gets a new version per upload. The team indexes are never
touched.

The measurements (the rows): latency over one keep-alive connection for a
page and a file; requests per second on a warm page (wrk when installed, else
a Python loop that cannot reach nginx's real rate); the 23 pages and 23
files fetched one after the other; upload→listed: an upload through the
site's edge (as a team's twine does), then from its answer until the page,
cached before the upload, lists the new file on the target (only for edges
the master purges); installs through each edge while the master is killed
(then brought back).

Nothing here asserts a speed: numbers are reported, the failures counted.
"""

from __future__ import annotations

import asyncio
import http.client
import math
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable
from urllib.parse import urljoin, urlsplit

from kit.core.errors import BenchError, ClusterError, KitError, one_line
from kit.core.processes import system_program
from kit.core.report import plural
from kit.cluster.varnish import TemporaryVarnish

if TYPE_CHECKING:
    from kit.ops.drill import Installs

__all__ = [
    "BENCH_INDEX", "PROJECTS", "Settings", "Target", "Row", "BenchResult", "run_bench", "table_lines", "chart_svg",
    "NGINX_HINT", "WRK_HINT",
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

PYTHON, VARNISH, MASTER, NGINX = "python edge", "varnish edge", "master", "nginx static"
TARGETS = (PYTHON, VARNISH, MASTER, NGINX)


@dataclass(frozen=True)
class Settings:
    """How much of each measurement: the defaults fit in a minute on two cores."""

    requests: int = 200  # sequential GETs per latency measurement
    rate_seconds: int = 3  # wrk's -d per target
    connections: int = 16  # wrk's -c
    uploads: int = 25  # per purged edge
    outage: float = 3.0  # seconds of installs with the master killed

    @classmethod
    def of(cls, *, quick: bool = False, uploads: int | None = None) -> "Settings":
        base = cls(requests=40, rate_seconds=1, uploads=5, outage=1.5) if quick else cls()
        return base if uploads is None else cls(**{**asdict(base), "uploads": uploads})


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
    ("fetch_23", "23 pages + 23 files", "s"),
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

    def as_dict(self) -> dict:
        return {
            "site": self.site, "edge": self.edge, "cores": self.cores, "duration": round(self.duration, 2),
            "tools": self.tools, "settings": asdict(self.settings), "failed": self.failed,
            "targets": [{"name": t.name, "url": t.url, "running": t.running, "note": t.note} for t in self.targets],
            "rows": [{"key": r.key, "label": r.label, "unit": r.unit, "values": r.values} for r in self.rows],
            "ratios_to_nginx": {name: round(value, 3) for name, value in self.ratios().items()},
            "errors": self.errors,
        }


# -- one keep-alive connection -------------------------------------------------------


class Connection:
    """One HTTP/1.1 connection kept alive across requests, as pip keeps one per host."""

    def __init__(self, root_url: str, timeout: float = 10.0):
        parts = urlsplit(root_url)
        self.host, self.port, self.timeout = parts.hostname or "127.0.0.1", parts.port or 80, timeout
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, *, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """Status and body; a connection the server closed while idle is opened again once, as clients do."""
        for attempt in range(2):
            fresh = self._conn is None
            if fresh:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, path, body=body, headers=headers or {})
                response = self._conn.getresponse()
                data = response.read()
                if response.will_close:
                    self.close()
                return response.status, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if fresh or attempt:
                    raise
            except (OSError, http.client.HTTPException):
                self.close()
                raise
        raise AssertionError("unreachable")

    def get(self, path: str) -> tuple[int, bytes]:
        return self.request("GET", path, headers={"Accept": ACCEPT})

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Failures:
    """Failed requests per target, and the first few messages."""

    def __init__(self):
        self.counts: dict[str, int] = {}
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def add(self, target: str, message: str, count: int = 1) -> None:
        with self._lock:
            self.counts[target] = self.counts.get(target, 0) + count
            if len(self.errors) < KEPT_ERRORS:
                self.errors.append(f"{target}: {message}")


def _fetch(conn: Connection, path: str, target: str, failures: Failures) -> bytes | None:
    """The body of a GET answered 200; else the failure is counted and None returned."""
    try:
        status, body = conn.get(path)
    except (OSError, http.client.HTTPException) as exc:
        failures.add(target, f"GET {path}: {one_line(exc)}")
        return None
    if status != 200:
        failures.add(target, f"GET {path}: HTTP {status}")
        return None
    return body


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` 0.5 is the median, 0.99 the 99th)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))]


def _latency(root_url: str, path: str, count: int, target: str, failures: Failures) -> list[float]:
    """Seconds of each of ``count`` sequential GETs over one connection."""
    conn = Connection(root_url)
    times = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            if _fetch(conn, path, target, failures) is not None:
                times.append(time.perf_counter() - started)
    finally:
        conn.close()
    return times


def _fetch_all(root_url: str, pages: list[str], target: str, failures: Failures) -> float | None:
    """Seconds to read each page and the file it links, one after the other on one connection."""
    conn = Connection(root_url)
    started = time.perf_counter()
    ok = True
    try:
        for page in pages:
            body = _fetch(conn, page, target, failures)
            href = _first_file(body) if body is not None else None
            if href is None or _fetch(conn, urljoin(page, href), target, failures) is None:
                ok = False
    finally:
        conn.close()
    return time.perf_counter() - started if ok else None


def _first_file(page: bytes) -> str | None:
    """The first file's URL (relative, as devpi writes it) in a JSON or HTML simple page."""
    import json

    try:
        files = json.loads(page).get("files") or []
        return files[0]["url"].split("#")[0] if files else None
    except (ValueError, AttributeError, KeyError, TypeError):
        found = re.search(rb'href="([^"#]+)', page)
        return found.group(1).decode() if found else None


# -- requests per second ---------------------------------------------------------------


def _wrk(wrk: str, url: str, settings: Settings) -> tuple[float, int, str]:
    """Requests/sec, failed requests (non-2xx/3xx and socket errors), and a problem ("" when none)."""
    argv = [wrk, "-t2", f"-c{settings.connections}", f"-d{settings.rate_seconds}s", "--latency",
            "-H", f"Accept: {ACCEPT}", url]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=settings.rate_seconds + 30)
    except subprocess.TimeoutExpired:
        return 0.0, 0, "wrk did not finish"
    rate = re.search(r"Requests/sec:\s+([\d.]+)", proc.stdout)
    if proc.returncode != 0 or rate is None:
        return 0.0, 0, f"wrk exited {proc.returncode}: {one_line(proc.stderr or proc.stdout)}"
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", proc.stdout)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", proc.stdout)
    failed = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, sockets.groups())) if sockets else 0)
    problem = f"wrk: {' '.join(line.strip() for line in proc.stdout.splitlines() if 'errors' in line or 'Non-2xx' in line)}"
    return float(rate.group(1)), failed, problem if failed else ""


def _python_rate(root_url: str, path: str, settings: Settings) -> tuple[float, int, str]:
    """The fallback without wrk: keep-alive connections from one asyncio loop (it saturates
    its own core long before nginx or Varnish do)."""
    parts = urlsplit(root_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: {ACCEPT}\r\n\r\n".encode()
    done, failed, problems = [0], [0], []

    async def one(deadline: float) -> None:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            failed[0] += 1
            problems.append(one_line(exc))
            return
        try:
            while time.monotonic() < deadline:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                if length:
                    await reader.readexactly(int(length.group(1)))
                else:  # chunked
                    while size := int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16):
                        await reader.readexactly(size + 2)
                    await reader.readuntil(b"\r\n")
                done[0] += 1
                if status != 200:
                    failed[0] += 1
                    problems.append(f"HTTP {status}")
                if re.search(rb"(?im)^connection:\s*close", head):
                    break
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError) as exc:
            failed[0] += 1
            problems.append(one_line(exc))
        finally:
            writer.close()

    async def all_of() -> None:
        deadline = time.monotonic() + settings.rate_seconds
        await asyncio.gather(*(one(deadline) for _ in range(settings.connections)))

    started = time.monotonic()
    asyncio.run(all_of())
    return done[0] / (time.monotonic() - started), failed[0], f"python: {problems[0]}" if problems else ""


# -- uploads --------------------------------------------------------------------------


def _multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[bytes, str]:
    """A form as twine posts it: the fields, then the file as ``content``."""
    boundary = "kit-bench-" + os.urandom(8).hex()
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{filename}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def upload(root_url: str, auth: str, wheel: Path) -> None:
    """Upload ``wheel`` to the bench index through ``root_url`` (devpi's upload API, as twine uses it);
    :class:`BenchError` when it is refused."""
    name, version = wheel.name.split("-")[:2]
    body, content_type = _multipart({":action": "file_upload", "name": name, "version": version},
                                    wheel.name, wheel.read_bytes())
    conn = Connection(root_url, timeout=60)
    try:
        status, answer = conn.request("POST", f"/{BENCH_INDEX}/", body=body, headers={
            "Content-Type": content_type, "X-Devpi-Auth": auth, "Accept": "application/json"})
    except (OSError, http.client.HTTPException) as exc:
        raise BenchError(f"uploading {wheel.name} through {root_url} failed: {one_line(exc)}") from None
    finally:
        conn.close()
    if status != 200:
        raise BenchError(f"uploading {wheel.name} through {root_url}: HTTP {status} {one_line(answer.decode(errors='replace'))}")


def _upload_to_listed(target: Target, upload_url: str, auth: str, wheels: list[Path], failures: Failures,
                      say: Say) -> list[float]:
    """For each wheel: read its project's page on the target twice (so it is cached), upload the
    wheel through ``upload_url`` (the site's edge, as twine does with the generated .pypirc), then
    read the page on the target until it lists the file; the seconds from the upload's answer."""
    page = f"/{BENCH_INDEX}/+simple/{LISTED_PROJECT}/"
    conn = Connection(target.url)
    times = []
    try:
        for wheel in wheels:
            _fetch(conn, page, target.name, failures)
            _fetch(conn, page, target.name, failures)
            try:
                upload(upload_url, auth, wheel)
            except BenchError as exc:
                failures.add(target.name, str(exc))
                continue
            answered = time.perf_counter()
            while True:
                body = _fetch(conn, page, target.name, failures)
                waited = time.perf_counter() - answered
                if body is not None and wheel.name.encode() in body:
                    times.append(waited)
                    break
                if waited > LISTED_TIMEOUT:
                    failures.add(target.name, f"{wheel.name} not listed {LISTED_TIMEOUT:g} s after its upload")
                    break
                time.sleep(0.002)
    finally:
        conn.close()
    if times:
        say(f"bench: {target.name}: {plural(len(times), 'upload')} listed after p50 {percentile(times, 0.5):.3f} s, "
            f"max {max(times):.3f} s")
    return times


# -- installs during a master kill ---------------------------------------------------------


def _installs_with_master_killed(cluster, targets: list[Target], project: str, outage: float,
                                 say: Say) -> tuple[dict[str, "Installs"], str]:
    """Kill the master (SIGKILL), install ``project`` through each target that fails over, all
    at once, for ``outage`` seconds (kit.drill's installs: uv, else pip, in a clean environment),
    then bring the master back (always) and wait for the mirror."""
    from kit.ops.drill import Installer

    results: dict[str, Installs] = {}
    installers = {t.name: Installer(f"{t.url}/{BENCH_INDEX}/+simple/", project) for t in targets}
    master = cluster.service("master")
    pid = cluster.pid_of(master)
    if pid is None:
        raise BenchError(f"the master is not running; start it with: {cluster.site.command('up')}")
    say(f"bench: killing the master (pid {pid}); installing {project} through "
        f"{', '.join(installers)} for {outage:g} s")
    threads = [threading.Thread(target=lambda n=name, i=installer: results.__setitem__(n, i.loop(outage)),
                                name=f"bench-installs-{name}", daemon=True) for name, installer in installers.items()]
    try:
        os.kill(pid, signal.SIGKILL)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(outage + 40)
    finally:
        cluster.up(say=lambda line: None)
        cluster.wait_ready(30)
        say("bench: the master is back and the mirror in sync")
    client = next(iter(installers.values())).client if installers else ""
    return results, client


# -- nginx serving the same bytes ------------------------------------------------------------


class StaticServer:
    """nginx on a free 127.0.0.1 port serving ``folder`` (pages as ``index.json``), in the
    foreground, every path of its own in ``folder``'s parent; stopped by :meth:`stop`."""

    def __init__(self, nginx: str, folder: Path):
        from kit.core.processes import free_ports

        self.nginx, self.root, self.prefix = nginx, folder, folder.parent / "nginx"
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def config(self) -> str:
        p = self.prefix
        # The bench's temp folder is 0700: as root, workers must stay root to read it.
        user = "user root;\n" if os.geteuid() == 0 else ""
        temp = "".join(f"    {kind}_temp_path {p / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        return (
            f"{user}daemon off;\nworker_processes auto;\npid {p / 'nginx.pid'};\nerror_log {p / 'error.log'};\n"
            "events { worker_connections 1024; }\n"
            "http {\n    access_log off;\n    sendfile on;\n    keepalive_requests 1000000;\n"
            "    types { application/vnd.pypi.simple.v1+json json; }\n    default_type application/octet-stream;\n"
            f"{temp}    server {{\n        listen 127.0.0.1:{self.port};\n        root {self.root};\n"
            "        index index.json;\n    }\n}\n"
        )

    def start(self, probe: str) -> None:
        """Start nginx and wait until ``probe`` answers; :class:`BenchError` with nginx's own words if not."""
        self.prefix.mkdir(parents=True, exist_ok=True)
        conf = self.prefix / "nginx.conf"
        conf.write_text(self.config())
        log = self.prefix / "error.log"
        self.proc = subprocess.Popen([self.nginx, "-e", str(log), "-p", str(self.prefix), "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"nginx exited {self.proc.returncode}: {one_line(self.proc.stderr.read().decode())}")
            conn = Connection(self.url, timeout=1)
            try:
                if conn.get(probe)[0] == 200:
                    return
            except (OSError, http.client.HTTPException):
                time.sleep(0.05)
            finally:
                conn.close()
        self.stop()
        raise BenchError(f"nginx did not answer within 10 s; see {log}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, the master removes its pid file
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()


# -- the targets ----------------------------------------------------------------------------


def _targets(cluster) -> list[Target]:
    """The four columns for this site; the ones not measured say why."""
    from kit.cluster.varnish import INSTALL_HINT, varnishd_path

    answers = cluster.answers
    edge = cluster.service("edge")
    master = cluster.service("master")
    if answers.edge == "varnish":
        python = Target(PYTHON, f"http://127.0.0.1:{answers.shield_port}", "the shield behind Varnish",
                        purged=True, fails_over=True)
        varnish = Target(VARNISH, edge.local_url, "the site's edge", purged=True, fails_over=True)
    else:
        python = Target(PYTHON, edge.local_url, "the site's edge", purged=True, fails_over=True)
        if varnishd_path() is None:
            varnish = Target(VARNISH, None, f"not installed: {INSTALL_HINT}")
        else:
            # run_bench starts a temporary Varnish (kit.varnish.TemporaryVarnish): devpi does not purge it.
            varnish = Target(VARNISH, None, "not started", fails_over=True)
    nginx = system_program("nginx")
    static = Target(NGINX, None, "same bytes as static files" if nginx else f"not installed: {NGINX_HINT}")
    return [python, varnish, Target(MASTER, master.local_url, "devpi directly"), static]


def _check_up(cluster) -> None:
    rows = cluster.status()
    down = [r.name for r in rows if not r.healthy]
    if down:
        state = "not running" if not any(r.running for r in rows) else f"not healthy ({', '.join(down)})"
        raise BenchError(f"the cluster of {cluster.site} is {state}; start it with: {cluster.site.command('up')}")


def _unmeasured(key: str, target: Target) -> str:
    """A row's value before it is measured: why it never will be, or "failed" until it is."""
    if not target.running:
        return target.note
    if key.startswith("listed") and not target.purged:
        if target.name == VARNISH:
            return "n/a: devpi purges the site's edge, not a temporary Varnish"
        return "n/a: the master does not purge its pages"
    if key in ("kill_installs", "kill_worst", "failed_installs") and not target.fails_over:
        return "n/a: the master itself is killed" if target.name == MASTER else "n/a: no origin to fail over to"
    return "failed: see errors"


# -- the run --------------------------------------------------------------------------------


def run_bench(cluster, say: Say = print, *, settings: Settings | None = None) -> BenchResult:
    """Measure every target of the running ``cluster``; the bench index is deleted afterwards,
    the master (killed once) brought back. :class:`BenchError` when the cluster is not up."""
    from kit.cluster.devpi import DevpiAPI
    from kit.ops.sample import make_wheel

    settings = settings or Settings()
    started = time.monotonic()
    _check_up(cluster)
    targets = _targets(cluster)
    failures = Failures()
    tools: dict[str, str] = {}
    api = DevpiAPI(cluster.service("master").local_url)
    api.login("root", cluster.answers.admin_password)
    with tempfile.TemporaryDirectory(prefix="kit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        static: StaticServer | None = None
        temporary: TemporaryVarnish | None = None
        try:
            _make_index(api, say)
            projects = [f"kit-bench-{n:02}" for n in range(1, PROJECTS + 1)]
            say(f"bench: uploading {PROJECTS + 1} tiny projects to {BENCH_INDEX}")
            for project in (*projects, LISTED_PROJECT):
                upload(cluster.service("master").local_url, api.auth, make_wheel(tmp / "dist", project, "1.0"))
            # installs through the edges need the mirror to hold the index when the master is killed
            cluster.wait_ready(30)
            pages = [f"/{BENCH_INDEX}/+simple/{project}/" for project in projects]
            file_paths = _copy_for_nginx(cluster.service("master").local_url, pages, tmp / "static")
            say(f"bench: {BENCH_INDEX} holds {PROJECTS} projects; measuring "
                + ", ".join(t.name for t in targets if t.running or t.name == NGINX))
            nginx = system_program("nginx")
            if nginx:
                static = StaticServer(nginx, tmp / "static")
                try:
                    static.start(pages[0])
                    _running(targets, NGINX, static.url)
                except BenchError as exc:
                    _note(targets, NGINX, f"failed to start: {exc}")
                    static = None
            if cluster.answers.edge != "varnish" and next(t for t in targets if t.name == VARNISH).fails_over:
                temporary = TemporaryVarnish(cluster.site, tmp / "varnish")
                try:
                    _running(targets, VARNISH, temporary.start())
                    _note(targets, VARNISH, "a temporary Varnish with the site's rules, the site's edge as its shield")
                    say(f"bench: started {_note_of(targets, VARNISH)} at {temporary.url}")
                except ClusterError as exc:
                    _note(targets, VARNISH, f"failed to start: {exc}")
                    temporary = None
            rows = {key: Row(key, label, unit, {t.name: _unmeasured(key, t) for t in targets})
                    for key, label, unit in ROWS}
            wrk = system_program("wrk")
            tools["req/s"] = "wrk" if wrk else f"python (wrk not installed: {WRK_HINT}; ratios to nginx understate it)"
            for target in targets:
                if target.running:
                    _read_measurements(target, pages, file_paths[0], rows, settings, wrk, failures, say)
            version = 0
            site_edge = cluster.service("edge").local_url
            for target in [t for t in targets if t.purged]:
                wheels = []
                for _ in range(settings.uploads):
                    version += 1
                    wheels.append(make_wheel(tmp / "listed", LISTED_PROJECT, f"1.{version}"))
                times = _upload_to_listed(target, site_edge, api.auth, wheels, failures, say)
                if times:
                    rows["listed_p50"].values[target.name] = round(percentile(times, 0.5), 4)
                    rows["listed_p99"].values[target.name] = round(percentile(times, 0.99), 4)
                    rows["listed_max"].values[target.name] = round(max(times), 4)
            edges = [t for t in targets if t.fails_over]
            if edges:
                installs, tools["installs"] = _installs_with_master_killed(cluster, edges, projects[0],
                                                                           settings.outage, say)
                for name, result in installs.items():
                    rows["kill_installs"].values[name] = result.count
                    rows["kill_worst"].values[name] = round(result.worst, 3)
                    rows["failed_installs"].values[name] = result.failed
                    for error in result.errors[:3]:
                        failures.errors.append(f"{name}: install failed: {error}")
                    say(f"bench: {name}: {plural(result.count, 'install')} with the master killed, {result.failed} failed, "
                        f"worst {result.worst:.2f} s")
        finally:
            if static is not None:
                static.stop()
            if temporary is not None:
                temporary.stop()
            _delete_index(cluster, api, say)
    for target in targets:
        if target.running:
            rows["failed_requests"].values[target.name] = failures.counts.get(target.name, 0)
    return BenchResult(str(cluster.site.path), cluster.answers.edge, targets, list(rows.values()), tools,
                       os.cpu_count() or 1, time.monotonic() - started, settings, failures.errors)


def _running(targets: list[Target], name: str, url: str) -> None:
    target = next(t for t in targets if t.name == name)
    target.url = url


def _note(targets: list[Target], name: str, note: str) -> None:
    next(t for t in targets if t.name == name).note = note


def _note_of(targets: list[Target], name: str) -> str:
    return next(t for t in targets if t.name == name).note


def _make_index(api, say: Say) -> None:
    """The bench index, new and empty (one left by an interrupted run is replaced)."""
    from kit.cluster.devpi import DevpiError

    try:
        if api.get(f"/{BENCH_INDEX}") is not None:
            api.delete(f"/{BENCH_INDEX}")
            say(f"bench: removed {BENCH_INDEX} left by an earlier run")
        api.put(f"/{BENCH_INDEX}", {"type": "stage", "bases": [], "volatile": True,
                                    "title": "kit bench: deleted when the bench ends"})
    except DevpiError as exc:
        raise BenchError(f"cannot make the bench index {BENCH_INDEX}: {exc}") from None


def _delete_index(cluster, api, say: Say) -> None:
    from kit.cluster.devpi import DevpiError

    try:
        api.delete(f"/{BENCH_INDEX}")
    except (DevpiError, KitError) as exc:
        say(f"bench: warning: {BENCH_INDEX} could not be deleted ({exc}); delete it with: "
            f"devpi index --delete {BENCH_INDEX}")


def _copy_for_nginx(master_url: str, pages: list[str], folder: Path) -> list[str]:
    """Write each page's bytes (as served to pip) and its file's bytes under ``folder`` at their
    URL paths, for nginx to serve as they are; the files' URL paths."""
    conn = Connection(master_url)
    paths = []
    try:
        for page in pages:
            status, body = conn.get(page)
            href = _first_file(body) if status == 200 else None
            if href is None:
                raise BenchError(f"the master did not list the bench's file on {page} (HTTP {status})")
            file_path = urljoin(page, href)
            status, data = conn.request("GET", file_path)
            if status != 200:
                raise BenchError(f"the master did not serve {file_path} (HTTP {status})")
            for path, content in ((page + "index.json", body), (file_path, data)):
                local = folder / path.lstrip("/")
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_bytes(content)
            paths.append(file_path)
    except (OSError, http.client.HTTPException) as exc:
        raise BenchError(f"reading the bench index from the master failed: {one_line(exc)}") from None
    finally:
        conn.close()
    return paths


def _read_measurements(target: Target, pages: list[str], file_path: str, rows: dict[str, Row],
                       settings: Settings, wrk: str | None, failures: Failures, say: Say) -> None:
    """Latency, req/s and the 23+23 fetch for one target (its caches warmed first)."""
    name = target.name
    _fetch_all(target.url, pages, name, failures)  # warm: every page and file cached
    for key, path in (("page", pages[0]), ("file", file_path)):
        times = _latency(target.url, path, settings.requests, name, failures)
        if times:
            rows[f"{key}_p50"].values[name] = round(percentile(times, 0.5) * 1000, 3)
            rows[f"{key}_p99"].values[name] = round(percentile(times, 0.99) * 1000, 3)
    took = _fetch_all(target.url, pages, name, failures)
    if took is not None:
        rows["fetch_23"].values[name] = round(took, 4)
    if wrk:
        rate, failed, problem = _wrk(wrk, target.url + pages[0], settings)
    else:
        rate, failed, problem = _python_rate(target.url, pages[0], settings)
    if rate:
        rows["warm_page_rps"].values[name] = round(rate, 1)
    if problem:
        failures.add(name, problem, max(failed, 1))
    say(f"bench: {name}: page p50 {_shown(rows['page_p50'].values[name], 'ms')} ms, "
        f"file p50 {_shown(rows['file_p50'].values[name], 'ms')} ms, "
        f"{_shown(rows['warm_page_rps'].values[name], 'req/s')} req/s on a warm page, "
        f"23 pages + 23 files in {_shown(rows['fetch_23'].values[name], 's')} s")


# -- showing the result --------------------------------------------------------------------


def _shown(value: float | str, unit: str) -> str:
    """A value as the table shows it: ms and s with 2-3 decimals, counts and req/s whole."""
    if isinstance(value, str):
        return "n/a" if value.startswith("n/a") else "failed" if value.startswith("failed") else "-"
    if unit in ("req/s", "count"):
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value:.2f}"
    return f"{value:.3f}"


def table_lines(result: BenchResult) -> list[str]:
    """The aligned table (rows: measurements, columns: targets), then the notes: at most 76 characters a line."""
    names = [t.name for t in result.targets]
    lines = [f"{'':24}" + "".join(f" {name:>12}" for name in names)]
    for row in result.rows:
        label = f"{row.label} ({row.unit})" if row.unit != "count" else row.label
        lines.append(f"{label:24}" + "".join(f" {_shown(row.values[n], row.unit):>12}" for n in names))
    lines.append("")
    for target in result.targets:
        where = f" at {target.url}" if target.url else ""
        lines.append(f"{target.name}: {target.note}{where}")
    ratios = result.ratios()
    tool = result.tools.get("req/s", "")
    if ratios:
        lines.append(f"req/s vs nginx ({'wrk' if tool == 'wrk' else 'python: not nginx real rate'}): "
                     + ", ".join(f"{name} {share:.2f}×" for name, share in ratios.items()))
    if tool != "wrk":
        lines.append(f"req/s measured by {tool}")
    lines.append(f"{plural(result.cores, 'core')}, {result.duration:.1f} s; installs by {result.tools.get('installs', '-')}")
    for error in result.errors:
        lines.append(f"error: {error}")
    return lines


#: Bar colours per target, in the order of :data:`TARGETS`.
_COLOURS = {PYTHON: "#3572a5", VARNISH: "#e07b39", MASTER: "#8c8c8c", NGINX: "#3c9d5d"}


def chart_svg(result: BenchResult) -> str:
    """A horizontal bar chart per measurement (failure counts left out), one bar per target,
    each labelled with its value; plain SVG, no library."""
    from xml.sax.saxutils import escape

    width, label_w, bar_w, bar_h, gap = 760, 110, 520, 16, 4
    rows = [r for r in result.rows if r.key not in FAILURE_ROWS]
    body, y = [], 40
    for row in rows:
        title = row.label if row.unit == "count" else f"{row.label} ({row.unit})"
        body.append(f'<text x="10" y="{y}" class="title">{escape(title)}</text>')
        y += 8
        numbers = [row.number(t.name) for t in result.targets]
        top = max((n for n in numbers if n is not None), default=0) or 1
        for target, number in zip(result.targets, numbers):
            body.append(f'<text x="{label_w - 6}" y="{y + bar_h - 4}" text-anchor="end">{escape(target.name)}</text>')
            if number is None:
                body.append(f'<text x="{label_w}" y="{y + bar_h - 4}" class="none">'
                            f'{escape(_shown(row.values[target.name], row.unit))}</text>')
            else:
                length = max(1.0, bar_w * number / top)
                body.append(f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_h}" '
                            f'fill="{_COLOURS.get(target.name, "#555")}"/>')
                body.append(f'<text x="{label_w + length + 4:.1f}" y="{y + bar_h - 4}">'
                            f'{escape(_shown(number, row.unit))}</text>')
            y += bar_h + gap
        y += 18
    title = (f"kit bench: {result.edge} edge site, {plural(result.cores, 'core')}, req/s by "
             f"{'wrk' if result.tools.get('req/s') == 'wrk' else 'python'}")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" viewBox="0 0 {width} {y}" '
        f'font-family="sans-serif" font-size="12">\n'
        "<style>.title { font-weight: bold; } .none { fill: #888; font-style: italic; }</style>\n"
        f'<rect width="{width}" height="{y}" fill="white"/>\n'
        f'<text x="10" y="20" class="title" font-size="14">{escape(title)}</text>\n'
        + "\n".join(body) + "\n</svg>\n"
    )
