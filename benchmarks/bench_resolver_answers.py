"""What a resolver asks beyond pages and whole files (issue 23), edge against
devpi for the same request, in one run, on a real kit site (``kit init`` +
``kit up``, a team index with one 1 MB wheel uploaded):

1. ``WHEEL.metadata`` (PEP 658): the edge's extracted copy against devpi's
   ``enable-core-metadata``, which opens the wheel on every request;
2. a single ``Range``, the wheel's last 16 KiB: what uv asks first of a
   wheel without core metadata (its zip's table of contents), 206 from the
   edge; devpi answers 200 with the whole file;
3. a conditional GET naming the file's ETag: 304 from the edge; devpi has
   no ETag on files, so the same request costs it the whole file.

Requests per second from wrk -t1 -c8 (each request carries the team's
credentials, as a client's does), and the ratio edge/devpi.

Run: python benchmarks/bench_resolver_answers.py [--seconds S]
It prints numbers; nothing here asserts.
"""

from __future__ import annotations

import argparse
import base64
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_edge import TEAM_INDEX, bench_folder, big_wheel, get, start_site, team_credentials, upload  # noqa: E402


def wrk(url: str, seconds: float, headers: dict[str, str]) -> float:
    """Requests per second for ``url`` with ``headers``, from wrk -t1 -c8."""
    argv = ["wrk", "-t1", "-c8", f"-d{seconds:g}s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per req/s measure")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    with bench_folder("bench-resolver-") as (tmp, site, env):
        m, _r, e = start_site(tmp, site, env)
        user, password = team_credentials(site)
        auth = {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
        (tmp / "dist").mkdir()
        wheel = big_wheel(tmp / "dist", 1)
        if upload(e, user, password, wheel) != 200:
            raise SystemExit("the upload failed")
        page = get(e, f"/{TEAM_INDEX}/+simple/bench-pkg/", {**auth, "Accept": "text/html"})[2].decode()
        file_path = "/" + TEAM_INDEX + "/" + re.search(r'href="\.\./\.\./([^"#]+)', page).group(1)
        status, headers, _ = get(e, file_path, auth)  # warms the edge's cache
        etag = headers.get("ETag", "")
        assert status == 200 and etag, (status, headers)
        assert get(e, file_path + ".metadata", auth)[0] == 200
        cases = [
            ("WHEEL.metadata", file_path + ".metadata", {}),
            ("Range: last 16 KiB", file_path, {"Range": "bytes=-16384"}),
            ("If-None-Match (304)", file_path, {"If-None-Match": etag}),
        ]
        print(f"{'request':24} {'edge req/s':>11} {'devpi req/s':>12} {'edge/devpi':>11}  answers (edge, devpi)")
        for name, path, extra in cases:
            sent = {**auth, **extra}
            answers = (get(e, path, sent)[0], get(m, path, sent)[0])
            edge_rate = wrk(f"http://127.0.0.1:{e}{path}", args.seconds, sent)
            devpi_rate = wrk(f"http://127.0.0.1:{m}{path}", args.seconds, sent)
            print(f"{name:24} {edge_rate:11,.0f} {devpi_rate:12,.0f} {edge_rate / devpi_rate:10.1f}x  {answers}")


if __name__ == "__main__":
    main()
