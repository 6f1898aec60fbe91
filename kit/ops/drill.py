"""``kit drill failover``: the operator's fire drill on a running site.

Real installs run back to back through the edge (the URL clients use) while
the drill kills the master, then the master and the mirror together (the
edge's stale pages and static copy), and brings them back with ``kit up``.
It reports every failed install, the worst and median install time, how
long the services were down, and how long the mirror took to be in sync
again. The drill never writes to an index.

An install is what a user's client does: ``uv pip install`` (pip when uv is
not found) of one project from the first team's index into a throw-away
folder, with no cache and none of this machine's client settings. On a site
whose indexes are private (``read_access`` team or site), the drill reads as
that team, with its user and password in a netrc of its own (mode 0600,
named by ``NETRC``): never on a command line.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from kit.core import http
from kit.cluster.lifecycle import MIRROR_CATCH_UP_SECONDS, Cluster
from kit.core.errors import DrillError
from kit.core.processes import alive
from kit.core.wait import wait_until
from kit.core.report import plural
from kit.core.tables import Column, table_lines
from kit.site.folder import Site
from kit.site.validate import project_name

__all__ = ["Installs", "Counted", "Phase", "DrillReport", "Installer", "installs_while", "team_reader", "drill_failover",
           "choose_project", "report_lines", "PHASES"]

Say = Callable[[str], None]

#: The phases, in order: the services each kills.
PHASES = (("master down", ("master",)), ("master and mirror down", ("master", "mirror")))
#: Seconds one install may take before it counts as failed.
INSTALL_TIMEOUT = 30.0
#: Seconds the drill waits for the restarted services and the mirror to be in sync.
CATCH_UP_TIMEOUT = 90.0
#: Errors kept per loop of installs (the count is always whole).
KEPT_ERRORS = 10
#: Variables that would change what a client does or where it connects: the drill
#: measures the site's edge, not this machine's client settings, credentials or proxy.
_CLIENT_PREFIXES = ("PIP_", "UV_", "VIRTUAL_ENV", "PYTHONPATH", "CONDA_", "NETRC")
_PROXIES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


@dataclass
class Installs:
    """One loop of installs; times in seconds."""

    count: int = 0
    failed: int = 0
    worst: float = 0.0
    median: float = 0.0
    #: The first failures, one line each ("after 0.52 s: exit 2: …").
    errors: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, times: list[float], errors: list[str], failed: int) -> "Installs":
        return cls(len(times), failed, max(times, default=0.0), statistics.median(times) if times else 0.0,
                   errors[:KEPT_ERRORS])

    def summary(self) -> str:
        """``12 installs, 0 failed, worst 0.41 s``"""
        return f"{plural(self.count, 'install')}, {self.failed} failed, worst {self.worst:.2f} s"


class Counted:
    """Installs before, during and after a loss (``before``, ``during``, ``after``), counted together."""

    before: Installs
    during: Installs
    after: Installs

    @property
    def failed(self) -> int:
        return self.before.failed + self.during.failed + self.after.failed

    @property
    def count(self) -> int:
        return self.before.count + self.during.count + self.after.count


@dataclass
class Phase(Counted):
    name: str  # "master down", "master and mirror down"
    before: Installs
    during: Installs
    after: Installs
    #: Seconds from the kill until the killed services answered again.
    down_for: float
    #: Seconds from the restart until the mirror was in sync (``Cluster.mirror_sync().in_sync``);
    #: None when it was not within :data:`CATCH_UP_TIMEOUT`.
    caught_up_after: float | None


@dataclass
class DrillReport:
    edge: str  # "python" or "varnish"
    project: str
    phases: list[Phase]
    #: How the installs were made: "uv" or "pip".
    client: str = ""

    @property
    def failed(self) -> int:
        return sum(p.failed for p in self.phases)

    @property
    def count(self) -> int:
        return sum(p.count for p in self.phases)

    @property
    def ok(self) -> bool:
        """No install failed anywhere."""
        return self.failed == 0

    def as_dict(self) -> dict:
        """Plain data for JSON; seconds to the millisecond."""
        return {"edge": self.edge, "project": self.project, "client": self.client, "ok": self.ok,
                "installs": self.count, "failed": self.failed,
                "phases": [_rounded(asdict(p)) for p in self.phases]}


def _rounded(value):
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


# -- installs ----------------------------------------------------------------------


def _uv() -> str | None:
    """uv next to this Python (installed with kit's test extras), else on PATH."""
    local = Path(sys.executable).parent / "uv"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("uv")


def _client_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_CLIENT_PREFIXES) and k.lower() not in _PROXIES}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"),
               PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


