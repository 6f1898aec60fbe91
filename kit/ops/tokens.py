"""Read tokens for CI and machines: ``kit token create``, ``list`` and ``revoke``.

A token is made by devpi-tokens (a devpi-server plugin installed with kit) at
the site's master, asked as root. It is a password of the team's devpi user,
limited to reading (and, when asked, uploading to) the team's index and the
indexes that index reads through, until it expires. It cannot change the
user, so a leaked token never makes another. devpi keeps only a key to check
it by: the token itself is shown once, when it is made, and never again.

Revoking deletes it from the user's record at the master; the mirror gets the
change with its next commit, and kit's plugin tells the edges to forget what
they decided for that user (purge key ``+user/TEAM``).

The admin password travels in a request body to the master, never on a
command line: nothing here starts a process.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from kit.cluster.devpi import DevpiAPI
from kit.cluster.lifecycle import Cluster
from kit.core import http
from kit.core.errors import DevpiError, KitError

__all__ = ["TokenError", "Token", "NewToken", "parse_expires", "create_token", "list_tokens", "revoke_token",
           "token_id_of", "usage_lines", "DEFAULT_EXPIRES", "LONGEST"]

#: What ``--expires`` is when not given.
DEFAULT_EXPIRES = "30d"
#: The longest life a token may have: a CI secret is rotated at least once a year.
LONGEST = 366 * 24 * 3600
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")


class TokenError(KitError):
    """Raised when a token cannot be made, listed or revoked: no such team or token, a bad
    expiry, the master not running or refusing root (exit 1)."""

    exit_code = 1


@dataclass(frozen=True)
class Token:
    """A token as devpi keeps it: its id and restrictions, never the token."""

    id: str
    team: str
    allowed: tuple[str, ...]
    indexes: tuple[str, ...]
    #: Seconds since the epoch; None when it never expires.
    expires: int | None

    def expired(self, now: float | None = None) -> bool:
        return self.expires is not None and (time.time() if now is None else now) >= self.expires

    @property
    def permissions(self) -> str:
        """``read`` or ``read, upload`` (devpi's pkg_read and upload); anything else by devpi's name."""
        names = {"pkg_read": "read", "upload": "upload"}
        return ", ".join(names.get(p, p) for p in sorted(self.allowed, key=lambda p: (p != "pkg_read", p))) or "any"

    def expiry_text(self, now: float | None = None) -> str:
        if self.expires is None:
            return "never"
        shown = datetime.fromtimestamp(self.expires, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        return f"{shown} (expired)" if self.expired(now) else shown

    @classmethod
    def from_devpi(cls, team: str, token_id: str, info: dict) -> "Token":
        """From devpi-tokens' record: restrictions written ``name=value`` (lists comma-separated)."""
        found: dict[str, str] = {}
        for restriction in (info or {}).get("restrictions") or ():
            name, _, value = str(restriction).partition("=")
            found[name] = value
        expires = found.get("expires")
        return cls(
            token_id, team,
            tuple(v for v in found.get("allowed", "").split(",") if v),
            tuple(v for v in found.get("indexes", "").split(",") if v),
            None if expires in (None, "never") else int(expires),
        )


@dataclass(frozen=True)
class NewToken:
    """A token just made: the secret (shown once) and what devpi keeps of it."""

    secret: str
    token: Token


# -- expiry ------------------------------------------------------------------------------


def parse_expires(text: str, now: float | None = None) -> int:
    """``--expires`` as seconds since the epoch: a life (``90m``, ``12h``, ``30d``, ``2w``; ``45s``
    for a test) or a date/time (``2027-01-31``, ``2027-01-31T18:00``; UTC unless it says otherwise).

    Raises :class:`TokenError` for anything else, a moment already past, or one more than a year away.
    """
    now = time.time() if now is None else now
    given = str(text).strip()
    fix = "give a life such as 90m, 12h or 30d, or a date such as 2027-01-31"
    match = _DURATION.match(given.lower())
    if match:
        expires = now + int(match.group(1)) * _UNITS[match.group(2)]
    else:
        try:
            moment = datetime.fromisoformat(given) if "T" in given or " " in given else None
            if moment is None:
                moment = datetime.combine(date.fromisoformat(given), datetime.min.time())
        except ValueError:
            raise TokenError(f"--expires {given!r} is neither a life nor a date; {fix}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        expires = moment.timestamp()
    if expires <= now:
        raise TokenError(f"--expires {given!r} is not in the future; {fix}")
    if expires - now > LONGEST:
        raise TokenError(f"--expires {given!r} is more than a year away; a token for CI lives a year at most "
                         f"(make a new one before it expires: kit token create)")
    return int(expires)


# -- the master --------------------------------------------------------------------------


def _master(cluster: Cluster) -> DevpiAPI:
    """The master's API, logged in as root with the admin password of kit.toml (in the request's body)."""
    site = cluster.site
    api = DevpiAPI(cluster.service("master").local_url)
    try:
        api.login("root", site.answers.admin_password)
    except DevpiError as exc:
        if "HTTP 401" in str(exc):
            raise TokenError(
                "the master refuses the admin password in kit.toml; put back the password the master has "
                f"({site.command('init', '--set', 'admin_password=OLD')})") from None
        answer = http.get(api.url + "/+api", timeout=2)
        if not answer.status:
            raise TokenError(f"the master of {site} is not running ({answer.describe()}); "
                             f"start the cluster with: {site.command('up')}") from None
        raise TokenError(f"the master did not log root in: {exc}; see {site.command('logs', 'master')}") from None
    return api


def _load(site_dir: Path | None) -> Cluster:
    cluster = Cluster.load(site_dir)
    if not cluster.answers.teams or "private" not in cluster.answers.setups:
        raise TokenError(f"the site {cluster.site} has no team indexes, so no team to make a token for; add teams with: "
                         + cluster.site.command("init", "--set", "teams=web"))
    return cluster


def _check_team(cluster: Cluster, team: str) -> str:
    teams = cluster.answers.teams
    if team not in teams:
        raise TokenError(f"the site has no team {team!r} (its teams: {', '.join(teams)}); "
                         f"name one of them with --team, or add it with: "
                         + cluster.site.command("init", "--set", "teams=" + ",".join((*teams, "NAME"))))
    return team


def _read_through(api: DevpiAPI, index: str) -> list[str]:
    """``index`` and every index it inherits from, as the master's configuration says now (not as
    kit planned it): a token limited to the team's index is refused files served under a base's URL."""
    found: list[str] = []
    todo = [index]
    while todo:
        name = todo.pop(0)
        if name in found:
            continue
        config = api.get(f"/{name}")
        if config is None:
            if name == index:
                raise TokenError(f"the master has no index {index}; create it with kit up")
            continue
        found.append(name)
        todo.extend(str(base) for base in config.get("bases") or ())
    return found


def token_id_of(secret: str) -> str:
    """The id in a devpi-tokens token (``devpi-`` then a macaroon whose identifier is ``USER-ID``)."""
    import pymacaroons

    macaroon = pymacaroons.Macaroon.deserialize(secret.removeprefix("devpi-"))
    return macaroon.identifier.decode("ascii").rsplit("-", 1)[1]


def create_token(site_dir: Path | None, team: str, *, expires: str = DEFAULT_EXPIRES,
                 upload: bool = False) -> tuple[Cluster, NewToken]:
    """Make a token for ``team`` at the running master; raises :class:`TokenError` with the fix."""
    when = parse_expires(expires)  # a bad value costs no call to the master
    cluster = _load(site_dir)
    _check_team(cluster, team)
    api = _master(cluster)
    try:
        indexes = _read_through(api, f"{team}/private")
        allowed = ["pkg_read", "upload"] if upload else ["pkg_read"]
        secret = api.create_token(team, {"allowed": allowed, "indexes": indexes, "expires": when})
    except DevpiError as exc:
        raise TokenError(f"the master refused the token: {exc}; see {cluster.site.command('logs', 'master')}") from None
    return cluster, NewToken(secret, Token(token_id_of(secret), team, tuple(allowed), tuple(sorted(indexes)), when))


def list_tokens(site_dir: Path | None, team: str | None = None) -> tuple[Cluster, list[Token]]:
    """Every token of ``team`` (of every team when None), by team then expiry."""
    cluster = _load(site_dir)
    teams = [_check_team(cluster, team)] if team else list(cluster.answers.teams)
    api = _master(cluster)
    found: list[Token] = []
    try:
        for name in teams:
            for token_id, info in sorted((api.tokens(name) or {}).items()):
                found.append(Token.from_devpi(name, token_id, info))
    except DevpiError as exc:
        raise TokenError(f"the master did not list the tokens: {exc}; see {cluster.site.command('logs', 'master')}") from None
    found.sort(key=lambda t: (t.team, t.expires or 0, t.id))
    return cluster, found


def revoke_token(site_dir: Path | None, token_id: str, team: str | None = None) -> tuple[Cluster, Token]:
    """Delete the token ``token_id`` (of ``team``, or of whichever team has it) at the master."""
    if not re.fullmatch(r"[A-Za-z0-9]{1,64}", token_id):
        raise TokenError(f"{token_id!r} is not a token id (ids are letters and digits, as kit token list shows them)")
    cluster, tokens = list_tokens(site_dir, team)
    token = next((t for t in tokens if t.id == token_id), None)
    if token is None:
        where = f"team {team}" if team else "the site"
        raise TokenError(f"{where} has no token {token_id}; list them with: "
                         + _command(cluster, "token list", *(("--team", team) if team else ())))
    api = _master(cluster)
    try:
        deleted = api.delete_token(token.team, token.id)
    except DevpiError as exc:
        raise TokenError(f"the master did not revoke {token_id}: {exc}; see {cluster.site.command('logs', 'master')}") from None
    if not deleted:  # revoked by someone else in between
        raise TokenError(f"team {token.team} has no token {token_id} any more; list them with: "
                         + _command(cluster, "token list"))
    return cluster, token


def _command(cluster: Cluster, subcommand: str, *rest: str) -> str:
    """``kit token …`` for this site: its arguments, then SITE_DIR (none inside the site)."""
    return " ".join(part for part in ("kit", subcommand, *rest, cluster.site.arg) if part)


def usage_lines(cluster: Cluster, new: NewToken) -> list[str]:
    """What ``kit token create`` says on standard error: the token's facts and how to use it."""
    answers = cluster.answers
    token = new.token
    index_url = f"{answers.base_url}/{token.team}/private/+simple/"
    return [
        f"token {token.id} for team {token.team}: {token.permissions}; indexes {', '.join(token.indexes)}; "
        f"expires {token.expiry_text()}",
        "the token went to standard output, once: kit token list shows its id, never the token; "
        "keep it in a secret store",
        f"use it as the password of user {token.team}, e.g. a line of ~/.netrc (mode 0600):",
        f"  machine {answers.host} login {token.team} password TOKEN",
        f"in CI: store it as the secret variable KIT_TOKEN; the team's ci.env reads it from there (index {index_url})",
        f"revoke it with: {_command(cluster, 'token revoke', token.id)}",
    ]

