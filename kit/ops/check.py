"""``kit check``: the doctor. The site's cluster (each service's health, the
mirror's lag, the edge's view of its origins, the age of the static copy the
edge falls back on); each team's generated files, read the way their clients
read them, checked for unsafe settings and against the running cluster, with
the fix for anything that fails; and the shell's own packaging variables,
which would override those files.

A failure names its real cause: with services down, a team check that fails
through them names ``kit up``, not the upstream; with nothing running, one
finding says so instead of every team's checks failing one by one.

A file kit cannot read is a failed check naming the file, never a traceback.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from kit.core import http
from kit.site.answers import is_loopback
from kit.core.errors import one_line
from kit.core.report import plural
from kit.core.wait import wait_until
from kit.site.folder import SITE_SECRETS

__all__ = ["ClusterState", "Finding", "Hints", "check_site", "default_package", "lint_team", "live_team",
           "cluster_findings", "environment_findings", "OVERRIDING_VARIABLES"]

SECRET_NAMES = (".pypirc", "ci.env")
_CREDENTIAL_URL = re.compile(r"://[^/@\s]+:[^/@\s]*@")

#: Variables that beat a team's files, and which client reads each. A
#: ``PIP_CONFIG_FILE`` or ``UV_CONFIG_FILE`` is how a team's file is used, so
#: only the ones that name an index or a place to find packages are listed.
OVERRIDING_VARIABLES = {
    "PIP_INDEX_URL": "pip", "PIP_EXTRA_INDEX_URL": "pip", "PIP_FIND_LINKS": "pip", "PIP_NO_INDEX": "pip",
    "UV_INDEX_URL": "uv", "UV_DEFAULT_INDEX": "uv", "UV_INDEX": "uv", "UV_EXTRA_INDEX_URL": "uv",
    "UV_FIND_LINKS": "uv", "UV_INDEX_STRATEGY": "uv", "UV_NO_INDEX": "uv",
    "PDM_PYPI_URL": "pdm", "TWINE_REPOSITORY_URL": "twine", "TWINE_REPOSITORY": "twine",
}


@dataclass(frozen=True)
class Hints:
    """The commands a fix names, written for the user's current folder."""

    up: str = "kit up"
    status: str = "kit status"
    init: str = "kit init"


@dataclass
class Finding:
    team: str
    check: str
    ok: bool
    detail: str
    fix: str = ""
    #: A warning is shown but does not fail the check (exit code), unless ``kit check --strict``
    #: and it ``admits_attacker``.
    warning: bool = False
    #: What it warns about lets another source's package in (an extra index, a name on two teams).
    admits_attacker: bool = False

    @property
    def result(self) -> str:
        return "pass" if self.ok else "warn" if self.warning else "FAIL"


class _Unreadable(Exception):
    """A team file that its client could not read either."""

    def __init__(self, name: str, reason: str):
        self.name, self.reason = name, reason
        super().__init__(f"{name}: {reason}")


def _read_ini(path: Path) -> configparser.ConfigParser:
    ini = configparser.ConfigParser(interpolation=None)
    try:
        ini.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except (configparser.Error, UnicodeDecodeError, OSError) as exc:
        raise _Unreadable(path.name, one_line(exc)) from None
    return ini


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise _Unreadable(path.name, one_line(exc)) from None



_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def _read_env(path: Path) -> dict[str, str]:
    """The variables of an env file, parsed the way sh assigns them, never run.

    A line that is not a plain ``KEY=word`` (a command, ``$(…)``, a second
    word) would do something else when sourced: the file is unreadable.
    """
    values = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise _Unreadable(path.name, one_line(exc)) from None
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _ASSIGNMENT.match(line)
        try:
            words = shlex.split(match.group(2), comments=True) if match else None
        except ValueError:
            words = None
        unquoted = match and re.search(r"[$`]", re.sub(r"'[^']*'", "", match.group(2)))
        if words is None or len(words) > 1 or unquoted:
            raise _Unreadable(path.name, f"line {number} is not a plain KEY=value assignment; "
                              "sourced, it would run or expand something")
        values[match.group(1)] = words[0] if words else ""
    return values