def _site_of(where: "Cluster | Site | Path | str") -> Site:
    return where.site if isinstance(where, Cluster) else where if isinstance(where, Site) else Site.find(Path(where))


def _index_url(where: "Cluster | Site | Path | str") -> str:
    """The first team's simple index, through the edge (what its clients use)."""
    site = _site_of(where)
    answers = site.answers
    if "private" not in answers.setups or not answers.teams:
        setups = ",".join(dict.fromkeys((*answers.setups, "private")))
        raise DrillError(f"{site} has no team index to install from; add one with: "
                         f"{site.command('init', '--set', f'setups={setups}', '--set', 'teams=NAME')}")
    return f"{answers.base_url}/{answers.teams[0]}/private/+simple/"


def team_reader(where: "Cluster | Site | Path | str") -> tuple[str, str] | None:
    """Who the drill reads the first team's index as: (user, password) of that team, as its
    members' netrc says, or None when the site's indexes are read anonymously (no credentials
    sent, so the edge is measured as its anonymous clients see it)."""
    answers = _site_of(where).answers
    if answers.read_access == "anonymous" or not answers.teams:
        return None
    return answers.teams[0], answers.team_password(answers.teams[0])


def _basic(reader: tuple[str, str] | None) -> dict[str, str]:
    """The Authorization header for ``reader`` (in this process only: never on a command line)."""
    if reader is None:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(f"{reader[0]}:{reader[1]}".encode()).decode()}


