"""The public mirror: a static, PEP 381-style copy of chosen upstream projects,
made by bandersnatch, checked, and reported on.

A site with the ``public-mirror`` setup has ``SITE/mirror/``:

``bandersnatch.conf``   rendered by ``kit init``: the upstream, the listed projects
``data/``               bandersnatch's folder; ``data/web/`` is what is served
                        (``/mirror/`` on the edge), ``data/status`` its serial
``run/``                kit's own: the settings of the last sync, its record
                        (``last-sync.json``), bandersnatch's log, a lock

:func:`sync_mirror` resolves what to mirror (the listed names, the projects
of the listed requirement files, and every project they depend on, read from
the upstream's JSON API), estimates the storage and checks it, runs
bandersnatch, records the result, and refreshes the edge's static copy of
the team indexes. :func:`verify_mirror` checks every file against the sha256
its page publishes. :func:`mirror_status` reads what the last sync left.

bandersnatch writes each page to a temporary file and renames it into place,
so a reader never sees half a page; an interrupted sync leaves its to-do
list in ``data/todo`` and the next one resumes from it.
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import html.parser
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from packaging.requirements import InvalidRequirement, Requirement

from kit.site import validate
from kit.site.answers import DEFAULT_UPSTREAM, Answers, is_loopback, is_requirement_file, upstream_is_folder
from kit.core.errors import MirrorError, MirrorInterrupted, MirrorStorageError, one_line
from kit.core.report import plural
from kit.core.files import write_atomically
from kit.core.locks import held, is_held
from kit.core.names import normalize
from kit.site.plan import REINSTALL, MirrorPaths, bandersnatch_master, edge_config, program

__all__ = [
    "MirrorPaths", "SyncPlan", "SyncRecord", "VerifyResult", "MirrorStatus",
    "bandersnatch_master", "plan_sync", "sync_mirror", "verify_mirror", "mirror_status", "read_requirements",
]

#: Seconds to wait for one answer of the upstream while resolving.
TIMEOUT = 30.0
#: Room kept free besides the estimate: pages, JSON, and the file system's own.
STORAGE_MARGIN = 64 * 1024**2
#: A whole upstream with more projects than this is not estimated (one request each).
ESTIMATE_MAX_PROJECTS = 2000

Progress = Callable[[str], None]


def _quiet(_line: str) -> None:
    pass


# -- where bandersnatch mirrors from -------------------------------------------


def default_master() -> str:
    """PyPI's URL as bandersnatch's own defaults name it (kit never writes it itself)."""
    from importlib import resources

    parser = configparser.RawConfigParser()
    parser.read_string(resources.files("bandersnatch").joinpath("defaults.conf").read_text(encoding="utf-8"))
    return parser.get("mirror", "master")


# -- what to mirror -------------------------------------------------------------


def read_requirements(path: Path, _seen: set[Path] | None = None, _folder: Path | None = None) -> list[Requirement]:
    """The requirements of a pip requirement file: ``-r`` files followed,
    pip's per-requirement options (``--hash=…``) and other options, comments
    and blank lines skipped.

    An ``-r`` include must be a file in the folder of the requirement file
    that ``mirror_projects`` lists, or below it (links followed): a file
    that names ``/etc/shadow`` makes kit read nothing outside that folder.
    Raises :class:`MirrorError` naming the file and line of anything that is
    not a requirement (a URL or a local path cannot be mirrored), never
    quoting the line: under systemd, messages go to the journal.
    """
    path = Path(path).absolute()
    folder = _folder if _folder is not None else Path(os.path.realpath(path.parent))
    seen = _seen if _seen is not None else set()
    if path in seen:
        return []
    seen.add(path)
    try:
        lines = validate.read_small_file(path).splitlines()
    except FileNotFoundError:
        raise MirrorError(f"requirement file {path} does not exist; restore it or remove it from mirror_projects") from None
    except (OSError, ValueError) as exc:
        reason = one_line(exc) if isinstance(exc, OSError) else f"it {exc}"
        raise MirrorError(f"cannot read requirement file {path} ({reason}); check the file") from None
    found: list[Requirement] = []
    joined = ""
    for number, line in enumerate(lines, 1):
        line = joined + line.split(" #", 1)[0].strip()
        joined = ""
        if line.endswith("\\"):
            joined = line[:-1] + " "
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r", "--requirement")):
            target = path.parent / re.sub(r"^(-r|--requirement)[=\s]*", "", line)
            if not Path(os.path.realpath(target)).is_relative_to(folder):
                raise MirrorError(f"{path}:{number}: an -r include outside {folder} is not read; move that file "
                                  f"into {folder}, or list it in mirror_projects itself (kit init --set ...)")
            found += read_requirements(target, seen, folder)
            continue
        if line.startswith("-"):
            continue  # -c, -e, --index-url…: not a project to mirror
        # pip's options of one requirement (--hash=sha256:…, --config-settings): not part of it.
        line = re.split(r"\s+-(?=[-A-Za-z])", line, maxsplit=1)[0]
        try:
            found.append(Requirement(line))
        except InvalidRequirement:
            raise MirrorError(f"{path}:{number}: not a project requirement (a URL or a path cannot be "
                              "mirrored); fix the line or list that file's projects by name") from None
    return found


@dataclass
class SyncPlan:
    """What a sync will mirror, and what it will take."""

    projects: list[str]  # normalised names, sorted; empty with ``everything``
    everything: bool = False
    files: int = 0
    bytes: int = 0  # all the files of the planned projects
    new_bytes: int = 0  # of those, what is not on disk yet
    estimated: bool = True
    #: Dependencies the upstream does not have: mirrored without them, said once.
    missing_dependencies: list[str] = field(default_factory=list)


class _Upstream:
    """The upstream's JSON API (``BASE/pypi/NAME/json``), as bandersnatch reads it.

    Not :mod:`kit.core.http`: that client ignores the environment's proxies, which
    is right for the cluster on loopback but not for PyPI behind a company proxy;
    this one honours them (httpx's ``trust_env``).
    """

    def __init__(self, base: str):
        import httpx

        self.base = base.rstrip("/")
        # No proxy for a local upstream: a proxy of this machine would not reach 127.0.0.1.
        # The system's certificates (as urllib and pip use), not certifi's alone: a company
        # proxy's own CA is installed there. One connection per request, nothing to close.
        try:
            self.client = httpx.Client(trust_env=not _is_loopback_url(self.base), verify=ssl.create_default_context(),
                                       timeout=TIMEOUT, follow_redirects=True,
                                       limits=httpx.Limits(max_keepalive_connections=0))
        except ImportError:  # httpx needs socksio for a socks5:// proxy (ALL_PROXY=socks5://…)
            raise MirrorError("this shell names a SOCKS proxy (ALL_PROXY or another *_PROXY variable) and kit's "
                              "environment cannot use one; install socksio into it (pip install 'httpx[socks]') "
                              "or unset the variable") from None

    def project(self, name: str) -> dict | None:
        """A project's JSON metadata, or None when the upstream does not have it."""
        import httpx

        url = f"{self.base}/pypi/{urllib.parse.quote(name)}/json"
        try:
            response = self.client.get(url, headers={"Accept": "application/json"})
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise MirrorError(f"cannot reach the upstream at {self.base} ({one_line(exc)}); check the "
                              "network, or start the cluster if the upstream is a folder") from None
        if response.status_code == 404:
            return None
        if not response.is_success:
            raise MirrorError(f"the upstream answered HTTP {response.status_code} for {url}; try again later")
        try:
            return json.loads(response.content)
        except ValueError:
            raise MirrorError(f"the upstream's answer for {url} is not JSON; is {self.base} a PyPI-like "
                              "index (…/simple/ beside …/pypi/NAME/json)?") from None

    def all_projects(self) -> list[str]:
        import httpx

        url = f"{self.base}/simple/"
        try:
            response = self.client.get(url, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
            if not response.is_success:
                raise ValueError(f"HTTP {response.status_code}")
            return sorted(normalize(p["name"]) for p in json.loads(response.content)["projects"])
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, KeyError, TypeError) as exc:
            raise MirrorError(f"cannot list the projects of {url} ({one_line(exc)}); check the upstream") from None


def _is_loopback_url(url: str) -> bool:
    return is_loopback(urllib.parse.urlsplit(url).hostname or "")


def _dependencies(metadata: dict, extras: set[str]) -> list[Requirement]:
    """The latest release's dependencies: all platforms (a mirror serves every
    machine), extras only when asked for."""
    found = []
    for text in metadata.get("info", {}).get("requires_dist") or ():
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        marker = requirement.marker
        if marker is not None and "extra" in str(marker):
            if not any(_marker_true(marker, extra) for extra in extras):
                continue
        found.append(requirement)
    return found


def _marker_true(marker, extra: str) -> bool:
    try:
        return marker.evaluate({"extra": extra})
    except Exception:  # an unknown variable: keep the dependency rather than lose it
        return True


def plan_sync(entries: tuple[str, ...] | list[str], upstream_base: str, web: Path | None = None, *,
              say: Progress = _quiet) -> SyncPlan:
    """Resolve ``entries`` (names and requirement files) into every project to
    mirror, with their dependencies, and estimate the storage they take.

    Raises :class:`MirrorError` when a listed project is not on the upstream
    (before anything is downloaded); a missing *dependency* is only reported.
    """
    upstream = _Upstream(upstream_base)
    if not entries:
        names = upstream.all_projects()
        plan = SyncPlan(projects=[], everything=True, estimated=len(names) <= ESTIMATE_MAX_PROJECTS)
        if plan.estimated:
            for name in names:
                _count_files(plan, upstream.project(name) or {}, web)
        return plan
    wanted: list[tuple[str, set[str], str]] = []  # (name, extras, where it was asked for)
    for entry in entries:
        if is_requirement_file(entry):
            wanted += [(normalize(r.name), set(r.extras), entry) for r in read_requirements(Path(entry))]
        else:
            wanted.append((normalize(entry), set(), "mirror_projects"))
    seen: dict[str, set[str]] = {}
    plan = SyncPlan(projects=[])
    queue = [(name, extras, origin, True) for name, extras, origin in wanted]
    while queue:
        name, extras, origin, listed = queue.pop(0)
        if name in seen and extras <= seen[name]:
            continue
        first_time = name not in seen
        seen.setdefault(name, set()).update(extras)
        metadata = upstream.project(name)
        if metadata is None:
            if listed:
                raise MirrorError(f"{name} (from {origin}) is not on the upstream {upstream.base}; check the "
                                  "name, or remove it from mirror_projects (kit init --set mirror_projects=...)")
            if name not in plan.missing_dependencies:
                plan.missing_dependencies.append(name)
            continue
        if first_time:
            plan.projects.append(name)
            _count_files(plan, metadata, web)
            say(f"resolved: {name}")
        for requirement in _dependencies(metadata, extras):
            queue.append((normalize(requirement.name), set(requirement.extras), name, False))
    plan.projects.sort()
    return plan


def _count_files(plan: SyncPlan, metadata: dict, web: Path | None) -> None:
    for files in (metadata.get("releases") or {}).values():
        for file in files:
            size = int(file.get("size") or 0)
            plan.files += 1
            plan.bytes += size
            local = _local_path(web, file.get("url", "")) if web is not None else None
            if local is None or not local.is_file():
                plan.new_bytes += size


def _local_path(web: Path, url: str) -> Path | None:
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    if not path.startswith("/packages/") or ".." in path.split("/"):
        return None
    return web / path.lstrip("/")


# -- storage ------------------------------------------------------------------------


def check_storage(data: Path, needed: int) -> int:
    """Make sure ``data`` exists, is writable and has room for ``needed`` more bytes; return the free bytes.

    Raises :class:`MirrorStorageError` with the fix.
    """
    try:
        data.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=data, prefix=".kit-write-test-"):
            pass
    except OSError as exc:
        raise MirrorStorageError(f"cannot write to the mirror's storage {data} ({exc.strerror or one_line(exc)}); "
                                 "make it writable by this user, or free the path") from None
    free = shutil.disk_usage(data).free
    if needed + STORAGE_MARGIN > free:
        raise MirrorStorageError(f"the mirror needs about {human_bytes(needed)} more in {data}, which has "
                                 f"{human_bytes(free)} free; free some space there, or list fewer projects")
    return free


