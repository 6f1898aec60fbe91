"""One validator per kind of value kit takes from a user.

Every way a value arrives (the wizard, ``--set``, ``--answers FILE``, the
options of ``kit clients`` and ``kit sample``) goes through these, so a value
is either refused with one line naming the problem and the fix, or safe to
write into every file kit generates: INI files (pip.conf, .pypirc,
buildout.cfg, setup.cfg), TOML files and shell variables (ci.env,
secrets.env). The rules are strict on purpose: a newline, a quote or ``$(…)``
in a URL is never meant, and a template's quoting should not be the only
thing between such a value and a second index or a command.

Each validator takes the key to blame (``upstream``, ``--index-url``…) and
the raw value, and returns the value to use or raises
:class:`~kit.core.errors.AnswerError`.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import socket
import stat
import unicodedata
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

from kit.core.errors import AnswerError
from kit.core.names import EDGE_READER, MAX_PROJECT_NAME, PROJECT_RE, normalize

__all__ = [
    "url", "host", "address", "port", "team", "teams", "password", "project_name", "version", "path", "text", "choice",
    "did_you_mean", "suggest_team_name", "is_ip", "show", "RESERVED_TEAMS", "MAX_URL", "MAX_TEAMS", "read_small_file",
    "system_folder",
]

#: Longer than any real index URL; a bound keeps a pasted file out of every config.
MAX_URL = 2048
MAX_PASSWORD = 256
#: A version ends up in a wheel's file name (at most 255 bytes), next to the project name.
MAX_VERSION = 40
MAX_TEXT = 200
#: Teams of one site. Each team index inherits every other (so that no team
#: takes a colleague's name from the upstream), so every lookup walks all of
#: them, and kit up creates them one by one: past this, make several sites.
MAX_TEAMS = 100
#: Linux's limits: one name in a path (bytes), and a whole path.
MAX_NAME = 255
MAX_PATH = 4096
#: Folders of the kernel, not of a disk: no site, upstream or requirement file lives there.
SYSTEM_FOLDERS = ("/proc", "/sys", "/dev")

# fullmatch, never match with "$": "$" also matches before a final newline.
TEAM_RE = re.compile(r"[a-z][a-z0-9-]{0,30}[a-z0-9]|[a-z]")
#: "mirror": the edge serves the public mirror at /mirror/, where that team's index would be.
RESERVED_TEAMS = frozenset({"root", "pypi", "kit", "admin", "mirror", EDGE_READER})
TEAM_RULE = "use lowercase letters, digits and '-', starting with a letter, at most 32 characters"
HOST_RE = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
#: A final release (1.0, 2.3.1) or a development release as PEP 440 writes it (1.1.dev1),
#: which installers skip unless asked. ASCII digits: \d takes any script's.
VERSION_RE = re.compile(r"[0-9]+(\.[0-9]+)*(\.dev[0-9]+)?")

#: What an index URL may hold: RFC 3986's unreserved characters, the
#: delimiters a plain URL needs, and "+" and "," and "=" (devpi's ``+simple``).
#: Left out although RFC 3986 allows them: ``$ & ' ( ) * ; !`` (a shell reads
#: them as syntax where ci.env is sourced), ``%`` (setuptools interpolates
#: setup.cfg values), ``?`` and ``#`` (a query or fragment is never part of an
#: index URL), and ``[ ]`` outside an IPv6 host.
_URL_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:/+,=@[]")
_SHELL_SYNTAX = frozenset("$&'()*;!`\"\\|<>{}^")


def did_you_mean(raw: Any, candidates: Iterable[str]) -> str:
    """`` (did you mean 'varnish'?)`` when ``raw`` is a near miss of one of ``candidates``
    (a typo, another case), else "": what a refusal adds before its fix."""
    if not isinstance(raw, str) or not raw.strip():
        return ""
    close = difflib.get_close_matches(raw.strip().lower(), list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def choice(key: str, raw: Any, choices: Iterable[str], *, refusal: str, fix: str, exact: bool = False) -> str:
    """One of ``choices`` (lowercase words): the reply trimmed and lower-cased, or as typed when
    ``exact``. Else ``refusal 'raw' (did you mean '…'?); fix``, e.g. ``unknown edge 'varnsh'
    (did you mean 'varnish'?); choose python or varnish``."""
    choices = tuple(choices)
    value = raw.strip().lower() if isinstance(raw, str) and not exact else raw
    if isinstance(value, str) and value in choices:
        return value
    raise AnswerError(key, f"{refusal} {show(raw)}{did_you_mean(raw, choices)}; {fix}")


def show(raw: Any) -> str:
    """A value as an error message quotes it: repr (so a newline shows as \\n), cut short."""
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


def _name_char(ch: str) -> str:
    """How to name one character in a message: ``'$'``, or ``U+000A`` for the invisible ones."""
    return repr(ch) if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}"


def _check_printable(key: str, text: str, what: str, *, spaces: bool = False) -> None:
    """Refuse control characters, unpaired surrogates (bytes that were not UTF-8)
    and, unless ``spaces``, white space; one message per kind."""
    for ch in text:
        if ch == "\x00":
            raise AnswerError(key, f"{show(text)} contains a NUL character; retype the {what}")
        if unicodedata.category(ch) == "Cs":
            raise AnswerError(key, f"{show(text)} is not valid UTF-8; retype the {what} as UTF-8 text")
        if unicodedata.category(ch) == "Cc":  # newline, tab, escape, DEL…
            raise AnswerError(
                key, f"{show(text)} contains the control character {_name_char(ch)}; remove it from the {what}"
            )
        if ch.isspace():
            if spaces and ch == " ":
                continue
            raise AnswerError(key, f"{show(text)} contains white space ({_name_char(ch)}); remove it from the {what}")
        if not ch.isprintable():
            raise AnswerError(
                key, f"{show(text)} contains the invisible character {_name_char(ch)}; remove it from the {what}"
            )


def is_ip(text: str) -> bool:
    """An IP address without an IPv6 zone (``%eth0`` may hold anything)."""
    if "%" in text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# -- network -----------------------------------------------------------------


def host(key: str, raw: Any) -> str:
    """A host name (RFC 1123, ASCII) or an IP address clients can connect to, nothing more."""
    if not isinstance(raw, str) or not raw.strip():
        raise AnswerError(key, f"expected a host name or IP address, got {show(raw)}; give one like 127.0.0.1")
    text = raw.strip()
    _check_printable(key, text, "host name")
    if "://" in text or "/" in text or (":" in text and not is_ip(text)):
        raise AnswerError(key, f"{show(text)} is not a host name; give just the name or address, like 127.0.0.1")
    _check_host(key, text, text)
    return text


def _check_host(key: str, hostname: str, shown: str) -> None:
    """Refuse a host that is no name, an address written in another form than
    its own, or the unspecified address (which no client can reach)."""
    numeric = None if is_ip(hostname) else _numeric_host(hostname)
    if numeric == "":
        raise AnswerError(key, f"{show(shown)} is not a valid IP address; write it as four numbers from 0 to 255, "
                          "like 192.0.2.10")
    if (numeric or is_ip(hostname)) and ipaddress.ip_address(numeric or hostname).is_unspecified:
        raise AnswerError(key, f"{show(shown)} is the unspecified address, which no client can connect to; "
                          "give the name or address clients use (kit listens on every interface itself "
                          "when it is not a loopback address)")
    if numeric:
        raise AnswerError(key, f"{show(shown)} is an IP address in a short, octal, hexadecimal or integer form, "
                          f"which programs read differently; write it as {numeric}")
    if is_ip(hostname):
        return
    if not HOST_RE.fullmatch(hostname):
        raise AnswerError(
            key, f"{show(shown)} is not a valid host name or IP address; use letters, digits, '-' and '.' "
            "(write a non-ASCII name in its xn-- form)"
        )


def _numeric_host(text: str) -> str | None:
    """For a host whose labels are all numbers (``2130706433``, ``0177.0.0.1``,
    ``0x7f.1``): the address it means, as clients' C libraries read it, in its
    dotted form ("" when it means none). None for a name."""
    labels = text.split(".")
    if not all(re.fullmatch(r"0[xX][0-9a-fA-F]*|[0-9]+", label) for label in labels):
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(text))
    except OSError:
        return ""


def address(key: str, raw: Any) -> str:
    """One IP address (IPv4 or IPv6) a service binds and others connect to, in its
    canonical form (``2001:DB8::0:1`` → ``2001:db8::1``), so one address is never
    written two ways. Not a name: a service cannot bind a name, and a name may
    resolve differently on each host."""
    example = "give one like 198.18.0.2 or 2001:db8::2"
    if not isinstance(raw, str) or not raw.strip():
        raise AnswerError(key, f"expected an IP address, got {show(raw)}; {example}")
    text = raw.strip()
    _check_printable(key, text, "address")
    if not is_ip(text):
        numeric = _numeric_host(text)
        if numeric:
            raise AnswerError(key, f"{show(text)} is an IP address in a short, octal, hexadecimal or integer "
                              f"form, which programs read differently; write it as {numeric}")
        raise AnswerError(key, f"{show(text)} is not an IP address (a name, a zone or brackets are not taken); "
                          f"{example}")
    ip = ipaddress.ip_address(text)
    if ip.is_unspecified or ip.is_multicast or str(ip) == "255.255.255.255":
        raise AnswerError(key, f"{show(text)} is a {'multicast' if ip.is_multicast else 'wildcard or broadcast'} "
                          f"address, which no one connects to; {example}")
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        raise AnswerError(key, f"{show(text)} is an IPv4 address written as IPv6; write it as {mapped}")
    return ip.compressed


def url(key: str, raw: Any, *, credentials: str = "remove them: kit writes this URL into files others read") -> str:
    """An http(s) URL with a valid host and only safe characters, ending in a slash.

    ``credentials`` says where a user name and password belong instead of the URL.
    """
    example = "write it like http://host:3141/simple/"
    if not isinstance(raw, str):
        raise AnswerError(key, f"expected a URL, got {show(raw)}; {example}")
    text = raw.strip()
    if not text:
        raise AnswerError(key, f"the URL is empty; {example}")
    if "://" not in text:
        raise AnswerError(key, f"{show(text)} is not a URL; {example}")
    if len(text) > MAX_URL:
        raise AnswerError(key, f"the URL is {len(text)} characters long; give an index URL of at most {MAX_URL}")
    _check_printable(key, text, "URL")
    for ch in text:
        if ch in "\"'`\\":
            raise AnswerError(key, f"{show(text)} contains a quote or backslash ({ch!r}); remove it from the URL")
        if not ch.isascii():
            raise AnswerError(
                key, f"{show(text)} contains the non-ASCII character {ch!r}; "
                "write the host in its xn-- form and use an ASCII path"
            )
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise AnswerError(key, f"{show(text)} is not a valid URL; {example}") from None
    if parts.scheme not in ("http", "https"):
        raise AnswerError(key, f"unsupported scheme {parts.scheme!r} in {show(text)}; use http:// or https://")
    if not parts.netloc:
        raise AnswerError(key, f"{show(text)} is not a URL; {example}")
    if "@" in parts.netloc:
        raise AnswerError(key, f"{show(_hide_credentials(text))} holds credentials; {credentials}")
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise AnswerError(key, f"{show(text)} has a query or fragment; give the plain index URL")
    for ch in text:
        if ch not in _URL_SAFE:
            kind = "shell or config syntax" if ch in _SHELL_SYNTAX else "not allowed in an index URL"
            raise AnswerError(key, f"{show(text)} contains {ch!r} ({kind}); remove it from the URL")
    hostname = parts.hostname or ""
    if not hostname or not (HOST_RE.fullmatch(hostname) or is_ip(hostname)):
        raise AnswerError(key, f"{show(text)} has no valid host name; {example}")
    _check_host(key, hostname, text)
    if parts.netloc.endswith(":") or parts.port == 0:
        raise AnswerError(key, f"{show(text)} has no valid port; give one from 1 to 65535 or none")
    # "[" and "]" only around an IPv6 host; ":" in the path could start a "~"
    # that sh expands in an assignment (PIP_INDEX_URL=…:~/…).
    if any(ch in parts.path for ch in "[]:@"):
        raise AnswerError(key, f"{show(text)} has '[', ']', ':' or '@' in its path; remove them from the URL")
    return text if text.endswith("/") else text + "/"


def _hide_credentials(text: str) -> str:
    scheme, _, rest = text.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


def port(key: str, raw: Any, used: dict[str, int] | None = None) -> int:
    """A port number 1–65535 in ASCII digits, not one of ``used`` (key → port)."""
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise AnswerError(key, f"expected a port number, got {show(raw)}; use a number from 1 to 65535")
    if isinstance(raw, int) and not 1 <= raw <= 65535:
        # str() of a TOML integer of 5000 digits is itself an error: never show it.
        shown = raw if abs(raw) < 10**6 else "number"
        raise AnswerError(key, f"port {shown} is out of range; use a number from 1 to 65535")
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit()):
        raise AnswerError(key, f"{show(text)} is not a port number; use a number from 1 to 65535")
    if len(text) > 5:  # before int(): a 5000-digit string is a ValueError there
        raise AnswerError(key, f"port {text[:8]}{'...' * (len(text) > 8)} is out of range; use a number from 1 to 65535")
    number = int(text)
    if not 1 <= number <= 65535:
        raise AnswerError(key, f"port {number} is out of range; use a number from 1 to 65535")
    for other, taken in (used or {}).items():
        if taken == number:
            raise AnswerError(key, f"port {number} is already used by {other}; give each service its own port")
    return number


# -- names -------------------------------------------------------------------


def suggest_team_name(name: str) -> str | None:
    """A valid team name close to ``name`` (``Web Team`` → ``web-team``), or None."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    slug = re.sub(r"^[^a-z]+", "", slug)[:32].strip("-")
    if not slug or not TEAM_RE.fullmatch(slug):
        return None
    return slug + "-team" if slug in RESERVED_TEAMS else slug


