"""The indexes a site calls for, planned from its answers (nothing here talks to devpi).

How the indexes keep private names private (dependency confusion), with
devpi's own rule (``op_sro_check_mirror_whitelist``): when a non-mirror
index in an index's resolution order has a project, no mirror index is asked
for that project unless it is whitelisted, and mirrors come last. So:

* ``root/names`` (a stage, no bases, uploads by root only) holds each name of
  the answer ``private_projects`` as a release without files; a name given
  to one team (``TEAM:NAME``) is held that way by ``TEAM/private`` instead;
* each team index ``TEAM/private`` has bases ``root/names``, every other
  team's index, then ``root/pypi``, and an empty whitelist — or, when a team
  may read only its own index (``read_access = team``), ``root/names`` then
  ``root/pypi``: inheriting another team's index would show its pages.

A declared name, or one any team has published, is then never taken from the
upstream by any team: (a) kit's devpi plugin (``kit-one-team-per-project``)
refuses a name that another team's index already holds, looking at every
index of the site, so one project's files never come from two teams; (b) the
plugin holds each name a team publishes on ``root/names`` too, so a team that
does not inherit the publisher's index gets a release without files for it,
never the upstream's. Where teams inherit each other, a team installing
another team's package gets the real one. (devpi skips bases it has already
visited, so the bases may form a cycle.)

Who may read (the plugin's index option ``acl_pkg_read``, from the answer
``read_access``): ``team``: ``TEAM/private`` its team and the edge's reader
(``kit-edge``; root always may), ``root/pypi`` and ``root/names`` any user of
the site; ``site``: every index any user of the site; ``anonymous``: anyone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping

from kit.core.errors import DevpiError
from kit.core.names import EDGE_READER, NAMES_INDEX
# The version of each reservation: a release without files, older than any real one (the plugin makes them too).
from kit.plugin.ownership import NAMES_VERSION
from kit.plugin.reads import ACL_OPTION

__all__ = ["ACL_OPTION", "NAMES_INDEX", "NAMES_VERSION", "IndexPlan", "readers", "team_index_config"]

ANYONE = ":ANONYMOUS:"
ANY_USER = ":AUTHENTICATED:"
#: The variable of ``secrets.env`` holding the edge reader's password.
READER_PASSWORD_VARIABLE = "KIT_EDGE_READ_PASSWORD"


def readers(read_access: str, team: str | None = None) -> list[str]:
    """``acl_pkg_read`` of ``TEAM/private`` (``team``) or of a shared index (None) under ``read_access``."""
    if read_access == "team" and team is not None:
        return [team, EDGE_READER]
    return [ANYONE] if read_access == "anonymous" else [ANY_USER]


def team_index_config(team: str, teams: tuple[str, ...] | list[str], read_access: str = "anonymous") -> dict:
    """``TEAM/private``: its own uploads, the reserved names, every other team's uploads (unless
    teams read only their own), then the upstream; readable as ``read_access`` says."""
    others = [f"{other}/private" for other in teams if other != team] if read_access != "team" else []
    return {"type": "stage", "bases": [NAMES_INDEX, *others, "root/pypi"], "mirror_whitelist": [], "volatile": False,
            ACL_OPTION: readers(read_access, team)}


@dataclass(frozen=True)
class IndexPlan:
    """The indexes a site calls for, and the team passwords: what
    :func:`configure_indexes` makes. Built from the answers by ``kit up``; read
    by the production ``server/create-indexes.sh`` from ``indexes.json``
    (which holds no password: only the names of the variables that do)."""

    mirror_url: str | None
    #: Names reserved for the site on root/names (the first team to publish one owns it).
    private_projects: tuple[str, ...] = ()
    #: team → its upload password (empty without the private setup).
    teams: dict[str, str] = field(default_factory=dict)
    #: Names given to one team from the start: project → team, held by TEAM/private.
    owned_projects: dict[str, str] = field(default_factory=dict)
    #: Who may read: team, site or anonymous (the answer read_access).
    read_access: str = "anonymous"
    #: The password of the edge's reader (kit-edge), made unless reads are anonymous.
    reader_password: str | None = None

    @classmethod
    def from_answers(cls, answers) -> "IndexPlan":
        private = "private" in answers.setups
        owners = answers.project_owners if private else {}
        read_access = getattr(answers, "read_access", "anonymous")
        return cls(
            answers.mirror_url,
            tuple(name for name in answers.private_names if name not in owners) if private else (),
            {team: answers.team_password(team) for team in answers.teams} if private else {},
            owners,
            read_access,
            answers.edge_read_password if read_access != "anonymous" else None,
        )

    @staticmethod
    def password_variable(team: str) -> str:
        """The variable of ``secrets.env`` holding a team's upload password."""
        return f"KIT_TEAM_{team.upper().replace('-', '_')}_PASSWORD"

    def to_json(self) -> str:
        """``indexes.json``: the plan with each password replaced by its variable's name."""
        return json.dumps({
            "mirror_url": self.mirror_url,
            "private_projects": list(self.private_projects),
            "owned_projects": self.owned_projects,
            "teams": [{"name": team, "password_variable": self.password_variable(team)} for team in self.teams],
            "read_access": self.read_access,
            "reader": ({"name": EDGE_READER, "password_variable": READER_PASSWORD_VARIABLE}
                       if self.read_access != "anonymous" else None),
        }, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, environ: Mapping[str, str]) -> "IndexPlan":
        """The plan of ``indexes.json``, with the passwords taken from ``environ``.

        Raises :class:`DevpiError` naming a missing variable or a broken file.
        """
        try:
            data = json.loads(text)
            teams = {entry["name"]: entry["password_variable"] for entry in data["teams"]}
            plan = (data["mirror_url"], tuple(data["private_projects"]))
            owned = {str(name): str(team) for name, team in data.get("owned_projects", {}).items()}
            # An indexes.json written before private reads existed: anonymous reads.
            read_access = data.get("read_access", "anonymous")
            reader = data.get("reader")
            reader_variable = reader["password_variable"] if reader else None
            if read_access not in ("team", "site", "anonymous") or (read_access != "anonymous") != bool(reader):
                raise ValueError(read_access)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise DevpiError("indexes.json is not kit's index plan; regenerate it with kit init") from None
        variables = [*teams.values(), *([reader_variable] if reader_variable else [])]
        missing = [variable for variable in variables if not environ.get(variable)]
        if missing:
            raise DevpiError(f"{missing[0]} is not set; run create-indexes.sh, which reads it from secrets.env")
        return cls(plan[0], plan[1], {team: environ[variable] for team, variable in teams.items()}, owned,
                   read_access, environ[reader_variable] if reader_variable else None)