class Installer:
    """Installs one project from one index into throw-away folders, timing each.

    ``reader``: the (user, password) the installs read as, written to a netrc that only
    this user can read; the clients find it through ``NETRC``."""

    def __init__(self, index_url: str, project: str, reader: tuple[str, str] | None = None):
        self.index_url = index_url
        self.project = project
        self.reader = reader
        uv = _uv()
        self.client = "uv" if uv else "pip"
        self._uv = uv

    def argv(self, target: Path) -> list[str]:
        if self._uv:
            return [self._uv, "pip", "install", "--no-config", "--no-cache", "--reinstall", "--no-deps",
                    "--python", sys.executable, "--target", str(target), "--index-url", self.index_url, self.project]
        return [sys.executable, "-m", "pip", "install", "--isolated", "--no-cache-dir", "--no-deps",
                "--disable-pip-version-check", "--target", str(target), "--index-url", self.index_url, self.project]

    def loop(self, seconds: float, stop: threading.Event | None = None) -> Installs:
        """Install back to back for ``seconds`` (or until ``stop`` is set); at least one install."""
        times: list[float] = []
        errors: list[str] = []
        failed = 0
        deadline = time.monotonic() + seconds
        with tempfile.TemporaryDirectory(prefix="kit-drill-") as tmp_name:
            tmp = Path(tmp_name)
            env = self.env(tmp)
            number = 0
            while True:
                number += 1
                target = tmp / f"target-{number}"
                started = time.monotonic()
                problem = self._install(target, env, cwd=tmp)
                took = time.monotonic() - started
                times.append(took)
                if problem:
                    failed += 1
                    errors.append(f"after {took:.2f} s: {problem}")
                shutil.rmtree(target, ignore_errors=True)
                if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                    break
        return Installs.of(times, errors, failed)

    def env(self, tmp: Path) -> dict[str, str]:
        """The clients' environment, for installs in ``tmp``: with a reader, ``NETRC`` names
        a netrc in ``tmp`` (mode 0600) that holds its password."""
        env = _client_env(tmp / "home")
        if self.reader is not None:
            netrc = tmp / "netrc"
            # Made 0600 before the password is written: no moment when another user could read it.
            fd = os.open(netrc, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(f"machine {urlsplit(self.index_url).hostname} login {self.reader[0]} "
                          f"password {self.reader[1]}\n")
            env["NETRC"] = str(netrc)
        return env

    def _install(self, target: Path, env: dict, cwd: Path) -> str:
        """"" when the project was installed, else why not, in one line."""
        try:
            proc = subprocess.run(self.argv(target), env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        except subprocess.TimeoutExpired:
            return f"no result within {INSTALL_TIMEOUT:g} s"
        if proc.returncode != 0:
            lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
            return f"{self.client} exited {proc.returncode}: {' | '.join(lines[-2:])[:300]}"
        if not any(target.glob("*.dist-info")):
            return f"{self.client} exited 0 but installed nothing"
        return ""


def installs_while(site_or_cluster: "Cluster | Site | Path | str", project: str, seconds: float, *,
                   stop: threading.Event | None = None) -> Installs:
    """Install ``project`` from the site's first team index through the edge, back to back,
    for ``seconds`` (or until ``stop`` is set); the count, failures and times."""
    return Installer(_index_url(site_or_cluster), project, team_reader(site_or_cluster)).loop(seconds, stop)


class _Background:
    """A loop of installs in a thread, until :meth:`finish`."""

    def __init__(self, installer: Installer):
        self.stop = threading.Event()
        self.result: Installs | None = None
        self._thread = threading.Thread(target=self._run, args=(installer,), name="drill-installs", daemon=True)
        self._thread.start()

    def _run(self, installer: Installer) -> None:
        self.result = installer.loop(float("inf"), self.stop)

    def finish(self) -> Installs:
        self.stop.set()
        self._thread.join(INSTALL_TIMEOUT + 5)
        return self.result if self.result is not None else Installs(errors=["the installs did not finish"])


# -- which project ------------------------------------------------------------------


def _files(page_url: str, auth: dict[str, str]) -> tuple[int, str]:
    """How many files a project's simple page lists, and the page's answer in words ("HTTP 404")."""
    answer = http.get(page_url, headers={"Accept": "application/vnd.pypi.simple.v1+json", **auth}, timeout=10)
    payload = answer.json() if answer.ok else None
    files = payload.get("files") if isinstance(payload, dict) else None
    return (len(files) if isinstance(files, list) else 0), answer.describe()


def _list(value) -> list:
    return value if isinstance(value, list) else []


def choose_project(cluster: "Cluster | Site", project: str | None = None) -> str:
    """``project`` when the first team's index serves a file of it, else the first project it serves:
    one of ``private_projects``, then one the team uploaded, then any; :class:`DrillError` when none."""
    site = _site_of(cluster)
    index = _index_url(cluster)
    team_index = index[: -len("+simple/")]
    auth = _basic(team_reader(cluster))  # what the installs read as, so the same project is found
    if project is not None:
        project = project_name("--project", project)
        count, answered = _files(f"{index}{project}/", auth)
        if not count:
            why = "lists no file of it" if answered == "HTTP 200" else f"does not serve it ({answered})"
            raise DrillError(f"project {project!r}: {index} {why}; pass --project with a project that index "
                             f"serves, or leave --project out to take the first one it serves")
        return project
    listed = http.get(index, headers={"Accept": "application/vnd.pypi.simple.v1+json", **auth}, timeout=10)
    payload = listed.json() if listed.ok else None
    if not isinstance(payload, dict):
        raise DrillError(f"{index} does not answer ({listed.describe()}); see {site.command('status')}")
    every = [p.get("name") for p in _list(payload.get("projects")) if isinstance(p, dict)]
    # devpi's JSON view of the index names the projects uploaded to it (not those it inherits).
    config = http.get(team_index, headers={"Accept": "application/json", **auth}, timeout=10).json()
    result = config.get("result") if isinstance(config, dict) else None
    own = sorted(_list(result.get("projects")) if isinstance(result, dict) else [], key=str)
    ordered = [name for name in (*site.answers.private_names, *own, *every) if isinstance(name, str) and name]
    seen: set[str] = set()
    for name in ordered:
        if name in seen:
            continue
        seen.add(name)
        if len(seen) > 30:  # a big upstream listing: the first ones tell enough
            break
        if _files(f"{index}{name}/", auth)[0]:
            return name
    raise DrillError(f"{index} serves no project with files, so there is nothing to install; upload one "
                     f"(see the team's README) or pass --project NAME")


# -- the drill ------------------------------------------------------------------------


def _check_up(cluster: Cluster) -> None:
    rows = cluster.wait_ready(5.0)
    trouble = [r for r in rows if not r.healthy]
    if trouble:
        shown = ", ".join(f"{r.name} {'not answering' if r.running else 'stopped'}" for r in trouble)
        raise DrillError(f"the cluster is not fully up ({shown}); the drill needs every service healthy: "
                         f"start it with: {cluster.site.command('up')}")
    mirror = next((r for r in rows if r.name == "mirror"), None)
    if mirror is not None and not mirror.in_sync:
        rows = cluster.wait_ready(MIRROR_CATCH_UP_SECONDS)
        mirror = next((r for r in rows if r.name == "mirror"), None)
    if mirror is not None and not mirror.in_sync:
        raise DrillError(f"the mirror is not in sync with the master ({mirror.detail}); wait, or see "
                         f"{cluster.site.command('status')}")


def _kill(cluster: Cluster, name: str, say: Say) -> None:
    service = cluster.service(name)
    pid = cluster.pid_of(service)
    if pid is None:
        raise DrillError(f"{name} is not running; start the cluster with: {cluster.site.command('up')}")
    say(f"drill: killing the {name} (pid {pid})…")
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not alive(pid), 10, 0.02)


class _Watch:
    """From a restart: when the killed services answer again, and when the mirror is in sync.

    ``kit up`` writes to the master as it starts (users, index settings), so the
    mirror may fall behind again after a first "in sync": the catch-up ends at
    the start of the in-sync stretch that lasts past ``kit up``'s return.
    """

    def __init__(self, cluster: Cluster, names: tuple[str, ...]):
        self.cluster = cluster
        self.services = [cluster.service(n) for n in names]
        self.back_at: float | None = None
        self.in_sync_since: float | None = None
        self.started = time.monotonic()
        self._up_done = threading.Event()
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drill-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        ended = wait_until(self._look, self.started + CATCH_UP_TIMEOUT - time.monotonic(), 0.05)
        if ended != "caught up" and (self.back_at is None or not self._up_done.is_set()):
            self.in_sync_since = None

    def _look(self) -> str:
        """One look: "caught up" (in sync once kit up returned), "cancelled", or "" to look again."""
        if self._cancelled.is_set():
            return "cancelled"
        up_done = self._up_done.is_set()
        now = time.monotonic()
        if self.back_at is None:
            if all(self.cluster.supervisor.probe(s, timeout=1.0).healthy for s in self.services):
                self.back_at = now
        elif self.cluster.mirror_sync().in_sync:
            self.in_sync_since = self.in_sync_since or now
            if up_done:
                return "caught up"
        else:
            self.in_sync_since = None
        return ""

    def up_done(self) -> None:
        """``kit up`` returned: the next in-sync look ends the watch."""
        self._up_done.set()
        self._thread.join(max(0.0, self.started + CATCH_UP_TIMEOUT - time.monotonic()) + 5)

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def caught_up_after(self) -> float | None:
        return None if self.in_sync_since is None else self.in_sync_since - self.started


def drill_failover(cluster: Cluster, say: Say = print, *, project: str | None = None, outage: float = 5.0,
                   settle: float = 1.0) -> DrillReport:
    """Run the fire drill on ``cluster``, which must be up and healthy; bring back whatever it killed,
    even when interrupted. ``outage``: seconds the services stay down in each phase; ``settle``:
    seconds of installs before each phase and after the mirror is in sync again."""
    if not outage > 0:
        raise DrillError(f"--outage {outage:g}: the services must stay down for more than 0 seconds; pass e.g. --outage 5")
    index_url = _index_url(cluster)  # a site without a team index is refused before anything else
    _check_up(cluster)
    project = choose_project(cluster, project)
    installer = Installer(index_url, project, team_reader(cluster))
    report = DrillReport(cluster.answers.edge, project, [], installer.client)
    say(f"drill: installing {project} with {installer.client} from {installer.index_url} "
        f"(the {cluster.answers.edge} edge)")
    killed: list[str] = []
    background: _Background | None = None
    try:
        for name, victims in PHASES:
            say(f"drill: phase {len(report.phases) + 1}/{len(PHASES)}: {name}")
            before = installer.loop(settle)
            say(f"drill: before: {before.summary()}")
            for victim in victims:
                _kill(cluster, victim, say)
                killed.append(victim)
            killed_at = time.monotonic()
            during = installer.loop(outage)
            say(f"drill: during the outage: {during.summary()}")
            say(f"drill: bringing back the {' and the '.join(victims)} (kit up)…")
            background = _Background(installer)
            watch = _Watch(cluster, victims)
            try:
                cluster.up(say=lambda line: say(f"drill:   {line}"))
            except BaseException:
                watch.cancel()
                raise
            killed.clear()
            watch.up_done()
            down_for = (watch.back_at or time.monotonic()) - killed_at
            caught_up = watch.caught_up_after
            if caught_up is None:
                say(f"drill: warning: the mirror was not in sync within {CATCH_UP_TIMEOUT:g} s; "
                    f"see {cluster.site.command('status')}")
            time.sleep(settle)
            after = background.finish()
            background = None
            say(f"drill: after the restart: {after.summary()}")
            report.phases.append(Phase(name, before, during, after, down_for, caught_up))
    finally:
        if background is not None:
            background.stop.set()
        if killed:
            say(f"drill: stopped early; bringing back the {' and the '.join(killed)}…")
            cluster.up(say=lambda line: say(f"drill:   {line}"))
    return report


# -- the report -----------------------------------------------------------------------


#: A phase's table: one row per loop of installs (before, during and after the outage).
_LOOP_COLUMNS = [Column("", 8), Column("installs", 8, right=True), Column("failed", 6, right=True),
                 Column("worst", 8, right=True), Column("median", 8, right=True)]


def report_lines(report: DrillReport) -> list[str]:
    """The report as text: a table per phase, then the verdict."""
    lines = [f"drill failover: {report.project} installed with {report.client or 'a client'} "
             f"through the {report.edge} edge"]
    for phase in report.phases:
        caught = (f"mirror not in sync within {CATCH_UP_TIMEOUT:g} s" if phase.caught_up_after is None
                  else f"mirror caught up after {phase.caught_up_after:.1f} s")
        lines += ["", f"{phase.name}: down for {phase.down_for:.1f} s, {caught}"]
        loops = (("before", phase.before), ("during", phase.during), ("after", phase.after))
        lines += table_lines(_LOOP_COLUMNS, ([label, loop.count, loop.failed, f"{loop.worst:.2f} s", f"{loop.median:.2f} s"]
                                             for label, loop in loops), indent="  ")
        for loop in (phase.before, phase.during, phase.after):
            lines += [f"  failed: {error}" for error in loop.errors]
    lines.append("")
    if report.ok:
        lines.append(f"drill passed: {plural(report.count, 'install')}, none failed")
    else:
        lines.append(f"drill failed: {report.failed} of {plural(report.count, 'install')} failed")
    return lines
