"""``kit check``: the doctor. Each team's generated files, read the way their
clients read them, checked for unsafe settings and against the running
cluster, with the fix for anything that fails.
"""

from __future__ import annotations

import base64
import configparser
import json
import re
import stat
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from kit.answers import is_loopback

__all__ = ["Finding", "check_site", "default_package", "lint_team"]

SECRET_NAMES = (".pypirc", "ci.env")
_CREDENTIAL_URL = re.compile(r"://[^/@\s]+:[^/@\s]*@")


@dataclass
class Finding:
    team: str
    check: str
    ok: bool
    detail: str
    fix: str = ""


def _read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _urls_of(folder: Path) -> dict[str, list[str]]:
    """The index URLs each read-side file points at, as its tool parses it."""
    found: dict[str, list[str]] = {}
    ini = configparser.ConfigParser(interpolation=None)
    if (folder / "pip.conf").is_file():
        ini.read(folder / "pip.conf")
        found["pip.conf"] = [ini.get("global", "index-url", fallback="")]
    if (folder / "uv.toml").is_file():
        data = tomllib.loads((folder / "uv.toml").read_text())
        found["uv.toml"] = [i.get("url", "") for i in data.get("index", [])]
    if (folder / "buildout.cfg").is_file():
        cfg = configparser.ConfigParser(interpolation=None)
        cfg.read(folder / "buildout.cfg")
        found["buildout.cfg"] = [cfg.get("buildout", "index", fallback="")]
    if (folder / "setup.cfg").is_file():
        cfg = configparser.ConfigParser(interpolation=None)
        cfg.read(folder / "setup.cfg")
        found["setup.cfg"] = [cfg.get("easy_install", "index_url", fallback="")]
    if (folder / "pdm.toml").is_file():
        found["pdm.toml"] = [tomllib.loads((folder / "pdm.toml").read_text()).get("pypi", {}).get("url", "")]
    if (folder / "poetry-source.toml").is_file():
        data = tomllib.loads((folder / "poetry-source.toml").read_text())
        found["poetry-source.toml"] = [s.get("url", "") for s in data.get("tool", {}).get("poetry", {}).get("source", [])]
    return found


def lint_team(team: str, folder: Path) -> list[Finding]:
    """Unsafe settings in one team folder: no server needed."""
    findings = []

    def add(check: str, problems: list[str], fix: str, ok_detail: str) -> None:
        if problems:
            findings.append(Finding(team, check, False, "; ".join(problems), fix))
        else:
            findings.append(Finding(team, check, True, ok_detail))

    # one index only
    problems = []
    if (folder / "pip.conf").is_file():
        ini = configparser.ConfigParser(interpolation=None)
        ini.read(folder / "pip.conf")
        if ini.get("global", "extra-index-url", fallback="").strip():
            problems.append("pip.conf has an extra-index-url")
    if (folder / "ci.env").is_file() and _read_env(folder / "ci.env").get("PIP_EXTRA_INDEX_URL"):
        problems.append("ci.env sets PIP_EXTRA_INDEX_URL")
    if (folder / "uv.toml").is_file():
        data = tomllib.loads((folder / "uv.toml").read_text())
        if len(data.get("index", [])) != 1 or data.get("extra-index-url"):
            problems.append("uv.toml lists more than one index")
        if data.get("index-strategy", "first-index") != "first-index":
            problems.append(f"uv.toml uses index-strategy {data['index-strategy']!r}")
    if (folder / "poetry-source.toml").is_file():
        sources = tomllib.loads((folder / "poetry-source.toml").read_text()).get("tool", {}).get("poetry", {}).get("source", [])
        if [s.get("priority") for s in sources] != ["primary"]:
            problems.append("poetry-source.toml is not exactly one primary source")
    add("one index only", problems, "remove the second index; the team index already inherits the mirror",
        "no extra index in any file")

    # no credentials where they are printed or committed
    problems = []
    for name in ("pip.conf", "uv.toml", "buildout.cfg", "setup.cfg", "pdm.toml", "poetry-source.toml"):
        path = folder / name
        if path.is_file():
            text = path.read_text()
            if _CREDENTIAL_URL.search(text) or re.search(r"^\s*password\s*=", text, re.M):
                problems.append(f"{name} holds a password")
    add("no credentials in configs", problems,
        "remove it: reading needs none; upload credentials belong in .pypirc or ci.env",
        "reading configs hold no password")

    # secrets for the owner only
    problems = []
    for name in SECRET_NAMES:
        path = folder / name
        if path.is_file() and stat.S_IMODE(path.stat().st_mode) & 0o077:
            problems.append(f"{name} is mode {stat.S_IMODE(path.stat().st_mode):04o}")
    add("secrets not world-readable", problems, f"chmod 600 {folder}/.pypirc {folder}/ci.env",
        ".pypirc and ci.env are mode 0600")

    # plain http only on loopback
    problems = []
    for name, urls in _urls_of(folder).items():
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme == "http" and parts.hostname and not is_loopback(parts.hostname):
                problems.append(f"{name} uses plain http to {parts.hostname}")
    add("TLS beyond loopback", sorted(set(problems)),
        "serve the index over https and regenerate with: kit init --set scheme=https",
        "plain http goes to loopback only")
    return findings


