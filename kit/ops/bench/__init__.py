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
files fetched one after the other; real resolvers (uv and pip, with the first
team's settings, --no-cache) installing a fixed set of real projects and their
dependencies through each target: the median install, its ratio to the
master's, the bytes sent, uv's complaints of no Range; upload→listed: an upload through the
site's edge (as a team's twine does), then from its answer until the page,
cached before the upload, lists the new file on the target (only for edges
the master purges); installs through each edge while the master is killed
(then brought back).

Nothing here asserts a speed: numbers are reported, the failures counted.

The package, one module per job: :mod:`~kit.ops.bench.result` (settings,
targets, rows, the result), :mod:`~kit.ops.bench.client` (the httpx client
and the failures it counts), :mod:`~kit.ops.bench.workload` (the bench index,
its uploads, the bytes copied for nginx), :mod:`~kit.ops.bench.static` (nginx,
the ceiling), :mod:`~kit.ops.bench.measure` (the measurements),
:mod:`~kit.ops.bench.resolvers` (the real resolvers' rows),
:mod:`~kit.ops.bench.run` (the run), :mod:`~kit.ops.bench.report` (the table)
and :mod:`~kit.ops.bench.chart` (the SVG chart).
"""

from kit.ops.bench.chart import chart_svg
from kit.ops.bench.report import table_lines
from kit.ops.bench.result import (
    BENCH_INDEX, FAILURE_ROWS, MASTER, NGINX, NGINX_HINT, PROJECTS, PYTHON, ROWS, TARGETS, VARNISH, WRK_HINT,
    BenchResult, Row, Settings, Target,
)
from kit.ops.bench.run import run_bench

__all__ = [
    "BENCH_INDEX", "PROJECTS", "Settings", "Target", "Row", "BenchResult", "run_bench", "table_lines", "chart_svg",
    "NGINX_HINT", "WRK_HINT", "ROWS", "FAILURE_ROWS", "TARGETS", "PYTHON", "VARNISH", "MASTER", "NGINX",
]
