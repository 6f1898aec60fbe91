"""One team per project (``kit-one-team-per-project``): an upload, a release
registration or a push of project P to an index is refused (409, naming the
owner) when another user's index in that index's resolution order already
holds P. kit's team indexes inherit each other, so without it a second
team's ``acme-data 9.0`` would mix into the first team's page and be
installed by its builds. :func:`owner_of` is the rule; the tween applies it
to devpi's requests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# The stage that reserves the site's names for every team: its releases without files belong to no team.
from kit.core.names import NAMES_INDEX, normalize

__all__ = ["one_team_per_project_tween", "owner_of", "upload_target"]

#: What devpi's upload form may ask: a file, a release's metadata, documentation.
_ADDING_ACTIONS = ("file_upload", "submit", "doc_upload")


def upload_target(method: str, path: str, form: Mapping[str, Any] | None, json_body: Any) -> tuple[str, str] | None:
    """("USER/INDEX", project) that a request would add a project to, or None.

    An upload or registration is a POST of a form to ``/USER/INDEX/`` whose
    ``:action`` adds something; a push is a POST or PUSH of JSON to the
    source index naming ``name`` and a ``targetindex`` (a push to another
    server, without ``targetindex``, adds nothing here).
    """
    parts = path.strip("/").split("/")
    if method not in ("POST", "PUSH") or len(parts) != 2 or not all(parts) or any(p.startswith("+") for p in parts):
        return None
    if form is not None and form.get(":action") in _ADDING_ACTIONS and isinstance(form.get("name"), str):
        return "/".join(parts), normalize(form["name"])
    if isinstance(json_body, dict) and isinstance(json_body.get("name"), str):
        target = json_body.get("targetindex")
        if isinstance(target, str) and target.count("/") == 1:
            return target, normalize(json_body["name"])
    return None


def owner_of(stage: Any, project: str) -> str | None:
    """The index of another user that already holds ``project`` in ``stage``'s
    resolution order ("USER/INDEX"), or None when ``stage`` may take it.

    Mirrors are skipped (a private name shadows the upstream, by design), and
    so is the names index, whose reservations belong to no team: the first
    team to publish a reserved name owns it.
    """
    for base in stage.sro():
        if base.name == stage.name or base.username == stage.username or base.name == NAMES_INDEX:
            continue
        if base.ixconfig.get("type") == "mirror":
            continue
        if base.has_project_perstage(project):
            return base.name
    return None


def one_team_per_project_tween(handler, registry):
    """A pyramid tween under devpi's transaction: refuses what would put a second team's files on a name."""
    from pyramid.response import Response

    xom = registry["xom"]

    def refuse_a_second_owner(request):
        if request.method in ("POST", "PUSH"):
            form = request.POST if request.content_type in ("multipart/form-data",
                                                             "application/x-www-form-urlencoded") else None
            json_body = None
            if form is None and request.content_type in ("application/json", ""):
                try:
                    json_body = json.loads(request.body or b"null")
                except ValueError:
                    json_body = None  # devpi's own view says what is wrong with it
            target = upload_target(request.method, request.path_info, form, json_body)
            if target is not None:
                user, _, index = target[0].partition("/")
                stage = xom.model.getstage(user, index)
                owner = owner_of(stage, target[1]) if stage is not None else None
                if owner is not None:
                    team = owner.split("/")[0]
                    message = (f"{target[1]} belongs to team {team} ({owner} holds it): publish it there, or "
                               f"choose another name")
                    # The reason phrase too: twine shows it, not the body (as devpi's own refusals do);
                    # the body as devpi's API answers errors.
                    return Response(status=f"409 {message}", content_type="application/json",
                                    body=json.dumps({"status": 409, "message": message}).encode())
        return handler(request)

    return refuse_a_second_owner
