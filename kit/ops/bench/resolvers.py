"""The real-resolver rows: uv and pip installing a fixed set of real projects and
their dependencies through each target, as a team's clients do (its uv.toml,
pip.conf and netrc, pointed at the target), with no cache, into a fresh
virtual environment each time. Three measures per client, each the median of
N runs:

- resolve: a dry run (``uv pip install --dry-run``, ``pip install --dry-run
  --ignore-installed --report``): what the client decides to install, from
  the index's pages and metadata, nothing downloaded to install; this is
  where the index decides the time;
- install: the real install (resolving, downloading, unpacking), with its
  ratio to the master's and how often uv said that the target answers no
  Range request (it then downloads whole wheels to read their metadata);
- floor: the same install from a local folder of the wheels the master
  served (``--no-index --find-links``), no index at all: unpacking ~20 MB
  into a venv, which no index can shorten. An install's median less its
  floor is what the index costs ("index time").

The bytes: kit's edge counts what it sends (``bytes_served`` in /+edge/stats,
read before and after the runs). devpi and Varnish count nothing kit can
read, so for them it is an estimate, said in the report: each project's page
once and each installed file once, at the sizes the master serves them (the
files named by pip's ``--report``): a lower bound, as a resolver that reads a
wheel twice sends more. Their resolves are not estimated (what a resolver
reads of a wheel it rejects is its own choice).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import venv
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from kit.core.errors import AnswerError, one_line
from kit.core.names import normalize, project_of
from kit.ops.bench.client import connection
from kit.ops.bench.report import shown
from kit.ops.bench.result import ACCEPT, MASTER, NGINX, PYTHON, RESOLVER_SET, Row, Say, Settings, Target

__all__ = [
    "DEFAULT_SET", "CLIENTS", "NO_RANGE", "RESOLVER_ROWS", "parse_set", "read_set", "count_no_range", "pip_report_files",
    "Outcome", "Resolvers", "resolver_rows", "fill_resolve_rows", "fill_rows", "fill_floor_rows",
]

DEFAULT_SET = RESOLVER_SET
CLIENTS = ("uv", "pip")
#: What uv's debug log says when a target answers a Range request with the whole file.
NO_RANGE = "Range requests not supported"
#: The rows this module fills (kit.ops.bench.result.ROWS says their labels).
RESOLVER_ROWS = (*(f"{client}_{row}" for client in CLIENTS for row in (
    "resolve_s", "resolve_ratio", "resolve_mb", "s", "ratio", "mb", "floor", "index_s", "index_ratio")), "uv_no_range")
#: One install of the whole set, cold: far more than it takes on a loopback site.
INSTALL_TIMEOUT = 300.0
_CLIENT_PREFIXES = ("PIP_", "UV_", "VIRTUAL_ENV", "PYTHONPATH", "CONDA_", "NETRC")
_PROXIES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


# -- the set -------------------------------------------------------------------------------


def parse_set(text: str, source: str) -> tuple[str, ...]:
    """The requirements of a --resolver-set file: one a line, ``#`` comments and blank lines
    skipped. :class:`AnswerError` naming the line for an option (-r, --index-url: the index is
    the team's), a URL or a path, a line that is not a requirement, or no requirement at all."""
    from packaging.requirements import InvalidRequirement, Requirement

    found = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{source} line {number} ({line!r})"
        if line.startswith("-"):
            raise AnswerError("--resolver-set", f"{where} is an option; the bench installs from the team's "
                                                f"index: write only requirements, e.g. rich>=13")
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            raise AnswerError("--resolver-set", f"{where} is not a requirement; write one a line, "
                                                f"e.g. rich>=13") from None
        if requirement.url:
            raise AnswerError("--resolver-set", f"{where} names a URL; the bench installs from the team's "
                                                f"index: write the name alone, e.g. {requirement.name}")
        found.append(line)
    if not found:
        raise AnswerError("--resolver-set", f"{source} lists no requirement; write one a line, e.g. rich>=13")
    return tuple(found)


def read_set(path: str) -> tuple[str, ...]:
    """The requirements in the file ``path`` (see :func:`parse_set`); checked before anything runs."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnswerError("--resolver-set", f"cannot read {path} ({one_line(exc)}); give a requirements "
                                            "file, one requirement a line") from None
    return parse_set(text, path)


# -- what the clients said -------------------------------------------------------------------


def count_no_range(log: str) -> int:
    """How many times uv's debug log says a target answered no Range request."""
    return log.count(NO_RANGE)


def pip_report_files(report: dict) -> list[str]:
    """The URLs of the files pip installed, from its ``--report`` JSON."""
    return [item["download_info"]["url"] for item in report.get("install", [])
            if isinstance(item.get("download_info"), dict) and item["download_info"].get("url")]


@dataclass
class Outcome:
    """One client's measured installs through one target."""

    times: list[float] = field(default_factory=list)
    no_range: int = 0  # uv's "Range requests not supported", over the measured installs
    sent: int | None = None  # bytes the target counted over the measured installs; None: not counted
    files: list[str] = field(default_factory=list)  # pip's report: the installed files' URLs
    errors: list[str] = field(default_factory=list)

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None


# -- the clients -----------------------------------------------------------------------------


class Resolvers:
    """The first team's uv and pip settings pointed at any target, in ``folder`` (private):
    its uv.toml and pip.conf with the site's address replaced by the target's, and a netrc
    (mode 0600) with the team's password for every target's host, found through NETRC."""

    def __init__(self, cluster, folder: Path, requirements: tuple[str, ...], ca_file: str = ""):
        from kit.site.templating import write_private

        answers = cluster.answers
        self.team = answers.teams[0]
        self.base_url = answers.base_url
        self.team_folder = Path(cluster.site.path) / "teams" / self.team
        self.folder = folder
        self.ca_file = ca_file
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.requirements = folder / "requirements.txt"
        self.requirements.write_text("".join(f"{line}\n" for line in requirements))
        self.password = answers.team_password(self.team)
        self.netrc = folder / "netrc"
        write_private(self.netrc, "", 0o600)
        self.uv = _uv()
        self.wheels = folder / "wheels"  # the floor's: what the master's installs installed

    def missing(self, client: str) -> str:
        """Why ``client`` cannot run ("" when it can)."""
        settings = self.team_folder / ("uv.toml" if client == "uv" else "pip.conf")
        if not settings.is_file():
            return f"n/a: the site writes no {settings.name} (clients)"
        if client == "uv" and self.uv is None:
            return "n/a: uv not installed"
        return ""

    def point_at(self, target: Target) -> None:
        """The netrc holds the team's password for ``target``'s host too."""
        from kit.site.templating import write_private

        hosts = {urlsplit(self.base_url).hostname, urlsplit(target.url).hostname}
        known = self.netrc.read_text()
        lines = [f"machine {host} login {self.team} password {self.password}\n"
                 for host in sorted(h for h in hosts if h) if f"machine {host} " not in known]
        write_private(self.netrc, known + "".join(lines), 0o600)

    def settings(self, client: str, target: Target) -> Path:
        """The team's settings file of ``client`` with the site's address replaced by ``target``'s."""
        name = "uv.toml" if client == "uv" else "pip.conf"
        text = (self.team_folder / name).read_text().replace(self.base_url, target.url)
        path = self.folder / f"{target.name.replace(' ', '-')}-{name}"
        path.write_text(text)
        return path

    def env(self, client: str, target: Target) -> dict[str, str]:
        home = self.folder / "home"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(_CLIENT_PREFIXES) and k.lower() not in _PROXIES}
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"),
                   NETRC=str(self.netrc), PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
        env["UV_CONFIG_FILE" if client == "uv" else "PIP_CONFIG_FILE"] = str(self.settings(client, target))
        if client == "uv":
            env["PIP_CONFIG_FILE"] = os.devnull
        if self.ca_file:  # uv reads SSL_CERT_FILE; pip's settings name the CA already
            env.update(SSL_CERT_FILE=self.ca_file, REQUESTS_CA_BUNDLE=self.ca_file)
        return env

    def floor_env(self, client: str) -> dict[str, str]:
        """The environment of an install with no index at all: no settings file read."""
        env = {k: v for k, v in self.env(client, Target("floor", self.base_url, "")).items()
               if k != "UV_CONFIG_FILE"}
        env.update(PIP_CONFIG_FILE=os.devnull, **({"UV_NO_CONFIG": "1"} if client == "uv" else {}))
        return env

    def argv(self, client: str, python: Path, report: Path, mode: str = "install") -> list[str]:
        """``mode``: "resolve" (a dry run into the fresh venv: what the index decides, nothing
        installed), "install", or "floor" (the install from :attr:`wheels`, no index)."""
        if client == "uv":
            # -v: uv's debug log on standard error, where it says whether Range was answered.
            # A dry run rather than uv pip compile: the same environment and question as pip's.
            argv = [self.uv, "pip", "install", "--no-cache", "-v", "--python", str(python),
                    "-r", str(self.requirements)]
            return argv + {"resolve": ["--dry-run"], "install": [],
                           "floor": ["--offline", "--no-index", "--find-links", str(self.wheels)]}[mode]
        argv = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-cache-dir",
                "--report", str(report), "-r", str(self.requirements)]
        return argv + {"resolve": ["--dry-run", "--ignore-installed"], "install": [],
                       "floor": ["--no-index", "--find-links", str(self.wheels)]}[mode]

    def install(self, client: str, env: dict[str, str], number: int,
                mode: str = "install") -> tuple[float, str, str, list[str]]:
        """One run of ``client`` into a fresh virtual environment: seconds, uv's log, the problem
        ("" when none) and, for pip, the URLs of the files it installed (or would)."""
        place = self.folder / f"venv-{number}"
        venv.EnvBuilder(with_pip=False, symlinks=True, clear=True).create(place)
        report = self.folder / f"report-{number}.json"
        report.unlink(missing_ok=True)
        started = time.perf_counter()
        try:
            proc = subprocess.run(self.argv(client, place / "bin" / "python", report, mode), env=env,
                                  cwd=self.folder, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=INSTALL_TIMEOUT)
        except subprocess.TimeoutExpired:
            return time.perf_counter() - started, "", f"{client}: no result within {INSTALL_TIMEOUT:g} s", []
        took = time.perf_counter() - started
        if proc.returncode != 0:
            lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines()
                     if line.strip() and not line.startswith(("DEBUG", "TRACE", " "))]
            return took, proc.stderr, f"{client} exited {proc.returncode}: {' | '.join(lines[-2:])[:300]}", []
        files: list[str] = []
        if client == "pip" and report.is_file():
            files = pip_report_files(json.loads(report.read_text()))
        return took, proc.stderr, "", files

    def measure(self, client: str, target: Target | None, runs: int, mode: str = "install",
                warm: bool = True) -> Outcome:
        """One run unmeasured when ``warm`` (it warms the target's cache, as a warm edge is
        measured), then ``runs`` measured; the bytes counted by kit's edge over them. ``target``
        None: the floor."""
        if target is not None:
            self.point_at(target)
        env = self.env(client, target) if target is not None else self.floor_env(client)
        outcome = Outcome()
        _, _, problem, _ = self.install(client, env, 0, mode) if warm else (0.0, "", "", [])
        if problem:
            outcome.errors.append(f"warming: {problem}")
        before = _bytes_served(target)
        for number in range(1, runs + 1):
            took, log, problem, files = self.install(client, env, number, mode)
            if problem:
                outcome.errors.append(problem)
                continue
            outcome.times.append(took)
            outcome.no_range += count_no_range(log)
            outcome.files = outcome.files or files
        after = _bytes_served(target)
        if before is not None and after is not None:
            outcome.sent = after - before
        return outcome

    def fetch_wheels(self, master_url: str, files: list[str]) -> str:
        """The files an install through the master installed, downloaded once into :attr:`wheels`
        for the floor; the problem ("" when none)."""
        from kit.edge.auth import basic_header

        self.wheels.mkdir(exist_ok=True)
        auth = {"Authorization": basic_header(self.team, self.password)}
        try:
            with connection(master_url, timeout=60) as client:
                for url in files:
                    path = urlsplit(url).path
                    answer = client.get(path, headers=auth)
                    if answer.status_code != 200:
                        return f"GET {path}: HTTP {answer.status_code}"
                    (self.wheels / unquote(path.rsplit("/", 1)[-1])).write_bytes(answer.content)
        except httpx.HTTPError as exc:
            return f"downloading the wheels: {one_line(exc)}"
        return ""