def team(key: str, raw: Any) -> str:
    """One team name: the rule the wizard states, not a reserved name."""
    if not isinstance(raw, str):
        raise AnswerError(key, f"expected a team name, got {show(raw)}; give one like web")
    if not TEAM_RE.fullmatch(raw):
        suggestion = suggest_team_name(raw) if raw.isprintable() else None
        raise AnswerError(
            key, f"invalid team name {show(raw)}; {TEAM_RULE}" + (f" (try {suggestion!r})" if suggestion else "")
        )
    if raw in RESERVED_TEAMS:
        raise AnswerError(key, f"team name {raw!r} is reserved; pick another name (try {raw + '-team'!r})")
    return raw


def teams(key: str, raw: Any) -> tuple[str, ...]:
    """Team names from a list or a comma-separated string: ``my team`` is one
    (invalid) name, never two; each listed once."""
    if isinstance(raw, str):
        names = [part.strip() for part in raw.split(",") if part.strip()]
    elif isinstance(raw, (list, tuple)) and all(isinstance(item, str) for item in raw):
        names = [item.strip() for item in raw]
    else:
        raise AnswerError(key, f"expected a list of names, got {show(raw)}; write it as [\"a\", \"b\"] or a,b")
    if not names:
        raise AnswerError(key, "give at least one team name, like web or data")
    if len(names) > MAX_TEAMS:
        raise AnswerError(key, f"{len(names)} teams; one site takes at most {MAX_TEAMS} (every team index "
                          "inherits every other): split them into several sites")
    seen: list[str] = []
    for name in names:
        team(key, name)
        if name in seen:
            raise AnswerError(key, f"team {name!r} is listed twice; list each team once")
        seen.append(name)
    return tuple(seen)


