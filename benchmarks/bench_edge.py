"""The edge against the master it fronts, measured in one run: a real
devpi-server (the master) with one index and one wheel, and ``python -m
kit.edge`` in front of it.

Prints, edge vs master, with ratios:
* a cached file GET over one keep-alive connection (median ms);
* a warm index page over one keep-alive connection (median ms);
* requests per second on a warm page with 16 keep-alive connections
  (a small aiohttp load generator; wrk is not needed).

Run: python benchmarks/bench_edge.py [--requests N] [--seconds S]
Targets (issue 9): cached file <= master and <= 2 ms; warm page <= master;
req/s >= 20x master. It prints numbers; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
FAST_DEVPI = {"DEVPISERVER_ARGON2_MEMORY_COST": "8", "DEVPISERVER_ARGON2_PARALLELISM": "1",
              "DEVPISERVER_ARGON2_TIME_COST": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def keepalive_medians(port: int, path: str, requests: int) -> float:
    """Median ms of GETs over one kept-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        times.append((time.perf_counter() - start) * 1000)
        assert response.status == 200, (port, path, response.status)
    conn.close()
    return statistics.median(times)


async def rate(port: int, path: str, seconds: float, connections: int = 16) -> float:
    import aiohttp

    done = 0
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        async def worker():
            nonlocal done
            while time.monotonic() < deadline:
                async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                    await response.read()
                    done += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
    return done / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from kit.edge import EdgeConfig
    from kit.sample import make_wheel

    tmp = Path(tempfile.mkdtemp(prefix="bench-edge-"))
    env = dict(os.environ, HOME=str(tmp / "home"), **FAST_DEVPI)
    procs = []
    try:
        master_port, edge_port = free_port(), free_port()
        subprocess.run([BIN / "devpi-init", "--serverdir", tmp / "master", "--root-passwd", "pw"], env=env, check=True,
                       capture_output=True)
        log = open(tmp / "master.log", "wb")
        procs.append(subprocess.Popen([BIN / "devpi-server", "--serverdir", tmp / "master", "--port", str(master_port),
                                       "--offline-mode"], env=env, stdout=log, stderr=subprocess.STDOUT))
        master = f"http://127.0.0.1:{master_port}"
        wait(f"{master}/+api")
        devpi = [BIN / "devpi", "--clientdir", tmp / "client"]
        for cmd in (["use", master], ["login", "root", "--password", "pw"], ["index", "-c", "root/dev", "bases="],
                    ["use", "root/dev"]):
            subprocess.run([*devpi, *cmd], env=env, check=True, capture_output=True)
        wheel = make_wheel(tmp / "dist", "bench-pkg", "1.0", marker="bench")
        subprocess.run([*devpi, "upload", wheel], env=env, check=True, capture_output=True)

        (tmp / "edge").mkdir()
        EdgeConfig(host="127.0.0.1", port=edge_port, public_url=f"http://127.0.0.1:{edge_port}", master=master,
                   mirrors=[], cache_dir="cache", page_ttl=60).write(tmp / "edge" / "edge.json")
        edge_log = open(tmp / "edge.log", "wb")
        procs.append(subprocess.Popen([sys.executable, "-m", "kit.edge", "edge.json"], cwd=tmp / "edge",
                                      stdout=edge_log, stderr=subprocess.STDOUT))
        wait(f"http://127.0.0.1:{edge_port}/+edge/health")

        page = "/root/dev/+simple/bench-pkg/"
        body = urllib.request.urlopen(f"{master}{page}").read().decode()
        href = body.split('href="')[1].split("#")[0]
        file_path = urllib.request.urljoin(page, href)
        size = len(urllib.request.urlopen(f"{master}{file_path}").read())
        for path in (page, file_path):  # warm the edge
            urllib.request.urlopen(f"http://127.0.0.1:{edge_port}{path}").read()

        rows = []
        for label, path in ((f"cached file GET ({size} bytes), one keep-alive connection, median ms", file_path),
                            ("warm page GET, one keep-alive connection, median ms", page)):
            edge_ms = keepalive_medians(edge_port, path, args.requests)
            master_ms = keepalive_medians(master_port, path, args.requests)
            rows.append((label, edge_ms, master_ms, f"edge/master {edge_ms / master_ms:.2f}x (lower is better)"))
        edge_rps = asyncio.run(rate(edge_port, page, args.seconds))
        master_rps = asyncio.run(rate(master_port, page, args.seconds))
        rows.append(("warm page, 16 keep-alive connections, req/s", edge_rps, master_rps,
                     f"edge/master {edge_rps / master_rps:.1f}x (higher is better)"))
        print(f"{'measure':62} {'edge':>10} {'master':>10}  ratio")
        for label, edge_value, master_value, ratio in rows:
            print(f"{label:62} {edge_value:10.2f} {master_value:10.2f}  {ratio}")
        print(json.dumps(json.loads(urllib.request.urlopen(f"http://127.0.0.1:{edge_port}/+edge/stats").read())))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
