"""A devpi-server plugin with two jobs, each off unless its setting is made:

* **Purges** (``kit-purge-url``): after each commit, tell the edge which
  cached index pages the commit changed, so it drops them at once instead of
  serving them until they expire. The rest of this text is about them.
* **One team per project** (``kit-one-team-per-project``): an upload, a
  release registration or a push of project P to an index is refused (409,
  naming the owner) when another user's index in that index's resolution
  order already holds P. kit's team indexes inherit each other, so without
  it a second team's ``acme-data 9.0`` would mix into the first team's page
  and be installed by its builds. :func:`owner_of` is the rule.

devpi loads it through the ``devpi_server`` entry point of kit's
distribution.

When: right after each commit, in serial order, from a thread of the
plugin's own (:class:`CommitFollower`) that reads each new serial's changes
as devpi's notifier would, on the primary and on a replica alike (a replica
commits the primary's changes at the primary's serials). devpi's notifier
itself would do, but it holds every later event while a file of an earlier
one is not on disk yet, and then sleeps 5 s: measured here, one upload in
three reached the edge 4-5 s late through it. The ``devpiserver_on_*`` hooks
fire from that same thread and see only uploads and version data of private
stages, never an index's settings nor new upstream links on a mirror.

What (the contract with the edge)::

    POST <kit-purge-url>
    Authorization: Bearer <the secret in kit-purge-secretfile>
    Content-Type: application/json
    Xkey-Purge: web/private web/private/kitdemo-private acme/private/*
    X-Kit-Serial: 42

    {"keys": ["web/private", "web/private/kitdemo-private", "acme/private/*"], "serial": 42}

* ``USER/INDEX``: that index's root page, ``/USER/INDEX/+simple/``;
* ``USER/INDEX/PROJECT``: every representation of that project's page
  (PROJECT normalised as PEP 503 says);
* ``USER/INDEX/*``: everything the edge holds of that index (sent when its
  settings change: bases or mirror_whitelist change every page of it);
* the headers ``Xkey-Purge`` and ``X-Kit-Serial`` say the same for Varnish,
  which reads no bodies (keys coarsened by :func:`collapse` past 16 KiB);
* ``kit-purge-url`` may name several edges, separated by spaces: Varnish and
  kit's edge behind it each get every purge;
* ``serial``: devpi's serial of the newest change the keys cover, as devpi
  sends it in ``X-Devpi-Serial``; a page fetched with a lower serial predates
  the change.

A change on stage S purges the keys of S and of every index whose resolution
order (``stage.sro()``) holds S: a new release on root/pypi purges it for
every team index too. Any 2xx answer is success.

How: the follower only adds keys to a pending set; a thread of devpi's own
sends them, merging whatever arrived meanwhile into one request, with a 1 s
timeout. A failure is logged (at most one line a minute) and the keys
dropped: the edge revalidates pages on its own within seconds, so a lost
purge costs freshness for that long, never correctness for good.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from pluggy import HookimplMarker

from kit.core import secrets
from kit.core.errors import SecretError
# The stage that reserves the site's names for every team: its releases without files belong to no team.
from kit.core.names import NAMES_INDEX, normalize

__all__ = [
    "FEATURE", "PurgeSender", "Fanout", "CommitFollower", "ChangeWatcher", "check_url", "check_urls", "collapse",
    "header_keys", "inheritors", "normalise", "purge_keys", "read_secret", "secret_path", "owner_of",
    "upload_target", "one_team_per_project_tween",
]

hookimpl = HookimplMarker("devpiserver")

#: Listed in devpi's ``/+api`` "features" when the plugin is loaded.
FEATURE = "kit-purge"
#: Seconds the edge has to answer a purge; devpi never waits on it anyway.
TIMEOUT = 1.0
#: Pending keys past this are coarsened to ``USER/INDEX/*`` (see :func:`collapse`).
MAX_PENDING_KEYS = 1000
#: After the first key of a commit, how long to gather the rest of it into the same request.
LINGER = 0.05
#: At most one failure line per this many seconds: a down edge must not flood devpi's log.
FAILURE_LOG_INTERVAL = 60.0
#: The most of an answer read: the edge answers {"purged": N}.
MAX_ANSWER = 64 * 1024


# -- which keys a change purges (pure functions) --------------------------------------


normalise = normalize  # the purge contract's spelling; the rule is kit.names'


def inheritors(stage: str, bases_of: Mapping[str, Sequence[str]]) -> set[str]:
    """``stage`` and every index whose resolution order holds it.

    devpi's ``sro()`` walks the bases, skipping those it has seen, so S is in
    X's resolution order exactly when S is reachable from X through bases;
    cycles (the team indexes inherit each other) are fine.
    """
    inherited_by: dict[str, set[str]] = {}
    for index, bases in bases_of.items():
        for base in bases or ():
            inherited_by.setdefault(base, set()).add(index)
    found = {stage}
    todo = [stage]
    while todo:
        for index in inherited_by.get(todo.pop(), ()):
            if index not in found:
                found.add(index)
                todo.append(index)
    return found


def purge_keys(stage: str, project: str | None, bases_of: Mapping[str, Sequence[str]]) -> set[str]:
    """The keys a change on ``stage`` purges, for it and for every index inheriting it.

    ``project``: a project name (its pages), None (the index's root page), or
    ``"*"`` (everything of the index).
    """
    indexes = inheritors(stage, bases_of)
    if project is None:
        return indexes
    suffix = "*" if project == "*" else normalise(project)
    return {f"{index}/{suffix}" for index in indexes}


def collapse(keys: Iterable[str]) -> set[str]:
    """``keys`` with every project key replaced by its index's ``USER/INDEX/*``.

    Purges more than asked, never less: what keeps the pending set bounded
    (by the number of indexes) when changes come faster than the edge takes them.
    """
    wide = {"/".join(key.split("/")[:2]) for key in keys if key.count("/") >= 2}
    return {f"{index}/*" for index in wide} | {key for key in keys if key.count("/") < 2 and key not in wide}


#: The longest Xkey-Purge header sent; varnishd is started to take 32 KiB headers.
MAX_HEADER_KEYS = 16 * 1024


def header_keys(keys: Iterable[str]) -> str:
    """``keys`` for the Xkey-Purge header: space-separated, coarsened by
    :func:`collapse` when they would not fit (purging more, never less)."""
    text = " ".join(sorted(keys))
    if len(text) > MAX_HEADER_KEYS:
        text = " ".join(sorted(collapse(keys)))
    return text


# -- settings -------------------------------------------------------------------------


def _fatal(message: str) -> Exception:
    # devpi prints a Fatal as "fatal: …" and exits 1, as it does for its own secretfile.
    from devpi_server.main import Fatal

    return Fatal(f"kit-purge: {message}")


def secret_path(value: str) -> Path:
    """Where ``kit-purge-secretfile`` points: as devpi resolves its own
    ``secretfile`` (``~`` expanded, a relative path from the working folder)."""
    return Path(value).expanduser().absolute()


def read_secret(path: Path) -> str:
    """The shared secret in ``path``, by :mod:`kit.core.secrets`' rules (a
    regular file, nothing for "others", one token of 32+ characters; group
    access allowed: an edge running as another user may share a group).

    Raises devpi's ``Fatal`` (devpi refuses to start) naming the file and the
    fix when a rule is broken, a missing file included. Starting anyway would
    leave every purge refused (or the secret exposed) while nothing looked wrong.
    """
    fix = f"write the edge's purge secret (64 hex characters) into {path}, chmod 600, or remove kit-purge-url"
    try:
        return secrets.read_secret(path, required=True, fix=fix)
    except SecretError as exc:
        raise _fatal(str(exc)) from None


def check_urls(value: str) -> list[str]:
    """``kit-purge-url``: one URL or several separated by spaces (Varnish and
    the shield behind it both cache pages); devpi's ``Fatal`` for any that is no http(s) URL."""
    urls = value.split()
    if not urls:
        raise _fatal("kit-purge-url is empty; give the edge's purge endpoint, e.g. http://127.0.0.1:3143/+edge/purge")
    return [check_url(url) for url in urls]


