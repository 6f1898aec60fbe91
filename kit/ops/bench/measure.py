"""The measurements: latency over one keep-alive connection, requests per
second on a warm page (wrk, else a Python loop), the 23 pages + 23 files,
upload→listed, and installs while the master is killed."""

from __future__ import annotations

import asyncio
import math
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from kit.core.errors import BenchError, one_line
from kit.core.report import plural
from kit.site.templating import write_private
from kit.ops.bench.client import Failures, connection, fetch, first_file, tls_context
from kit.ops.bench.report import shown
from kit.ops.bench.result import ACCEPT, BENCH_INDEX, LISTED_PROJECT, LISTED_TIMEOUT, Row, Say, Settings, Target
from kit.ops.bench.workload import upload

if TYPE_CHECKING:
    from kit.ops.drill import Installs

__all__ = [
    "percentile", "latency", "fetch_all", "wrk_rate", "python_rate", "read_measurements", "upload_to_listed",
    "installs_with_master_killed",
]


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` 0.5 is the median, 0.99 the 99th)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))]


def latency(root_url: str, path: str, count: int, target: str, failures: Failures) -> list[float]:
    """Seconds of each of ``count`` sequential GETs over one connection."""
    times = []
    with connection(root_url) as client:
        for _ in range(count):
            started = time.perf_counter()
            if fetch(client, path, target, failures) is not None:
                times.append(time.perf_counter() - started)
    return times


def fetch_all(root_url: str, pages: list[str], target: str, failures: Failures) -> float | None:
    """Seconds to read each page and the file it links, one after the other on one connection."""
    ok = True
    with connection(root_url) as client:
        started = time.perf_counter()
        for page in pages:
            body = fetch(client, page, target, failures)
            href = first_file(body) if body is not None else None
            if href is None or fetch(client, urljoin(page, href), target, failures) is None:
                ok = False
        took = time.perf_counter() - started
    return took if ok else None


# -- requests per second ---------------------------------------------------------------


def wrk_rate(wrk: str, url: str, settings: Settings, authorization: str = "") -> tuple[float, int, str]:
    """Requests/sec, failed requests (non-2xx/3xx and socket errors), and a problem ("" when none).

    ``authorization``: an Authorization header every request carries (an
    authorised read); handed to wrk in a script file of mode 0600, never on its command line.
    """
    argv = [wrk, "-t2", f"-c{settings.connections}", f"-d{settings.rate_seconds}s", "--latency",
            "-H", f"Accept: {ACCEPT}", url]
    with tempfile.TemporaryDirectory(prefix="kit-bench-") as folder:
        if authorization:
            script = Path(folder) / "authorised.lua"
            write_private(script, f'wrk.headers["Authorization"] = "{authorization}"\n', 0o600)
            argv[1:1] = ["-s", str(script)]
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


def python_rate(root_url: str, path: str, settings: Settings, authorization: str = "") -> tuple[float, int, str]:
    """The fallback without wrk: keep-alive connections from one asyncio loop (it saturates
    its own core long before nginx or Varnish do); ``authorization`` as :func:`wrk_rate` takes it."""
    parts = urlsplit(root_url)
    tls = parts.scheme == "https"
    host, port = parts.hostname or "127.0.0.1", parts.port or (443 if tls else 80)
    # An https edge is read over TLS as its clients read it: the certificate checked with the site CA.
    context = tls_context() if tls else None
    sent = f"Authorization: {authorization}\r\n" if authorization else ""
    request = f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: {ACCEPT}\r\n{sent}\r\n".encode()
    done, failed, problems = [0], [0], []

    async def one(deadline: float) -> None:
        try:
            reader, writer = await asyncio.open_connection(host, port, ssl=context)
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


# -- one target: every read measurement --------------------------------------------------


def read_measurements(target: Target, pages: list[str], file_path: str, rows: dict[str, Row],
                      settings: Settings, wrk: str | None, failures: Failures, say: Say) -> None:
    """Latency, req/s and the 23+23 fetch for one target (its caches warmed first)."""
    name = target.name
    fetch_all(target.url, pages, name, failures)  # warm: every page and file cached
    for key, path in (("page", pages[0]), ("file", file_path)):
        times = latency(target.url, path, settings.requests, name, failures)
        if times:
            rows[f"{key}_p50"].values[name] = round(percentile(times, 0.5) * 1000, 3)
            rows[f"{key}_p99"].values[name] = round(percentile(times, 0.99) * 1000, 3)
    took = fetch_all(target.url, pages, name, failures)
    if took is not None:
        rows["fetch_23"].values[name] = round(took, 4)
    if wrk:
        rate, failed, problem = wrk_rate(wrk, target.url + pages[0], settings)
    else:
        rate, failed, problem = python_rate(target.url, pages[0], settings)
    if rate:
        rows["warm_page_rps"].values[name] = round(rate, 1)
    if problem:
        failures.add(name, problem, max(failed, 1))
    say(f"bench: {name}: page p50 {shown(rows['page_p50'].values[name], 'ms')} ms, "
        f"file p50 {shown(rows['file_p50'].values[name], 'ms')} ms, "
        f"{shown(rows['warm_page_rps'].values[name], 'req/s')} req/s on a warm page, "
        f"23 pages + 23 files in {shown(rows['fetch_23'].values[name], 's')} s")


def authorised_rate(target: Target, page: str, rows: dict[str, Row], settings: Settings, wrk: str | None,
                    failures: Failures, say: Say, authorization: str, team: str) -> None:
    """req/s of the warm ``page`` with ``team``'s credentials (``authorization``, a Basic
    header) at kit's edge, in the run that measured it anonymously; the ratio said."""
    name = target.name
    if wrk:
        rate, failed, problem = wrk_rate(wrk, target.url + page, settings, authorization)
    else:
        rate, failed, problem = python_rate(target.url, page, settings, authorization)
    if rate:
        rows["warm_page_auth_rps"].values[name] = round(rate, 1)
    if problem:
        failures.add(name, f"authorised as {team}: {problem}", max(failed, 1))
    anonymous = rows["warm_page_rps"].number(name)
    share = f" ({rate / anonymous:.2f}× the anonymous warm page)" if rate and anonymous else ""
    say(f"bench: {name}: {shown(rows['warm_page_auth_rps'].values[name], 'req/s')} req/s on a warm page "
        f"authorised as team {team}{share}")


# -- uploads: how soon a new file is listed ------------------------------------------


def upload_to_listed(target: Target, upload_url: str, auth: str, wheels: list[Path], failures: Failures,
                     say: Say) -> list[float]:
    """For each wheel: read its project's page on the target twice (so it is cached), upload the
    wheel through ``upload_url`` (the site's edge, as twine does with the generated .pypirc), then
    read the page on the target until it lists the file; the seconds from the upload's answer."""
    page = f"/{BENCH_INDEX}/+simple/{LISTED_PROJECT}/"
    times = []
    with connection(target.url) as client:
        for wheel in wheels:
            fetch(client, page, target.name, failures)
            fetch(client, page, target.name, failures)
            try:
                upload(upload_url, auth, wheel)
            except BenchError as exc:
                failures.add(target.name, str(exc))
                continue
            answered = time.perf_counter()
            while True:
                body = fetch(client, page, target.name, failures)
                waited = time.perf_counter() - answered
                if body is not None and wheel.name.encode() in body:
                    times.append(waited)
                    break
                if waited > LISTED_TIMEOUT:
                    failures.add(target.name, f"{wheel.name} not listed {LISTED_TIMEOUT:g} s after its upload")
                    break
                time.sleep(0.002)
    if times:
        say(f"bench: {target.name}: {plural(len(times), 'upload')} listed after p50 {percentile(times, 0.5):.3f} s, "
            f"max {max(times):.3f} s")
    return times


# -- installs during a master kill ---------------------------------------------------------


def _trusting(installer, ca_file: str) -> None:
    """Have ``installer``'s clients trust ``ca_file`` (an https site's CA): uv reads
    SSL_CERT_FILE, pip (isolated from its own settings) requests' REQUESTS_CA_BUNDLE."""
    clean = installer.env
    installer.env = lambda tmp: {**clean(tmp), "SSL_CERT_FILE": ca_file, "REQUESTS_CA_BUNDLE": ca_file}


def installs_with_master_killed(cluster, targets: list[Target], project: str, outage: float,
                                say: Say, ca_file: str = "") -> tuple[dict[str, "Installs"], str]:
    """Kill the master (SIGKILL), install ``project`` through each target that fails over, all
    at once, for ``outage`` seconds (kit.drill's installs: uv, else pip, in a clean environment,
    trusting ``ca_file`` too when given), then bring the master back (always) and wait for the mirror."""
    from kit.ops.drill import Installer

    results: dict[str, Installs] = {}
    installers = {t.name: Installer(f"{t.url}/{BENCH_INDEX}/+simple/", project) for t in targets}
    if ca_file:
        for installer in installers.values():
            _trusting(installer, ca_file)
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
