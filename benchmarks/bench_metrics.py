"""What the edge's metrics cost (issue 24): warm-page requests per second of kit's
edge counting every request for ``/+edge/metrics`` and scraped once a second (as
Prometheus does, every few seconds), against the same build with the per-request
work off (``EdgeConfig.metrics = false``: no counting, no timing; the endpoint is
not scraped). Target: at most 5 % fewer requests per second.

On a real kit site (``kit init`` + ``kit up``: master, mirror, a team index with
one package), each round starts two extra edges from the site's own
``edge.json``, differing only in ``metrics``, ports and cache folders, and
measures them in turns (wrk -t2 -c16, the order alternating each round), so a
change in the machine's load falls on both alike. Printed: req/s, and requests
per CPU-second of each edge's process (steadier on a shared machine).
``--same`` is the control: both edges count, so their ratio shows the noise.

Run: python benchmarks/bench_metrics.py [--rounds N] [--seconds S] [--json]
It prints numbers and whether the target was met; nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_edge import TEAM_INDEX, bench_folder, PACKAGE, get, load, start_site, team_credentials, upload  # noqa: E402

from kit.core.processes import free_ports  # noqa: E402
from kit.ops.sample import make_wheel  # noqa: E402


def start_edge(site: Path, tmp: Path, name: str, metrics: bool) -> tuple[subprocess.Popen, int]:
    """An edge of the site's own settings (``metrics`` on or off) on a free port; (process, port)."""
    settings = json.loads((site / "cluster" / "edge.json").read_text())
    port = free_ports(1)[0]
    settings.update(port=port, redirect_port=0, cache_dir=str(tmp / f"cache-{name}"), metrics=metrics,
                    static_copy_dir="", static_copy_indexes=[], access_log=False)
    config = tmp / f"edge-{name}.json"
    config.write_text(json.dumps(settings))
    proc = subprocess.Popen([sys.executable, "-m", "kit.edge", str(config)], cwd=site / "cluster",
                            stdout=open(tmp / f"edge-{name}.log", "w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            if get(port, "/+edge/health")[0] == 200:
                return proc, port
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"edge {name} did not start: see {tmp / f'edge-{name}.log'}")
        time.sleep(0.1)


class Scraper(threading.Thread):
    """GET /+edge/metrics every ``every`` seconds until stopped; the times it took (ms)."""

    def __init__(self, port: int, every: float = 1.0):
        super().__init__(daemon=True)
        self.port, self.every, self.times, self.bytes = port, every, [], 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            start = time.perf_counter()
            status, _headers, body = get(self.port, "/+edge/metrics")
            self.times.append((time.perf_counter() - start) * 1000)
            if status != 200:
                raise SystemExit(f"/+edge/metrics: HTTP {status}")
            self.bytes = len(body)


def cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_pair(site: Path, tmp: Path, page: str, number: int, same: bool) -> dict[str, tuple[subprocess.Popen, int]]:
    """A fresh pair of edges for one round, started in alternating order, warmed: {"on": ..., "off": ...}."""
    pair = {}
    for which in (("on", "off") if number % 2 == 0 else ("off", "on")):
        pair[which] = start_edge(site, tmp, f"{which}-{number}", which == "on" or same)
    for _proc, port in pair.values():
        status = get(port, page)[0]
        if status != 200:
            raise SystemExit(f"{page}: HTTP {status}")
    if get(pair["off"][1], "/+edge/metrics")[0] != 200:  # served either way; only the counting is off
        raise SystemExit("/+edge/metrics of the edge with metrics off: not 200")
    return pair


def measure(site: Path, tmp: Path, page: str, rounds: int, seconds: float, scrape: bool = True,
            same: bool = False, every: float = 1.0) -> dict:
    """req/s of each edge, and requests per CPU-second of its process (less moved by what else the
    machine runs: the edges share two cores with wrk). Each round has edges of its own, so what
    two processes differ by alone (where the scheduler puts them) falls on either side."""
    rates = {"on": [], "off": []}
    per_cpu = {"on": [], "off": []}
    scrapes: list[float] = []
    size = 0
    for number in range(rounds):
        pair = start_pair(site, tmp, page, number, same)
        try:
            for which in (("on", "off") if number % 2 == 0 else ("off", "on")):
                proc, port = pair[which]
                scraper = Scraper(port, every) if which == "on" and scrape else None
                if scraper:
                    scraper.start()
                cpu = cpu_seconds(proc.pid)
                rate, errors = load(f"http://127.0.0.1:{port}{page}", seconds)
                per_cpu[which].append(rate * seconds / max(cpu_seconds(proc.pid) - cpu, 1e-9))
                if scraper:
                    scraper.done.set()
                    scraper.join()
                    scrapes += scraper.times
                    size = scraper.bytes
                if errors:
                    raise SystemExit(f"edge with metrics {which}: {errors} errors under load")
                rates[which].append(rate)
        finally:
            for proc, _port in pair.values():
                proc.terminate()
                proc.wait(timeout=10)
    ratios = [on / off for on, off in zip(rates["on"], rates["off"])]
    cpu_ratios = [on / off for on, off in zip(per_cpu["on"], per_cpu["off"])]
    return {"rates": rates, "ratios": ratios, "median_on": statistics.median(rates["on"]),
            "median_off": statistics.median(rates["off"]), "median_ratio": statistics.median(ratios),
            "per_cpu_second": per_cpu, "cpu_ratios": cpu_ratios, "median_cpu_ratio": statistics.median(cpu_ratios),
            "scrape_ms_median": statistics.median(scrapes) if scrapes else None, "exposition_bytes": size,
            "load_generator": "wrk -t2 -c16" if shutil.which("wrk") else "aiohttp, 16 connections"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6, help="paired rounds (each edge measured once per round)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per measure")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of lines")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between scrapes (Prometheus: 5-60)")
    parser.add_argument("--no-scrape", action="store_true", help="a control: the edge with metrics is not scraped")
    parser.add_argument("--same", action="store_true",
                        help="a control: both edges count (metrics on), to see what two processes differ by alone")
    args = parser.parse_args()
    with bench_folder("bench-metrics-") as (tmp, site, env):
        # Read by anyone: the edge's own hot path, as bench_edge.py measures it.
        _m, _r, e = start_site(tmp, site, env, "read_access=anonymous")
        user, password = team_credentials(site)
        if upload(e, user, password, make_wheel(tmp / "dist", PACKAGE, "1.0", marker="bench")) != 200:
            raise SystemExit("the upload failed")
        page = f"/{TEAM_INDEX}/+simple/{PACKAGE}/"
        results = measure(site, tmp, page, args.rounds, args.seconds, scrape=not args.no_scrape, same=args.same,
                          every=args.every)
        if args.json:
            print(json.dumps(results, indent=2))
            return
        print(f"warm page {page}, req/s ({results['load_generator']}, {args.rounds} paired rounds of "
              f"{args.seconds:g} s, order alternating)")
        for label, key in (("metrics on, scraped 1/s", "on"), ("metrics off (baseline)", "off")):
            print(f"   {label:26} " + " ".join(f"{r:8,.0f}" for r in results["rates"][key])
                  + f"   median {results[f'median_{key}']:,.0f}")
        print("   on/off per round        " + " ".join(f"{r:8.3f}" for r in results["ratios"])
              + f"   median {results['median_ratio']:.3f}")
        print("requests per CPU-second of the edge's process")
        for label, key in (("metrics on, scraped 1/s", "on"), ("metrics off (baseline)", "off")):
            print(f"   {label:26} " + " ".join(f"{r:8,.0f}" for r in results["per_cpu_second"][key]))
        print("   on/off per round        " + " ".join(f"{r:8.3f}" for r in results["cpu_ratios"])
              + f"   median {results['median_cpu_ratio']:.3f}")
        loss = (1 - results["median_ratio"]) * 100
        print(f"   loss in req/s {loss:.1f} % (target <= 5 %: {'met' if loss <= 5 else 'NOT met'}); per CPU-second "
              f"{(1 - results['median_cpu_ratio']) * 100:.1f} %; a scrape took "
              f"{results['scrape_ms_median'] or 0:.1f} ms (median), {results['exposition_bytes']:,} bytes")
        print(f"   load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
