"""A team's generated client files, read the way their clients read them
(INI as configparser, TOML as tomllib, an env file the way sh assigns it,
never run), each file once, and the index URLs each names.

A file a client could not read either raises :class:`Unreadable`, which the
checks turn into a failed finding naming the file, never a traceback.
"""

from __future__ import annotations

import configparser
import re
import shlex
import tomllib
from pathlib import Path
from typing import Callable, TypeVar

from kit.core.errors import one_line


class Unreadable(Exception):
    """A team file that its client could not read either."""

    def __init__(self, name: str, reason: str):
        self.name, self.reason = name, reason
        super().__init__(f"{name}: {reason}")


_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
#: The one expansion a team's ci.env may hold: a CI secret variable of kit's
#: (``${KIT_TOKEN}``), filled in by the shell as the job loads the file.
_SECRET_REFERENCE = re.compile(r'"\$\{KIT_[A-Z0-9_]+\}"|\$\{KIT_[A-Z0-9_]+\}')


def _env_values(name: str, text: str) -> dict[str, str]:
    """The variables of an env file, parsed the way sh assigns them, never run.

    A line that is not a plain ``KEY=word`` (a command, ``$(…)``, a second
    word) would do something else when sourced: the file is unreadable. The
    one expansion allowed is a reference to a CI secret variable of kit's,
    ``${KIT_TOKEN}``, kept as written in the value.
    """
    values = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _ASSIGNMENT.match(line)
        try:
            words = shlex.split(match.group(2), comments=True) if match else None
        except ValueError:
            words = None
        unquoted = match and re.search(r"[$`]", _SECRET_REFERENCE.sub("", re.sub(r"'[^']*'", "", match.group(2))))
        if words is None or len(words) > 1 or unquoted:
            raise Unreadable(name, f"line {number} is not a plain KEY=value assignment; "
                             "sourced, it would run or expand something")
        values[match.group(1)] = words[0] if words else ""
    return values


class TeamFolder:
    """One team folder's files, each read and parsed once however many checks look at it."""

    def __init__(self, path: Path):
        self.path = path
        self._read: dict[tuple[str, str], object] = {}

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    def text(self, name: str) -> str:
        return self._once("text", name, self._text)

    def ini(self, name: str) -> configparser.ConfigParser:
        return self._once("ini", name, self._ini)

    def toml(self, name: str) -> dict:
        return self._once("toml", name, self._toml)

    def env(self, name: str) -> dict[str, str]:
        return self._once("env", name, lambda name: _env_values(name, self.text(name)))

    def _once(self, kind: str, name: str, read: Callable[[str], object]):
        if (kind, name) not in self._read:
            self._read[kind, name] = read(name)
        return self._read[kind, name]

    def _text(self, name: str) -> str:
        try:
            return (self.path / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError) as exc:
            raise Unreadable(name, one_line(exc)) from None

    def _ini(self, name: str) -> configparser.ConfigParser:
        ini = configparser.ConfigParser(interpolation=None)
        try:
            ini.read_string(self.text(name), source=str(self.path / name))
        except configparser.Error as exc:
            raise Unreadable(name, one_line(exc)) from None
        return ini

    def _toml(self, name: str) -> dict:
        try:
            return tomllib.loads(self.text(name))
        except tomllib.TOMLDecodeError as exc:
            raise Unreadable(name, one_line(exc)) from None


T = TypeVar("T")


def laid_out(name: str, read: Callable[[], T]) -> T:
    """What ``read`` takes from the parsed file ``name``. Valid TOML or INI of a
    shape its client would refuse too (a string where a table belongs, a list of
    strings for a list of tables) makes the file :class:`Unreadable`."""
    try:
        return read()
    except (AttributeError, TypeError, KeyError) as exc:
        raise Unreadable(name, f"not laid out as its client reads it ({one_line(exc)})") from None


def poetry_sources(files: TeamFolder) -> list:
    return files.toml("poetry-source.toml").get("tool", {}).get("poetry", {}).get("source", [])


#: The files a team's clients read packages through, and the index URLs each
#: names, as its tool parses it (in this order: the first names the team's index).
_INDEX_URLS: dict[str, Callable[[TeamFolder], list[str]]] = {
    "pip.conf": lambda files: [files.ini("pip.conf").get("global", "index-url", fallback="")],
    "uv.toml": lambda files: [i.get("url", "") for i in files.toml("uv.toml").get("index", [])],
    "buildout.cfg": lambda files: [files.ini("buildout.cfg").get("buildout", "index", fallback="")],
    "setup.cfg": lambda files: [files.ini("setup.cfg").get("easy_install", "index_url", fallback="")],
    "pdm.toml": lambda files: [files.toml("pdm.toml").get("pypi", {}).get("url", "")],
    "poetry-source.toml": lambda files: [s.get("url", "") for s in poetry_sources(files)],
}
READ_SIDE_FILES = tuple(_INDEX_URLS)


def urls_of(files: TeamFolder) -> dict[str, list[str]]:
    """The index URLs each read-side file points at, as its tool parses it."""
    return {name: laid_out(name, lambda urls=urls: urls(files)) for name, urls in _INDEX_URLS.items() if files.has(name)}
