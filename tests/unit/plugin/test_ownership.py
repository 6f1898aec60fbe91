"""One team per project (:mod:`kit.plugin.ownership`): which request adds a
project to an index, without a server."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("method, path, form, body, target", [
    ("POST", "/web/private/", {":action": "file_upload", "name": "Acme_Data"}, None, ("web/private", "acme-data")),
    ("POST", "/web/private", {":action": "submit", "name": "acme.data"}, None, ("web/private", "acme-data")),
    ("POST", "/web/private/", {":action": "doc_upload", "name": "x"}, None, ("web/private", "x")),
    ("POST", "/web/private/", {":action": "remove_pkg_info", "name": "x"}, None, None),
    ("POST", "/web/private/", {"name": "x"}, None, None),
    ("PUSH", "/data/private", None, {"name": "x", "version": "1", "targetindex": "web/private"}, ("web/private", "x")),
    ("POST", "/data/private/", None, {"name": "x", "version": "1", "targetindex": "web/private"}, ("web/private", "x")),
    ("PUSH", "/data/private", None, {"name": "x", "version": "1", "posturl": "http://elsewhere/"}, None),
    ("PUSH", "/data/private", None, {"name": "x", "targetindex": "bad"}, None),
    ("PUSH", "/data/private", None, ["not", "a", "dict"], None),
    ("POST", "/+login", None, {"user": "web", "password": "x"}, None),
    ("POST", "/web/private/+simple/x/refresh", None, None, None),
    ("PUT", "/web/private", {":action": "file_upload", "name": "x"}, None, None),
    ("GET", "/web/private/", {":action": "file_upload", "name": "x"}, None, None),
])
def test_what_adds_a_project_to_an_index(method, path, form, body, target):
    from kit.plugin.ownership import upload_target

    assert upload_target(method, path, form, body) == target


class FakeStage:
    """What owner_of and needs_reservation read of a devpi stage: name, user, type, bases' order, projects."""

    def __init__(self, name, bases=(), projects=(), kind="stage"):
        self.name, self.username = name, name.split("/")[0]
        self.ixconfig = {"type": kind}
        self.bases, self.projects = list(bases), set(projects)

    def sro(self):
        return [self, *self.bases]

    def has_project_perstage(self, project):
        return project in self.projects


def teams(inherit_each_other: bool):
    names, pypi = FakeStage("root/names", projects={"reserved"}), FakeStage("root/pypi", kind="mirror",
                                                                           projects={"acme-web"})
    web = FakeStage("web/private", projects={"acme-web"})
    data = FakeStage("data/private")
    web.bases = [names, *([data] if inherit_each_other else []), pypi]
    data.bases = [names, *([web] if inherit_each_other else []), pypi]
    return names, pypi, web, data


@pytest.mark.parametrize("inherit_each_other", [True, False])
def test_a_name_belongs_to_the_team_holding_it_whether_or_not_teams_inherit_each_other(inherit_each_other):
    from kit.plugin.ownership import owner_of

    indexes = teams(inherit_each_other)
    names, pypi, web, data = indexes
    assert owner_of(data, "acme-web", indexes) == "web/private"
    # Neither the upstream's copy nor a reservation makes an owner; nor does the team's own index.
    assert owner_of(data, "reserved", indexes) is None and owner_of(web, "acme-web", indexes) is None


def test_a_published_name_is_reserved_only_where_a_team_index_does_not_inherit_the_publishers():
    from kit.plugin.ownership import needs_reservation

    assert needs_reservation(teams(False)[2], teams(False)) is True
    inheriting = teams(True)
    assert needs_reservation(inheriting[2], inheriting) is False
