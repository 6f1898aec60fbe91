"""A team's files against the running site, through the URLs they hold: the
index answers (with the netrc's credentials where reading takes them), a
package resolves, another team and anonymous requests are refused as
``read_access`` says, the .pypirc's user may upload."""

from __future__ import annotations

import base64
import json
import netrc
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from kit.core import http
from kit.ops.check.findings import ClusterState, Finding, Hints
from kit.ops.check.team_files import TeamFolder, Unreadable, urls_of

#: kit check's calls go through the edge, which gives the master up to its own
#: read timeout (10 s) before falling over to the mirror: wait a little longer.
THROUGH_EDGE_TIMEOUT = 12.0

#: A user name and password, as a netrc gives them.
Credentials = tuple[str, str]


def _http(url: str, credentials: Credentials | None = None, accept: str | None = None) -> tuple[int, bytes]:
    headers = {"Accept": accept} if accept else {}
    if credentials:
        pair = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {pair}"
    answer = http.get(url, headers=headers or None, timeout=THROUGH_EDGE_TIMEOUT)
    return answer.status, answer.body


def read_credentials(folder: Path, url: str) -> Credentials | None:
    """The user and password the team's ``netrc`` gives ``url``'s host, read as
    pip, uv, poetry and pdm read it (None: no netrc, or no entry for the host)."""
    try:
        entry = netrc.netrc(str(folder / "netrc")).authenticators(urlsplit(url).hostname or "")
    except (OSError, netrc.NetrcParseError):
        return None
    return (entry[0], entry[2]) if entry else None


def live_team(team: str, folder: Path, package: str | None, hints: Hints = Hints(),
              cluster: ClusterState | None = None, read_access: str = "anonymous",
              stranger: tuple[str, Path] | None = None) -> list[Finding]:
    """The team's files against the running cluster, through the URLs they hold.

    ``cluster``: what :func:`~kit.ops.check.cluster.cluster_findings` found of
    the site's own cluster (None for a site without one). With nothing
    running, only what needs no server is checked (the rest would fail for
    one reason already said); with services down, a failure names them and
    ``kit up`` as its fix. ``read_access`` is the site's answer (team, site
    or anonymous); ``stranger``: another team and its folder, whose netrc
    must be refused under ``team``.
    """
    up, regenerate = hints.up, hints.init
    files = TeamFolder(folder)
    try:
        urls = urls_of(files)
    except Unreadable:
        return []  # lint_team has said so
    has_pypirc = files.has(".pypirc")
    if (folder / "ca.pem").is_file():  # an https site's CA, which the team's clients trust
        http.trust(str(folder / "ca.pem"))
    if cluster is not None and not cluster.running:
        target = _pypirc_target(team, files, regenerate) if has_pypirc else None
        return [target] if isinstance(target, Finding) else []

    def cause(*needs: str) -> str:
        return cluster.cause(up, needs) if cluster is not None else ""

    findings = []
    index_url = next((u[0] for u in urls.values() if u and u[0]), "")
    if not index_url:
        return [Finding(team, "index answers", False, "no client file names an index", f"regenerate with: {regenerate}")]
    credentials = None
    if read_access != "anonymous":
        credentials = read_credentials(folder, index_url)
        if credentials is None:
            return [Finding(team, "index answers", False, f"netrc gives no credentials for {urlsplit(index_url).hostname}",
                            f"regenerate it with: {regenerate}")]
    code, _ = _http(index_url, credentials)
    as_whom = f" as {credentials[0]}" if credentials else ""
    fix = cause("edge", "master", "mirror") or f"start the cluster: {up}"
    if code in (401, 403) and credentials:
        fix = f"the netrc's password is not the team's: regenerate it with {regenerate}"
    findings.append(Finding(team, "index answers", code == 200, f"{index_url}{as_whom} → HTTP {code or 'no answer'}",
                            "" if code == 200 else fix))
    if code == 200:
        findings += _refusals(team, index_url, read_access, stranger, hints)
    if package:
        code, body = _http(f"{index_url}{package}/", credentials)
        page = body.decode(errors="replace")
        ok = code == 200 and (".whl" in page or ".tar.gz" in page)
        findings.append(Finding(team, "package resolves", ok, f"{package} → HTTP {code or 'no answer'}",
                                "" if ok else cause("edge", "master", "mirror", "upstream")
                                or f"check the upstream serves {package}, then {hints.status}"))
    if has_pypirc:
        upload = _check_upload_credentials(team, files, up, regenerate)
        if not upload.ok and cause("edge", "master"):  # uploads need the master, through the edge
            upload.fix = cause("edge", "master")
        findings.append(upload)
    return findings