def _uv() -> str | None:
    """uv next to this Python (installed with kit's test extras), else on PATH."""
    local = Path(sys.executable).parent / "uv"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("uv")


def absent(resolvers: Resolvers, master_url: str) -> list[str]:
    """The projects of the set the team's index does not list (read on the master), or
    whose page could not be read."""
    from packaging.requirements import Requirement

    from kit.edge.auth import basic_header

    auth = {"Authorization": basic_header(resolvers.team, resolvers.password), "Accept": ACCEPT}
    names = [normalize(Requirement(line).name) for line in resolvers.requirements.read_text().splitlines() if line]
    missing = []
    try:
        with connection(master_url, timeout=60) as client:
            for name in names:
                if client.get(f"/{resolvers.team}/private/+simple/{name}/", headers=auth).status_code != 200:
                    missing.append(name)
    except httpx.HTTPError:
        return names
    return missing


def estimated_bytes(resolvers: Resolvers, master_url: str, files: list[str]) -> int | None:
    """Bytes the master sends for one install, at least: each installed project's page once
    (as pip asks for it) and each installed file once, at the sizes the master serves."""
    from kit.edge.auth import basic_header

    total = 0
    auth = {"Authorization": basic_header(resolvers.team, resolvers.password)}
    try:
        with connection(master_url, timeout=60) as client:
            for url in files:
                path = urlsplit(url).path
                project = project_of(path.rsplit("/", 1)[-1])
                if project is None:
                    return None
                page = client.get(f"/{resolvers.team}/private/+simple/{project}/", headers={"Accept": ACCEPT, **auth})
                answer = client.head(path, headers=auth)
                length = answer.headers.get("content-length")
                if page.status_code != 200 or answer.status_code != 200 or length is None:
                    return None
                total += len(page.content) + int(length)
    except (httpx.HTTPError, ValueError):
        return None
    return total