def human_bytes(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if count < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError  # unreachable


# -- the sync -----------------------------------------------------------------------


@dataclass
class SyncRecord:
    """What the last sync did; ``run/last-sync.json``."""

    result: str  # "ok", "failed", "interrupted", "running"
    started: float
    finished: float = 0.0
    serial: int = 0
    projects: int = 0
    synced: int = 0  # projects bandersnatch wrote pages for in this run
    files: int = 0
    bytes: int = 0
    message: str = ""

    @classmethod
    def read(cls, path: Path) -> "SyncRecord | None":
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def write(self, path: Path) -> None:
        write_atomically(path, json.dumps(asdict(self), indent=1) + "\n")


def _sync_lock(paths: MirrorPaths) -> contextlib.AbstractContextManager[None]:
    paths.run.mkdir(parents=True, exist_ok=True)
    return held(paths.lock, lambda pid: MirrorError(f"another kit mirror sync is running for this site (pid {pid}); "
                                                    "wait for it to finish"))


@contextlib.contextmanager
def _upstream_for(answers: Answers) -> Iterator[str]:
    """The upstream's base URL for this sync: a folder is served for it by a local upstream of its own."""
    if upstream_is_folder(answers.upstream):
        from kit.upstream.server import LocalUpstream

        folder = Path(answers.upstream)
        if not folder.is_dir():
            raise MirrorError(f"the upstream folder {folder} does not exist; restore it or change upstream")
        with LocalUpstream(folder) as local:
            yield f"http://127.0.0.1:{local.port}"
    elif answers.upstream == DEFAULT_UPSTREAM:
        try:
            yield default_master()
        except ModuleNotFoundError:
            raise MirrorError(f"bandersnatch is not installed; install kit again with its dependencies: "
                              f"{REINSTALL}") from None
    else:
        yield bandersnatch_master(answers)


def _sync_settings(paths: MirrorPaths, master: str, plan: SyncPlan) -> str:
    """bandersnatch.conf as rendered, with this sync's upstream, storage and resolved projects."""
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(paths.conf.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MirrorError(f"{paths.conf} is missing; re-create it with kit init") from None
    except (OSError, configparser.Error) as exc:
        raise MirrorError(f"cannot read {paths.conf} ({one_line(exc)}); fix it or re-create it with "
                          "kit init --force") from None
    parser.set("mirror", "directory", str(paths.data))
    parser.set("mirror", "master", master)
    if master.startswith("http:"):
        parser.set("mirror", "allow-non-https", "true")
    for section in ("plugins", "allowlist"):
        parser.remove_section(section)
    if not plan.everything:
        parser.add_section("plugins")
        parser.set("plugins", "enabled", "\nallowlist_project")
        parser.add_section("allowlist")
        parser.set("allowlist", "packages", "".join(f"\n{name}" for name in plan.projects))
    lines = ["; Written by kit mirror sync for its last run, from ../bandersnatch.conf: edit that file instead."]
    with tempfile.SpooledTemporaryFile(mode="w+") as out:
        parser.write(out)
        out.seek(0)
        lines.append(out.read())
    return "\n".join(lines)


def _serial(data: Path) -> int:
    try:
        return int((data / "status").read_text().strip())
    except (OSError, ValueError):
        return 0


def sync_mirror(site, *, say: Progress = _quiet, dry_run: bool = False, repair: bool = False,
                refresh_static: bool = True) -> SyncRecord | SyncPlan:
    """Sync the public mirror of ``site`` (a :class:`kit.site.folder.Site`) now.

    Resolves, estimates, checks the storage, runs bandersnatch (``say`` gets
    one line per project) and records the result; with ``dry_run``, stops
    after the estimate and returns the plan. With ``repair``, every project
    is synced again and every file compared with its sha256 (a missing or
    corrupt one is downloaded again), not only what changed upstream. Raises :class:`MirrorError`
    (nothing mirrored when raised before bandersnatch starts),
    :class:`MirrorStorageError` and :class:`MirrorInterrupted`.
    """
    answers = site.answers
    if "public-mirror" not in answers.setups:
        raise MirrorError(f"{site.path} has no public mirror; add it with: "
                          f"{site.command('init', '--set', 'setups=' + ','.join((*answers.setups, 'public-mirror')))}")
    paths = MirrorPaths.of(site.path)
    with _sync_lock(paths), _upstream_for(answers) as master:
        say(f"upstream: {master if not upstream_is_folder(answers.upstream) else answers.upstream}")
        plan = plan_sync(answers.mirror_projects, master, paths.web, say=say)
        what = "every project of the upstream" if plan.everything else plural(len(plan.projects), "project")
        if plan.estimated:
            say(f"to mirror: {what}, {plural(plan.files, 'file')}, {human_bytes(plan.bytes)} "
                f"({human_bytes(plan.new_bytes)} not on disk yet)")
        else:
            say(f"to mirror: {what} (too many to estimate: check the storage yourself)")
        if plan.missing_dependencies:
            say(f"not on the upstream, mirrored without them: {', '.join(plan.missing_dependencies)}")
        free = check_storage(paths.data, plan.new_bytes if plan.estimated else 0)
        say(f"storage: {paths.data}, {human_bytes(free)} free")
        if dry_run:
            return plan
        if repair:
            # With no serial recorded, bandersnatch syncs every project and checks each file's hash.
            (paths.data / "status").unlink(missing_ok=True)
            say("repair: every project is synced again and every file checked")
        record = _run_bandersnatch(paths, master, plan, say)
    if record.result == "ok" and refresh_static:
        _refresh_static_copy(site, say)
    return record


def _run_bandersnatch(paths: MirrorPaths, master: str, plan: SyncPlan, say: Progress) -> SyncRecord:
    paths.run.mkdir(parents=True, exist_ok=True)
    paths.sync_conf.write_text(_sync_settings(paths, master, plan), encoding="utf-8")
    record = SyncRecord(result="running", started=time.time(), projects=len(plan.projects))
    record.write(paths.record)
    env = dict(os.environ)
    if _is_loopback_url(master):
        # bandersnatch hands any *_proxy variable to its HTTP client, even for 127.0.0.1
        env = {k: v for k, v in env.items() if not k.lower().endswith("_proxy")}
    total = len(plan.projects) or "?"
    errors = _Errors()
    interrupted = False
    with open(paths.log, "a", encoding="utf-8") as log:
        log.write(f"\n==== kit mirror sync {datetime.now(timezone.utc).isoformat(timespec='seconds')} ====\n")
        proc = subprocess.Popen([program("bandersnatch"), "-c", str(paths.sync_conf), "mirror"], cwd=paths.run,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", env=env, start_new_session=True)
        previous = _stop_on_sigterm()
        try:
            for line in proc.stdout:
                log.write(line)
                text = line.rstrip("\n")
                if "Storing index page(s):" in text:
                    record.synced += 1
                    name = text.split("Storing index page(s):", 1)[1].split(" - ", 1)[0].strip()
                    say(f"[{record.synced}/{total}] {name}")
                elif "Resuming interrupted sync" in text:
                    say("resuming the sync that was interrupted")
                else:
                    errors.note(text)
            proc.wait()
        except KeyboardInterrupt:
            interrupted = True
            _stop(proc)
        finally:
            signal.signal(signal.SIGTERM, previous)
    record.finished = time.time()
    record.serial = _serial(paths.data)
    record.files, record.bytes = _count_tree(paths.web / "packages")
    if interrupted:
        record.result = "interrupted"
        record.message = f"interrupted after {record.synced} of {plural(total, 'project')}"
        record.write(paths.record)
        raise MirrorInterrupted(f"sync {record.message}; the pages served are whole, and kit mirror sync "
                                "resumes where it stopped")
    if proc.returncode != 0 or errors.last:
        record.result = "failed"
        record.message = errors.last or f"bandersnatch exited with {proc.returncode}"
        record.write(paths.record)
        raise MirrorError(f"bandersnatch failed: {one_line(record.message)}; see {paths.log}, fix it and run "
                          "kit mirror sync again")
    record.result = "ok"
    record.message = f"{plural(record.synced, 'project')} updated"
    record.write(paths.record)
    say(f"synced: serial {record.serial}, {record.message}, {plural(record.files, 'file')}, "
        f"{human_bytes(record.bytes)} in {record.finished - record.started:.1f} s")
    return record


class _Errors:
    """The last error in bandersnatch's log, as one sentence: its ERROR line
    (``Error syncing package: NAME@SERIAL``) and the exception that ends the
    traceback under it (``NotADirectoryError: [Errno 20] …``)."""

    _ERROR = re.compile(r"^\S+ \S+ (?:ERROR|CRITICAL): (.*?)(?: \(\w+\.py:\d+\))?$")

    def __init__(self):
        self.last = ""
        self._in_traceback = False

    def note(self, line: str) -> None:
        error = self._ERROR.match(line)
        if error:
            self.last, self._in_traceback = error.group(1), False
        elif line.startswith("Traceback"):
            self._in_traceback = True
        elif self._in_traceback and line and not line[0].isspace():
            self.last, self._in_traceback = f"{self.last}: {line}" if self.last else line, False


def _stop_on_sigterm():
    """SIGTERM (systemd stopping the unit) ends the sync like Ctrl-C: bandersnatch is stopped cleanly."""
    def stop(_signum, _frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, stop)


def _stop(proc: subprocess.Popen) -> None:
    """Stop bandersnatch as Ctrl-C would (it keeps its to-do list for the next run), then harder."""
    for sig, wait in ((signal.SIGINT, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _count_tree(folder: Path) -> tuple[int, int]:
    files = size = 0
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            try:
                size += os.stat(os.path.join(dirpath, name)).st_size
                files += 1
            except OSError:
                continue
    return files, size


def _refresh_static_copy(site, say: Progress) -> None:
    """The issue's promise: every sync also refreshes the edge's static copy of the team indexes."""
    from kit.edge.static_copy import refresh

    answers = site.answers
    config = edge_config(answers)
    if not config.static_copy_dir:
        return
    folder = site.path / "cluster" / config.static_copy_dir
    try:
        result = refresh(config.static_copy_sources, config.static_copy_indexes, folder,
                         outside_url=config.public_url)
    except Exception as exc:  # the mirror is synced; a copy that cannot be written is said, not fatal
        say(f"static copy: not refreshed ({one_line(exc)})")
        return
    if result.errors:
        say("static copy: not refreshed (the cluster is not running; kit up refreshes it every "
            f"{config.static_copy_every:.0f} s)")
    else:
        say(f"static copy: serial {result.serial}, {plural(result.projects, 'project')}, "
            f"{plural(result.files, 'file')}")


# -- verify ------------------------------------------------------------------------


@dataclass
class VerifyResult:
    projects: int = 0
    files: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [value for name, value in attrs if name == "href" and value]


def _page_files(page_dir: Path) -> list[tuple[str, str]]:
    """(url, sha256) of each file a project page lists: from its JSON page, else its HTML one.

    Raises ValueError for a page that cannot be read whole.
    """
    json_page, html_page = page_dir / "index.v1_json", page_dir / "index.html"
    if json_page.is_file():
        data = json.loads(json_page.read_text(encoding="utf-8"))
        return [(f["url"], (f.get("hashes") or {}).get("sha256", "")) for f in data["files"]]
    parser = _Links()
    parser.feed(html_page.read_text(encoding="utf-8"))
    found = []
    for href in parser.hrefs:
        url, _, fragment = href.partition("#")
        found.append((url, fragment.split("=", 1)[1] if fragment.startswith("sha256=") else ""))
    return found


def verify_mirror(site_dir: Path, *, say: Progress = _quiet) -> VerifyResult:
    """Check every file of every project page against the sha256 the page publishes.

    Names each missing or corrupt file and each page that cannot be read;
    never changes anything.
    """
    paths = MirrorPaths.of(site_dir)
    simple = paths.web / "simple"
    result = VerifyResult()
    if not simple.is_dir():
        raise MirrorError(f"{paths.web} holds no mirror yet; run kit mirror sync first")
    web = paths.web.resolve()
    for page_dir in sorted(p for p in simple.iterdir() if p.is_dir()):
        result.projects += 1
        try:
            files = _page_files(page_dir)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            result.problems.append(f"unreadable page: simple/{page_dir.name}/ ({one_line(exc)})")
            continue
        for url, expected in files:
            target = (page_dir / urllib.parse.unquote(url.split("#", 1)[0])).resolve()
            shown = os.path.relpath(target, web)
            if web not in target.parents:
                result.problems.append(f"outside the mirror: {url} (listed by {page_dir.name})")
                continue
            result.files += 1
            try:
                with open(target, "rb") as handle:
                    digest = hashlib.file_digest(handle, "sha256").hexdigest()
                result.bytes += target.stat().st_size
            except FileNotFoundError:
                result.problems.append(f"missing: {shown} (listed by {page_dir.name})")
                continue
            except OSError as exc:
                result.problems.append(f"unreadable: {shown} ({exc.strerror})")
                continue
            if not expected:
                result.problems.append(f"no sha256 on the page: {shown} (listed by {page_dir.name})")
            elif digest != expected:
                result.problems.append(f"corrupt: {shown} (sha256 {digest[:12]}…, its page says {expected[:12]}…)")
            if result.files % 500 == 0:
                say(f"checked {plural(result.files, 'file')}")
    return result


# -- status ---------------------------------------------------------------------


@dataclass
class MirrorStatus:
    record: SyncRecord | None
    serial: int
    projects: int
    files: int
    bytes: int
    web: Path

    def as_dict(self) -> dict:
        """For ``kit mirror status --json``."""
        return {"serial": self.serial, "projects": self.projects, "files": self.files, "bytes": self.bytes,
                "last_sync": asdict(self.record) if self.record else None, "web": str(self.web)}

    def summary(self, now: float | None = None) -> str:
        """One line: what is mirrored, and when and how it was last synced."""
        size = f"{plural(self.projects, 'project')}, {plural(self.files, 'file')}, {human_bytes(self.bytes)}"
        if self.record is None:
            return f"never synced ({size}); run kit mirror sync"
        age = _age((now or time.time()) - (self.record.finished or self.record.started))
        last = {"ok": "synced", "failed": "last sync failed", "interrupted": "last sync interrupted",
                "running": "sync running since"}.get(self.record.result, self.record.result)
        when = f"{age} ago" if self.record.result != "running" else age
        return f"{last} {when} (serial {self.serial}; {size})"


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def mirror_status(site_dir: Path) -> MirrorStatus:
    paths = MirrorPaths.of(site_dir)
    record = SyncRecord.read(paths.record)
    if record is not None and record.result == "running" and not is_held(paths.lock):
        record.result = "interrupted"  # the sync was killed before it could say so
    simple = paths.web / "simple"
    projects = sum(1 for p in simple.iterdir() if p.is_dir()) if simple.is_dir() else 0
    files, size = _count_tree(paths.web / "packages")
    return MirrorStatus(record, _serial(paths.data), projects, files, size, paths.web)
