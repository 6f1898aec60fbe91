"""The answers: the questions kit asks, how each answer is validated, and the
validated :class:`Answers` model that everything downstream is made from.

Questions are data (:data:`QUESTIONS`): the wizard walks that list, the answer
file and ``--set`` are checked against it, and the reference docs list it. A
raw value may come from a terminal (a string), a TOML file (typed) or
``--set KEY=VALUE`` (a string); each question's ``parse`` accepts all three and
raises :class:`~kit.core.errors.AnswerError` with a one-line reason. The
rules for each kind of value (URL, host, port, team, password, project name,
path) live in :mod:`kit.site.validate`; the parsers here say which rule an answer
follows and what it needs from the answers before it. The hosts of a site
spread over machines (the table ``hosts`` and ``floating_address``) have their
model and rules in :mod:`kit.site.hosts`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from kit.site import validate
from kit.site.hosts import Host, describe, host_of, hosts_table, hosts_toml, hosts_with, parse_floating_address, \
    parse_hosts
from kit.core.errors import AnswerError, AnswerFileError, UnknownKeyError
from kit.core.names import EDGE_READER

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
    "DEVPI_UPSTREAMS",
    "is_requirement_file",
    "is_loopback",
]

#: What ``kit init`` can generate, in the order the site README lists them.
SETUPS = {
    "mirror": "root/pypi, a caching mirror of the upstream index",
    "private": "one private index per team, on devpi-server",
    "clients": "settings for pip, uv, buildout, setuptools, poetry, pdm, twine and CI",
    "cluster": "master + mirror + CDN edge, run on this machine by kit up",
    "public-mirror": "a static PEP 381-style mirror of chosen upstream projects, made by bandersnatch",
}

#: What devpi's root/pypi may mirror: the upstream itself, or this site's public mirror.
DEVPI_UPSTREAMS = {
    "upstream": "the upstream answered above",
    "public-mirror": "this site's public mirror, served by the edge (sync it once, then run offline)",
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



# -- value parsers: each takes a raw value and the answers so far ------------


def _as_list(key: str, raw: Any) -> list[str]:
    """A list from a TOML array, a comma/space separated string, or a checkbox list."""
    if isinstance(raw, str):
        return [part for part in re.split(r"[,\s]+", raw.strip()) if part]
    if isinstance(raw, (list, tuple)) and all(isinstance(item, str) for item in raw):
        return [item.strip() for item in raw]
    raise AnswerError(key, f"expected a list of names, got {_show(raw)}; write it as [\"a\", \"b\"] or a,b")


_show = validate.show


def _parse_choices(key: str, choices: dict[str, str], raw: Any, *, allow_empty: bool = False) -> tuple[str, ...]:
    items = _as_list(key, raw)
    unknown = [item for item in items if item not in choices]
    if unknown:
        validate.choice(key, unknown[0], choices, refusal="unknown choice", fix=f"choose from {', '.join(choices)}",
                        exact=True)
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
    """An http(s) URL with a host and only safe characters, normalised to end with a slash."""
    return validate.url(key, raw)


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
    if text.startswith(("/", "./", "../", "~")) or (text and "://" not in text and _is_folder(text)):
        folder = validate.path("upstream", text, what="folder of wheels and sdists", must_exist=True)
        if os.path.realpath(folder) == "/":
            raise AnswerError("upstream", f"{_show(text)} is the root folder, which kit would serve whole; "
                              "give the folder that holds the wheels and sdists")
        return str(folder.absolute())
    if text and "://" not in text:
        validate.path("upstream", text, what="folder of wheels and sdists")  # a file says so
        raise AnswerError(
            "upstream",
            f"{_show(text)} is neither 'pypi', a URL nor an existing folder; write a folder as ./{text} "
            "(it must exist) or a URL like http://host:3141/simple/",
        )
    url = validate.url("upstream", raw, credentials="remove them: kit writes the upstream URL into "
                       "files others read; give devpi-server a URL without them")
    if "public-mirror" in (answers or {}).get("setups", ()) and not url.endswith("/simple/"):
        raise AnswerError("upstream", f"{_show(url)}: the public mirror's bandersnatch needs a PyPI-like upstream "
                          "whose simple index ends in /simple/ (its JSON API beside it); give such a URL, "
                          "'pypi' or a folder")
    return url


def _is_folder(text: str) -> bool:
    try:
        return os.path.isdir(text)
    except (ValueError, OSError):
        return False


def upstream_is_folder(upstream: str) -> bool:
    return upstream.startswith("/")


def parse_teams(raw: Any, answers: dict | None = None) -> tuple[str, ...]:
    """Team names, separated by commas only: ``my team`` is one (invalid) name, never two."""
    return validate.teams("teams", raw)


def parse_private_projects(raw: Any, answers: dict | None = None) -> tuple[str, ...]:
    """Project names the site's teams publish, normalised (PEP 503); may be empty.

    ``NAME`` reserves a name for the site (the first team to publish it owns
    it); ``TEAM:NAME`` gives it to that team from the start, so no other team
    may ever publish it. Separated by commas only, like teams: ``my project``
    is one invalid name.
    """
    if isinstance(raw, str):
        names = [part.strip() for part in raw.split(",") if part.strip()]
    else:
        names = _as_list("private_projects", raw)
    teams = (answers or {}).get("teams", ())
    seen: dict[str, str] = {}  # name → its entry
    for entry in names:
        team, sep, name = entry.rpartition(":")
        normal = validate.project_name("private_projects", name)
        if sep:
            if team not in teams:
                raise AnswerError("private_projects", f"{_show(entry)} names the team {team!r}, which is not one "
                                  f"of the site's teams ({', '.join(teams)}); write TEAM:NAME with one of them")
            normal = f"{team}:{normal}"
        other = seen.get(project_part(normal))
        if other is not None and other != normal:
            raise AnswerError("private_projects", f"{project_part(normal)} is listed twice ({other} and {normal}); "
                              "give each name once, with at most one team")
        seen[project_part(normal)] = normal
    return tuple(seen.values())


def project_part(entry: str) -> str:
    """The project of a ``private_projects`` entry (``NAME`` or ``TEAM:NAME``)."""
    return entry.rpartition(":")[2]


#: A requirement file is told from a project name by how it is written.
_REQUIREMENT_FILE_SUFFIXES = (".txt", ".in")


def is_requirement_file(entry: str) -> bool:
    return entry.startswith(("/", "./", "../", "~")) or entry.endswith(_REQUIREMENT_FILE_SUFFIXES)


def parse_mirror_projects(raw: Any, answers: dict | None = None) -> tuple[str, ...]:
    """Project names (normalised) and requirement files (absolute paths) to mirror; empty: everything.

    A requirement file is written as a path (``/…``, ``./…``, ``~/…``) or by
    a name ending in ``.txt`` or ``.in``; it must exist. Its projects, and the
    dependencies of every listed project, are resolved at each sync.
    """
    entries = [part.strip() for part in raw.split(",") if part.strip()] if isinstance(raw, str) \
        else _as_list("mirror_projects", raw)
    seen: list[str] = []
    for entry in entries:
        if is_requirement_file(entry):
            found = validate.path("mirror_projects", entry, folder=False, must_exist=True, what="requirement file")
            if not found.is_file():
                raise AnswerError("mirror_projects", f"{_show(entry)} is not a file; give a requirement file "
                                  "(one project per line) or a project name")
            try:
                validate.read_small_file(found)
            except (OSError, ValueError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else f"it {exc}"
                raise AnswerError("mirror_projects", f"cannot read {_show(entry)} ({reason}); give a requirement "
                                  "file (one project per line) or a project name") from None
            if any(ch in str(found) for ch in "%*?[]") or str(found) != str(found).strip():
                # bandersnatch.conf is read with interpolation ('%'), and its requirements are glob patterns
                raise AnswerError("mirror_projects", f"{_show(entry)}: a requirement file's path may not hold "
                                  "'%', '*', '?', '[' or ']', nor start or end with a space; move or rename the file")
            normal = str(found.absolute())
        else:
            normal = validate.project_name("mirror_projects", entry)
        if normal not in seen:
            seen.append(normal)
    return tuple(seen)


def parse_devpi_upstream(raw: Any, answers: dict | None = None) -> str:
    value = validate.choice("devpi_upstream", raw, DEVPI_UPSTREAMS, refusal="unknown choice",
                            fix="choose upstream or public-mirror")
    setups = (answers or {}).get("setups", ())
    if value == "public-mirror" and not {"public-mirror", "cluster"} <= set(setups):
        raise AnswerError("devpi_upstream", "public-mirror needs the public-mirror and cluster setups "
                          "(the edge serves the mirror); add both to setups or answer upstream")
    return value


#: What serves the cluster's clients: kit's own edge (pip-installable), or Varnish from the system's packages.
EDGES = ("python", "varnish")


def parse_edge(raw: Any, answers: dict | None = None) -> str:
    return validate.choice("edge", raw, EDGES, refusal="unknown edge", fix="choose python (kit's own) or varnish "
                           "(needs varnishd and varnish-modules: apt-get install varnish varnish-modules)")


#: Who may read a team's index: its own team (and the site's read tokens for it), any user of the
#: site, or anyone who reaches it (as before this answer existed).
READ_ACCESS = ("team", "site", "anonymous")


def parse_read_access(raw: Any, answers: dict | None = None) -> str:
    return validate.choice("read_access", raw, READ_ACCESS, refusal="unknown read access",
                           fix="choose team (each team reads only its own index), site (any user of the site) "
                               "or anonymous (anyone who reaches the index)")


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
#: The smallest cache worth having: one wheel of a few hundred KiB, with room to spare.
MIN_CACHE_BYTES = 1024**2


def size_in_bytes(text: str) -> int:
    """Bytes of a size written like ``10G``, ``500M``, ``2.5G`` or ``1048576`` (already checked by :func:`parse_size`)."""
    number, unit = _SIZE.fullmatch(text.strip()).groups()
    return int(float(number) * _SIZE_UNITS[unit.upper()])


def parse_size(raw: Any, answers: dict | None = None, *, key: str = "edge_cache_size") -> str:
    """A size as text (``10G``, ``500M``, ``2.5G`` or bytes), at least :data:`MIN_CACHE_BYTES`."""
    text = str(raw).strip() if isinstance(raw, (str, int)) and not isinstance(raw, bool) else None
    if text is None or not _SIZE.fullmatch(text):
        raise AnswerError(key, f"expected a size like 10G, 500M, 2.5G or a number of bytes, got {_show(raw)}")
    if size_in_bytes(text) < MIN_CACHE_BYTES:
        raise AnswerError(key, f"{text} is less than 1M; give at least 1M")
    return text


#: yes/no spellings the answer web takes (TOML's true and false too).
_YES, _NO = ("yes", "y", "true", "on", "1"), ("no", "n", "false", "off", "0")


def parse_web(raw: Any, answers: dict | None = None) -> str:
    """yes or no: whether devpi-web serves the indexes' web pages and search."""
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    value = raw.strip().lower() if isinstance(raw, str) else raw
    if value in _YES or value in _NO:
        return "yes" if value in _YES else "no"
    raise AnswerError("web", f"expected yes or no, got {validate.show(raw)}; answer yes (devpi-web's pages and "
                             "search, needs pip install devpi-web) or no")


