"""Wall time of `kit up` to all-healthy, against one devpi-server started with
devpi's default key derivation (what each start would cost without kit's tuning).

Run: python benchmarks/bench_cluster.py [--runs N]
Target (issue 3): `kit up` to all-healthy under 3 s. Prints numbers only.
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

from kit.cluster import free_ports
from kit.sample import make_wheel

BIN = Path(sys.executable).parent


def kit(*args: str, env: dict) -> None:
    subprocess.run([sys.executable, "-m", "kit", *args], check=True, env=env, stdout=subprocess.DEVNULL)


def time_kit_up(tmp: Path, env: dict, fresh: bool) -> float:
    """One `kit up` (fresh: including creating the data folders), then `kit down`."""
    site = tmp / "site"
    if fresh or not site.exists():
        if site.exists():
            subprocess.run(["rm", "-rf", str(site)], check=True)
        m, r, e, u = free_ports(4)
        kit("init", str(site), "--no-input", "--set", f"upstream={tmp / 'wheels'}", "--set", f"master_port={m}",
            "--set", f"mirror_port={r}", "--set", f"edge_port={e}", "--set", f"upstream_port={u}", env=env)
    start = time.perf_counter()
    kit("up", str(site), env=env)
    elapsed = time.perf_counter() - start
    kit("down", str(site), env=env)
    return elapsed


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
                return time.perf_counter() - start
            except OSError:
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait()


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
        first = [time_kit_up(tmp, env, fresh=True) for _ in range(args.runs)]
        again = [time_kit_up(tmp, env, fresh=False) for _ in range(args.runs)]
    print(f"{'measure':46} {'median s':>9} {'min s':>7} {'x baseline':>10}")
    print(f"{'one devpi-server, default argon2 (baseline)':46} {baseline:9.2f} {baseline:7.2f} {1:10.2f}")
    for label, times in (("kit up, new site (4 services + devpi-init)", first), ("kit up, existing data", again)):
        median = statistics.median(times)
        print(f"{label:46} {median:9.2f} {min(times):7.2f} {median / baseline:10.2f}")
    print("target: kit up to all-healthy under 3 s")


if __name__ == "__main__":
    main()