def check_url(url: str) -> str:
    """One purge URL, or devpi's ``Fatal`` when it is no http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fatal(f"kit-purge-url {url!r} is not an http:// or https:// URL; "
                     "give the edge's purge endpoint, e.g. http://127.0.0.1:3143/+edge/purge")
    return url


# -- sending ----------------------------------------------------------------------------


def _post(client: httpx.Client, url: str, body: bytes, headers: dict[str, str], timeout: float) -> str:
    """POST one purge; "" when the edge answered 2xx, else the problem in words, never raised."""
    try:
        with client.stream("POST", url, content=body, headers=headers) as answer:
            if 200 <= answer.status_code < 300:
                _read_at_most(answer, MAX_ANSWER)
                return ""
            problem = f"HTTP {answer.status_code} {answer.reason_phrase}"
            if answer.status_code in (401, 403):
                problem += " (the edge and devpi do not share the same secret)"
            return problem
    except httpx.ConnectTimeout:
        return f"no connection within {timeout:g} s"
    except httpx.TimeoutException:
        return f"no answer within {timeout:g} s"
    except httpx.HTTPError as exc:
        return str(exc) or type(exc).__name__


def _read_at_most(answer: httpx.Response, limit: int) -> None:
    """Read (and drop) at most ``limit`` bytes of ``answer``'s body: the edge's answer is
    taken whole, a misconfigured URL's endless one is not."""
    taken = 0
    for chunk in answer.iter_raw():
        taken += len(chunk)
        if taken >= limit:
            return


