"""The purge contract from both ends, without a socket: the request devpi's
plugin builds for a change is read by the edge, and drops exactly the cached
pages the change touched, in both representations, in every index that
inherits the changed one. The key spelling is written once
(kit/core/purge_keys.py); these tests fail if either side drifts from it."""

from __future__ import annotations

import json

import pytest

from kit.core.purge_keys import key, parse_key
from kit.edge.cache import HTML, JSON, Page, PageKey, Pages
from kit.edge.purge import PurgeRefused, check_authorization, parse_purge
from kit.plugin.keys import collapse, purge_keys
from kit.plugin.sender import purge_request

SECRET = "s" * 64
INDEXES = {
    "root/pypi": [],
    "web/private": ["root/pypi"],
    "acme/private": ["web/private", "root/pypi"],
    "data/other": [],
}
PROJECTS = ("", "kit-demo-purge", "six")  # "": the index's root page


#: Every index's root page and project pages, in both representations, as the edge keys them.
CACHED = [PageKey(index, project, kind) for index in INDEXES for project in PROJECTS for kind in (JSON, HTML)]


def dropped_by(keys: set[str]) -> set[tuple[str, str]]:
    """(index, project) of every cached page the edge drops for the plugin's purge of ``keys``."""
    body, headers = purge_request(keys, 42, SECRET)
    check_authorization(headers["Authorization"], SECRET)
    parsed, serial = parse_purge(body)
    assert serial == 42
    pages = Pages()
    for page_key in CACHED:
        pages.put(page_key, Page(b"page", page_key.kind, 0.0, "master"))
    for one in parsed:
        pages.purge(one.index, one.project)
    gone = {page_key for page_key in CACHED if pages.get(page_key) is None}
    # A page goes in both representations or not at all.
    assert {(k.index, k.project) for k in gone if k.kind == JSON} == {(k.index, k.project) for k in gone if k.kind == HTML}
    return {(k.index, k.project) for k in gone}


def test_an_upload_drops_that_project_page_in_the_index_and_its_inheritors_only():
    keys = purge_keys("web/private", "Kit_Demo.Purge", INDEXES)
    assert dropped_by(keys) == {("web/private", "kit-demo-purge"), ("acme/private", "kit-demo-purge")}


def test_a_new_project_drops_the_root_pages_of_the_index_and_its_inheritors():
    keys = purge_keys("root/pypi", None, INDEXES)
    assert dropped_by(keys) == {("root/pypi", ""), ("web/private", ""), ("acme/private", "")}


def test_changed_index_settings_drop_every_page_of_the_index_and_its_inheritors():
    keys = purge_keys("web/private", "*", INDEXES)
    assert dropped_by(keys) == {(index, project) for index in ("web/private", "acme/private") for project in PROJECTS}


def test_coarsened_keys_drop_more_pages_never_fewer():
    keys = purge_keys("web/private", "six", INDEXES) | purge_keys("data/other", None, INDEXES)
    exact = dropped_by(keys)
    wide = dropped_by(collapse(keys))
    assert exact < wide
    assert wide == {(index, project) for index in ("web/private", "acme/private") for project in PROJECTS} | {
        ("data/other", "")}


def test_varnish_gets_the_same_keys_in_its_header_as_the_edge_in_the_body():
    keys = purge_keys("root/pypi", "Six", INDEXES) | purge_keys("data/other", "*", INDEXES)
    body, headers = purge_request(keys, 7, SECRET)
    parsed, _ = parse_purge(body)
    assert sorted(headers["Xkey-Purge"].split(" ")) == sorted(key(k.index, k.project) for k in parsed)
    assert headers["X-Kit-Serial"] == "7"


@pytest.mark.parametrize("index, project, text", [
    ("web/private", "", "web/private"),
    ("web/private", None, "web/private/*"),
    ("web/private", "Kit_Demo.Purge", "web/private/kit-demo-purge"),
])
def test_a_key_reads_back_as_it_was_written(index, project, text):
    assert key(index, project) == text
    assert parse_key(text) == (index, project if project in ("", None) else "kit-demo-purge")


@pytest.mark.parametrize("raw", ["web", "web/private/six/extra", "web//six", "/private", 3, None,
                                 "+user/", "+user/web/private", "+other/web"])
def test_the_edge_refuses_what_is_no_key_naming_the_four_forms(raw):
    with pytest.raises(PurgeRefused) as refused:
        parse_purge(json.dumps({"keys": [raw]}).encode())
    assert refused.value.status == 400
    assert refused.value.message == (
        f"bad purge key {raw!r}: expected USER/INDEX, USER/INDEX/PROJECT, USER/INDEX/* or +user/USER")
