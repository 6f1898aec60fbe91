"""Client settings for one index: pip, uv, buildout, setuptools, poetry, pdm,
twine and CI variables, rendered from the ``team`` template.

The same template serves ``kit init`` (one folder per team of a site) and
``kit clients`` (any existing index, no wizard), so a team lead hands out
exactly the files a site would have. Safe by default: one index only (never
``extra-index-url`` or a multi-index "best match" mode), no password in
pip.conf, uv.toml or buildout.cfg, and ``trusted-host`` only where plain http
goes to a host that is not loopback.

When reading a team's index takes credentials (``read_access`` team or site),
each client gets them its own way: ``netrc`` (mode 0600) for pip, uv, poetry,
pdm and setuptools, ``.pypirc`` for twine and buildout, and ``ci.env`` names
the CI secret variable ``KIT_TOKEN`` (expanded by the shell as it loads the
file), never a password.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kit.site import validate
from kit.site.answers import TOOLS, Answers, is_loopback
from kit.core.errors import AnswerError, ClientsError, OutDirError
from kit.site.templating import render_template, write_private

__all__ = ["team_context", "index_context", "render_team", "render_clients", "write_clients"]

#: The file holding a team's read credentials (``machine HOST login TEAM password …``),
#: for pip, uv, poetry, pdm and setuptools (through pip): ``NETRC=/path/to/netrc``.
NETRC = "netrc"


def _urls(simple_url: str) -> dict[str, Any]:
    parts = urlsplit(simple_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    netloc_host = f"[{host}]" if ":" in host else host
    return {
        "index_url": simple_url,
        "host": host,
        "host_port": f"{netloc_host}:{port}",
        "base_url": f"{parts.scheme}://{parts.netloc}",
        # pip, uv and buildout take the host (with port) they may use without TLS.
        "trusted_host": f"{netloc_host}:{port}" if parts.scheme == "http" and not is_loopback(host) else "",
        "plain_http": parts.scheme == "http",
    }


def team_context(answers: Answers, team: str) -> dict[str, Any]:
    """The template context of one team of a site."""
    private = "private" in answers.setups
    index_path = f"{team}/private" if private else "root/pypi"
    context = _urls(f"{answers.base_url}/{index_path}/+simple/")
    context.update(
        team=team,
        index_name=index_path,
        upload_url=f"{answers.base_url}/{team}/private/" if private else "",
        username=team if private else "",
        password=answers.team_password(team) if private else "",
        # Without a private index there is nothing to upload to: no .pypirc at all.
        tools=[tool for tool in answers.clients if private or tool != "twine"],
        env_name=team.upper().replace("-", "_"),
        ca_file="",  # the site CA's certificate, when kit made one (set by the site's render)
    )
    context.update(read_credentials(context, answers.read_access if private else "anonymous"))
    return context


#: The CI secret variable ci.env takes a team's token from (``kit token create --team TEAM``).
TOKEN_VARIABLE = "KIT_TOKEN"


def read_credentials(context: dict[str, Any], read_access: str) -> dict[str, Any]:
    """What the team files need when reading takes credentials (``read_access``
    team or site): the netrc's host, and the pieces of a URL whose password the
    shell fills in from :data:`TOKEN_VARIABLE` when it loads ci.env."""
    parts = urlsplit(context["index_url"])
    host_and_path = parts.netloc.rpartition("@")[2] + parts.path
    return {
        "read_access": read_access,
        "read_auth": read_access != "anonymous",
        "token_variable": TOKEN_VARIABLE,
        # netrc matches the host name alone, without the port.
        "netrc_host": context["host"],
        # The files the team index inherits lie under the mirror's URL: buildout
        # sends .pypirc's credentials only to URLs a section's repository begins.
        "mirror_url": f"{context['base_url']}/root/pypi/",
        "url_before_token": f"{parts.scheme}://{context['team']}:",
        "url_after_token": f"@{host_and_path}",
    }


#: Where credentials go instead of a URL, said when a URL holds some.
READ_CREDENTIALS = "keep them out of the URL: put them in a keyring or .netrc for reads"
UPLOAD_CREDENTIALS = "keep them out of the URL: put them in .pypirc or TWINE_PASSWORD for uploads"


def index_context(
    index_url: str, *, team: str | None = None, tools: tuple[str, ...] = tuple(TOOLS), upload_url: str | None = None
) -> dict[str, Any]:
    """The template context for any existing simple index (``kit clients``).

    Every value is checked by :mod:`kit.site.validate` first; a bad one raises
    :class:`~kit.core.errors.ClientsError` naming its option.
    """
    try:
        index_url = validate.url("--index-url", index_url, credentials=READ_CREDENTIALS)
        if upload_url is not None:
            upload_url = validate.url("--upload-url", upload_url, credentials=UPLOAD_CREDENTIALS)
        if team is not None:
            team = validate.team("--team", team)
    except AnswerError as exc:
        raise ClientsError(str(exc)) from None
    path = urlsplit(index_url).path
    if not upload_url and path.endswith("/+simple/"):
        # devpi: the upload URL is the index URL without "+simple/".
        upload_url = index_url[: -len("+simple/")]
    segments = [s for s in path.split("/") if s and not s.startswith("+")]
    if team is None:
        # The index's user (devpi's user/index), made a valid team name: it
        # names a .pypirc section and a CI variable.
        user = segments[0] if segments else ""
        team = user if validate.TEAM_RE.fullmatch(user) else validate.suggest_team_name(user) or "team"
    context = _urls(index_url)
    context.update(
        team=team,
        index_name="/".join(segments) or context["host"],
        upload_url=upload_url or "",
        username=team if upload_url else "",
        password="",  # kit clients never knows a password: twine asks, or reads TWINE_PASSWORD
        tools=list(tools),
        env_name=team.upper().replace("-", "_"),
        ca_file="",
    )
    # kit clients knows no password, so it writes no netrc: reads stay as the index allows.
    context.update(read_credentials(context, "anonymous"))
    if "twine" in tools and not context["upload_url"]:
        raise ClientsError(
            f"cannot tell the upload URL of {index_url}; pass --upload-url URL or leave out --tool twine"
        )
    return context


def render_team(context: dict[str, Any], dest: Path) -> None:
    """Render the client files of ``context['tools']`` (and a README) into ``dest``."""
    render_template("team", context, dest)
    wanted = {TOOLS[tool] for tool in context["tools"]}
    for tool_file in TOOLS.values():
        if tool_file not in wanted:
            (dest / tool_file).unlink()
    if not context.get("read_auth"):
        (dest / NETRC).unlink()  # reads need no credentials: nothing to hold


def render_clients(context: dict[str, Any], *, readme: bool = True) -> dict[str, str]:
    """The client files for ``context`` as {file name: text}, README first (if ``readme``)."""
    with tempfile.TemporaryDirectory(prefix="kit-clients-") as tmp:
        dest = Path(tmp, "team")
        render_team(context, dest)
        names = ["README.md"] * readme + [TOOLS[t] for t in context["tools"]]
        files = {name: (dest / name).read_text(encoding="utf-8") for name in names}
        shutil.rmtree(dest)
    return files


def write_clients(files: dict[str, str], out: Path, *, force: bool = False) -> list[str]:
    """Write rendered client files into ``out``; secrets get mode 0600.

    Refuses, before writing anything, a folder that is a file or lies under
    one, and to replace a different existing file unless ``force``.
    """

    try:
        out = validate.path("--out", out)
    except AnswerError as exc:
        raise OutDirError(str(exc)) from None
    in_the_way = [n for n in files if (out / n).exists() and not (out / n).is_file()]
    if in_the_way:
        raise OutDirError(f"--out: {', '.join(in_the_way)} in {out} is a folder; move it aside or choose another --out")
    # Bytes, not text: a file that is not UTF-8 is someone's, and differs.
    clashes = [n for n, text in files.items() if (out / n).is_file() and (out / n).read_bytes() != text.encode()]
    if clashes and not force:
        raise OutDirError(f"{', '.join(clashes)} already exist in {out} with other content; use --force to replace them")
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            write_private(out / name, text)
    except OSError as exc:
        raise OutDirError(f"cannot write into {out} ({exc.strerror}); choose a folder you can write to") from None
    return list(files)
