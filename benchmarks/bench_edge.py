"""The CDN edge measured against its targets (issue 9), in one run, on a real
kit site: ``kit init`` + ``kit up`` (master, mirror, edge with the purge
plugin, a local upstream), a team index with one package.

Prints, with ratios against baselines measured in the same run:

1. a cached package file and a warm index page, GET over one keep-alive
   connection: median and p99 ms, edge against the master (devpi) directly;
2. requests per second on a warm page, 16 keep-alive connections (wrk -t2
   -c16 when wrk is installed, else a small aiohttp load generator): edge,
   master, and nginx serving the same bytes as a static file (if installed);
3. upload -> listed at the edge, while the page is cached: N uploads straight
   to the master (so the edge hears of them only from the purge plugin);
4. installs (uv) through the edge while the master is killed with SIGKILL;
5. 500 idle client connections held open: a normal request's time, then
   16 keep-alive clients under load beside them: errors;
6. a 200 MB upload through the edge: the edge's resident memory.

Run: python benchmarks/bench_edge.py [--json] [--uploads N] [--installs N] [--seconds S]
It prints numbers and whether each target was met; nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import configparser
import contextlib
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kit.core.processes import free_ports  # noqa: E402
from kit.ops.sample import make_wheel  # noqa: E402

BIN = Path(sys.executable).parent
TEAM_INDEX = "team/private"
PACKAGE = "bench-pkg"


# -- helpers ---------------------------------------------------------------------


def kit(*args: str, env: dict) -> None:
    subprocess.run([sys.executable, "-m", "kit", *args], check=True, env=env, stdout=subprocess.DEVNULL)


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def keepalive_times(port: int, path: str, requests: int) -> list[float]:
    """ms of each GET over one kept-alive connection (what pip does)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        times.append((time.perf_counter() - start) * 1000)
        if response.status != 200:
            raise SystemExit(f"GET {path} on port {port}: HTTP {response.status}")
    conn.close()
    return times


def wrk_rate(url: str, seconds: float) -> tuple[float, int]:
    """(req/s, errors) from wrk -t2 -c16."""
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds:g}s", url], capture_output=True, text=True,
                         check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate, errors + (int(non2xx.group(1)) if non2xx else 0)


async def _aiohttp_rate(url: str, seconds: float, connections: int = 16) -> tuple[float, int]:
    import aiohttp

    done = errors = 0
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        async def worker():
            nonlocal done, errors
            while time.monotonic() < deadline:
                try:
                    async with session.get(url) as response:
                        await response.read()
                        done += 1
                        errors += response.status != 200
                except aiohttp.ClientError:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
    return done / seconds, errors


