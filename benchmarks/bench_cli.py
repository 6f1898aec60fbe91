"""Wall times of `kit --help` and `kit init --no-input`, against a bare Python start.

Run: python benchmarks/bench_cli.py [--runs N]
Targets (issue 2): `kit --help` under 0.3 s, `kit init --no-input` under 1 s.
It prints numbers; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def wall(cmd: list[str], runs: int, fresh_dir: bool = False) -> list[float]:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            args = [a.replace("{tmp}", str(Path(tmp, "site"))) for a in cmd] if fresh_dir else cmd
            start = time.perf_counter()
            subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    py = sys.executable
    rows = [
        ("python -c pass (baseline)", wall([py, "-c", "pass"], args.runs), None),
        ("kit --help", wall([py, "-m", "kit", "--help"], args.runs), 0.3),
        ("kit init --no-input", wall([py, "-m", "kit", "init", "--no-input", "{tmp}"], args.runs, fresh_dir=True), 1.0),
    ]
    base = statistics.median(rows[0][1])
    print(f"{'command':32} {'median s':>9} {'min s':>7} {'x baseline':>10} {'target s':>9}")
    for name, times, target in rows:
        median = statistics.median(times)
        shown = f"{target:.1f}" if target else "-"
        print(f"{name:32} {median:9.3f} {min(times):7.3f} {median / base:10.1f} {shown:>9}")


if __name__ == "__main__":
    main()
