"""The run: which targets this site has, each measured in turn on the bench
index, which is deleted afterwards (and the master, killed once, brought back)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from kit.cluster.varnish import TemporaryVarnish
from kit.core.errors import BenchError, ClusterError
from kit.core.processes import system_program
from kit.core.report import plural
from kit.ops.bench.client import Failures, trust
from kit.ops.bench.measure import (
    authorised_rate, installs_with_master_killed, percentile, read_measurements, upload_to_listed,
)
from kit.ops.bench.result import (
    BENCH_INDEX, LISTED_PROJECT, MASTER, NGINX, NGINX_HINT, PROJECTS, PYTHON, ROWS, VARNISH, WRK_HINT, BenchResult, Row,
    Say, Settings, Target,
)
from kit.ops.bench.resolvers import RESOLVER_ROWS, resolver_rows
from kit.ops.bench.static import StaticServer
from kit.ops.bench.workload import copy_for_nginx, delete_index, make_index, upload

__all__ = ["run_bench"]


# -- the targets ----------------------------------------------------------------------------


def _targets(cluster) -> list[Target]:
    """The four columns for this site; the ones not measured say why."""
    from kit.cluster.varnish import INSTALL_HINT, varnishd_path

    answers = cluster.answers
    master = cluster.service("master")
    # What clients read: on an https site the edge's TLS port (hitch's, with Varnish), not the
    # plain port kit checks health on, which only redirects.
    edge_url, over = (answers.base_url, " over TLS") if answers.tls else (cluster.service("edge").local_url, "")
    if answers.edge == "varnish":
        python = Target(PYTHON, f"http://127.0.0.1:{answers.shield_port}", "the shield behind Varnish",
                        purged=True, fails_over=True)
        varnish = Target(VARNISH, edge_url, f"the site's edge{over}", purged=True, fails_over=True)
    else:
        python = Target(PYTHON, edge_url, f"the site's edge{over}", purged=True, fails_over=True)
        if answers.tls:
            varnish = Target(VARNISH, None, "not started: the site is https, and a temporary Varnish has no TLS")
        elif varnishd_path() is None:
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
    if key in RESOLVER_ROWS and target.name == NGINX:
        return "n/a: static copies of the bench index, no team index"
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
    ca_file = _site_ca(cluster)
    if ca_file:
        trust(ca_file)
    failures = Failures()
    tools: dict[str, str] = {}
    api = DevpiAPI(cluster.service("master").local_url)
    api.login("root", cluster.answers.admin_password)
    with tempfile.TemporaryDirectory(prefix="kit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        static: StaticServer | None = None
        temporary: TemporaryVarnish | None = None
        try:
            make_index(api, say)
            projects = [f"kit-bench-{n:02}" for n in range(1, PROJECTS + 1)]
            say(f"bench: uploading {PROJECTS + 1} tiny projects to {BENCH_INDEX}")
            for project in (*projects, LISTED_PROJECT):
                upload(cluster.service("master").local_url, api.auth, make_wheel(tmp / "dist", project, "1.0"))
            # installs through the edges need the mirror to hold the index when the master is killed
            cluster.wait_ready(30)
            pages = [f"/{BENCH_INDEX}/+simple/{project}/" for project in projects]
            file_paths = copy_for_nginx(cluster.service("master").local_url, pages, tmp / "static")
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
            if cluster.answers.tls:
                tools["tls"] = ("the site's edge read over TLS, its certificate checked"
                                + (" (but by wrk)" if wrk else ""))
            for target in targets:
                if target.running:
                    read_measurements(target, pages, file_paths[0], rows, settings, wrk, failures, say)
            _authorised_row(cluster, targets, pages[0], rows, settings, wrk, failures, say)
            resolver_rows(cluster, targets, rows, settings, tmp / "resolvers", say, failures, tools, ca_file)
            version = 0
            site_edge = cluster.answers.base_url if cluster.answers.tls else cluster.service("edge").local_url
            for target in [t for t in targets if t.purged]:
                wheels = []
                for _ in range(settings.uploads):
                    version += 1
                    wheels.append(make_wheel(tmp / "listed", LISTED_PROJECT, f"1.{version}"))
                times = upload_to_listed(target, site_edge, api.auth, wheels, failures, say)
                if times:
                    rows["listed_p50"].values[target.name] = round(percentile(times, 0.5), 4)
                    rows["listed_p99"].values[target.name] = round(percentile(times, 0.99), 4)
                    rows["listed_max"].values[target.name] = round(max(times), 4)
            edges = [t for t in targets if t.fails_over]
            if edges:
                installs, tools["installs"] = installs_with_master_killed(cluster, edges, projects[0],
                                                                          settings.outage, say, ca_file)
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
            delete_index(api, say)
            # The site as the bench found it: the mirror has replicated the deletion (and what the
            # real resolvers' installs made devpi fetch from the upstream) before kit bench ends.
            cluster.wait_ready(30)
    for target in targets:
        if target.running:
            rows["failed_requests"].values[target.name] = failures.counts.get(target.name, 0)
    return BenchResult(str(cluster.site.path), cluster.answers.edge, targets, list(rows.values()), tools,
                       os.cpu_count() or 1, time.monotonic() - started, settings, failures.errors)


def _authorised_row(cluster, targets: list[Target], page: str, rows: dict[str, Row], settings: Settings,
                    wrk: str | None, failures: Failures, say: Say) -> None:
    """The warm page with the first team's Basic credentials at kit's edge, when reads are
    private (read_access team or site); the other columns say why they have no such row."""
    from kit.edge.auth import basic_header

    answers = cluster.answers
    row = rows["warm_page_auth_rps"]
    python = next(t for t in targets if t.name == PYTHON)
    for target in targets:
        if target.name != PYTHON and target.running:
            row.values[target.name] = "n/a: kit's edge decides who reads"
    if answers.read_access == "anonymous" or not answers.teams:
        if python.running:
            row.values[PYTHON] = "n/a: reads are anonymous (read_access)"
        return
    if python.running:
        team = answers.teams[0]
        authorised_rate(python, page, rows, settings, wrk, failures, say,
                        basic_header(team, answers.team_password(team)), team)


def _site_ca(cluster) -> str:
    """The CA an https site's clients are handed (kit made it), "" for none: an http site, or an
    operator's own certificate (from a CA the system trusts)."""
    from kit.site.folder import SITE_TLS

    if not cluster.answers.site_ca:
        return ""
    return str(Path(cluster.site.path) / SITE_TLS["ca"])


def _running(targets: list[Target], name: str, url: str) -> None:
    target = next(t for t in targets if t.name == name)
    target.url = url


def _note(targets: list[Target], name: str, note: str) -> None:
    next(t for t in targets if t.name == name).note = note


def _note_of(targets: list[Target], name: str) -> str:
    return next(t for t in targets if t.name == name).note