def load(url: str, seconds: float) -> tuple[float, int]:
    return wrk_rate(url, seconds) if shutil.which("wrk") else asyncio.run(_aiohttp_rate(url, seconds))


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def upload(port: int, user: str, password: str, wheel: Path) -> int:
    """POST a wheel as twine does (devpi's upload API); the HTTP status."""
    name, version = wheel.name.split("-")[:2]
    boundary = "kit-bench-" + os.urandom(8).hex()
    fields = {":action": "file_upload", "protocol_version": "1", "name": name, "version": version,
              "metadata_version": "2.1", "filetype": "bdist_wheel", "pyversion": "py3"}
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{wheel.name}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + wheel.read_bytes() + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        conn.request("POST", f"/{TEAM_INDEX}/", body=b"".join(parts),
                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                              "Authorization": f"Basic {auth}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def big_wheel(folder: Path, megabytes: int) -> Path:
    """A valid wheel carrying ``megabytes`` of random, incompressible data."""
    path = folder / f"{PACKAGE.replace('-', '_')}-999.0-py3-none-any.whl"
    dist_info = f"{PACKAGE.replace('-', '_')}-999.0.dist-info"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as wheel:
        with wheel.open(f"{PACKAGE.replace('-', '_')}/blob.bin", "w", force_zip64=True) as blob:
            for _ in range(megabytes):
                blob.write(os.urandom(1024 * 1024))
        wheel.writestr(f"{dist_info}/METADATA", f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: 999.0\n")
        wheel.writestr(f"{dist_info}/WHEEL", "Wheel-Version: 1.0\nGenerator: kit-bench\nRoot-Is-Purelib: true\n"
                                             "Tag: py3-none-any\n")
        wheel.writestr(f"{dist_info}/RECORD", "")
    return path


class Nginx:
    """nginx serving one folder on a free port, from a config of our own (never the system's)."""

    def __init__(self, root: Path, work: Path):
        self.root, self.work = root, work
        self.port = free_ports(1)[0]
        self.proc = None

    def __enter__(self) -> "Nginx":
        self.work.mkdir(parents=True, exist_ok=True)
        conf = self.work / "nginx.conf"
        conf.write_text(f"""worker_processes auto;
pid {self.work}/nginx.pid;
error_log {self.work}/error.log;
daemon off;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {self.work}/body; proxy_temp_path {self.work}/proxy;
  fastcgi_temp_path {self.work}/fastcgi; uwsgi_temp_path {self.work}/uwsgi; scgi_temp_path {self.work}/scgi;
  server {{ listen 127.0.0.1:{self.port}; root {self.root}; default_type text/html; }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-e", str(self.work / "error.log"), "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise SystemExit("nginx did not start: " + (self.work / "error.log").read_text(errors="replace")[-500:])

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# -- the measurements ------------------------------------------------------------------


def measure_latency(edge: int, master: int, page: str, file_path: str, requests: int) -> list[dict]:
    rows = []
    for what, path in (("cached file", file_path), ("warm page", page)):
        edge_t, master_t = keepalive_times(edge, path, requests), keepalive_times(master, path, requests)
        rows.append({"measure": f"{what}, one keep-alive connection", "edge_median_ms": statistics.median(edge_t),
                     "edge_p99_ms": percentile(edge_t, 0.99), "master_median_ms": statistics.median(master_t),
                     "master_p99_ms": percentile(master_t, 0.99)})
    return rows


def measure_rates(edge: int, master: int, page: str, seconds: float, tmp: Path) -> dict:
    out = {"load_generator": "wrk -t2 -c16" if shutil.which("wrk") else "aiohttp, 16 connections (wrk not installed)"}
    out["edge_rps"], out["edge_errors"] = load(f"http://127.0.0.1:{edge}{page}", seconds)
    out["master_rps"], out["master_errors"] = load(f"http://127.0.0.1:{master}{page}", seconds)
    if shutil.which("nginx"):
        root = tmp / "static"
        (root / "page").mkdir(parents=True)
        (root / "page" / "index.html").write_bytes(get(edge, page)[2])
        with Nginx(root, tmp / "nginx") as nginx:
            out["nginx_static_rps"], _ = load(f"http://127.0.0.1:{nginx.port}/page/", seconds)
    else:
        out["nginx_static_rps"] = None
        out["nginx_skipped"] = "nginx not installed (Debian: apt-get install nginx-light)"
    return out


def measure_upload_to_listed(edge: int, master: int, user: str, password: str, uploads: int, tmp: Path) -> dict:
    """Each upload goes straight to the master while the edge holds the page cached."""
    page = f"/{TEAM_INDEX}/+simple/{PACKAGE}/"
    since_return, since_start, hits_before = [], [], 0
    for n in range(uploads):
        version = f"2.{n}"
        wheel = make_wheel(tmp / "uploads", PACKAGE, version, marker="bench")
        for _ in range(2):  # the page is cached, and the second GET is a hit
            _, headers, body = get(edge, page)
        hits_before += headers.get("X-Cache") == "HIT"
        started = time.perf_counter()
        status = upload(master, user, password, wheel)
        returned = time.perf_counter()
        if status != 200:
            raise SystemExit(f"upload of {wheel.name} to the master: HTTP {status}")
        needle = wheel.name.encode()
        while needle not in get(edge, page)[2]:
            if time.perf_counter() - returned > 30:
                raise SystemExit(f"{wheel.name} not listed at the edge after 30 s")
            time.sleep(0.002)
        listed = time.perf_counter()
        since_return.append(listed - returned)
        since_start.append(listed - started)
    return {"uploads": uploads, "page_cached_before_upload": hits_before,
            "listed_after_upload_returned_p50_s": statistics.median(since_return),
            "listed_after_upload_returned_p99_s": percentile(since_return, 0.99),
            "listed_after_upload_returned_max_s": max(since_return),
            "upload_start_to_listed_p50_s": statistics.median(since_start),
            "upload_start_to_listed_p99_s": percentile(since_start, 0.99),
            "upload_start_to_listed_max_s": max(since_start)}


def measure_installs_through_kill(edge: int, site: Path, installs: int, kill_at: int, env: dict, tmp: Path) -> dict:
    """Installs of the newest small release (<3: not the 200 MB one) while the master dies."""
    venv = tmp / "install-venv"
    subprocess.run([BIN / "uv", "venv", "-q", str(venv)], check=True, env=env)
    index = f"http://127.0.0.1:{edge}/{TEAM_INDEX}/+simple/"
    times, failures, after_kill = [], [], []
    master_pid = int((site / "cluster" / "run" / "pids" / "master.pid").read_text())
    for n in range(installs):
        if n == kill_at:
            os.kill(master_pid, signal.SIGKILL)
        start = time.perf_counter()
        done = subprocess.run([BIN / "uv", "pip", "install", "-q", "--no-cache", "--reinstall", "--python",
                               str(venv / "bin" / "python"), "--index-url", index, f"{PACKAGE}<3"],
                              env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        if n >= kill_at:
            after_kill.append(elapsed)
        if done.returncode:
            failures.append(done.stderr.strip().splitlines()[-1:] or ["?"])
        time.sleep(0.1)  # paced: the installs span the page's time to live, so some revalidate with the master gone
    return {"installs": installs, "master_killed_before_install": kill_at + 1, "failed": len(failures),
            "failures": failures[:3], "median_s": statistics.median(times), "max_s": max(times),
            "max_after_kill_s": max(after_kill) if after_kill else None}


def measure_idle_connections(edge: int, page: str, idle: int, seconds: float) -> dict:
    sockets = []
    try:
        for _ in range(idle):
            sockets.append(socket.create_connection(("127.0.0.1", edge), timeout=5))
        # Half of them start a request and never finish it: slow clients, not only silent ones.
        for sock in sockets[: idle // 2]:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        times = []
        for _ in range(21):  # the first waits while the edge is still taking in the 500 new connections
            start = time.perf_counter()
            status, _, _ = get(edge, page)
            times.append(time.perf_counter() - start)
        one, then = times[0], statistics.median(times[1:])
        rate, errors = load(f"http://127.0.0.1:{edge}{page}", seconds)
        still_open = 0
        for sock in sockets:
            sock.setblocking(False)
            try:
                still_open += sock.recv(1) != b""
            except BlockingIOError:
                still_open += 1
            except OSError:
                pass
        return {"idle_connections": idle, "request_beside_them_s": one, "then_median_s": then, "status": status,
                "rps_beside_them": rate, "errors_under_load": errors, "idle_still_open": still_open}
    finally:
        for sock in sockets:
            sock.close()


def measure_big_upload(edge: int, edge_pid: int, user: str, password: str, megabytes: int, tmp: Path) -> dict:
    wheel = big_wheel(tmp, megabytes)
    peak = [rss_kib(edge_pid)]
    before = peak[0]
    running = True

    def sample():
        while running:
            peak[0] = max(peak[0], rss_kib(edge_pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    # curl streams the file from disk; a Python client would hold it whole and measure itself.
    auth = f"{user}:{password}"
    done = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-u", auth,
                           "-F", ":action=file_upload", "-F", "protocol_version=1", "-F", f"name={PACKAGE}",
                           "-F", "version=999.0", "-F", "filetype=bdist_wheel", "-F", "pyversion=py3",
                           "-F", "metadata_version=2.1", "-F", f"content=@{wheel}",
                           f"http://127.0.0.1:{edge}/{TEAM_INDEX}/"], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    running = False
    sampler.join()
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    listed = digest in get(edge, f"/{TEAM_INDEX}/+simple/{PACKAGE}/")[2].decode()
    wheel.unlink()
    return {"megabytes": megabytes, "status": done.stdout.strip() or done.stderr.strip(), "seconds": elapsed,
            "listed_with_its_sha256": listed, "edge_rss_before_mib": before / 1024,
            "edge_rss_peak_mib": peak[0] / 1024, "edge_vmhwm_mib": rss_kib(edge_pid, "VmHWM") / 1024}


# -- the run ---------------------------------------------------------------------------


def bench_env(tmp: Path) -> dict[str, str]:
    """This process's environment without the machine's packaging settings, its home in ``tmp``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "DEVPISERVER_"))}
    env.update(HOME=str(tmp / "home"), PIP_CONFIG_FILE=os.devnull, UV_NO_CONFIG="1")
    return env