def parse_host(raw: Any, answers: dict | None = None) -> str:
    return validate.host("host", raw)


def parse_scheme(raw: Any, answers: dict | None = None) -> str:
    # Exact: the scheme is written into URLs as given, and "HTTP" is refused (with its fix).
    return validate.choice("scheme", raw, ("http", "https"), refusal="unsupported scheme", fix="use http or https",
                           exact=True)


def default_scheme(answers: dict) -> str:
    """https for a host other machines reach; plain http stays for loopback, where nothing crosses a network."""
    return "http" if is_loopback(answers.get("host", "127.0.0.1")) else "https"


def _redirects(answers: dict) -> bool:
    """Whether a plain-http listener redirects to the https edge (an https site with a cluster)."""
    return answers.get("scheme") == "https" and "cluster" in answers.get("setups", ())


def _tls_file(key: str, what: str) -> Callable[[Any, dict | None], str]:
    """A parser for the operator's own certificate or key: empty (kit makes a site CA), or an
    existing PEM file, for an https site only."""

    def parse(raw: Any, answers: dict | None = None) -> str:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if key == "tls_key" and (answers or {}).get("tls_cert"):
                raise AnswerError(key, "tls_cert is given but not its key; give the key file of that certificate "
                                  "(e.g. /etc/letsencrypt/live/HOST/privkey.pem)")
            return ""
        if (answers or {}).get("scheme") != "https":
            raise AnswerError(key, f"a {what} is for an https site; answer scheme=https or leave {key} empty")
        if key == "tls_key" and not (answers or {}).get("tls_cert"):
            raise AnswerError(key, "a key without its certificate; give tls_cert too, or leave both empty "
                              "(kit then makes a site CA)")
        found = validate.path(key, raw, folder=False, must_exist=True, what=what)
        try:
            text = validate.read_small_file(found)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else f"it {exc}"
            raise AnswerError(key, f"cannot read {_show(str(found))} ({reason}); give a {what} kit can read") from None
        marker = "CERTIFICATE-----" if key == "tls_cert" else "PRIVATE KEY-----"  # also "EC/RSA PRIVATE KEY"
        if "-----BEGIN " not in text or marker not in text:
            raise AnswerError(key, f"{_show(str(found))} holds no PEM {what}; give a PEM file "
                              f"(-----BEGIN {marker})")
        return str(found.absolute())

    return parse