def project_name(key: str, raw: Any) -> str:
    """A project name by PEP 508's rule, returned normalised (PEP 503: ``My_Pkg`` → ``my-pkg``)."""
    if not isinstance(raw, str):
        raise AnswerError(key, f"expected a project name, got {show(raw)}; give one like my-package")
    if len(raw) > MAX_PROJECT_NAME or not PROJECT_RE.fullmatch(raw):
        raise AnswerError(
            key, f"{show(raw)} is not a valid project name; use letters, digits, '.', '_' and '-', "
            f"starting and ending with a letter or digit, at most {MAX_PROJECT_NAME} characters"
        )
    return normalize(raw)


def version(key: str, raw: Any) -> str:
    """A simple release version: numbers separated by dots (``1.0``, ``2.3.1``), or a
    development release of one (``1.1.dev1``)."""
    if not isinstance(raw, str) or len(raw) > MAX_VERSION or not VERSION_RE.fullmatch(raw):
        raise AnswerError(key, f"{show(raw)} is not a simple version; write it like 1.0, 2.3.1 or 1.1.dev1")
    return raw


# -- secrets and text --------------------------------------------------------


def password(key: str, raw: Any) -> str:
    """At least 8 printable characters, no white space or control characters."""
    if not isinstance(raw, str):
        raise AnswerError(key, f"expected a string, got {show(type(raw).__name__)}; give a password of 8 or more characters")
    if len(raw) < 8:
        raise AnswerError(key, "is too short; use at least 8 characters (or leave it empty for a random one)")
    if len(raw) > MAX_PASSWORD:
        raise AnswerError(key, f"is {len(raw)} characters long; use at most {MAX_PASSWORD}")
    # Never show the password itself in a message: it lands in terminals and CI logs.
    for ch in raw:
        if unicodedata.category(ch) == "Cs":
            raise AnswerError(key, "is not valid UTF-8; retype the password as UTF-8 text")
        if unicodedata.category(ch) == "Cc":
            raise AnswerError(key, f"contains the control character {_name_char(ch)}; use printable characters only")
        if ch.isspace():
            raise AnswerError(key, "contains white space; use a password without spaces")
        if not ch.isprintable():
            raise AnswerError(key, f"contains the control character {_name_char(ch)}; use printable characters only")
    return raw


