"""The answers: the questions kit asks, how each answer is validated, and the
validated :class:`Answers` model that everything downstream is made from.

Questions are data (:data:`QUESTIONS`): the wizard walks that list, the answer
file and ``--set`` are checked against it, and the reference docs list it. A
raw value may come from a terminal (a string), a TOML file (typed) or
``--set KEY=VALUE`` (a string); each question's ``parse`` accepts all three and
raises :class:`~kit.exceptions.AnswerError` with a one-line reason.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import ipaddress
import re
import secrets
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from kit.exceptions import AnswerError, AnswerFileError, UnknownKeyError

__all__ = [
    "Answers",
    "QUESTIONS",
    "Question",
    "SETUPS",
    "TOOLS",
    "answers_from_raw",
    "collect_answers",
    "site_warnings",
    "dump_answers",
    "load_answers_file",
    "parse_set_options",
    "parse_tools",
    "is_loopback",
]

#: What ``kit init`` can generate, in the order the site README lists them.
SETUPS = {
    "mirror": "root/pypi, a caching mirror of the upstream index",
    "private": "one private index per team, on devpi-server",
    "clients": "settings for pip, uv, buildout, setuptools, poetry, pdm, twine and CI",
    "cluster": "master + mirror + CDN edge, run on this machine by kit up",
}

#: Client tools, each with the file it gets in a team folder.
TOOLS = {
    "pip": "pip.conf",
    "uv": "uv.toml",
    "buildout": "buildout.cfg",
    "setuptools": "setup.cfg",
    "poetry": "poetry-source.toml",
    "pdm": "pdm.toml",
    "twine": ".pypirc",
    "env": "ci.env",
}

#: The upstream default: devpi-server's own built-in PyPI mirror definition.
DEFAULT_UPSTREAM = "pypi"

_TEAM_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$")
_RESERVED_TEAMS = {"root", "pypi", "kit", "admin"}
_HOST_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


# -- value parsers: each takes a raw value and the answers so far ------------


def _as_list(key: str, raw: Any) -> list[str]:
    """A list from a TOML array, a comma/space separated string, or a checkbox list."""
    if isinstance(raw, str):
        return [part for part in re.split(r"[,\s]+", raw.strip()) if part]
    if isinstance(raw, (list, tuple)) and all(isinstance(item, str) for item in raw):
        return [item.strip() for item in raw]
    raise AnswerError(key, f"expected a list of names, got {_show(raw)}; write it as [\"a\", \"b\"] or a,b")


def _show(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def _parse_choices(key: str, choices: dict[str, str], raw: Any, *, allow_empty: bool = False) -> tuple[str, ...]:
    items = _as_list(key, raw)
    unknown = [item for item in items if item not in choices]
    if unknown:
        hint = _did_you_mean(unknown[0], choices)
        raise AnswerError(key, f"unknown choice {unknown[0]!r}{hint}; choose from {', '.join(choices)}")
    if not items and not allow_empty:
        raise AnswerError(key, f"choose at least one of {', '.join(choices)}")
    # Keep the canonical order so the same set always renders the same site.
    return tuple(choice for choice in choices if choice in items)


def parse_setups(raw: Any, answers: dict | None = None) -> tuple[str, ...]:
    return _parse_choices("setups", SETUPS, raw)


def parse_tools(raw: Any, answers: dict | None = None, *, key: str = "clients") -> tuple[str, ...]:
    items = _as_list(key, raw)
    if items == ["all"]:
        return tuple(TOOLS)
    return _parse_choices(key, TOOLS, items)


def parse_url(key: str, raw: Any) -> str:
    """An http(s) URL with a host, normalised to end with a slash."""
    if not isinstance(raw, str):
        raise AnswerError(key, f"expected a URL, got {_show(raw)}")
    text = raw.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise AnswerError(key, f"{text!r} is not a valid URL; write it like http://host:3141/simple/") from None
    if not parts.scheme or not parts.netloc:
        raise AnswerError(key, f"{text!r} is not a URL; write it like http://host:3141/simple/")
    if parts.scheme not in ("http", "https"):
        raise AnswerError(key, f"unsupported scheme {parts.scheme!r} in {text!r}; use http:// or https://")
    if not parts.hostname or not (_HOST_RE.match(parts.hostname) or _is_ip(parts.hostname)):
        raise AnswerError(key, f"{text!r} has no valid host name; write it like http://host:3141/simple/")
    if parts.query or parts.fragment:
        raise AnswerError(key, f"{text!r} has a query or fragment; give the plain index URL")
    return text if text.endswith("/") else text + "/"


def parse_upstream(raw: Any, answers: dict | None = None) -> str:
    """'pypi', an http(s) simple index URL, or a local folder of wheels and sdists.

    A folder is written as a path (``/…``, ``./…``, ``~/…``) or, when it
    exists, by its bare name (``wheels``), as people type it.
    """
    if not isinstance(raw, str):
        return parse_url("upstream", raw)  # says what it expected
    text = raw.strip()
    if text.lower() == DEFAULT_UPSTREAM:
        return DEFAULT_UPSTREAM
    if text.startswith(("/", "./", "../", "~")):
        folder = Path(text).expanduser().absolute()
        if not folder.is_dir():
            raise AnswerError("upstream", f"folder {str(folder)!r} does not exist; give a folder of wheels and sdists")
        return str(folder)
    if text and "://" not in text:
        if Path(text).is_dir():
            return str(Path(text).absolute())
        raise AnswerError(
            "upstream",
            f"{text!r} is neither 'pypi', a URL nor an existing folder; write a folder as ./{text} "
            "(it must exist) or a URL like http://host:3141/simple/",
        )
    return parse_url("upstream", raw)


def upstream_is_folder(upstream: str) -> bool:
    return upstream.startswith("/")


def parse_teams(raw: Any, answers: dict | None = None) -> tuple[str, ...]:
    """Team names, separated by commas only: ``my team`` is one (invalid) name, never two."""
    if isinstance(raw, str):
        teams = [part.strip() for part in raw.split(",") if part.strip()]
    else:
        teams = _as_list("teams", raw)
    if not teams:
        raise AnswerError("teams", "give at least one team name, like web or data")
    seen: set[str] = set()
    for team in teams:
        if not _TEAM_RE.match(team):
            suggestion = suggest_team_name(team)
            raise AnswerError(
                "teams",
                f"invalid team name {team!r}; use lowercase letters, digits and '-', "
                "starting with a letter, at most 32 characters"
                + (f" (try {suggestion!r})" if suggestion else ""),
            )
        if team in _RESERVED_TEAMS:
            raise AnswerError("teams", f"team name {team!r} is reserved; pick another name (try {team + '-team'!r})")
        if team in seen:
            raise AnswerError("teams", f"team {team!r} is listed twice; list each team once")
        seen.add(team)
    return tuple(teams)


_PROJECT_RE = re.compile(r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$")


def parse_private_projects(raw: Any, answers: dict | None = None) -> tuple[str, ...]:
    """Project names the site's teams publish, normalised (PEP 503); may be empty."""
    names = _as_list("private_projects", raw)
    seen: list[str] = []
    for name in names:
        if not _PROJECT_RE.match(name):
            raise AnswerError(
                "private_projects",
                f"{name!r} is not a valid project name; use letters, digits, '.', '_' and '-', "
                "starting and ending with a letter or digit",
            )
        normal = re.sub(r"[-_.]+", "-", name).lower()
        if normal not in seen:
            seen.append(normal)
    return tuple(seen)