class PurgeSender:
    """The pending keys and the thread that POSTs them to the edge.

    Registered in devpi's thread pool (``thread_run``/``thread_shutdown``),
    which starts and stops it with devpi's other threads; it never raises,
    because an exception in a pool thread shuts devpi down.
    """

    def __init__(self, url: str, secret: str, log: Any, *, timeout: float = TIMEOUT,
                 max_keys: int = MAX_PENDING_KEYS, linger: float = LINGER,
                 failure_log_interval: float = FAILURE_LOG_INTERVAL):
        self.url = url
        self._secret = secret
        self.log = log
        self.timeout = timeout
        self.max_keys = max_keys
        self.linger = linger
        self.failure_log_interval = failure_log_interval
        # Proxies off (trust_env): the edge is a neighbour, and no proxy may see the secret.
        # No redirects: following one would hand the bearer secret to another URL.
        # No kept-alive connection: one per purge, so an edge restarted in between is never
        # a stale socket. The system's certificates (as Python's urllib uses them), not certifi's.
        self._client = httpx.Client(
            trust_env=False, follow_redirects=False, timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_keepalive_connections=0), verify=ssl.create_default_context())
        self._cond = threading.Condition()
        self._pending: set[str] = set()
        self._serial = -1
        self._stop = threading.Event()
        self._failing = False
        self._next_failure_log = 0.0
        self._unreported = 0
        self.stats = {"requests": 0, "failures": 0, "keys": 0, "coarsened": 0}

    def add(self, keys: Iterable[str], serial: int) -> None:
        """Queue ``keys`` of the change at ``serial``; returns at once."""
        keys = set(keys)
        if not keys:
            return
        with self._cond:
            self._pending |= keys
            self._serial = max(self._serial, serial)
            if len(self._pending) > self.max_keys:
                self._pending = collapse(self._pending)
                self.stats["coarsened"] += 1
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def _take(self) -> tuple[set[str], int] | None:
        with self._cond:
            while not self._pending and not self._stop.is_set():
                self._cond.wait(0.5)
            if self._stop.is_set():
                return None
        # The follower reports a commit key by key: wait a moment for the rest
        # of it, so one commit is one request.
        self._stop.wait(self.linger)
        with self._cond:
            keys, serial = self._pending, self._serial
            self._pending = set()
            return keys, serial

    def thread_run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            try:
                self.send(*batch)
            except Exception as exc:  # noqa: BLE001 - a pool thread must not die (see class docstring)
                self._failed(len(batch[0]), batch[1], f"unexpected {type(exc).__name__}: {exc}")

    def thread_shutdown(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def send(self, keys: set[str], serial: int) -> bool:
        """POST ``keys`` now; True when the edge took them. Failures are logged, never raised."""
        body = json.dumps({"keys": sorted(keys), "serial": serial}).encode()
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {self._secret}",
            # The same purge for Varnish, which reads headers, not bodies
            # (varnish-modules' xkey takes space-separated keys).
            "Xkey-Purge": header_keys(keys),
            "X-Kit-Serial": str(serial),
        }
        self.stats["requests"] += 1
        problem = _post(self._client, self.url, body, headers, self.timeout)
        if not problem:
            self.stats["keys"] += len(keys)
            if self._failing:
                self._failing = False
                self.log.info("kit-purge: %s takes purges again", self.url)
            return True
        self._failed(len(keys), serial, problem)
        return False

    def _failed(self, count: int, serial: int, problem: str) -> None:
        self.stats["failures"] += 1
        self._failing = True
        now = time.monotonic()
        if now < self._next_failure_log:
            self._unreported += 1
            return
        since = f"; {self._unreported} more failed since the last report" if self._unreported else ""
        self._unreported = 0
        self._next_failure_log = now + self.failure_log_interval
        self.log.warning(
            "kit-purge: could not purge %d keys (serial %d) at %s: %s%s; dropped, the edge revalidates on its own",
            count, serial, self.url, problem, since)