def text(key: str, raw: Any, *, max_len: int = MAX_TEXT) -> str:
    """A short line of printable text (spaces allowed)."""
    if not isinstance(raw, str):
        raise AnswerError(key, f"expected text, got {show(raw)}")
    if len(raw) > max_len:
        raise AnswerError(key, f"is {len(raw)} characters long; use at most {max_len}")
    _check_printable(key, raw, "text", spaces=True)
    return raw


# -- paths -------------------------------------------------------------------


def path(key: str, raw: Any, *, folder: bool = True, must_exist: bool = False, what: str = "folder") -> Path:
    """A path as typed: not empty, no NUL or control characters, UTF-8, ``~``
    and ``~user`` expanded. With ``folder``, an existing file (or a file
    anywhere above it) is refused; with ``must_exist``, a missing one too.
    The path is returned as given (relative stays relative) after expansion.
    """
    if isinstance(raw, Path):
        raw = str(raw)
    if not isinstance(raw, str):
        raise AnswerError(key, f"expected a path, got {show(raw)}; give a {what}")
    if not raw.strip():
        raise AnswerError(key, f"the path is empty; give a {what} (. for the current one)")
    _check_printable(key, raw, "path", spaces=True)
    longest = max((len(part.encode()) for part in raw.split("/")), default=0)
    if longest > MAX_NAME:
        raise AnswerError(key, f"a name in the path is {longest} bytes long; give a {what} whose names have at most "
                          f"{MAX_NAME} (the system's limit)")
    if len(raw.encode()) > MAX_PATH:
        raise AnswerError(key, f"the path is {len(raw.encode())} bytes long; give a {what} of at most {MAX_PATH} "
                          "(the system's limit)")
    result = Path(raw)
    if raw.startswith("~"):
        user = raw[1:].split("/", 1)[0]
        try:
            result = result.expanduser()
        except RuntimeError:
            who = f"no user {user!r}" if user else "no home folder (HOME is not set)"
            raise AnswerError(key, f"cannot expand {show(raw)}: {who}; write the full path instead") from None
    _refuse_dangling_link(key, result, what)
    system = system_folder(result)
    if system:
        raise AnswerError(key, f"{show(str(result))} is under {system}, a folder of the kernel, not of a disk; "
                          f"give a {what} on a disk")
    if folder:
        if result.exists() and not result.is_dir():
            raise AnswerError(key, f"{show(str(result))} is a file, not a folder; give a {what}")
        for parent in result.absolute().parents:
            if parent.exists() or parent.is_symlink():
                _refuse_dangling_link(key, parent, what)
                if not parent.is_dir():
                    raise AnswerError(key, f"{show(str(parent))} is a file, not a folder; give a {what} outside it")
                break
    if must_exist and not result.exists():
        raise AnswerError(key, f"{show(str(result))} does not exist; give an existing {what}")
    return result


