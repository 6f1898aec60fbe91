"""The indexes a site calls for, planned from its answers (nothing here talks to devpi).

How the indexes keep private names private (dependency confusion), with
devpi's own rule (``op_sro_check_mirror_whitelist``): when a non-mirror
index in an index's resolution order has a project, no mirror index is asked
for that project unless it is whitelisted, and mirrors come last. So:

* ``root/names`` (a stage, no bases, uploads by root only) holds each name of
  the answer ``private_projects`` as a release without files; a name given
  to one team (``TEAM:NAME``) is held that way by ``TEAM/private`` instead;
* each team index ``TEAM/private`` has bases ``root/names``, every other
  team's index, then ``root/pypi``, and an empty whitelist.

A declared name, or one any team has published, is then never taken from the
upstream by any team; a team installing another team's package gets the real
one. (devpi skips bases it has already visited, so the bases may form a cycle.)
kit's devpi plugin (``kit-one-team-per-project``) refuses a name that another
team's index already holds, so one project's files never come from two teams.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping

from kit.core.errors import DevpiError
from kit.core.names import NAMES_INDEX

__all__ = ["NAMES_INDEX", "NAMES_VERSION", "IndexPlan", "team_index_config"]

#: The version of each reservation: a release without files, older than any real one.
NAMES_VERSION = "0.0.0.dev0"


def team_index_config(team: str, teams: tuple[str, ...] | list[str]) -> dict:
    """``TEAM/private``: its own uploads, the reserved names, every other team's uploads, then the upstream."""
    others = [f"{other}/private" for other in teams if other != team]
    return {"type": "stage", "bases": [NAMES_INDEX, *others, "root/pypi"], "mirror_whitelist": [], "volatile": False}


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

    @classmethod
    def from_answers(cls, answers) -> "IndexPlan":
        private = "private" in answers.setups
        owners = answers.project_owners if private else {}
        return cls(
            answers.mirror_url,
            tuple(name for name in answers.private_names if name not in owners) if private else (),
            {team: answers.team_password(team) for team in answers.teams} if private else {},
            owners,
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
        except (ValueError, KeyError, TypeError, AttributeError):
            raise DevpiError("indexes.json is not kit's index plan; regenerate it with kit init") from None
        missing = [variable for variable in teams.values() if not environ.get(variable)]
        if missing:
            raise DevpiError(f"{missing[0]} is not set; run create-indexes.sh, which reads it from secrets.env")
        return cls(plan[0], plan[1], {team: environ[variable] for team, variable in teams.items()}, owned)