def _bytes_served(target: Target | None) -> int | None:
    """kit's edge's count of the bytes it sent (None for the others: they count none kit reads)."""
    if target is None or target.name != PYTHON:
        return None
    try:
        with connection(target.url) as client:
            answer = client.get("/+edge/stats")
        return int(answer.json()["bytes_served"]) if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


# -- the rows --------------------------------------------------------------------------------


def resolver_rows(cluster, targets: list[Target], rows: dict[str, Row], settings: Settings, folder: Path,
                  say: Say, failures, tools: dict[str, str], ca_file: str = "") -> None:
    """Fill the resolver rows for every running target but nginx (the master first: its
    installs fill devpi's mirror of the upstream, and name the wheels of the floor); the notes
    go into ``tools``."""
    measured = [t for t in targets if t.running and t.name != NGINX]
    measured.sort(key=lambda t: t.name != MASTER)
    if settings.runs < 1 or not cluster.answers.teams:
        _say_none(rows, measured, "n/a: --runs 0" if settings.runs < 1 else "n/a: the site has no team index")
        return
    resolvers = Resolvers(cluster, folder, settings.resolver_set, ca_file)
    master = next(t for t in measured if t.name == MASTER)
    missing_projects = absent(resolvers, master.url)
    if missing_projects:
        # A classroom's upstream (a folder) may hold none of the default set: say so, count no failure.
        why = (f"n/a: {', '.join(missing_projects)} not on {resolvers.team}/private; "
               "name what its upstream has with --resolver-set FILE")
        say(f"bench: real resolvers: {why[5:]}")
        _say_none(rows, measured, why)
        tools["resolvers"] = f"real resolvers: {why[5:]}"
        return
    say(f"bench: real resolvers: uv and pip installing, then resolving alone, {', '.join(settings.resolver_set)} "
        f"and their dependencies, --no-cache, median of {settings.runs}, through "
        f"{', '.join(t.name for t in measured)}; then the same installs from a local folder")
    # The floor's wheels, named by pip's report of a resolve through the master, are fetched
    # first: each client's floor is measured right after its installs through the master, on
    # the machine as loaded as they were.
    wheels, files = _wheels(resolvers, master)
    floors: dict[str, Outcome | str] = {}
    for client in CLIENTS:
        missing = resolvers.missing(client)
        resolves: dict[str, Outcome] = {}
        outcomes: dict[str, Outcome] = {}
        for target in measured:
            if missing:
                rows[f"{client}_resolve_s"].values[target.name] = rows[f"{client}_s"].values[target.name] = missing
                continue
            # The installs warm the target (pages, files, and the .metadata a resolver reads
            # first): the resolves after them need no warming run of their own.
            for mode, found in (("install", outcomes), ("resolve", resolves)):
                outcome = found[target.name] = resolvers.measure(client, target, settings.runs, mode,
                                                                 warm=mode == "install")
                for error in outcome.errors:
                    failures.add(target.name, f"{client} {mode}: {error}")
                say(_progress(client, target.name, outcome, settings.runs, mode))
                if mode == "install" and target.name == MASTER:
                    floors[client] = _floor(resolvers, client, wheels, settings, say)
        fill_resolve_rows(client, measured, resolves, rows)
        fill_rows(client, measured, outcomes, rows)
        fill_floor_rows(client, measured, floors.get(client, missing), rows)
        if client == "uv" and not missing:
            tools["no range"] = ("uv's log, 'Range requests not supported', installs: "
                                 + ", ".join(f"{name} {o.no_range}×" for name, o in outcomes.items()))
    estimate = estimated_bytes(resolvers, master.url, files) if files else None
    if estimate is not None:
        for client in CLIENTS:
            for target in measured:
                if target.name != PYTHON and rows[f"{client}_s"].number(target.name) is not None:
                    rows[f"{client}_mb"].values[target.name] = round(estimate / 1e6, 2)
    shown_floors = [f"{c} {shown(f.median, 's')} s" if isinstance(f, Outcome) and f.median is not None
                    else f"{c} {f}" for c, f in floors.items()]
    tools["floor"] = ("install floor: the same install from a local folder of the same wheels (--no-index "
                      f"--find-links), no index at all, right after the master's: {', '.join(shown_floors)}; "
                      "index time: an install's median less its floor (below the floor counts as 0 in the ratio)")
    tools["resolvers"] = (f"real resolvers: {', '.join(settings.resolver_set)} and their dependencies, "
                          "--no-cache, a fresh venv each, the installs after one warming install; "
                          f"median of {settings.runs}. "
                          "resolve: a dry run (uv pip install --dry-run; pip install --dry-run "
                          "--ignore-installed --report), what the index decides; install: the real one")
    tools["resolver bytes"] = ("MB: counted by kit's edge (/+edge/stats bytes_served); an install's through "
                               "master and varnish estimated: each installed project's page and file once, "
                               "at the master's sizes (pip's --report): a lower bound; their resolves uncounted")