class CommitFollower:
    """Follows devpi's commits and hands each key change to a :class:`ChangeWatcher`.

    A thread of devpi's pool (``thread_run``; devpi sets ``self.thread``). It
    starts at the serial devpi has when it starts: pages fetched before were
    fetched at that serial or later.
    """

    def __init__(self, keyfs: Any, watcher: ChangeWatcher, log: Any):
        self.keyfs = keyfs
        self.watcher = watcher
        self.log = log
        self.serial = None

    def follow(self, serial: int) -> None:
        """Run the watcher on every change of ``serial``."""
        from devpi_server.keyfs import KeyChangeEvent

        with self.keyfs.get_connection() as conn:
            changes = conn.get_changes(serial)
        for relpath, (keyname, back_serial, value) in changes.items():
            handler = self.watcher.handler(keyname)
            if handler is not None:
                handler(KeyChangeEvent(self.keyfs.get_key_instance(keyname, relpath), value, serial, back_serial))

    def thread_run(self) -> None:
        from devpi_server.mythread import Shutdown

        if self.serial is None:
            self.serial = self.keyfs.get_current_serial()
        while True:
            try:
                self.keyfs.wait_tx_serial(self.serial + 1, recheck=1.0, recheck_callback=self.thread.exit_if_shutdown)
                current = self.keyfs.get_current_serial()
                while self.serial < current:
                    self.follow(self.serial + 1)
                    self.serial += 1
            except Shutdown:
                raise
            except Exception as exc:  # noqa: BLE001 - a pool thread must not die; the edge revalidates anyway
                self.log.warning("kit-purge: could not read the changes of serial %s (%s: %s); skipped",
                                 self.serial + 1, type(exc).__name__, exc)
                self.serial += 1

    def thread_shutdown(self) -> None:
        pass


class Fanout:
    """The same keys to several edges, each with its own sender (one slow edge delays no other)."""

    def __init__(self, senders: Sequence[PurgeSender]):
        self.senders = list(senders)

    def add(self, keys: Iterable[str], serial: int) -> None:
        keys = set(keys)
        for sender in self.senders:
            sender.add(keys, serial)


# -- watching devpi's commits -------------------------------------------------------------