def _port_parser(key: str, others: tuple[str, ...]) -> Callable[[Any, dict | None], int]:
    def parse_port(raw: Any, answers: dict | None = None) -> int:
        used = {other: answers[other] for other in others if answers and other in answers}
        if answers and answers.get("edge") != "varnish":
            used.pop("shield_port", None)  # no shield runs: its port is free for others
        if key in ("shield_port", "varnish_exporter_port") and (answers or {}).get("edge") != "varnish":
            used = {}  # nothing listens there
        if key == "http_port" and not _redirects(answers or {}):
            used = {}  # nothing listens there
        return validate.port(key, raw, used)

    return parse_port


def parse_password(raw: Any, answers: dict | None = None) -> str:
    return validate.password("admin_password", raw)


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
    kind: str  # "checkbox", "text", "password", "table" (only in a file: the wizard never asks it)
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
        if self.kind == "table":
            return describe(value)
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
        "Lowercase letters, digits and '-', separated by commas, at most 100; each team gets the index "
        "TEAM/private and a folder of client settings.",
    ),
    Question(
        "private_projects", "Project names your teams publish or will publish (comma separated, may be empty)", "text",
        lambda a: (), parse_private_projects,
        "Names no team of this site may ever get from the upstream, even before their first upload: "
        "a look-alike uploaded to PyPI under one of these names is never offered. Names any team has "
        "already published are protected without being listed. Write TEAM:NAME to give a name to one "
        "team from the start: no other team may then publish it.",
        when=_wants("private"),
    ),
    Question(
        "read_access", "Who may read a team's index (team, site or anonymous)", "text",
        lambda a: "team" if "private" in a.get("setups", ()) else "anonymous", parse_read_access,
        "team: only the team itself (its members' passwords, or read tokens made with kit token create), "
        "and every user of the site reads the mirror of the upstream. site: any user of the site reads "
        "every team's index. anonymous: anyone who reaches the index reads everything (no login).",
        when=_wants("private"),
    ),
    Question(
        "mirror_projects", "Projects to mirror publicly (names or requirement files, comma separated; "
        "empty: the whole upstream)", "text",
        lambda a: (), parse_mirror_projects,
        "Names like requests, or requirement files like ./requirements.txt (must exist): each sync mirrors "
        "them and every project they depend on. Empty mirrors the whole upstream: for PyPI that is many "
        "terabytes.",
        when=_wants("public-mirror"),
    ),
    Question(
        "devpi_upstream", "What devpi's root/pypi mirrors (upstream or public-mirror)", "text",
        lambda a: "upstream", parse_devpi_upstream,
        "upstream: the upstream index answered above. public-mirror: this site's public mirror through the "
        "edge, so that after one kit mirror sync the site runs with no network (a classroom); projects "
        "not in the public mirror are then not found.",
        when=lambda a: {"public-mirror", "cluster"} <= set(a.get("setups", ())),
    ),
    Question(
        "host", "Host name the clients use to reach the index", "text",
        lambda a: "127.0.0.1", parse_host,
        "127.0.0.1 for a laptop; a LAN name for a room or a team (then serve it over TLS).",
    ),
    Question(
        "scheme", "Scheme the clients use (http or https)", "text",
        default_scheme, parse_scheme,
        "https (the default for a host other machines reach): the edge serves TLS with a certificate of "
        "a site CA kit makes (or your own, below), and clients are given the CA. http: plain, for "
        "loopback only.",
    ),
    Question(
        "tls_cert", "Your own TLS certificate (PEM chain; empty: kit makes a site CA)", "text",
        lambda a: "", _tls_file("tls_cert", "certificate chain"),
        "For production: the certificate (full chain) of a CA the clients already trust, e.g. "
        "/etc/letsencrypt/live/HOST/fullchain.pem. Empty: kit makes a site CA and a certificate for the "
        "host, and gives every team folder the CA (ca.pem), for a lab or a classroom.",
        when=lambda a: a.get("scheme") == "https",
    ),
    Question(
        "tls_key", "Its private key (PEM)", "text",
        lambda a: "", _tls_file("tls_key", "private key"),
        "The private key of tls_cert, e.g. /etc/letsencrypt/live/HOST/privkey.pem; the user who runs "
        "kit up must be able to read it.",
        when=lambda a: a.get("scheme") == "https" and bool(a.get("tls_cert")),
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
        "edge", "Which edge serves the clients (python or varnish)", "text",
        lambda a: "python", parse_edge,
        "python: kit's own caching proxy, nothing to install. varnish: Varnish in front, for production "
        "(needs the varnish and varnish-modules packages); kit's edge then runs behind it as its shield.",
        when=_wants("cluster"),
    ),
    Question(
        "shield_port", "Port of the shield (kit's edge behind Varnish)", "text",
        lambda a: 3145, _port_parser("shield_port", ("master_port", "mirror_port", "edge_port")),
        "Used only with edge = varnish: kit's edge listens here on 127.0.0.1; Varnish fetches package "
        "files (checked against their sha256), the public mirror and the static copy from it.",
        when=lambda a: "cluster" in a.get("setups", ()) and a.get("edge") == "varnish",
    ),
    Question(
        "upstream_port", "Port of the local upstream (serves the upstream folder)", "text",
        lambda a: 3144, _port_parser("upstream_port", ("master_port", "mirror_port", "edge_port", "shield_port")),
        "Used only when upstream is a folder: kit serves it as a simple index on this port.",
        when=lambda a: upstream_is_folder(a.get("upstream", "")),
    ),
    Question(
        "http_port", "Port of the plain-http redirect (to the https edge)", "text",
        lambda a: 3146, _port_parser("http_port", ("master_port", "mirror_port", "edge_port", "shield_port",
                                                    "upstream_port")),
        "Used only with scheme = https: plain http here answers 308 with the https URL of the edge, "
        "so an old http:// URL or a typed one ends on TLS. In production: 80 (the edge on 443).",
        when=_redirects,
    ),
    Question(
        "public_mirror_port", "Port of the public mirror's own host (served to the edges)", "text",
        lambda a: 3147, _port_parser("public_mirror_port", ("master_port", "mirror_port", "edge_port", "shield_port",
                                                             "upstream_port", "http_port")),
        "Used only on a site spread over hosts with a public-mirror host: that host serves bandersnatch's "
        "folder here, on its own address, to the edges (which serve it to clients at /mirror/) and to the "
        "master. Given in kit.toml, never asked.",
        when=lambda a: False,
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
    Question(
        "hosts", "Hosts, for a site spread over machines (NAME=ADDRESS:ROLE+ROLE, comma separated; "
        "empty: all on this machine)", "table",
        lambda a: (), parse_hosts,
        "Empty: every service runs on this machine. Else one entry per machine, like "
        "lb1=198.18.0.2:balancer, edge1=198.18.0.4:edge, db=198.18.0.6:master+mirror: its name (a folder "
        "hosts/NAME/ of what it runs), its IP address and its roles (any of balancer, edge, master, mirror, "
        "public-mirror); exactly one master. kit.toml keeps them as [hosts.NAME] tables at its end; "
        "--answers FILE and --set hosts=... take either form.",
        when=_wants("cluster"),
    ),
    Question(
        "floating_address", "Floating address of the balancers (empty: none)", "text",
        lambda a: "", parse_floating_address,
        "Only for a site spread over hosts (the hosts table) with balancers: the one IP address clients "
        "use, moved between the balancers. host is the name clients type; it may be this address itself.",
        when=lambda a: any("balancer" in host.roles for host in a.get("hosts", ())),
    ),
    Question(
        "edge_cache_size", "Largest size of the edge's file cache (like 10G, 500M, or bytes)", "text",
        lambda a: "10G", parse_size,
        "The edge keeps the package files it served on disk, up to this size; least recently used "
        "files go first (they are fetched again when asked). K, M, G and T are powers of 1024.",
        when=_wants("cluster"),
    ),
    Question(
        "varnish_exporter_port", "Port of Varnish's metrics exporter (on 127.0.0.1)", "text",
        lambda a: 9131, _port_parser("varnish_exporter_port", ("master_port", "mirror_port", "edge_port",
                                                                "shield_port", "upstream_port", "http_port")),
        "Used only with edge = varnish: kit up runs prometheus-varnish-exporter here on 127.0.0.1, and "
        "monitoring/prometheus.yml scrapes it (job varnish). 9131 is the exporter's own default. "
        "Given in kit.toml or with --set, never asked.",
        when=lambda a: False,
    ),
    Question(
        "web", "Web view of the indexes with devpi-web (yes or no)", "text",
        lambda a: "no", parse_web,
        "yes: devpi-web runs in the master and the mirror, so teams browse their indexes, projects, "
        "versions and uploaded documentation and search them in a browser, at the edge's URL; read access "
        "is respected (a team sees only what it may read). It costs a search index on disk beside devpi's "
        "data (for a mirror of all of PyPI, every project name) and more memory; devpi-web must be "
        "installed where kit runs (pip install devpi-web).",
        when=_wants("cluster", "private"),
    ),
)