def _say_none(rows: dict[str, Row], measured: list[Target], why: str) -> None:
    for key in RESOLVER_ROWS:
        for target in measured:
            rows[key].values[target.name] = why


def _wheels(resolvers: Resolvers, master: Target) -> tuple[str, list[str]]:
    """The files pip would install through the master (one resolve, its report), downloaded
    into the floor's folder: the problem ("" when none) and their URLs."""
    if resolvers.missing("pip"):
        return "n/a: no pip report to name the wheels (the site writes no pip.conf)", []
    resolvers.point_at(master)
    _, _, problem, files = resolvers.install("pip", resolvers.env("pip", master), 0, "resolve")
    if problem or not files:
        return f"failed: naming the wheels: {problem or 'pip reported none'}", []
    problem = resolvers.fetch_wheels(master.url, files)
    return (f"failed: {problem}" if problem else ""), files


def _floor(resolvers: Resolvers, client: str, wheels: str, settings: Settings, say: Say) -> Outcome | str:
    """``client``'s install from the local folder of wheels (no index at all: unpacking them
    into the venv, which no index shortens); why there is none."""
    if wheels:
        return wheels
    # The wheels were written before the installs: in the page cache, no warming run.
    floor = resolvers.measure(client, None, settings.runs, "floor", warm=False)
    say(_progress(client, "floor", floor, settings.runs, "floor"))
    # No target's fault: said in the rows and the notes, counted nowhere.
    return f"failed: {floor.errors[-1]}" if floor.errors else floor


