"""The shell's own packaging variables, which would override a team's files."""

from __future__ import annotations

from typing import Mapping

from kit.ops.check.findings import Finding

#: Variables that beat a team's files, and which client reads each. A
#: ``PIP_CONFIG_FILE`` or ``UV_CONFIG_FILE`` is how a team's file is used, so
#: only the ones that name an index or a place to find packages are listed.
OVERRIDING_VARIABLES = {
    "PIP_INDEX_URL": "pip", "PIP_EXTRA_INDEX_URL": "pip", "PIP_FIND_LINKS": "pip", "PIP_NO_INDEX": "pip",
    "UV_INDEX_URL": "uv", "UV_DEFAULT_INDEX": "uv", "UV_INDEX": "uv", "UV_EXTRA_INDEX_URL": "uv",
    "UV_FIND_LINKS": "uv", "UV_INDEX_STRATEGY": "uv", "UV_NO_INDEX": "uv",
    "PDM_PYPI_URL": "pdm", "TWINE_REPOSITORY_URL": "twine", "TWINE_REPOSITORY": "twine",
}


def environment_findings(environ: Mapping[str, str]) -> list[Finding]:
    """Variables set in this shell that would make a client ignore its team file."""
    found = [(name, client) for name, client in OVERRIDING_VARIABLES.items() if environ.get(name) is not None]
    if not found:
        return []
    names = ", ".join(name for name, _ in found)
    clients = ", ".join(dict.fromkeys(client for _, client in found))
    return [Finding(
        "shell", "no overriding variables", False,
        f"{names} set in this shell; {clients} will use {'it' if len(found) == 1 else 'them'} instead of the team's files",
        "unset " + " ".join(name for name, _ in found), warning=True, admits_attacker=True,
    )]
