"""One team per project (``kit-one-team-per-project``): an upload, a release
registration or a push of project P to an index is refused (409, naming the
owner) when another user's index already holds P. Where kit's team indexes
inherit each other, a second team's ``acme-data 9.0`` would otherwise mix into
the first team's page and be installed by its builds; where they do not
(private reads, ``read_access = team``), two teams would publish two
different projects under one name. :func:`owner_of` is the rule; the tween
applies it to devpi's requests.

The tween also reserves each name a team publishes on ``root/names`` (a
release without files, as the answer ``private_projects`` does), in the
same transaction as the upload, when some team index does not inherit the
publisher's: that index then never takes the name from the upstream
(dependency confusion) — its page shows the reservation, nothing to install.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

# The stage that reserves the site's names for every team: its releases without files belong to no team.
from kit.core.names import NAMES_INDEX, normalize

__all__ = ["NAMES_VERSION", "needs_reservation", "one_team_per_project_tween", "owner_of", "reserve_name",
           "upload_target"]

#: The version of a reservation on root/names (kit.site.indexes' too): a release without files, older than any real one.
NAMES_VERSION = "0.0.0.dev0"

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


def owner_of(stage: Any, project: str, others: Iterable[Any] | None = None) -> str | None:
    """The index of another user that already holds ``project`` ("USER/INDEX"),
    or None when ``stage`` may take it.

    ``others``: the indexes to look at (the tween gives every index of the
    site); ``stage``'s resolution order when None. Mirrors are skipped (a
    private name shadows the upstream, by design), and so is the names
    index, whose reservations belong to no team: the first team to publish
    a reserved name owns it. For the same reason the names index itself may
    hold any name (only root uploads there: kit holds names a team published).
    """
    if stage.name == NAMES_INDEX:
        return None
    for base in stage.sro() if others is None else others:
        if base.name == stage.name or base.username == stage.username or base.name == NAMES_INDEX:
            continue
        if base.ixconfig.get("type") == "mirror":
            continue
        if base.has_project_perstage(project):
            return base.name
    return None


def all_indexes(model: Any) -> list[Any]:
    """Every index of a devpi model (inside a transaction)."""
    return [stage for user in model.get_userlist() for stage in user.getstages()]


def needs_reservation(stage: Any, indexes: Iterable[Any]) -> bool:
    """Whether an index inheriting root/names does not inherit ``stage``: it would take a name
    only ``stage`` holds from the upstream. (Where every team index inherits every other, none does.)"""
    for other in indexes:
        if other.name in (stage.name, NAMES_INDEX) or other.ixconfig.get("type") == "mirror":
            continue
        inherited = [base.name for base in other.sro()]
        if NAMES_INDEX in inherited and stage.name not in inherited:
            return True
    return False


def reserve_name(model: Any, stage: Any, project: str, indexes: Iterable[Any]) -> None:
    """Hold ``project`` on root/names as a release without files, when an index that does not
    inherit ``stage`` needs it (:func:`needs_reservation`) and it is not held there yet.

    Called inside the upload's write transaction, so the reservation is
    committed with the upload or not at all.
    """
    user, _, index = NAMES_INDEX.partition("/")
    names = model.getstage(user, index)
    if names is None or names.name == stage.name or names.has_project_perstage(project):
        return
    if needs_reservation(stage, indexes):
        names.set_versiondata({"name": project, "version": NAMES_VERSION})


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
                indexes = all_indexes(xom.model)
                owner = owner_of(stage, target[1], indexes) if stage is not None else None
                if owner is not None:
                    team = owner.split("/")[0]
                    message = (f"{target[1]} belongs to team {team} ({owner} holds it): publish it there, or "
                               f"choose another name")
                    # The reason phrase too: twine shows it, not the body (as devpi's own refusals do);
                    # the body as devpi's API answers errors.
                    return Response(status=f"409 {message}", content_type="application/json",
                                    body=json.dumps({"status": 409, "message": message}).encode())
                response = handler(request)
                if response.status_code == 200 and stage is not None and not xom.is_replica():
                    reserve_name(xom.model, stage, target[1], indexes)
                return response
        return handler(request)

    return refuse_a_second_owner