def _fill_medians(measured: list[Target], outcomes: dict[str, Outcome], rows: dict[str, Row], seconds: str,
                  ratio: str, sent: str, what: str, also: tuple[str, ...] = ()) -> None:
    """One measure's rows: its median per target, the ratio to the master's, the bytes kit's
    edge counted per run; a target without a median gets its reason in every row (and ``also``)."""
    for target in measured:
        outcome = outcomes.get(target.name)
        if outcome is not None:
            rows[seconds].values[target.name] = (round(outcome.median, 3) if outcome.median is not None
                                                 else "failed: see errors")
    base = rows[seconds].number(MASTER)
    for target in measured:
        median = rows[seconds].number(target.name)
        if median is None:
            why = rows[seconds].values[target.name]
            for key in (ratio, sent, *also):
                rows[key].values[target.name] = why if str(why).startswith("n/a") else "failed: see errors"
            continue
        rows[ratio].values[target.name] = (round(median / base, 3) if base
                                           else f"n/a: the master's {what} failed")
        rows[sent].values[target.name] = _sent(outcomes.get(target.name), target)


def fill_resolve_rows(client: str, measured: list[Target], resolves: dict[str, Outcome],
                      rows: dict[str, Row]) -> None:
    """A resolve's median, its ratio to the master's, and the bytes kit's edge counted per resolve."""
    _fill_medians(measured, resolves, rows, f"{client}_resolve_s", f"{client}_resolve_ratio",
                  f"{client}_resolve_mb", "resolves")