class ChangeWatcher:
    """Turn each committed key change into purge keys.

    Called by :class:`CommitFollower`, in serial order, after the commit.
    """

    #: devpi key → handler (the keys are defined in devpi_server.model.add_keys).
    HANDLERS = {
        "PROJSIMPLELINKS": "on_project_page",  # a project's links: files added or removed, new upstream links
        "PROJVERSION": "on_project_page",  # a version's data (requires_python, a release without files)
        "PROJNAMES": "on_project_list",  # projects added to or removed from a stage
        "MIRRORNAMESINIT": "on_mirror_names",  # a mirror's first list of upstream names
        "USER": "on_user",  # a user's settings, which hold its indexes' settings
    }

    def __init__(self, keyfs: Any, sender: "PurgeSender | Fanout"):
        self.keyfs = keyfs
        self.sender = sender
        self._indexes_serial = -2
        self._indexes: dict[str, dict] = {}

    def handler(self, keyname: str) -> Any:
        """The method for changes of devpi key ``keyname``, or None."""
        name = self.HANDLERS.get(keyname)
        return getattr(self, name) if name else None

    def indexes(self, serial: int) -> dict[str, dict]:
        """Every index's settings at ``serial`` (inside a read transaction at it);
        kept for the serial, as one commit brings many key changes."""
        if serial != self._indexes_serial:
            found = {}
            for user in self.keyfs.USERLIST.get():
                config = self.keyfs.USER(user=user).get() or {}
                for name, ixconfig in (config.get("indexes") or {}).items():
                    found[f"{user}/{name}"] = ixconfig
            self._indexes, self._indexes_serial = found, serial
        return self._indexes

    def _bases_of(self, serial: int) -> dict[str, Sequence[str]]:
        return {name: ixconfig.get("bases") or () for name, ixconfig in self.indexes(serial).items()}

    @staticmethod
    def _before(tx: Any, ev: Any) -> Any:
        if ev.back_serial < 0:
            return None
        try:
            return tx.get_value_at(ev.typedkey, ev.back_serial)
        except KeyError:
            return None

    def on_project_page(self, ev: Any) -> None:
        params = ev.typedkey.params
        stage = f"{params['user']}/{params['index']}"
        with self.keyfs.read_transaction(at_serial=ev.at_serial):
            keys = purge_keys(stage, params["project"], self._bases_of(ev.at_serial))
        self.sender.add(keys, ev.at_serial)

    def on_project_list(self, ev: Any) -> None:
        params = ev.typedkey.params
        stage = f"{params['user']}/{params['index']}"
        with self.keyfs.read_transaction(at_serial=ev.at_serial) as tx:
            ixconfig = self.indexes(ev.at_serial).get(stage) or {}
            if ixconfig.get("type") == "mirror":
                # A mirror's root page lists the upstream's names, which devpi
                # keeps outside its database; this set only tracks what it
                # has cached, and its project pages come with PROJSIMPLELINKS.
                return
            changed = set(self._before(tx, ev) or ()) ^ set(ev.value or ())
            if not changed:
                return
            bases_of = self._bases_of(ev.at_serial)
            keys = purge_keys(stage, None, bases_of)
            for project in changed:
                keys |= purge_keys(stage, project, bases_of)
        self.sender.add(keys, ev.at_serial)

    def on_mirror_names(self, ev: Any) -> None:
        params = ev.typedkey.params
        stage = f"{params['user']}/{params['index']}"
        with self.keyfs.read_transaction(at_serial=ev.at_serial):
            keys = purge_keys(stage, None, self._bases_of(ev.at_serial))
        self.sender.add(keys, ev.at_serial)

    def on_user(self, ev: Any) -> None:
        user = ev.typedkey.params["user"]
        with self.keyfs.read_transaction(at_serial=ev.at_serial) as tx:
            old = (self._before(tx, ev) or {}).get("indexes") or {}
            new = (ev.value or {}).get("indexes") or {}
            # A password or email change touches the same key and no page.
            changed = [name for name in old.keys() | new.keys() if old.get(name) != new.get(name)]
            if not changed:
                return
            bases_of = self._bases_of(ev.at_serial)
            keys = set()
            for name in changed:
                keys |= purge_keys(f"{user}/{name}", "*", bases_of)
        self.sender.add(keys, ev.at_serial)


# -- one team per project ----------------------------------------------------------------------

#: What devpi's upload form may ask: a file, a release's metadata, documentation.
_ADDING_ACTIONS = ("file_upload", "submit", "doc_upload")


def upload_target(method: str, path: str, form: Mapping[str, Any] | None, json_body: Any) -> tuple[str, str] | None:
    """("USER/INDEX", project) that a request would add a project to, or None.

    An upload or registration is a POST of a form to ``/USER/INDEX/`` whose
    ``:action`` adds something; a push is a POST or PUSH of JSON to the
    source index naming ``name`` and a ``targetindex`` (a push to another
    server, without ``targetindex``, adds nothing here).
    """
    parts = path.strip("/").split("/")
    if method not in ("POST", "PUSH") or len(parts) != 2 or not all(parts) or any(p.startswith("+") for p in parts):
        return None
    if form is not None and form.get(":action") in _ADDING_ACTIONS and isinstance(form.get("name"), str):
        return "/".join(parts), normalise(form["name"])
    if isinstance(json_body, dict) and isinstance(json_body.get("name"), str):
        target = json_body.get("targetindex")
        if isinstance(target, str) and target.count("/") == 1:
            return target, normalise(json_body["name"])
    return None


def owner_of(stage: Any, project: str) -> str | None:
    """The index of another user that already holds ``project`` in ``stage``'s
    resolution order ("USER/INDEX"), or None when ``stage`` may take it.

    Mirrors are skipped (a private name shadows the upstream, by design), and
    so is the names index, whose reservations belong to no team: the first
    team to publish a reserved name owns it.
    """
    for base in stage.sro():
        if base.name == stage.name or base.username == stage.username or base.name == NAMES_INDEX:
            continue
        if base.ixconfig.get("type") == "mirror":
            continue
        if base.has_project_perstage(project):
            return base.name
    return None