@contextlib.contextmanager
def bench_folder(prefix: str) -> Iterator[tuple[Path, Path, dict[str, str]]]:
    """(a new temporary folder, the site's path in it, the environment of :func:`bench_env`);
    afterwards the site, if made, is stopped (``kit down``) and the folder removed."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    env = bench_env(tmp)
    site = tmp / "site"
    try:
        yield tmp, site, env
    finally:
        if site.exists():
            subprocess.run([sys.executable, "-m", "kit", "down", str(site)], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


def start_site(tmp: Path, site: Path, env: dict, *answers: str) -> tuple[int, int, int]:
    """``kit init`` (with ``answers``, ``name=value`` each) and ``kit up`` of a site on free ports,
    its upstream a folder of one wheel; (master, mirror, edge) ports."""
    make_wheel(tmp / "wheels", "bench-upstream", "1.0")
    m, r, e, u = free_ports(4)
    more = [arg for answer in answers for arg in ("--set", answer)]
    kit("init", str(site), "--no-input", "--set", f"upstream={tmp / 'wheels'}", "--set", f"master_port={m}",
        "--set", f"mirror_port={r}", "--set", f"edge_port={e}", "--set", f"upstream_port={u}", *more, env=env)
    kit("up", str(site), env=env)
    return m, r, e


def team_credentials(site: Path) -> tuple[str, str]:
    pypirc = configparser.RawConfigParser()
    pypirc.read(site / "teams" / "team" / ".pypirc")
    return pypirc["team"]["username"], pypirc["team"]["password"]


def report(results: dict) -> None:
    lat = results["latency"]
    print("1. GET over one keep-alive connection (ms)")
    print(f"   {'':40} {'edge p50':>9} {'edge p99':>9} {'master p50':>11} {'master p99':>11} {'edge/master':>12}")
    for row in lat:
        print(f"   {row['measure']:40} {row['edge_median_ms']:9.2f} {row['edge_p99_ms']:9.2f} "
              f"{row['master_median_ms']:11.2f} {row['master_p99_ms']:11.2f} "
              f"{row['edge_median_ms'] / row['master_median_ms']:11.2f}x")
    file_row, page_row = lat
    print(f"   target: cached file <= master and <= 2 ms: "
          f"{_met(file_row['edge_median_ms'] <= min(file_row['master_median_ms'], 2))}; "
          f"warm page <= master: {_met(page_row['edge_median_ms'] <= page_row['master_median_ms'])}")
    r = results["rates"]
    print(f"2. warm page, req/s ({r['load_generator']})")
    print(f"   edge {r['edge_rps']:,.0f} (errors {r['edge_errors']})   master {r['master_rps']:,.0f}   "
          f"edge/master {r['edge_rps'] / r['master_rps']:.1f}x")
    if r["nginx_static_rps"]:
        print(f"   nginx static {r['nginx_static_rps']:,.0f}   edge/nginx {r['edge_rps'] / r['nginx_static_rps']:.2f}x")
        nginx_ok = r["edge_rps"] >= 0.2 * r["nginx_static_rps"]
    else:
        print(f"   nginx static: skipped, {r['nginx_skipped']}")
        nginx_ok = None
    print(f"   target: >= 20x master: {_met(r['edge_rps'] >= 20 * r['master_rps'])}; "
          f">= 0.2x nginx static: {_met(nginx_ok)}")
    u = results["upload_to_listed"]
    print(f"3. upload -> listed at the edge, {u['uploads']} uploads straight to the master, "
          f"page cached before {u['page_cached_before_upload']} of them (s)")
    print(f"   after the upload returned: p50 {u['listed_after_upload_returned_p50_s']:.3f}  "
          f"p99 {u['listed_after_upload_returned_p99_s']:.3f}  max {u['listed_after_upload_returned_max_s']:.3f}")
    print(f"   from the upload's start:   p50 {u['upload_start_to_listed_p50_s']:.3f}  "
          f"p99 {u['upload_start_to_listed_p99_s']:.3f}  max {u['upload_start_to_listed_max_s']:.3f}")
    print(f"   target: every one <= 0.5 s: {_met(u['upload_start_to_listed_max_s'] <= 0.5)}")
    k = results["installs_through_master_kill"]
    print(f"4. {k['installs']} installs (uv) through the edge, master SIGKILLed before install "
          f"{k['master_killed_before_install']}")
    print(f"   failed {k['failed']}  median {k['median_s']:.3f} s  slowest {k['max_s']:.3f} s  "
          f"slowest after the kill {k['max_after_kill_s']:.3f} s")
    print(f"   target: none failed, none slower than 1 s: {_met(k['failed'] == 0 and k['max_s'] <= 1)}")
    i = results["idle_connections"]
    print(f"5. {i['idle_connections']} idle connections held open (half with a request never finished)")
    print(f"   a request beside them, on a new connection: {i['request_beside_them_s'] * 1000:.1f} ms, then "
          f"{i['then_median_s'] * 1000:.1f} ms median (HTTP {i['status']}); "
          f"16 keep-alive clients beside them: {i['rps_beside_them']:,.0f} req/s, {i['errors_under_load']} errors; "
          f"idle still open {i['idle_still_open']}")
    print(f"   target: answers within 1 s, zero errors: "
          f"{_met(i['request_beside_them_s'] <= 1 and i['errors_under_load'] == 0 and i['status'] == 200)}")
    b = results["big_upload"]
    print(f"6. a {b['megabytes']} MB upload through the edge: HTTP {b['status']} in {b['seconds']:.1f} s, "
          f"listed with its sha256: {b['listed_with_its_sha256']}")
    print(f"   edge RSS before {b['edge_rss_before_mib']:.0f} MiB, peak during {b['edge_rss_peak_mib']:.0f} MiB, "
          f"high-water mark of the edge's life {b['edge_vmhwm_mib']:.0f} MiB")
    print(f"   target: under 100 MB: {_met(b['edge_rss_peak_mib'] * 1.048576 < 100 and b['status'] == '200')}")


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else "met" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.add_argument("--requests", type=int, default=500, help="GETs per keep-alive latency measure")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per req/s measure")
    parser.add_argument("--uploads", type=int, default=25)
    parser.add_argument("--installs", type=int, default=50)
    parser.add_argument("--idle", type=int, default=500)
    parser.add_argument("--megabytes", type=int, default=200)
    args = parser.parse_args()
    with bench_folder("bench-edge-") as (tmp, site, env):
        # Read by anyone: this measures the edge's own hot path (private reads: bench_resolver_answers.py).
        m, _r, e = start_site(tmp, site, env, "read_access=anonymous")
        user, password = team_credentials(site)
        first = make_wheel(tmp / "dist", PACKAGE, "1.0", marker="bench")
        if upload(e, user, password, first) != 200:
            raise SystemExit("the first upload failed")
        page = f"/{TEAM_INDEX}/+simple/{PACKAGE}/"
        body = get(e, page)[2].decode()
        file_path = "/" + TEAM_INDEX + "/" + re.search(r'href="\.\./\.\./([^"#]+)', body).group(1)
        for path in (page, file_path):  # warm the edge
            get(e, path)
        results = {
            "latency": measure_latency(e, m, page, file_path, args.requests),
            "rates": measure_rates(e, m, page, args.seconds, tmp),
            "upload_to_listed": measure_upload_to_listed(e, m, user, password, args.uploads, tmp),
            "idle_connections": measure_idle_connections(e, page, args.idle, args.seconds),
        }
        edge_pid = int((site / "cluster" / "run" / "pids" / "edge.pid").read_text())
        results["big_upload"] = measure_big_upload(e, edge_pid, user, password, args.megabytes, tmp)
        # Last: it kills the master.
        results["installs_through_master_kill"] = measure_installs_through_kill(e, site, args.installs,
                                                                                args.installs // 5, env, tmp)
        results["edge_stats"] = json.loads(get(e, "/+edge/stats")[2])
        if args.json:
            print(json.dumps(results, indent=2))
        else:
            report(results)
            print("edge counters:", json.dumps(results["edge_stats"]))


if __name__ == "__main__":
    main()