_BY_KEY = {q.key: q for q in QUESTIONS}


def check_key(key: str) -> Question:
    try:
        return _BY_KEY[key]
    except KeyError:
        raise UnknownKeyError(
            key, f"unknown answer key{validate.did_you_mean(key, _BY_KEY)}; known keys: {', '.join(_BY_KEY)}"
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
    read_access: str
    mirror_projects: tuple[str, ...]
    devpi_upstream: str
    host: str
    scheme: str
    tls_cert: str
    tls_key: str
    master_port: int
    mirror_port: int
    edge_port: int
    edge: str
    shield_port: int
    upstream_port: int
    http_port: int
    clients: tuple[str, ...]
    admin_password: str
    public_mirror_port: int = 3147
    floating_address: str = ""
    hosts: tuple[Host, ...] = ()
    edge_cache_size: str = "10G"
    varnish_exporter_port: int = 9131
    web: str = "no"
    #: The host whose bundle (SITE/hosts/NAME/) these answers are for; "" for the whole site.
    #: Not an answer: :meth:`for_host` sets it, and a bundle's kit.toml records it.
    this_host: str = field(default="", compare=False)

    def for_host(self, name: str) -> "Answers":
        """These answers as host ``name``'s bundle sees them: its services bind its address."""
        from dataclasses import replace

        if not any(host.name == name for host in self.hosts):
            known = ", ".join(host.name for host in self.hosts) or "none (a single-host site)"
            raise AnswerError("host", f"no host {name!r} in the hosts table; the hosts are: {known}")
        return replace(self, this_host=name)

    @property
    def this(self) -> Host | None:
        """The host of this bundle (None for the whole site)."""
        return next((host for host in self.hosts if host.name == self.this_host), None)

    def address_of(self, role: str) -> str:
        """Where the other parts reach ``role``: on a site spread over hosts, the address of the
        (first) host that has it; else this machine's loopback."""
        found = self.hosts_with(role)
        return found[0].address if found else "127.0.0.1"

    def runs(self, role: str) -> bool:
        """Whether this folder runs ``role``: the whole site of one host runs all; a bundle its host's roles."""
        this = self.this
        if self.is_multi_host and this is None:
            return False
        return this is None or role in this.roles

    @property
    def client_port(self) -> int:
        """Clients talk to the edge when there is a cluster, else to the master."""
        return self.edge_port if "cluster" in self.setups else self.master_port

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{netloc(self.host, self.client_port)}"

    @property
    def master_url(self) -> str:
        return f"{self.scheme}://{netloc(self.host, self.master_port)}"

    @property
    def bind_host(self) -> str:
        """Where the client-facing server listens: on a host of a site spread over hosts, that
        host's address; else the host itself on loopback, or every interface."""
        if self.this is not None:
            return self.this.address
        return self.host if is_loopback(self.host) else "0.0.0.0"

    @property
    def edge_host(self) -> str:
        """Where the other services of this machine reach the edge."""
        return "127.0.0.1" if self.bind_host == "0.0.0.0" else self.bind_host

    @property
    def upstream_address(self) -> str:
        """Where the local upstream (a folder upstream) listens: beside the master, on the master's
        address when the public mirror's host must reach it too."""
        return self.address_of("master") if self.hosts_with("public-mirror") else "127.0.0.1"

    @property
    def public_mirror_origin(self) -> str:
        """The public-mirror host's server, which the edges and the master read ("" on one host)."""
        found = self.hosts_with("public-mirror")
        return f"http://{netloc(found[0].address, self.public_mirror_port)}" if found else ""

    @property
    def mirror_url(self) -> str | None:
        """What root/pypi mirrors: None for devpi's built-in PyPI default."""
        if self.devpi_upstream == "public-mirror":
            if self.public_mirror_origin:
                return f"{self.public_mirror_origin}/simple/"
            return f"http://{netloc(self.edge_host, self.edge_port)}/mirror/simple/"
        if self.upstream == DEFAULT_UPSTREAM:
            return None
        if upstream_is_folder(self.upstream):
            return f"http://{netloc(self.upstream_address, self.upstream_port)}/simple/"
        return self.upstream

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def site_ca(self) -> bool:
        """Whether kit makes the site's CA and certificate (https without the operator's own)."""
        return self.tls and not self.tls_cert

    @property
    def redirects(self) -> bool:
        """Whether plain http on ``http_port`` answers 308 to the https edge."""
        return _redirects({"scheme": self.scheme, "setups": self.setups})

    @property
    def needs_trusted_host(self) -> bool:
        return self.scheme == "http" and not is_loopback(self.host)

    @property
    def private_names(self) -> tuple[str, ...]:
        """The project names of ``private_projects``, owned or not."""
        return tuple(project_part(entry) for entry in self.private_projects)

    @property
    def project_owners(self) -> dict[str, str]:
        """Project → team, for the ``private_projects`` given to one team (``TEAM:NAME``)."""
        return {project_part(e): e.partition(":")[0] for e in self.private_projects if ":" in e}

    def team_password(self, team: str) -> str:
        """Upload password of a team's devpi user, derived so kit.toml stays small.

        Changing ``admin_password`` rotates every team's password at once.
        """
        digest = hmac.new(self._admin_secret().encode(), f"kit-team-upload:{team}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    @property
    def edge_read_password(self) -> str:
        """Password of the devpi user the edge reads private indexes as
        (:data:`kit.core.names.EDGE_READER`), derived like the teams' own."""
        digest = hmac.new(self._admin_secret().encode(), f"kit-edge-read:{EDGE_READER}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def _admin_secret(self) -> str:
        # A bundle of a host other than the master's is given no admin password: nothing
        # there may derive the passwords from it (its files hold what it needs).
        if not self.admin_password:
            raise AnswerError("admin_password", f"host {self.this_host!r}'s bundle holds no admin password; "
                              "run this from the site folder (or the master's bundle)")
        return self.admin_password

    @property
    def edge_cache_bytes(self) -> int:
        """The edge's file cache bound (edge_cache_size) in bytes."""
        return size_in_bytes(self.edge_cache_size)

    @property
    def is_multi_host(self) -> bool:
        """Whether the site is spread over hosts (has a hosts table, even of one host)."""
        return bool(self.hosts)

    def hosts_with(self, role: str) -> tuple[Host, ...]:
        """The hosts that have ``role`` (none on a single-host site)."""
        return hosts_with(self.hosts, role)

    def host_of(self, role: str) -> Host | None:
        """The one host with ``role``, e.g. the master; None on a single-host site."""
        return host_of(self.hosts, role)

    def as_dict(self) -> dict[str, Any]:
        """The answers as kit.toml holds them (``hosts`` as its table)."""
        return {q.key: hosts_table(self.hosts) if q.key == "hosts" else _plain(getattr(self, q.key))
                for q in QUESTIONS}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def netloc(host: str, port: int) -> str:
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
                if ask is None or question.kind == "table":  # a table is not typed at a prompt
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
            "(--set scheme=https: kit makes a site CA, or give your own certificate)"
        )
    if "public-mirror" in answers.setups and not answers.mirror_projects and not upstream_is_folder(answers.upstream):
        warnings.append(
            "mirror_projects is empty: the public mirror copies the whole upstream (for PyPI, many terabytes); "
            "list projects or requirement files with --set mirror_projects=..."
        )
    return warnings


def parse_set_options(options: list[str]) -> dict[str, str]:
    """``["teams=web,data", "host=x"]`` → a dict of raw answers; a key given twice is refused
    (which one was meant? the last would win silently)."""
    raw: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        key = key.strip()
        if not sep or not key:
            raise AnswerError("--set", f"{_show(option)} is not KEY=VALUE; write it like --set teams=web,data")
        check_key(key)
        if key in raw:
            # The values are not shown: one may be a password.
            raise AnswerError("--set", f"{key} is given twice; give each key once (a list as --set {key}=a,b)")
        raw[key] = value
    return raw


def load_answers_file(path: Path) -> dict[str, Any]:
    """Raw answers from a TOML file; the values are checked by :func:`answers_from_raw`."""
    try:
        text = validate.read_small_file(path)
    except FileNotFoundError:
        raise AnswerFileError(f"answer file {path} does not exist; check the path") from None
    except ValueError as exc:  # a device, a pipe, a folder, too large, not UTF-8
        raise AnswerFileError(f"cannot read answer file {path}: it {exc}; give a kit.toml") from None
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise AnswerFileError(f"cannot read answer file {path} ({reason}); check the file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AnswerFileError(f"{path} is not valid TOML ({exc}); fix the file or re-create it with kit init") from None
    except ValueError:
        # tomllib lets int() refuse an integer of thousands of digits.
        raise AnswerFileError(f"{path} holds a number too long to read; fix the file") from None
    except RecursionError:
        raise AnswerFileError(f"{path} has arrays nested too deeply to read; fix the file") from None
    return data


def dump_answers(answers: Answers) -> str:
    """kit.toml text: deterministic, commented, and loadable by :func:`load_answers_file`.

    Each value is written by a TOML writer (tomli-w), so whatever passed the
    validators reads back unchanged; the comments are kit's own text.
    """
    from kit.site.templating import toml_value  # the one TOML quoting of every file kit writes

    lines = [
        "# kit.toml: the answers this site was generated from.",
        "# Replay: kit init --answers kit.toml SITE_DIR   (keys: see `kit init --help`)",
        "",
    ]
    if answers.this_host:
        lines += [f"# The bundle of host {answers.this_host} (SITE/hosts/{answers.this_host}/): kit up, down and "
                  "status run its part only. Made by kit init in the site folder: change the site there.",
                  f"this_host = {toml_value(answers.this_host)}", ""]
    tables: list[str] = []
    for question in QUESTIONS:
        value = getattr(answers, question.key)
        if question.key in _SINGLE_HOST_UNWRITTEN and not answers.is_multi_host:
            continue  # a single-host site's kit.toml stays as it was before hosts existed
        if question.key == "varnish_exporter_port" and answers.edge != "varnish":
            continue  # only a Varnish edge runs the exporter
        if question.key == "admin_password" and not value:
            continue  # a bundle of a host that needs no admin password
        if question.kind == "table":
            # Tables last: a table ends only at the next one.
            tables += ["", f"# {question.help}", *hosts_toml(value, toml_value)[1:]]
            continue
        lines.append(f"# {question.help}")
        lines.append(f"{question.key} = {toml_value(value)}")
    return "\n".join(lines + tables) + "\n"


#: Answers a kit.toml holds only when given: a site without them reads as one host.
_SINGLE_HOST_UNWRITTEN = ("public_mirror_port", "floating_address", "hosts")
