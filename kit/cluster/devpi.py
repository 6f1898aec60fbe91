"""devpi's own steps: its HTTP API (just what kit needs), creating the data
folders with devpi-init, the indexes a site's answers call for, and reading
a replica's ``/+status``.

devpi-client would do, but each of its calls starts a Python process; the
cluster must be up in seconds, so kit talks JSON to the server directly.

The indexes themselves are planned by :mod:`kit.site.indexes`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from kit.core import http
from kit.core.errors import DevpiError
from kit.core.names import EDGE_READER, NAMES_INDEX, normalize
from kit.core.report import plural
from kit.plugin.replica import FILES_PENDING
from kit.plugin.launch import launch_argv
from kit.site.indexes import ACL_OPTION, NAMES_VERSION, IndexPlan, readers, team_index_config

__all__ = [
    "DevpiAPI", "DevpiError", "IndexPlan", "NAMES_INDEX", "NAMES_VERSION", "configure_indexes", "main", "team_index_config",
    "init_argv", "init_env", "SyncState", "sync_state",
]



class DevpiAPI:
    """devpi-server's JSON API at ``url``; each call bounded by ``timeout`` seconds."""

    def __init__(self, url: str, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._auth: str | None = None

    def _call(self, method: str, path: str, data: Any = None, form: dict | None = None) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        if self._auth:
            headers["X-Devpi-Auth"] = self._auth
        answer = http.request(method, self.url + path, json_body=data, data=form, headers=headers, timeout=self.timeout)
        if not answer.status:
            raise DevpiError(f"{method} {path}: {self.url} gave {answer.describe()}")
        return answer.status, answer.json()

    def get(self, path: str) -> Any | None:
        """The ``result`` of a GET, or None for 404."""
        status, payload = self._call("GET", path)
        if status == 404:
            return None
        if status != 200:
            raise DevpiError(f"GET {path}: HTTP {status} {_message(payload)}")
        return payload.get("result") if isinstance(payload, dict) else payload

    def login(self, user: str, password: str) -> None:
        status, payload = self._call("POST", "/+login", {"user": user, "password": password})
        if status != 200:
            raise DevpiError(f"login as {user}: HTTP {status} {_message(payload)}")
        try:
            token = payload["result"]["password"]
        except (KeyError, TypeError):
            raise DevpiError(f"login as {user}: {self.url} is not a devpi server") from None
        self._auth = base64.b64encode(f"{user}:{token}".encode()).decode()

    @property
    def auth(self) -> str | None:
        """The ``X-Devpi-Auth`` header's value after :meth:`login` (None before): for calls made
        without this class, such as an upload."""
        return self._auth

    def delete(self, path: str) -> None:
        """Delete an index (a volatile one) or a user; none there is fine."""
        status, payload = self._call("DELETE", path)
        if status not in (200, 201, 404):
            raise DevpiError(f"DELETE {path}: HTTP {status} {_message(payload)}")

    def put(self, path: str, data: dict) -> None:
        status, payload = self._call("PUT", path, data)
        if status not in (200, 201):
            raise DevpiError(f"PUT {path}: HTTP {status} {_message(payload)}")

    def patch(self, path: str, data: dict | list) -> None:
        """Change settings: a whole new config (dict), or devpi's changes ("key=value", "key+=value")."""
        status, payload = self._call("PATCH", path, data)
        if status != 200:
            raise DevpiError(f"PATCH {path}: HTTP {status} {_message(payload)}")

    def submit_release(self, index: str, name: str, version: str) -> None:
        """Register ``name`` ``version`` on ``index`` as a release without files (metadata only)."""
        status, payload = self._call("POST", f"/{index}/", form={":action": "submit", "name": name, "version": version})
        if status != 200:
            raise DevpiError(f"registering {name} on {index}: HTTP {status} {_message(payload)}")

    def ensure_user(self, user: str, password: str) -> None:
        """Create ``user``, or set its password; no call that changes anything when it is already
        that: every change is a commit the mirror must fetch, and a devpi replica that lost its
        master (restarted by kit up) fetches again only after 5 s."""
        if self.get(f"/{user}") is None:
            self.put(f"/{user}", {"password": password})
        elif not self.accepts(user, password):
            self.patch(f"/{user}", {"password": password})

    def accepts(self, user: str, password: str) -> bool:
        """Whether devpi lets ``user`` log in with ``password`` (this client stays logged in as it was)."""
        status, _ = DevpiAPI(self.url, timeout=self.timeout)._call("POST", "/+login", {"user": user, "password": password})
        return status == 200

    def ensure_index(self, name: str, config: dict) -> None:
        """Create the index ``user/index`` or bring its settings to ``config``; no call when they match."""
        current = self.get(f"/{name}")
        if current is None:
            self.put(f"/{name}", config)
            return
        wanted = {k: v for k, v in config.items() if k != "type"}
        if any(_normal(current.get(k)) != _normal(v) for k, v in wanted.items()):
            merged = {k: v for k, v in current.items() if k not in ("projects", "type")}
            merged.update(wanted)
            self.patch(f"/{name}", merged)

    def projects(self, index: str) -> list[str]:
        """The project names ``index`` has itself (not its bases')."""
        found = self.get(f"/{index}")
        return list(found.get("projects", [])) if isinstance(found, dict) else []

    def status(self) -> dict:
        return self.get("/+status") or {}

    # devpi-tokens' API (a server plugin): tokens live in their user's record, so
    # the mirror gets them, and their deletion, with the user's next commit.

    def create_token(self, user: str, restrictions: dict) -> str:
        """A new devpi-tokens token for ``user`` with ``restrictions`` (allowed, indexes,
        expires…), as the logged-in user (root may make one for any user)."""
        status, payload = self._call("POST", f"/{user}/+token-create", restrictions)
        if status == 404 and not _message(payload):
            raise DevpiError(f"{self.url} has no devpi-tokens plugin; install devpi-tokens where devpi-server runs")
        if status != 200:
            raise DevpiError(f"creating a token for {user}: HTTP {status} {_message(payload)}")
        try:
            return payload["result"]["token"]
        except (KeyError, TypeError):
            raise DevpiError(f"creating a token for {user}: {self.url} answered no token") from None

    def tokens(self, user: str) -> dict[str, dict] | None:
        """``user``'s tokens, id → {"restrictions": [...]} (never the token itself); None for no such user."""
        found = self.get(f"/{user}/+tokens")
        if found is None:
            return None
        return dict((found or {}).get("tokens") or {})

    def delete_token(self, user: str, token_id: str) -> bool:
        """Delete ``user``'s token ``token_id``; False when there is none of that id."""
        status, payload = self._call("DELETE", f"/{user}/+tokens/{token_id}")
        if status == 404:
            return False
        if status != 200:
            raise DevpiError(f"deleting token {token_id} of {user}: HTTP {status} {_message(payload)}")
        return True


def _normal(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _message(payload: Any) -> str:
    if isinstance(payload, dict) and payload.get("message"):
        return f"({payload['message']})"
    return ""


# -- data folders ----------------------------------------------------------------


def init_argv(devpi_init: str, config: str, *, primary: bool, own_root_pypi: bool) -> list[str]:
    """devpi-init's command line for one data folder (``devpi_init``: the program, installed beside
    kit), run through kit's launcher as devpi-server is (devpi-web loaded only when the config's
    kit-web asks: :mod:`kit.plugin.launch`). It never holds the admin password (anyone may read
    a command line in ``ps``): see :func:`init_env`."""
    argv = [*launch_argv(Path(devpi_init).name), "-c", config]
    if primary and own_root_pypi:
        argv.append("--no-root-pypi")  # kit creates root/pypi with the site's upstream
    return argv


def init_env(env: dict[str, str], admin_password: str | None) -> dict[str, str]:
    """devpi-init's environment: devpi reads any option as ``DEVPISERVER_<OPTION>``,
    and only this process's owner can read its environment."""
    env = dict(env)
    if admin_password is not None:
        env["DEVPISERVER_ROOT_PASSWD"] = admin_password
    return env


def configure_indexes(api: DevpiAPI, plan: IndexPlan, say=lambda line: None) -> None:
    """root/pypi, root/names with the declared names, one private index per
    team, and the edge's reader user unless reads are anonymous, as ``plan``
    says; safe to repeat. ``api`` is logged in as root.

    Raises :class:`DevpiError` when devpi refuses a step or does not answer.
    """
    shared_readers = readers(plan.read_access)
    if plan.reader_password is not None:
        # Before the indexes that name it: the edge reads private pages as this user.
        api.ensure_user(EDGE_READER, plan.reader_password)
    if plan.mirror_url is not None:
        api.ensure_index("root/pypi", {"type": "mirror", "mirror_url": plan.mirror_url, "title": "Upstream mirror",
                                       ACL_OPTION: shared_readers})
        say(f"root/pypi: mirror of {plan.mirror_url}")
    else:
        # devpi's own mirror of PyPI (devpi-init made it): only who reads it is kit's. Read from
        # root's record: GET /root/pypi would ask PyPI for its list of names.
        pypi = ((api.get("/root") or {}).get("indexes") or {}).get("pypi")
        if pypi is not None and pypi.get(ACL_OPTION) != shared_readers:
            api.patch("/root/pypi", [f"{ACL_OPTION}={','.join(shared_readers)}"])
    if not plan.teams:
        return
    api.ensure_index(NAMES_INDEX, {
        "type": "stage", "bases": [], "volatile": False, "acl_upload": ["root"], "mirror_whitelist": [],
        "title": "Private names: reserved for the site's teams, never taken from the upstream",
        ACL_OPTION: shared_readers,
    })
    registered = {normalize(name) for name in api.projects(NAMES_INDEX)}
    for name in plan.private_projects:
        if normalize(name) not in registered:
            api.submit_release(NAMES_INDEX, name, NAMES_VERSION)
    if plan.private_projects:
        say(f"{NAMES_INDEX}: reserves {', '.join(plan.private_projects)}")
    teams = tuple(plan.teams)
    for team, password in plan.teams.items():
        api.ensure_user(team, password)
        # Created first with bases that exist; the other teams' come once all exist.
        if api.get(f"/{team}/private") is None:
            api.put(f"/{team}/private", {**team_index_config(team, [team], plan.read_access),
                                         "bases": [NAMES_INDEX, "root/pypi"]})
    for team in teams:
        config = team_index_config(team, teams, plan.read_access)
        api.ensure_index(f"{team}/private", config)
        say(f"{team}/private: private index of team {team}, inherits " + ", ".join(config["bases"])
            + {"team": f"; only team {team} reads it", "site": "; any user of the site reads it"}.get(plan.read_access, ""))
    if plan.read_access == "team" and len(teams) > 1:
        # Teams that do not inherit each other see another team's names only on root/names. kit's
        # plugin holds a name there when it is published; what a team published while it was the
        # only one (before a second team came) is held here, or the new team gets the upstream's.
        held = {normalize(name) for name in api.projects(NAMES_INDEX)}
        for team in teams:
            for name in sorted({normalize(name) for name in api.projects(f"{team}/private")} - held):
                api.submit_release(NAMES_INDEX, name, NAMES_VERSION)
                held.add(name)
    for team in sorted(set(plan.owned_projects.values())):
        names = sorted(name for name, owner in plan.owned_projects.items() if owner == team)
        held = {normalize(name) for name in api.projects(f"{team}/private")}
        missing = [name for name in names if normalize(name) not in held]
        if missing:
            # Registered by the team itself (its index takes its uploads); refused by
            # kit's plugin, naming the holder, when another team already has the name.
            as_team = DevpiAPI(api.url, timeout=api.timeout)
            as_team.login(team, plan.teams[team])
            for name in missing:
                as_team.submit_release(f"{team}/private", name, NAMES_VERSION)
        say(f"{team}/private: holds {', '.join(names)} (no other team may publish them)")


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """``python -m kit.cluster.devpi URL PLAN``: configure a running devpi-server as
    ``indexes.json`` says, the admin and team passwords taken from the
    environment (never from the command line). Run by ``create-indexes.sh``."""
    import os
    import sys

    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    if len(argv) != 2:
        print("usage: python -m kit.cluster.devpi URL indexes.json   (passwords from KIT_* variables)", file=sys.stderr)
        return 2
    url, plan_file = argv
    try:
        try:
            text = open(plan_file, encoding="utf-8").read()
        except OSError as exc:
            raise DevpiError(f"cannot read {plan_file} ({exc.strerror}); run create-indexes.sh from the site's server folder") from None
        plan = IndexPlan.from_json(text, environ)
        password = environ.get("KIT_ADMIN_PASSWORD")
        if not password:
            raise DevpiError("KIT_ADMIN_PASSWORD is not set; run create-indexes.sh, which reads it from secrets.env")
        api = DevpiAPI(url)
        api.login("root", password)
        configure_indexes(api, plan, say=print)
    except DevpiError as exc:
        print(f"create-indexes: error: {exc}", file=sys.stderr)
        return 1
    return 0


# -- a replica's state ----------------------------------------------------------------


@dataclass(frozen=True)
class SyncState:
    """How the mirror (a devpi replica) stands against the master."""

    #: Changes the mirror has not applied; None when the master's serial is unknown.
    behind: int | None
    detail: str
    #: Files of applied changes the mirror has yet to download (kit's plugin counts
    #: them); None when unknown (a mirror without kit's plugin).
    files_pending: int | None = None

    @property
    def in_sync(self) -> bool:
        """Every change applied and every file of them downloaded: what promoting the mirror keeps."""
        return self.behind == 0 and not self.files_pending


def sync_state(mirror: dict | None, master: dict | None, master_trouble: str = "not answering",
               mirror_trouble: str = "") -> SyncState:
    """Compare the replica's ``/+status`` with the master's.

    "in sync" only when the master answered, the serials are equal and the
    mirror has downloaded every file of the changes it applied: a replica's
    own ``primary-serial`` is only what it last heard, and says nothing about
    changes made since; it applies a change first and fetches its files
    after. ``mirror_trouble``: why the mirror gave no status (``no answer
    within 2 s``, ``HTTP 500``), when known.
    """
    if mirror is None:
        return SyncState(None, f"no status from the mirror ({mirror_trouble})" if mirror_trouble
                         else "no status from the mirror")
    serial = mirror.get("serial")
    errors = mirror.get("replication-errors") or {}
    pending, listed = _files_pending(mirror)
    if errors and not pending:
        pending = len(errors)  # each a file it has yet to get, whether counted or not
    if master is None:
        heard = mirror.get("primary-serial")
        heard_text = f"last heard the master at serial {heard}" if heard is not None else "has not heard the master yet"
        detail = f"master {master_trouble}; mirror at serial {serial}, {heard_text}"
        behind = None
    else:
        try:
            behind = int(master["serial"]) - int(serial)
        except (KeyError, TypeError, ValueError):
            return SyncState(None, "the serials are unreadable")
        if behind == 0 and not listed:
            detail = "has the master's changes; still listing the files it lacks"
        elif behind == 0 and pending:
            detail = f"has the master's changes; {plural(pending, 'file')} still to download"
        elif behind == 0:
            detail = "in sync with the master"  # the guides show this line as it is
        else:
            detail = f"{plural(behind, 'change')} behind the master (serial {serial} of {master['serial']})"
    if errors:
        shown = "; ".join(f"{key}: {_error_text(value)}" for key, value in list(errors.items())[:2])
        more = f" and {len(errors) - 2} more" if len(errors) > 2 else ""
        detail += f"; replication errors: {shown}{more}"
    if not listed:
        pending = max(pending or 0, 1)  # at least one, until it knows
    return SyncState(behind, detail, pending)


def _files_pending(mirror: dict) -> tuple[int | None, bool]:
    """The files the mirror has yet to download, from kit's metric in its status (None without it),
    and whether it has listed the files its data lacks (devpi does that once, after its first
    catch-up, before which the count means nothing)."""
    pending = None
    for metric in mirror.get("metrics") or []:
        if isinstance(metric, (list, tuple)) and len(metric) == 3 and metric[0] == FILES_PENDING:
            try:
                pending = int(metric[2])
            except (TypeError, ValueError):
                pending = None
    listed = pending is None or mirror.get("replica-init-queue-finished-at") is not None
    return pending, listed


def _error_text(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("message") or value
    return " ".join(str(value).split())[:120]


if __name__ == "__main__":
    raise SystemExit(main())