def fill_rows(client: str, measured: list[Target], outcomes: dict[str, Outcome], rows: dict[str, Row]) -> None:
    """An install's median, its ratio to the master's, the bytes kit's edge counted per install,
    uv's no-Range count."""
    no_range = ("uv_no_range",) if client == "uv" else ()
    _fill_medians(measured, outcomes, rows, f"{client}_s", f"{client}_ratio", f"{client}_mb", "installs",
                  also=no_range)
    for target in measured:
        outcome = outcomes.get(target.name)
        if no_range and outcome is not None and rows[f"{client}_s"].number(target.name) is not None:
            rows["uv_no_range"].values[target.name] = outcome.no_range


def fill_floor_rows(client: str, measured: list[Target], floor: Outcome | str, rows: dict[str, Row]) -> None:
    """The floor (the same in every column), each install's median less it, and that index time's
    ratio to the master's (an install at or below its floor: 0 s of index time)."""
    level = floor.median if isinstance(floor, Outcome) else None
    why = floor if isinstance(floor, str) else "failed: see errors"
    base = rows[f"{client}_s"].number(MASTER)
    master_index = base - level if level is not None and base is not None else None
    keys = (f"{client}_floor", f"{client}_index_s", f"{client}_index_ratio")
    for target in measured:
        if level is None:
            for key in keys:
                rows[key].values[target.name] = why
            continue
        rows[keys[0]].values[target.name] = round(level, 3)
        median = rows[f"{client}_s"].number(target.name)
        if median is None:
            install = str(rows[f"{client}_s"].values[target.name])
            for key in keys[1:]:
                rows[key].values[target.name] = install if install.startswith("n/a") else "failed: see errors"
            continue
        rows[keys[1]].values[target.name] = round(median - level, 3)
        rows[keys[2]].values[target.name] = (
            round(max(median - level, 0.0) / master_index, 3) if master_index is not None and master_index > 0
            else "n/a: the master's install is within its floor")


def _sent(outcome: Outcome | None, target: Target) -> float | str:
    """MB per run that kit's edge counted; why there is no figure for the others."""
    if outcome is not None and outcome.sent is not None and outcome.times:
        return round(outcome.sent / len(outcome.times) / 1e6, 2)
    if target.name == PYTHON:
        return "failed: /+edge/stats unread"
    return "n/a: no count kit reads"


def _progress(client: str, name: str, outcome: Outcome, runs: int, mode: str = "install") -> str:
    median = "failed" if outcome.median is None else f"median {shown(outcome.median, 's')} s"
    runs_of = {"resolve": "resolves", "install": "installs", "floor": "installs from a local folder"}[mode]
    sent = ("" if outcome.sent is None or not outcome.times
            else f", {outcome.sent / len(outcome.times) / 1e6:.2f} MB sent each")
    no_range = f", '{NO_RANGE}' {outcome.no_range}×" if client == "uv" and mode != "floor" else ""
    failed = f", {len(outcome.errors)} failed" if outcome.errors else ""
    return f"bench: {name}: {client} {mode}: {median} of {len(outcome.times)}/{runs} {runs_of}{sent}{no_range}{failed}"
