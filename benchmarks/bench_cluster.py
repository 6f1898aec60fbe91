"""Wall time of `kit up` to all-healthy and of `kit down`, against one
devpi-server started with devpi's default key derivation (what each start
would cost without kit's tuning), and against `kit --version` (the floor of
any kit command: starting Python and kit).

Run: python benchmarks/bench_cluster.py [--runs N]
Targets: `kit up` to all-healthy under 3 s (issue 3); `kit down` under 2 s
(issue 7: it took ~8 s when stopped services lingered as zombies). Prints
numbers only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from kit.cluster.lifecycle import free_ports
from kit.ops.sample import make_wheel

BIN = Path(sys.executable).parent


def kit(*args: str, env: dict) -> None:
    subprocess.run([sys.executable, "-m", "kit", *args], check=True, env=env, stdout=subprocess.DEVNULL)


def time_kit_up(tmp: Path, env: dict, fresh: bool) -> tuple[float, float]:
    """One `kit up` (fresh: including creating the data folders), then `kit down`: both times."""
    site = tmp / "site"
    if fresh or not site.exists():
        if site.exists():
            subprocess.run(["rm", "-rf", str(site)], check=True)
        m, r, e, u = free_ports(4)
        kit("init", str(site), "--no-input", "--set", f"upstream={tmp / 'wheels'}", "--set", f"master_port={m}",
            "--set", f"mirror_port={r}", "--set", f"edge_port={e}", "--set", f"upstream_port={u}", env=env)
    start = time.perf_counter()
    kit("up", str(site), env=env)
    up = time.perf_counter() - start
    start = time.perf_counter()
    kit("down", str(site), env=env)
    return up, time.perf_counter() - start


def time_default_devpi(tmp: Path, env: dict) -> float:
    """devpi-server with its default argon2 settings, from start to answering."""
    data = tmp / "default-devpi"
    subprocess.run([BIN / "devpi-init", "--serverdir", data, "--no-root-pypi"], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (port,) = free_ports(1)
    secret = tmp / "secret"
    secret.write_text(os.urandom(32).hex())
    secret.chmod(0o600)
    start = time.perf_counter()
    proc = subprocess.Popen([BIN / "devpi-server", "--serverdir", data, "--port", str(port), "--secretfile", secret],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/+api", timeout=1).close()
                started = time.perf_counter() - start
                break
            except OSError:
                time.sleep(0.05)
        return started
    finally:
        proc.kill()
        proc.wait()


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "DEVPISERVER_"))}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        make_wheel(tmp / "wheels", "bench-upstream", "1.0")
        env["HOME"] = str(tmp / "home")
        baseline = time_default_devpi(tmp, env)
        floor = statistics.median(_timed(lambda: kit("--version", env=env)) for _ in range(args.runs))
        first = [time_kit_up(tmp, env, fresh=True) for _ in range(args.runs)]
        again = [time_kit_up(tmp, env, fresh=False) for _ in range(args.runs)]
    print(f"{'measure':46} {'median s':>9} {'min s':>7} {'x baseline':>10}")
    print(f"{'one devpi-server, default argon2 (baseline)':46} {baseline:9.2f} {baseline:7.2f} {1:10.2f}")
    for label, times in (("kit up, new site (4 services + devpi-init)", [t[0] for t in first]),
                         ("kit up, existing data", [t[0] for t in again])):
        median = statistics.median(times)
        print(f"{label:46} {median:9.2f} {min(times):7.2f} {median / baseline:10.2f}")
    print(f"{'kit --version (baseline: any kit command)':46} {floor:9.2f} {floor:7.2f} {1:10.2f}")
    downs = [t[1] for t in first + again]
    median = statistics.median(downs)
    print(f"{'kit down (4 services)':46} {median:9.2f} {min(downs):7.2f} {median / floor:10.2f}")
    print("targets: kit up to all-healthy under 3 s; kit down under 2 s")


if __name__ == "__main__":
    main()