def _http(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError as exc:
        return 0, str(exc).encode()


def live_team(team: str, folder: Path, package: str | None) -> list[Finding]:
    """The team's files against the running cluster, through the URLs they hold."""
    findings = []
    urls = _urls_of(folder)
    index_url = next((u[0] for u in urls.values() if u and u[0]), "")
    if not index_url:
        return [Finding(team, "index answers", False, "no client file names an index", "re-run kit init")]
    code, _ = _http(index_url)
    up_fix = "start the cluster: kit up"
    findings.append(Finding(team, "index answers", code == 200, f"{index_url} → HTTP {code or 'no answer'}",
                            "" if code == 200 else up_fix))
    if package:
        code, body = _http(f"{index_url}{package}/")
        ok = code == 200 and (".whl" in body.decode(errors="replace") or ".tar.gz" in body.decode(errors="replace"))
        findings.append(Finding(team, "package resolves", ok, f"{package} → HTTP {code or 'no answer'}",
                                "" if ok else f"check the upstream serves {package}, then kit status"))
    pypirc = folder / ".pypirc"
    if pypirc.is_file():
        findings.append(_check_upload_credentials(team, pypirc))
    return findings


def _check_upload_credentials(team: str, pypirc: Path) -> Finding:
    """Log in with the .pypirc credentials and check the index lets that user upload.

    A real upload would leave a file on a non-volatile index for ever; the
    login and the index's acl_upload are exactly what devpi checks on upload.
    """
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(pypirc)
    servers = cfg.get("distutils", "index-servers", fallback="").split()
    if not servers or not cfg.has_section(servers[0]):
        return Finding(team, "upload accepted", False, ".pypirc names no repository", "re-run kit init")
    section = cfg[servers[0]]
    repository, user, password = section.get("repository", ""), section.get("username", ""), section.get("password", "")
    parts = urlsplit(repository)
    root = f"{parts.scheme}://{parts.netloc}"
    code, body = _http(f"{root}/+login", json.dumps({"user": user, "password": password}).encode(),
                       {"Content-Type": "application/json", "Accept": "application/json"})
    if code != 200:
        return Finding(team, "upload accepted", False, f"login as {user} → HTTP {code or 'no answer'}",
                       "kit up, or regenerate .pypirc with kit init if the password changed")
    token = json.loads(body)["result"]["password"]
    auth = base64.b64encode(f"{user}:{token}".encode()).decode()
    code, body = _http(repository.rstrip("/") + "/", headers={"Accept": "application/json", "X-Devpi-Auth": auth})
    acl = json.loads(body).get("result", {}).get("acl_upload", []) if code == 200 else []
    ok = user in acl or ":ANONYMOUS:" in acl
    return Finding(team, "upload accepted", ok, f"{user} may upload to {parts.path.strip('/')}" if ok
                   else f"{user} is not in acl_upload of {parts.path.strip('/')}", "" if ok else "re-run kit up")


def default_package(upstream: str) -> str:
    """A name every index of the site should resolve: one from a folder upstream, else pip."""
    from kit.answers import upstream_is_folder
    from kit.upstream import project_of

    if upstream_is_folder(upstream):
        names = sorted(filter(None, (project_of(p.name) for p in Path(upstream).iterdir())))
        if names:
            return names[0]
    return "pip"


def check_site(site_dir: Path, package: str | None = None, live: bool = True) -> list[Finding]:
    """Every team folder of a site: lint, then (``live``) against the cluster.

    Raises :class:`~kit.exceptions.SiteDirError` when ``site_dir`` is not a site.
    """
    from kit.init import load_site

    answers = load_site(site_dir)
    if package is None and live:
        package = default_package(answers.upstream)
    findings = []
    teams_dir = site_dir / "teams"
    for folder in sorted(p for p in teams_dir.iterdir() if p.is_dir()) if teams_dir.is_dir() else []:
        findings += lint_team(folder.name, folder)
        if live:
            findings += live_team(folder.name, folder, package)
    return findings