def suggest_team_name(name: str) -> str | None:
    """A valid team name close to ``name`` (``Web Team`` → ``web-team``), or None."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    slug = re.sub(r"^[^a-z]+", "", slug)[:32].strip("-")
    if not slug or not _TEAM_RE.match(slug):
        return None
    return slug + "-team" if slug in _RESERVED_TEAMS else slug


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_host(raw: Any, answers: dict | None = None) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise AnswerError("host", f"expected a host name or IP address, got {_show(raw)}")
    host = raw.strip()
    if "://" in host or "/" in host or ":" in host and not _is_ip(host):
        raise AnswerError("host", f"{host!r} is not a host name; give just the name or address, like 127.0.0.1")
    if not (_is_ip(host) or _HOST_RE.match(host)):
        raise AnswerError("host", f"{host!r} is not a valid host name or IP address")
    return host


def parse_scheme(raw: Any, answers: dict | None = None) -> str:
    if raw not in ("http", "https"):
        raise AnswerError("scheme", f"unsupported scheme {_show(raw)}; use http or https")
    return raw


def _port_parser(key: str, others: tuple[str, ...]) -> Callable[[Any, dict | None], int]:
    def parse_port(raw: Any, answers: dict | None = None) -> int:
        if isinstance(raw, bool) or not isinstance(raw, (int, str)):
            raise AnswerError(key, f"expected a port number, got {_show(raw)}")
        text = str(raw).strip()
        if not (text.isascii() and text.isdigit()):
            raise AnswerError(key, f"{text!r} is not a port number; use a number from 1 to 65535")
        port = int(text)
        if not 1 <= port <= 65535:
            raise AnswerError(key, f"port {port} is out of range; use a number from 1 to 65535")
        for other in others:
            if answers and answers.get(other) == port:
                raise AnswerError(key, f"port {port} is already used by {other}; give each service its own port")
        return port

    return parse_port


def parse_password(raw: Any, answers: dict | None = None) -> str:
    if not isinstance(raw, str):
        raise AnswerError("admin_password", f"expected a string, got {_show(raw)}")
    if len(raw) < 8:
        raise AnswerError("admin_password", "is too short; use at least 8 characters (or leave it empty for a random one)")
    if any(ch.isspace() for ch in raw):
        raise AnswerError("admin_password", "contains white space; use a password without spaces")
    return raw


_PASSWORD_ALPHABET = string.ascii_letters + string.digits


def new_password() -> str:
    """A random 24-character password of letters and digits.

    Letters and digits only: it is typed on command lines and sourced by sh,
    where a leading ``-`` reads as an option and ``$`` or quotes change meaning.
    """
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(24))


# -- the questions -----------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """One answer kit needs: its key in kit.toml, how to ask it and check it."""

    key: str
    prompt: str
    kind: str  # "checkbox", "text", "password"
    default: Callable[[dict], Any]
    parse: Callable[[Any, dict | None], Any]
    help: str
    choices: dict[str, str] = field(default_factory=dict)
    #: Asked only when this returns true for the answers so far; else the default.
    when: Callable[[dict], bool] = lambda answers: True

    def to_text(self, value: Any) -> str:
        """The value as the wizard shows it as a default."""
        if self.kind == "password":
            return "random"
        if isinstance(value, (tuple, list)):
            return ",".join(value)
        return str(value)


def _wants(*setups: str) -> Callable[[dict], bool]:
    return lambda answers: any(s in answers.get("setups", ()) for s in setups)


QUESTIONS: tuple[Question, ...] = (
    Question(
        "setups", "Which setups should kit generate?", "checkbox",
        lambda a: ("mirror", "private", "clients", "cluster"), parse_setups,
        "Any of: " + "; ".join(f"{k} ({v})" for k, v in SETUPS.items()) + ".",
        choices=SETUPS,
    ),
    Question(
        "upstream", "Upstream index to mirror ('pypi' for PyPI, a URL, or a folder)", "text",
        lambda a: DEFAULT_UPSTREAM, parse_upstream,
        "'pypi' uses devpi-server's own built-in PyPI mirror; or the http(s) URL of any simple index; "
        "or a local folder of wheels and sdists (offline, classroom): ./wheels, ~/wheels or an existing folder's name.",
    ),
    Question(
        "teams", "Teams (one private index each, comma separated)", "text",
        lambda a: ("team",), parse_teams,
        "Lowercase letters, digits and '-', separated by commas; each team gets the index TEAM/private "
        "and a folder of client settings.",
    ),
    Question(
        "private_projects", "Project names your teams publish or will publish (comma separated, may be empty)", "text",
        lambda a: (), parse_private_projects,
        "Names no team of this site may ever get from the upstream, even before their first upload: "
        "a look-alike uploaded to PyPI under one of these names is never offered. Names any team has "
        "already published are protected without being listed.",
        when=_wants("private"),
    ),
    Question(
        "host", "Host name the clients use to reach the index", "text",
        lambda a: "127.0.0.1", parse_host,
        "127.0.0.1 for a laptop; a LAN name for a room or a team (then serve it over TLS).",
    ),
    Question(
        "scheme", "Scheme the clients use (http or https)", "text",
        lambda a: "http", parse_scheme,
        "https when a TLS proxy fronts the index; plain http is trusted for loopback only.",
    ),
    Question(
        "master_port", "Port of the master (devpi primary)", "text",
        lambda a: 3141, _port_parser("master_port", ()),
        "The devpi-server that holds the indexes and accepts uploads.",
    ),
    Question(
        "mirror_port", "Port of the mirror (devpi replica)", "text",
        lambda a: 3142, _port_parser("mirror_port", ("master_port",)),
        "The replica that serves reads when the master is down.",
        when=_wants("cluster"),
    ),
    Question(
        "edge_port", "Port of the CDN edge (caching proxy)", "text",
        lambda a: 3143, _port_parser("edge_port", ("master_port", "mirror_port")),
        "The caching proxy clients talk to when the cluster is generated.",
        when=_wants("cluster"),
    ),
    Question(
        "upstream_port", "Port of the local upstream (serves the upstream folder)", "text",
        lambda a: 3144, _port_parser("upstream_port", ("master_port", "mirror_port", "edge_port")),
        "Used only when upstream is a folder: kit serves it as a simple index on this port.",
        when=lambda a: upstream_is_folder(a.get("upstream", "")),
    ),
    Question(
        "clients", "Which clients should get settings?", "checkbox",
        lambda a: tuple(TOOLS), parse_tools,
        "Any of: " + ", ".join(f"{k} ({v})" for k, v in TOOLS.items()) + ".",
        choices=dict(TOOLS),
        when=_wants("clients"),
    ),
    Question(
        "admin_password", "Admin (devpi root) password", "password",
        lambda a: new_password(), parse_password,
        "Random: 24 letters and digits. Stored in kit.toml (mode 0600); team upload passwords are derived from it.",
    ),
)

_BY_KEY = {q.key: q for q in QUESTIONS}


def _did_you_mean(word: str, candidates) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_key(key: str) -> Question:
    try:
        return _BY_KEY[key]
    except KeyError:
        raise UnknownKeyError(
            key, f"unknown answer key{_did_you_mean(key, _BY_KEY)}; known keys: {', '.join(_BY_KEY)}"
        ) from None


# -- the model ---------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Answers:
    """Validated answers; build it with :func:`answers_from_raw`."""

    setups: tuple[str, ...]
    upstream: str
    teams: tuple[str, ...]
    private_projects: tuple[str, ...]
    host: str
    scheme: str
    master_port: int
    mirror_port: int
    edge_port: int
    upstream_port: int
    clients: tuple[str, ...]
    admin_password: str

    @property
    def client_port(self) -> int:
        """Clients talk to the edge when there is a cluster, else to the master."""
        return self.edge_port if "cluster" in self.setups else self.master_port

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{_netloc(self.host, self.client_port)}"

    @property
    def master_url(self) -> str:
        return f"{self.scheme}://{_netloc(self.host, self.master_port)}"

    @property
    def bind_host(self) -> str:
        """Where the client-facing server listens: the host itself on loopback, else every interface."""
        return self.host if is_loopback(self.host) else "0.0.0.0"

    @property
    def mirror_url(self) -> str | None:
        """What root/pypi mirrors: None for devpi's built-in PyPI default."""
        if self.upstream == DEFAULT_UPSTREAM:
            return None
        if upstream_is_folder(self.upstream):
            return f"http://127.0.0.1:{self.upstream_port}/simple/"
        return self.upstream

    @property
    def needs_trusted_host(self) -> bool:
        return self.scheme == "http" and not is_loopback(self.host)

    def team_password(self, team: str) -> str:
        """Upload password of a team's devpi user, derived so kit.toml stays small.

        Changing ``admin_password`` rotates every team's password at once.
        """
        digest = hmac.new(self.admin_password.encode(), f"kit-team-upload:{team}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def as_dict(self) -> dict[str, Any]:
        return {q.key: _plain(getattr(self, q.key)) for q in QUESTIONS}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def collect_answers(
    raw: dict[str, Any],
    base: dict[str, Any] | None = None,
    *,
    ask: Callable[[Question, Any, dict], Any] | None = None,
    on_error: Callable[[AnswerError], None] | None = None,
    on_help: Callable[[Question], None] | None = None,
) -> Answers:
    """Validate answers in question order; the one loop behind every way of answering.

    ``raw`` answers are fixed (from --answers or --set); the rest come from
    ``base`` (an existing site's kit.toml) or the question's default. With
    ``ask``, each remaining question whose ``when`` holds is put to the user,
    who gets the default for an empty reply and is asked again, through
    ``on_error``, after an invalid one; a reply of ``?`` shows the question's
    help through ``on_help`` and asks again. A later check can see earlier answers.
    """
    for key in list(raw) + list(base or {}):
        check_key(key)
    done: dict[str, Any] = {}
    for question in QUESTIONS:
        if question.key in raw:
            done[question.key] = question.parse(raw[question.key], done)
            continue
        default = base[question.key] if base and question.key in base else question.default(done)
        if ask is None or not question.when(done):
            # Defaults are checked too: a default port may clash with a chosen one.
            try:
                done[question.key] = question.parse(default, done)
                continue
            except AnswerError:
                if ask is None:
                    raise
        while True:
            reply = ask(question, default, done)
            if reply == "?" and on_help is not None:
                on_help(question)
                continue
            try:
                done[question.key] = question.parse(default if reply is None or reply == "" else reply, done)
                break
            except AnswerError as exc:
                if on_error is None:
                    raise
                on_error(exc)
    return Answers(**done)


def answers_from_raw(raw: dict[str, Any], base: dict[str, Any] | None = None) -> Answers:
    """Validate raw answers with no questions asked (``--no-input``, ``--answers``)."""
    return collect_answers(raw, base)


def site_warnings(answers: Answers) -> list[str]:
    """Things that are allowed but unsafe, said once after the answers."""
    warnings = []
    if answers.needs_trusted_host:
        warnings.append(
            f"clients reach {answers.host} over plain http: serve the site over TLS "
            "(a proxy in front, then --set scheme=https)"
        )
    return warnings


def parse_set_options(options: list[str]) -> dict[str, str]:
    """``["teams=web,data", "host=x"]`` → a dict of raw answers."""
    raw: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        key = key.strip()
        if not sep or not key:
            raise AnswerError("--set", f"{option!r} is not KEY=VALUE; write it like --set teams=web,data")
        check_key(key)
        raw[key] = value
    return raw


def load_answers_file(path: Path) -> dict[str, Any]:
    """Raw answers from a TOML file; the values are checked by :func:`answers_from_raw`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AnswerFileError(f"answer file {path} does not exist; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc.__class__.__name__
        raise AnswerFileError(f"cannot read answer file {path} ({reason}); check the file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AnswerFileError(f"{path} is not valid TOML ({exc}); fix the file or re-create it with kit init") from None
    return data


def dump_answers(answers: Answers) -> str:
    """kit.toml text: deterministic, commented, and loadable by :func:`load_answers_file`."""
    lines = [
        "# kit.toml: the answers this site was generated from.",
        "# Replay: kit init --answers kit.toml SITE_DIR   (keys: see `kit init --help`)",
        "",
    ]
    for question in QUESTIONS:
        lines.append(f"# {question.help}")
        lines.append(f"{question.key} = {_toml_value(getattr(answers, question.key))}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    return "[" + ", ".join(_toml_string(v) for v in value) + "]"


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