def _refuse_dangling_link(key: str, path: Path, what: str) -> None:
    """A symbolic link whose target does not exist (or that loops) is said as such, never as a missing folder."""
    if path.is_symlink() and not path.exists():
        raise AnswerError(key, f"{show(str(path))} is a symbolic link to {show(os.readlink(path))}, which does "
                          f"not exist (or loops); remove the link or give another {what}")


def system_folder(path: Path) -> str:
    """The kernel's folder (``/proc``, ``/sys``, ``/dev``) ``path`` is in, links followed; "" for any other."""
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError):
        return ""
    return next((top for top in SYSTEM_FOLDERS if real == top or real.startswith(top + "/")), "")


#: The largest answer or requirement file kit reads: a kit.toml of 100 teams is ~5 KB,
#: a requirement file with hashes for 500 projects ~200 KB.
MAX_INPUT_FILE = 1024 * 1024


def read_small_file(path: Path, limit: int = MAX_INPUT_FILE) -> str:
    """The UTF-8 text of the regular file ``path``, of at most ``limit`` bytes.

    Raises :class:`ValueError` (its message the reason, to follow the file's
    name) for a device, a pipe, a folder, a file too large or not UTF-8 —
    ``/dev/zero`` would be read for ever, a FIFO would never answer — and
    :class:`OSError` when it cannot be opened.
    """
    # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a device, a pipe or a socket"
            raise ValueError(f"is {kind}, not a regular file")
        if info.st_size > limit:
            raise ValueError(f"is {info.st_size} bytes long; kit reads at most {limit}")
        data = b""
        while len(data) <= limit and (chunk := os.read(fd, limit + 1 - len(data))):
            data += chunk
        if len(data) > limit:  # it grew while read, or says 0 bytes and holds more (/proc)
            raise ValueError(f"is longer than {limit} bytes; kit reads at most {limit}")
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("is not UTF-8 text") from None
