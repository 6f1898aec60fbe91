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