def one_team_per_project_tween(handler, registry):
    """A pyramid tween under devpi's transaction: refuses what would put a second team's files on a name."""
    from pyramid.response import Response

    xom = registry["xom"]

    def refuse_a_second_owner(request):
        if request.method in ("POST", "PUSH"):
            form = request.POST if request.content_type in ("multipart/form-data",
                                                             "application/x-www-form-urlencoded") else None
            json_body = None
            if form is None and request.content_type in ("application/json", ""):
                try:
                    json_body = json.loads(request.body or b"null")
                except ValueError:
                    json_body = None  # devpi's own view says what is wrong with it
            target = upload_target(request.method, request.path_info, form, json_body)
            if target is not None:
                user, _, index = target[0].partition("/")
                stage = xom.model.getstage(user, index)
                owner = owner_of(stage, target[1]) if stage is not None else None
                if owner is not None:
                    team = owner.split("/")[0]
                    message = (f"{target[1]} belongs to team {team} ({owner} holds it): publish it there, or "
                               f"choose another name")
                    # The reason phrase too: twine shows it, not the body (as devpi's own refusals do);
                    # the body as devpi's API answers errors.
                    return Response(status=f"409 {message}", content_type="application/json",
                                    body=json.dumps({"status": 409, "message": message}).encode())
        return handler(request)

    return refuse_a_second_owner


# -- devpi hooks ------------------------------------------------------------------------------


@hookimpl
def devpiserver_add_parser_options(parser):
    group = parser.addgroup("kit purge options (tell kit's edge which cached pages a commit changed)")
    group.addoption(
        "--kit-purge-url", metavar="URL", default=None,
        help="the edge's purge endpoint, e.g. http://127.0.0.1:3143/+edge/purge; "
             "without it the plugin does nothing.")
    group.addoption(
        "--kit-purge-secretfile", metavar="PATH", default=None,
        help="file holding the secret shared with the edge (sent as a bearer token); "
             "a relative path is taken from the working folder, as for --secretfile.")
    group = parser.addgroup("kit ownership options")
    group.addoption(
        "--kit-one-team-per-project", action="store_true", default=False,
        help="refuse an upload, registration or push of a project that another user's index in the "
             "target index's bases already holds (kit's team indexes inherit each other).")


@hookimpl
def devpiserver_get_features():
    return {FEATURE}


@hookimpl
def devpiserver_pyramid_configure(config, pyramid_config):
    # Called while devpi builds its app: after its keys exist, before its
    # threads start, the time to register threads of our own.
    args = config.args
    if getattr(args, "kit_one_team_per_project", False):
        # Under devpi's transaction tween: it reads the indexes as the view will see them.
        pyramid_config.add_tween("kit.plugin.hooks.one_team_per_project_tween",
                                 under="devpi_server.views.tween_keyfs_transaction")
    url = getattr(args, "kit_purge_url", None)
    secretfile = getattr(args, "kit_purge_secretfile", None)
    if not url and not secretfile:
        return
    if not url or not secretfile:
        missing = "kit-purge-secretfile" if url else "kit-purge-url"
        raise _fatal(f"{missing} is not set; set both kit-purge-url and kit-purge-secretfile, or neither")
    urls = check_urls(url)
    path = secret_path(secretfile)
    secret = read_secret(path)
    xom = pyramid_config.registry["xom"]
    from devpi_server.log import threadlog

    if config.requests_only:
        # No notifier runs in a requests-only worker; the main process purges.
        threadlog.info("kit-purge: requests-only worker, purges come from the main process")
        return
    senders = [PurgeSender(one, secret, threadlog) for one in urls]
    xom.thread_pool.register(CommitFollower(xom.keyfs, ChangeWatcher(xom.keyfs, Fanout(senders)), threadlog))
    for sender in senders:
        xom.thread_pool.register(sender)
    pyramid_config.registry["kit_purge"] = senders
    threadlog.info("kit-purge: purging changed pages at %s (secret from %s)", " and ".join(urls), path)


@hookimpl
def devpiserver_metrics(request):
    senders = request.registry.get("kit_purge")
    if not senders:
        return []
    return [
        ("kit_purge_requests_total", "counter", sum(s.stats["requests"] for s in senders)),
        ("kit_purge_failures_total", "counter", sum(s.stats["failures"] for s in senders)),
        ("kit_purge_keys_total", "counter", sum(s.stats["keys"] for s in senders)),
        ("kit_purge_pending_keys", "gauge", sum(s.pending() for s in senders)),
    ]