def _urls_of(folder: Path) -> dict[str, list[str]]:
    """The index URLs each read-side file points at, as its tool parses it."""
    found: dict[str, list[str]] = {}
    if (folder / "pip.conf").is_file():
        found["pip.conf"] = [_read_ini(folder / "pip.conf").get("global", "index-url", fallback="")]
    if (folder / "uv.toml").is_file():
        found["uv.toml"] = [i.get("url", "") for i in _read_toml(folder / "uv.toml").get("index", [])]
    if (folder / "buildout.cfg").is_file():
        found["buildout.cfg"] = [_read_ini(folder / "buildout.cfg").get("buildout", "index", fallback="")]
    if (folder / "setup.cfg").is_file():
        found["setup.cfg"] = [_read_ini(folder / "setup.cfg").get("easy_install", "index_url", fallback="")]
    if (folder / "pdm.toml").is_file():
        found["pdm.toml"] = [_read_toml(folder / "pdm.toml").get("pypi", {}).get("url", "")]
    if (folder / "poetry-source.toml").is_file():
        data = _read_toml(folder / "poetry-source.toml")
        found["poetry-source.toml"] = [s.get("url", "") for s in data.get("tool", {}).get("poetry", {}).get("source", [])]
    return found


def lint_team(team: str, folder: Path, hints: Hints = Hints()) -> list[Finding]:
    """Unsafe settings in one team folder: no server needed."""
    try:
        return _lint_team(team, folder, hints.init)
    except _Unreadable as exc:
        return [Finding(team, "files readable", False, f"{exc.name} cannot be read: {exc.reason}",
                        f"regenerate it with: {hints.init}")]


def _lint_team(team: str, folder: Path, regenerate: str) -> list[Finding]:
    findings = []

    def add(check: str, problems: list[str], fix: str, ok_detail: str) -> None:
        if problems:
            findings.append(Finding(team, check, False, "; ".join(problems), fix))
        else:
            findings.append(Finding(team, check, True, ok_detail))

    # one index only
    add("one index only", _second_indexes(folder),
        "remove the second index; the team index already inherits the mirror",
        "no extra index in any file")

    # no credentials where they are printed or committed
    problems = []
    for name in ("pip.conf", "uv.toml", "buildout.cfg", "setup.cfg", "pdm.toml", "poetry-source.toml"):
        path = folder / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            if _CREDENTIAL_URL.search(text) or re.search(r"^\s*password\s*=", text, re.M):
                problems.append(f"{name} holds a password")
    add("no credentials in configs", problems,
        "remove it: reading needs none; upload credentials belong in .pypirc or ci.env",
        "reading configs hold no password")

    # secrets for the owner only
    problems = []
    present = [name for name in SECRET_NAMES if (folder / name).is_file()]
    for name in present:
        mode = stat.S_IMODE((folder / name).stat().st_mode)
        if mode & 0o077:
            problems.append(f"{name} is mode {mode:04o}")
    if present:
        add("secrets not world-readable", problems, "chmod 600 " + " ".join(f"{folder}/{n}" for n in present),
            " and ".join(present) + (" is" if len(present) == 1 else " are") + " mode 0600")

    # plain http only on loopback
    problems = []
    for name, urls in _urls_of(folder).items():
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme == "http" and parts.hostname and not is_loopback(parts.hostname):
                problems.append(f"{name} uses plain http to {parts.hostname}")
    add("TLS beyond loopback", sorted(set(problems)),
        f"serve the index over https and regenerate with: {regenerate} --set scheme=https",
        "plain http goes to loopback only")
    return findings


