"""A team folder's unsafe settings, found offline (no server needed): a
second index, credentials in a reading config, secrets others may read,
plain http beyond loopback."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from kit.ops.check.findings import Finding, Hints, and_
from kit.ops.check.site_files import mode_problems, open_to_others
from kit.ops.check.team_files import READ_SIDE_FILES, TeamFolder, Unreadable, laid_out, poetry_sources, urls_of
from kit.site.answers import is_loopback

SECRET_NAMES = (".pypirc", "ci.env", "netrc")
_CREDENTIAL_URL = re.compile(r"://[^/@\s]+:[^/@\s]*@")


def lint_team(team: str, folder: Path, hints: Hints = Hints()) -> list[Finding]:
    """Unsafe settings in one team folder: no server needed."""
    try:
        return _lint_team(team, TeamFolder(folder), hints.init)
    except Unreadable as exc:
        return [Finding(team, "files readable", False, f"{exc.name} cannot be read: {exc.reason}",
                        f"regenerate it with: {hints.init}")]


def _lint_team(team: str, files: TeamFolder, regenerate: str) -> list[Finding]:
    findings = []

    def add(check: str, problems: list[str], fix: str, ok_detail: str) -> None:
        if problems:
            findings.append(Finding(team, check, False, "; ".join(problems), fix))
        else:
            findings.append(Finding(team, check, True, ok_detail))

    # one index only
    add("one index only", _second_indexes(files),
        "remove the second index; the team index already inherits the mirror",
        "no extra index in any file")

    # no credentials where they are printed or committed
    problems = []
    for name in READ_SIDE_FILES:
        if files.has(name):
            text = files.text(name)
            if _CREDENTIAL_URL.search(text) or re.search(r"^\s*password\s*=", text, re.M):
                problems.append(f"{name} holds a password")
    add("no credentials in configs", problems,
        "remove it: reading needs none; upload credentials belong in .pypirc or ci.env",
        "reading configs hold no password")

    # secrets for the owner only
    present = [name for name in SECRET_NAMES if files.has(name)]
    if present:
        add("secrets not world-readable", mode_problems(open_to_others(files.path, present)),
            "chmod 600 " + " ".join(f"{files.path}/{n}" for n in present),
            and_(present) + (" is" if len(present) == 1 else " are") + " mode 0600")

    # plain http only on loopback
    problems = []
    for name, urls in urls_of(files).items():
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


def _second_indexes(files: TeamFolder) -> list[str]:
    """Every way a team file names more than one index, however it got there:
    a second key, a second section, a second table."""
    problems = []
    for name, look in _SECOND_INDEXES.items():
        if files.has(name):
            problems += laid_out(name, lambda look=look: look(files))
    return problems


def _pip_conf(files: TeamFolder) -> list[str]:
    problems, index_urls = [], set()
    ini = files.ini("pip.conf")
    for section in ini.sections():
        for key, value in ini.items(section):
            key = key.replace("_", "-")
            if key in _PIP_EXTRA and value.strip():
                problems.append(f"pip.conf [{section}] sets {key}")
            elif key == "index-url" and value.strip():
                index_urls.add(value.strip())
    if len(index_urls) > 1:
        problems.append(f"pip.conf names {len(index_urls)} different index-url values")
    return problems


def _ci_env(files: TeamFolder) -> list[str]:
    env = files.env("ci.env")
    problems = [f"ci.env sets {name}" for name in _ENV_EXTRA if env.get(name)]
    if len({_index_of(env[name]) for name in _ENV_INDEX if env.get(name)}) > 1:
        problems.append("ci.env names more than one index")
    return problems


def _index_of(value: str) -> str:
    """The index a variable names, without what differs between tools saying
    the same index: uv's ``NAME=`` before the URL, the user and password in it."""
    url = re.sub(r"^[A-Za-z0-9_-]+=(?=[A-Za-z][A-Za-z0-9+.-]*://)", "", value)
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _uv_toml(files: TeamFolder) -> list[str]:
    problems = []
    data = files.toml("uv.toml")
    pip_table = data.get("pip", {}) if isinstance(data.get("pip"), dict) else {}
    if len(data.get("index", [])) != 1:
        problems.append("uv.toml lists more than one index")
    for key in ("extra-index-url", "find-links", "index-url"):
        if data.get(key) or pip_table.get(key):
            problems.append(f"uv.toml sets {key}")
    if data.get("index-strategy", "first-index") != "first-index":
        problems.append(f"uv.toml uses index-strategy {data['index-strategy']!r}")
    return problems


def _pdm_toml(files: TeamFolder) -> list[str]:
    pypi = files.toml("pdm.toml").get("pypi", {})
    extra = [name for name, value in pypi.items() if isinstance(value, dict)] if isinstance(pypi, dict) else []
    return [f"pdm.toml adds the source {name!r}" for name in extra]


def _buildout_cfg(files: TeamFolder) -> list[str]:
    found = files.ini("buildout.cfg").get("buildout", "find-links", fallback="").strip()
    return ["buildout.cfg sets find-links"] if found else []


def _setup_cfg(files: TeamFolder) -> list[str]:
    ini = files.ini("setup.cfg")
    found = any(ini.get("easy_install", key, fallback="").strip() for key in ("find_links", "find-links"))
    return ["setup.cfg sets find_links"] if found else []


def _poetry_source(files: TeamFolder) -> list[str]:
    if [source.get("priority") for source in poetry_sources(files)] != ["primary"]:
        return ["poetry-source.toml is not exactly one primary source"]
    return []


#: Each team file's own ways of adding an index (in the order findings name them).
_SECOND_INDEXES: dict[str, Callable[[TeamFolder], list[str]]] = {
    "pip.conf": _pip_conf, "ci.env": _ci_env, "uv.toml": _uv_toml, "pdm.toml": _pdm_toml,
    "buildout.cfg": _buildout_cfg, "setup.cfg": _setup_cfg, "poetry-source.toml": _poetry_source,
}