def _refusals(team: str, index_url: str, read_access: str, stranger: tuple[str, Path] | None,
              hints: Hints) -> list[Finding]:
    """Who must not read the team's index: anonymous requests (401) unless reads
    are open; another team (403) when each team reads only its own index."""
    index = "/".join(s for s in urlsplit(index_url).path.split("/") if s and not s.startswith("+"))
    restart = (f"the master and mirror do not enforce read_access = {read_access}: restart them with kit's "
               f"plugin ({hints.down} && {hints.up})")
    if read_access == "anonymous":
        return [Finding(team, "anonymous reads", True, f"{index} is open to anyone (read_access = anonymous)")]
    code, _ = _http(index_url)
    findings = [Finding(team, "anonymous refused", code == 401,
                        f"without credentials → HTTP {code or 'no answer'}" if code != 200
                        else f"{index} is readable without credentials (HTTP 200)", "" if code == 401 else restart)]
    other = read_credentials(stranger[1], index_url) if read_access == "team" and stranger else None
    if other:
        code, _ = _http(index_url, other)
        findings.append(Finding(team, "other teams refused", code == 403,
                                f"as {stranger[0]} → HTTP {code or 'no answer'}" if code != 200
                                else f"team {stranger[0]} can read {index} (HTTP 200)", "" if code == 403 else restart))
    return findings


class _UploadTarget(NamedTuple):
    """Where a .pypirc uploads, and as whom."""

    root: str  # scheme://host:port of the index server
    index: str  # user/index
    user: str
    password: str


_UPLOAD = "upload accepted"


def _pypirc_target(team: str, files: TeamFolder, regenerate: str) -> _UploadTarget | Finding:
    """The .pypirc's first repository, username and password; a failed
    finding when the file does not name them (no server needed to tell)."""
    try:
        cfg = files.ini(".pypirc")
    except Unreadable:
        return Finding(team, _UPLOAD, False, ".pypirc cannot be read", f"regenerate it with: {regenerate}")
    servers = cfg.get("distutils", "index-servers", fallback="").split()
    if not servers or not cfg.has_section(servers[0]):
        return Finding(team, _UPLOAD, False, ".pypirc names no repository", f"regenerate it with: {regenerate}")
    section = cfg[servers[0]]
    repository, user, password = section.get("repository", ""), section.get("username", ""), section.get("password", "")
    parts = urlsplit(repository)
    if parts.scheme not in ("http", "https") or not parts.netloc or not user:
        return Finding(team, _UPLOAD, False, f".pypirc [{servers[0]}] has no repository URL or username",
                       f"regenerate it with: {regenerate}")
    return _UploadTarget(f"{parts.scheme}://{parts.netloc}", parts.path.strip("/"), user, password)


def _check_upload_credentials(team: str, files: TeamFolder, up: str, regenerate: str) -> Finding:
    """Log in with the .pypirc credentials and check the index lets that user upload.

    A real upload would leave a file on a non-volatile index for ever; the
    login and the index's acl_upload are exactly what devpi checks on upload.
    """
    from kit.cluster.devpi import DevpiAPI, DevpiError

    target = _pypirc_target(team, files, regenerate)
    if isinstance(target, Finding):
        return target
    api = DevpiAPI(target.root, timeout=THROUGH_EDGE_TIMEOUT)
    user, index = target.user, target.index
    try:
        api.login(user, target.password)
    except DevpiError as exc:
        return Finding(team, _UPLOAD, False, str(exc).strip(),
                       f"{up}, or regenerate .pypirc with {regenerate} if the password changed")
    # Asked as the user, with the password: an index only its team may read answers
    # nobody else, and the edge authorises a read by its Authorization header alone.
    code, body = _http(f"{target.root}/{index}", (user, target.password), accept="application/json")
    try:
        found = json.loads(body).get("result") if code == 200 else None
    except (ValueError, AttributeError):
        found = None
    acl = found.get("acl_upload", []) if isinstance(found, dict) else []
    ok = user in acl or ":ANONYMOUS:" in acl
    return Finding(team, _UPLOAD, ok, f"{user} may upload to {index}" if ok
                   else f"{user} is not in acl_upload of {index}", "" if ok else f"re-run {up}")