#: Settings that add a place to look for packages, per client, as its own
#: configuration spells them (pip also accepts "_" for "-").
_PIP_EXTRA = ("extra-index-url", "find-links")
_ENV_EXTRA = ("PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "UV_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS")
_ENV_INDEX = ("PIP_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX", "PDM_PYPI_URL")


def _second_indexes(folder: Path) -> list[str]:
    """Every way a team file names more than one index, however it got there:
    a second key, a second section, a second table."""
    problems = []
    if (folder / "pip.conf").is_file():
        ini = _read_ini(folder / "pip.conf")
        index_urls = set()
        for section in ini.sections():
            for key, value in ini.items(section):
                key = key.replace("_", "-")
                if key in _PIP_EXTRA and value.strip():
                    problems.append(f"pip.conf [{section}] sets {key}")
                elif key == "index-url" and value.strip():
                    index_urls.add(value.strip())
        if len(index_urls) > 1:
            problems.append(f"pip.conf names {len(index_urls)} different index-url values")
    if (folder / "ci.env").is_file():
        env = _read_env(folder / "ci.env")
        problems += [f"ci.env sets {name}" for name in _ENV_EXTRA if env.get(name)]
        if len({env[name] for name in _ENV_INDEX if env.get(name)}) > 1:
            problems.append("ci.env names more than one index")
    if (folder / "uv.toml").is_file():
        data = _read_toml(folder / "uv.toml")
        pip_table = data.get("pip", {}) if isinstance(data.get("pip"), dict) else {}
        if len(data.get("index", [])) != 1:
            problems.append("uv.toml lists more than one index")
        for key in ("extra-index-url", "find-links", "index-url"):
            if data.get(key) or pip_table.get(key):
                problems.append(f"uv.toml sets {key}")
        if data.get("index-strategy", "first-index") != "first-index":
            problems.append(f"uv.toml uses index-strategy {data['index-strategy']!r}")
    if (folder / "pdm.toml").is_file():
        pypi = _read_toml(folder / "pdm.toml").get("pypi", {})
        extra = [name for name, value in pypi.items() if isinstance(value, dict)] if isinstance(pypi, dict) else []
        problems += [f"pdm.toml adds the source {name!r}" for name in extra]
    if (folder / "buildout.cfg").is_file():
        ini = _read_ini(folder / "buildout.cfg")
        if ini.get("buildout", "find-links", fallback="").strip():
            problems.append("buildout.cfg sets find-links")
    if (folder / "setup.cfg").is_file():
        ini = _read_ini(folder / "setup.cfg")
        if any(ini.get("easy_install", key, fallback="").strip() for key in ("find_links", "find-links")):
            problems.append("setup.cfg sets find_links")
    if (folder / "poetry-source.toml").is_file():
        sources = _read_toml(folder / "poetry-source.toml").get("tool", {}).get("poetry", {}).get("source", [])
        if [source.get("priority") for source in sources] != ["primary"]:
            problems.append("poetry-source.toml is not exactly one primary source")
    return problems


#: Site files holding secrets, and folders holding devpi's databases (password hashes).
_SITE_SECRETS = ("kit.toml", "server/secrets.env", *(path for paths in SITE_SECRETS.values() for path in paths))
_DATABASES = ("cluster/run/master", "cluster/run/mirror", "server/data")


def site_findings(site_path: Path) -> list[Finding]:
    """The site's own secrets and devpi's databases: readable by the owner only."""
    findings = []
    loose = []
    for name in _SITE_SECRETS:
        path = site_path / name
        if path.is_file() and path.stat().st_mode & 0o077:
            loose.append(f"{name} is mode {stat.S_IMODE(path.stat().st_mode):04o}")
    fix = "chmod 600 " + " ".join(str(site_path / item.split(" ")[0]) for item in loose)
    findings.append(Finding("site", "secrets not world-readable", not loose,
                            "; ".join(loose) or "kit.toml, secrets.env and devpi-secret are mode 0600",
                            "" if not loose else fix))
    folders = [name for name in _DATABASES if (site_path / name).is_dir()]
    readable = [p for name in folders for p in [site_path / name, *(site_path / name).rglob("*")]
                if p.stat().st_mode & 0o044]
    if readable:
        first = readable[0]
        findings.append(Finding(
            "site", "databases not world-readable", False,
            f"{plural(len(readable), 'file or folder', 'files or folders')} of devpi's databases, which hold "
            f"password hashes, {'is' if len(readable) == 1 else 'are'} readable by "
            f"others (e.g. {first.relative_to(site_path)} mode {stat.S_IMODE(first.stat().st_mode):04o})",
            "chmod -R go= " + " ".join(str(site_path / name) for name in folders),
        ))
    elif folders:
        findings.append(Finding("site", "databases not world-readable", True,
                                " and ".join(folders) + " are readable by their owner only"))
    return findings


def environment_findings(environ: Mapping[str, str]) -> list[Finding]:
    """Variables set in this shell that would make a client ignore its team file."""
    found = [(name, client) for name, client in OVERRIDING_VARIABLES.items() if environ.get(name) is not None]
    if not found:
        return []
    names = ", ".join(name for name, _ in found)
    clients = ", ".join(dict.fromkeys(client for _, client in found))
    return [Finding(
        "shell", "no overriding variables", False,
        f"{names} set in this shell; {clients} will use {'it' if len(found) == 1 else 'them'} instead of the team's files",
        "unset " + " ".join(name for name, _ in found), warning=True, admits_attacker=True,
    )]


#: kit check's calls go through the edge, which gives the master up to its own
#: read timeout (10 s) before falling over to the mirror: wait a little longer.
THROUGH_EDGE_TIMEOUT = 12.0


def _http(url: str) -> tuple[int, bytes]:
    answer = http.get(url, timeout=THROUGH_EDGE_TIMEOUT)
    return answer.status, answer.body


def live_team(team: str, folder: Path, package: str | None, hints: Hints = Hints(),
              cluster: "ClusterState | None" = None) -> list[Finding]:
    """The team's files against the running cluster, through the URLs they hold.

    ``cluster``: what :func:`cluster_findings` found of the site's own cluster
    (None for a site without one). With nothing running, only what needs no
    server is checked (the rest would fail for one reason already said); with
    services down, a failure names them and ``kit up`` as its fix.
    """
    up, regenerate = hints.up, hints.init
    try:
        urls = _urls_of(folder)
    except _Unreadable:
        return []  # lint_team has said so
    pypirc = folder / ".pypirc"
    if cluster is not None and not cluster.running:
        target = _pypirc_target(team, pypirc, regenerate) if pypirc.is_file() else None
        return [target] if isinstance(target, Finding) else []

    def cause(*needs: str) -> str:
        return cluster.cause(up, needs) if cluster is not None else ""

    findings = []
    index_url = next((u[0] for u in urls.values() if u and u[0]), "")
    if not index_url:
        return [Finding(team, "index answers", False, "no client file names an index", f"regenerate with: {regenerate}")]
    code, _ = _http(index_url)
    findings.append(Finding(team, "index answers", code == 200, f"{index_url} → HTTP {code or 'no answer'}",
                            "" if code == 200 else cause("edge", "master", "mirror") or f"start the cluster: {up}"))
    if package:
        code, body = _http(f"{index_url}{package}/")
        ok = code == 200 and (".whl" in body.decode(errors="replace") or ".tar.gz" in body.decode(errors="replace"))
        findings.append(Finding(team, "package resolves", ok, f"{package} → HTTP {code or 'no answer'}",
                                "" if ok else cause("edge", "master", "mirror", "upstream")
                                or f"check the upstream serves {package}, then {hints.status}"))
    if pypirc.is_file():
        upload = _check_upload_credentials(team, pypirc, up, regenerate)
        if not upload.ok and cause("edge", "master"):  # uploads need the master, through the edge
            upload.fix = cause("edge", "master")
        findings.append(upload)
    return findings


def _pypirc_target(team: str, pypirc: Path, regenerate: str) -> tuple[str, str, str] | Finding:
    """The .pypirc's first repository URL, username and password; a failed
    finding when the file does not name them (no server needed to tell)."""
    check = "upload accepted"
    try:
        cfg = _read_ini(pypirc)
    except _Unreadable:
        return Finding(team, check, False, ".pypirc cannot be read", f"regenerate it with: {regenerate}")
    servers = cfg.get("distutils", "index-servers", fallback="").split()
    if not servers or not cfg.has_section(servers[0]):
        return Finding(team, check, False, ".pypirc names no repository", f"regenerate it with: {regenerate}")
    section = cfg[servers[0]]
    repository, user, password = section.get("repository", ""), section.get("username", ""), section.get("password", "")
    parts = urlsplit(repository)
    if parts.scheme not in ("http", "https") or not parts.netloc or not user:
        return Finding(team, check, False, f".pypirc [{servers[0]}] has no repository URL or username",
                       f"regenerate it with: {regenerate}")
    return repository, user, password


def _check_upload_credentials(team: str, pypirc: Path, up: str, regenerate: str) -> Finding:
    """Log in with the .pypirc credentials and check the index lets that user upload.

    A real upload would leave a file on a non-volatile index for ever; the
    login and the index's acl_upload are exactly what devpi checks on upload.
    """
    from kit.cluster.devpi import DevpiAPI, DevpiError

    check = "upload accepted"
    target = _pypirc_target(team, pypirc, regenerate)
    if isinstance(target, Finding):
        return target
    repository, user, password = target
    parts = urlsplit(repository)
    api = DevpiAPI(f"{parts.scheme}://{parts.netloc}", timeout=THROUGH_EDGE_TIMEOUT)
    index = parts.path.strip("/")
    try:
        api.login(user, password)
    except DevpiError as exc:
        return Finding(team, check, False, str(exc).strip(),
                       f"{up}, or regenerate .pypirc with {regenerate} if the password changed")
    try:
        found = api.get(f"/{index}")
    except DevpiError:
        found = None
    acl = found.get("acl_upload", []) if isinstance(found, dict) else []
    ok = user in acl or ":ANONYMOUS:" in acl
    return Finding(team, check, ok, f"{user} may upload to {index}" if ok
                   else f"{user} is not in acl_upload of {index}", "" if ok else f"re-run {up}")


@dataclass
class ClusterState:
    """What the team checks need to know of the site's cluster."""

    #: Any service runs: with none, the team checks that need a server are not made.
    running: bool = True
    #: A service accepts connections but does not answer: calls through it would each wait a timeout.
    hung: bool = False
    #: Services not running (``kit up`` starts them) ...
    stopped: list[str] = field(default_factory=list)
    #: ... and services running but not healthy (``kit up`` refuses to start beside them).
    unhealthy: list[str] = field(default_factory=list)

    def cause(self, up: str, needs: tuple[str, ...]) -> str:
        """The fix for a team check that failed through the cluster, when a
        service it ``needs`` is down ("" when none is: the check's own fix holds)."""
        stopped = [name for name in self.stopped if name in needs]
        unhealthy = [name for name in self.unhealthy if name in needs]
        if unhealthy:
            return f"{_and(unhealthy + stopped)} {_are(unhealthy + stopped)} not healthy (see the cluster rows); fix that first"
        if stopped:
            return f"{_and(stopped)} {_are(stopped)} not running; start {'it' if len(stopped) == 1 else 'them'}: {up}"
        return ""


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _are(names: list[str]) -> str:
    return "is" if len(names) == 1 else "are"


#: How long kit check gives the cluster to settle before calling what it sees a
#: failure: a mirror that follows is back in sync within a second or two of a
#: change, the edge re-probes its origins every 2 s (Varnish needs two 1 s
#: probes), and a failed static-copy refresh is retried after 2 s.
SETTLE_SECONDS = 5.0


def _settled(look, good, seconds: float = SETTLE_SECONDS):
    """``look()`` until ``good`` of it, or ``seconds`` passed: the last look."""
    return wait_until(look, seconds, 0.2, accept=good)


def _health(url: str):
    """A service's health (or devpi's ``/+status`` result) as JSON; None when it does not answer."""
    answer = http.get(url)
    return answer.json() if answer.ok else None


def cluster_findings(site) -> tuple[list[Finding], ClusterState | None]:
    """The site's cluster: a finding for each service (healthy, or what is
    wrong and the command that fixes it), the mirror's lag, the edge's view of
    its origins, the static copy's age, and a warning for a project published
    by two teams; and the :class:`ClusterState` the team checks need (None
    for a site without a cluster).

    With nothing running, one finding says so. Every look is bounded (see
    :mod:`kit.core.http`): a hung service costs seconds.
    """
    from kit.cluster.lifecycle import Cluster

    if "cluster" not in site.answers.setups or not (site.path / "cluster").is_dir():
        return [], None
    cluster = Cluster(site)
    up = site.command("up")
    rows = cluster.status()
    if not any(row.running for row in rows):
        names = _and([row.name for row in rows])
        return [Finding("cluster", "cluster running", False, f"nothing is running ({names} stopped)",
                        f"start the cluster: {up}")], ClusterState(running=False)
    findings, state = [], ClusterState()
    for row in rows:
        if not row.running:
            state.stopped.append(row.name)
            gone = "; its process is gone (killed, or it crashed)" if row.detail.startswith("stale pid") else ""
            findings.append(Finding("cluster", f"{row.name} healthy", False, f"{row.name} is not running{gone}",
                                    f"start it again: {up}"))
        elif not row.healthy:
            state.unhealthy.append(row.name)
            state.hung = state.hung or row.hung
            problem = row.detail.removesuffix(f"; {row.fix}") if row.fix else row.detail
            findings.append(Finding("cluster", f"{row.name} healthy", False, problem, row.fix or up))
        elif row.degraded:
            findings.append(Finding("cluster", f"{row.name} caches files", False, row.degraded,
                                    f"free space on (or remount read-write) the disk of {site.path / 'cluster' / 'run'}; "
                                    "it serves every request meanwhile"))
        else:
            findings.append(Finding("cluster", f"{row.name} healthy", True, f"{row.url} answers (pid {row.pid})"))
    healthy = {row.name: row for row in rows if row.healthy}
    if "master" in healthy and "mirror" in healthy:
        findings.append(_mirror_lag(site, healthy["master"].url, healthy["mirror"].url))
    if "edge" in healthy:
        findings.append(_edge_origins(site, cluster, healthy))
    copy = _static_copy(site, cluster, healthy)
    if copy is not None:
        findings.append(copy)
    if "master" in healthy and "private" in site.answers.setups:
        findings += _shared_names(healthy["master"].url, site.answers.teams)
    return findings, state


def _mirror_lag(site, master_url: str, mirror_url: str) -> Finding:
    """How many changes (devpi serials) the mirror is behind the master, given a moment to catch up."""
    from kit.cluster.devpi import sync_state

    def look():
        return sync_state(_status_result(mirror_url), _status_result(master_url))

    state = _settled(look, lambda s: s.behind == 0)
    if state.behind == 0:
        serial = (_status_result(mirror_url) or {}).get("serial")
        return Finding("cluster", "mirror in sync", True, f"0 changes behind the master (both at serial {serial})")
    return Finding("cluster", "mirror in sync", False, f"{state.detail}, still after {SETTLE_SECONDS:g} s",
                   f"see {site.command('logs', 'mirror')}; if it stays behind, restart it: "
                   f"{site.command('down')} then {site.command('up')}")


def _status_result(url: str) -> dict | None:
    payload = _health(f"{url}/+status")
    return payload.get("result") if isinstance(payload, dict) else None


def _edge_origins(site, cluster, healthy: dict) -> Finding:
    """Which origins the edge uses and skips, from its own health answer. A
    failure only when it skips one that answers kit: an origin that is down
    is already a failure of its own, with its fix."""
    edge = cluster.service("edge")
    names = {service.local_url: service.name for service in cluster.services()}

    def look() -> dict[str, bool] | None:
        body = _health(edge.health_url)
        if not isinstance(body, dict):
            return None
        if isinstance(body.get("origins"), dict):  # Varnish: its probes' verdicts, by backend name
            return {name: bool(up) for name, up in body["origins"].items()}
        if isinstance(body.get("backends"), dict):  # kit's edge: URL → "in use" or "skipped"
            return {names.get(url, url): state == "in use" for url, state in body["backends"].items()}
        return None

    def skipped_healthy(origins) -> list[str]:
        return [name for name, used in (origins or {}).items() if not used and name in healthy]

    origins = _settled(look, lambda seen: seen is not None and not skipped_healthy(seen))
    if origins is None:
        return Finding("cluster", "edge sees its origins", False, "the edge's health answer names no origins",
                       f"see {site.command('logs', 'edge')}")
    # An origin down since less than a probe ago is still "in use" to the edge.
    shown = ", ".join(f"{name} {'in use' if used else 'skipped'}" if name in healthy
                      else f"{name} skipped (down)" if not used else f"{name} down (the edge has not noticed yet)"
                      for name, used in origins.items())
    wrong = skipped_healthy(origins)
    if wrong:
        return Finding("cluster", "edge sees its origins", False,
                       f"{shown}: the edge skips {_and(wrong)}, which {'answers' if len(wrong) == 1 else 'answer'} kit",
                       f"see {site.command('logs', 'edge')}; restart it: {site.command('down')} then {site.command('up')}")
    return Finding("cluster", "edge sees its origins", True, shown)


def _static_copy(site, cluster, healthy: dict) -> Finding | None:
    """The age of the static copy of the team indexes, which the edge (the
    shield, with Varnish) serves when master and mirror are both down. None
    for a site without one, or when what serves it is down (said already)."""
    from kit.cluster.lifecycle import static_copy_summary
    from kit.site.plan import edge_config

    config = edge_config(site.answers)
    server = "shield" if site.answers.edge == "varnish" else "edge"
    if not config.static_copy_dir or server not in healthy:
        return None
    sources_up = [name for name in ("mirror", "master") if name in healthy]
    limit = 2 * config.static_copy_every + 30  # a refresh missed, and one under way
    health_url = cluster.service(server).health_url

    def look() -> dict | None:
        body = _health(health_url)
        copy = body.get("static_copy") if isinstance(body, dict) else None
        return copy if isinstance(copy, dict) else None

    def fresh(copy) -> bool:
        return copy is not None and copy.get("age") is not None and copy["age"] <= limit

    copy = _settled(look, fresh) if sources_up else look()
    check, logs = "static copy fresh", site.command("logs", server)
    if copy is None:
        return Finding("cluster", check, False, f"the {server}'s health answer says nothing of its static copy",
                       f"see {logs}")
    summary = static_copy_summary(copy).removeprefix("static copy: ")
    if not sources_up:
        # Master and mirror are down (each a failure above): the copy is what serves team pages now.
        ok = copy.get("age") is not None
        return Finding("cluster", check, ok, f"{summary}; serving team pages while master and mirror are down",
                       "" if ok else f"start master and mirror: {site.command('up')}")
    if fresh(copy):
        return Finding("cluster", check, True, summary)
    every = f"the {server} refreshes it every {config.static_copy_every:g} s from {_and(sources_up)}"
    return Finding("cluster", check, False, f"{summary}; {every}", f"see why in {logs}")


def _shared_names(master_url: str, teams: tuple[str, ...]) -> list[Finding]:
    """A name published by two teams merges their files on both teams' pages (the indexes inherit each other)."""
    from kit.cluster.devpi import DevpiAPI, DevpiError

    api = DevpiAPI(master_url, timeout=http.READ_TIMEOUT)
    owners: dict[str, list[str]] = {}
    try:
        for team in teams:
            for name in api.projects(f"{team}/private"):
                owners.setdefault(name, []).append(team)
    except DevpiError:
        return []
    return [
        Finding("cluster", "one team per project", False,
                f"{name} is published by {' and '.join(by)}: their files mix on every team's page",
                f"keep {name} on one team's index; remove it from the other (devpi remove)", warning=True,
                admits_attacker=True)
        for name, by in sorted(owners.items()) if len(by) > 1
    ]


def default_package(upstream: str) -> str:
    """A name every index of the site should resolve: one from a folder upstream, else pip."""
    from kit.site.answers import upstream_is_folder
    from kit.core.names import project_of

    if upstream_is_folder(upstream):
        try:
            names = sorted(filter(None, (project_of(p.name) for p in Path(upstream).iterdir())))
        except OSError:
            names = []
        if names:
            return names[0]
    return "pip"


def check_site(
    site_dir: Path | None = None, package: str | None = None, live: bool = True,
    environ: Mapping[str, str] | None = None, strict: bool = False,
) -> list[Finding]:
    """The site's cluster (``live``); every team folder of a site: lint, then
    (``live``) against the cluster; then the shell's variables that would
    override the team files. With ``strict``, a warning that admits an
    attacker's package is a failure.

    ``site_dir`` is found like ``git`` finds a repository (default: the
    current folder or one above it). Raises
    :class:`~kit.core.errors.SiteDirError` when there is no site.
    """
    from kit.site.folder import Site

    site = Site.find(site_dir)
    if package is None and live:
        package = default_package(site.answers.upstream)
    hints = Hints(site.command("up"), site.command("status"), site.command("init"))
    findings, cluster = [], None
    teams_dir = site.path / "teams"
    folders = sorted(p for p in teams_dir.iterdir() if p.is_dir()) if teams_dir.is_dir() else []
    if live:
        findings, cluster = cluster_findings(site)
    for folder in folders:
        findings += lint_team(folder.name, folder, hints)
        if live and not (cluster and cluster.hung):  # through a hung service, each call would wait for its timeout
            findings += live_team(folder.name, folder, package, hints, cluster)
    if findings:
        findings += site_findings(site.path)
        findings += environment_findings(os.environ if environ is None else environ)
    if strict:
        for finding in findings:
            if finding.warning and finding.admits_attacker:
                finding.warning = False
    return findings
