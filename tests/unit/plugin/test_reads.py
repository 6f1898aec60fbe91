"""Private reads (:mod:`kit.plugin.reads`) without a server: which requests
read an index, who the option lets read, and the answers that refuse."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kit.plugin import reads


@pytest.mark.parametrize("method, route, matchdict, wanted", [
    ("GET", "/{user}/{index}/+simple/", {"user": "web", "index": "private"}, True),
    ("HEAD", "/{user}/{index}/+f/{relpath:.*}", {"user": "web", "index": "private", "relpath": "a/b/x.whl"}, True),
    ("GET", "installer_simple_project", {"user": "web", "index": "private", "project": "x/"}, True),
    ("GET", "/{user}/{index}", {"user": "web", "index": "private"}, True),
    ("GET", "/{user}/{index}/{project}/{version}", {"user": "web", "index": "private", "project": "x",
                                                    "version": "1.0"}, True),
    ("GET", "/{user}/{index}/+api", {"user": "web", "index": "private"}, False),  # what devpi-client asks first
    ("POST", "/{user}/{index}/", {"user": "web", "index": "private"}, False),  # an upload: devpi's own rule
    ("GET", "/{user}", {"user": "web"}, False),
    ("GET", "/+status", {}, False),
    ("GET", None, None, False),
])
def test_what_reads_an_index(method, route, matchdict, wanted):
    assert reads.is_index_read(method, route, matchdict) is wanted


def test_who_reads_is_the_option_or_left_to_devpi():
    assert reads.principals({"acl_pkg_read": ["web", "kit-edge"]}) == ["web", "kit-edge"]
    # An index made before the option existed: devpi's default (anyone).
    assert reads.principals({"type": "stage"}) is None and reads.principals(None) is None


def test_devpi_takes_the_option_as_its_other_acl_options():
    from devpi_server.model import ACLList, ensure_acl_list

    from kit.plugin.hooks import devpiserver_indexconfig_defaults

    for index_type in ("stage", "mirror"):
        default = devpiserver_indexconfig_defaults(index_type)["acl_pkg_read"]
        assert isinstance(default, ACLList) and default == [":ANONYMOUS:"]
    assert ensure_acl_list("web, kit-edge,:authenticated:") == ["web", "kit-edge", ":AUTHENTICATED:"]


def test_a_refusal_says_how_to_authenticate():
    refused = reads.refusal_response(401)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == 'Basic realm="kit"'
    assert reads.refusal_response(403).status_code == 403


def test_every_401_gets_a_basic_challenge_and_a_given_one_is_kept():
    from pyramid.response import Response

    bare = Response(status=401)
    reads.add_www_authenticate(SimpleNamespace(response=bare))
    assert bare.headers["WWW-Authenticate"] == 'Basic realm="kit"'
    devpis = Response(status=401, headers={"WWW-Authenticate": 'Basic realm="pypi"'})
    reads.add_www_authenticate(SimpleNamespace(response=devpis))
    assert devpis.headers["WWW-Authenticate"] == 'Basic realm="pypi"'
    fine = Response(status=200)
    reads.add_www_authenticate(SimpleNamespace(response=fine))
    assert "WWW-Authenticate" not in fine.headers


def test_a_verified_password_is_taken_again_only_with_the_same_hash_and_for_seconds():
    now = [100.0]
    verified = reads.VerifiedPasswords(ttl=10, limit=3, clock=lambda: now[0])
    verified.remember("web", "pw", "hash-1", ["g"])
    assert verified.groups("web", "pw", "hash-1") == ["g"]
    assert verified.groups("web", "other", "hash-1") is None and verified.groups("data", "pw", "hash-1") is None
    assert verified.groups("web", "pw", "hash-2") is None  # the password changed
    assert verified.groups("web", "pw", "hash-1") is None  # and the entry is gone for good
    verified.remember("web", "pw", "hash-1", [])
    now[0] += 11
    assert verified.groups("web", "pw", "hash-1") is None
    verified.remember("web", "pw", None, [])  # a user without a password hash: nothing kept
    assert verified.groups("web", "pw", None) is None
    for n in range(5):
        verified.remember(f"u{n}", "pw", "h", [])
    assert len(verified._entries) <= 3
    assert all(b"pw" not in key for key in verified._entries)


@pytest.mark.parametrize("credentials, headers, wanted", [
    (("web", "pw"), {}, ("web", "pw")),
    (("web", "devpi-AgEA..."), {}, None),  # a devpi-tokens token: checked by devpi-tokens, every time
    (("web", "pw"), {"X-Devpi-Auth": "d2ViOnRva2Vu"}, None),  # devpi's login token
    (None, {}, None),
    (("web", ""), {}, None),
])
def test_which_credentials_are_passwords(credentials, headers, wanted):
    assert reads.password_credentials(SimpleNamespace(headers=headers), credentials) == wanted


class _Index:
    """devpi-web's search index as ReadableSearch sees it: every project of the site."""

    def __init__(self, paths):
        self.paths = paths

    def query_projects(self, querystring, page=1):
        assert page is None  # filtered before paging
        items = [{"data": {"path": path}, "sub_hits": []} for path in self.paths]
        return {"items": items, "info": {"found": len(items), "collapsed_counts": {}}}

    def highlight(self, text, words):
        return text


def _request(readable):
    stages = {}

    def getstage(user, index):
        return stages.setdefault(f"{user}/{index}", SimpleNamespace(name=f"{user}/{index}"))

    xom = SimpleNamespace(model=SimpleNamespace(getstage=getstage))
    return SimpleNamespace(registry={"xom": xom}, has_permission=lambda permission, stage: stage.name in readable)


def test_search_results_hold_only_indexes_the_reader_may_read_and_never_root_names():
    paths = ["/web/private/a", "/data/private/b", "/root/pypi/c", "/root/names/b", "/web/private/d"]
    search = reads.ReadableSearch(_Index(paths), lambda: _request({"web/private", "root/pypi", "root/names"}))
    result = search.query_projects("x")
    assert [item["data"]["path"] for item in result["items"]] == ["/web/private/a", "/root/pypi/c", "/web/private/d"]
    assert result["info"]["found"] == result["info"]["total"] == 3
    assert (result["info"]["pagecount"], result["info"]["pagenum"]) == (1, 1)
    assert search.highlight("t", set()) == "t"  # the rest is devpi-web's own


def test_search_pages_count_only_what_the_reader_may_read():
    paths = [f"/web/private/p{n}" for n in range(25)] + [f"/data/private/q{n}" for n in range(30)]
    search = reads.ReadableSearch(_Index(paths), lambda: _request({"web/private"}))
    pages = [search.query_projects("x", page=n) for n in (1, 2, 3, 9)]
    assert [len(page["items"]) for page in pages] == [10, 10, 5, 5]  # a page past the last is the last
    assert {(page["info"]["pagecount"], page["info"]["total"]) for page in pages} == {(3, 25)}
    assert pages[3]["info"]["pagenum"] == 3


def test_xml_rpc_search_is_asked_only_of_the_readable_bases():
    asked = []
    index = SimpleNamespace(query_packages=lambda info, sro: asked.append([s.name for s in sro]) or [])
    request = _request({"web/private", "root/pypi"})
    stages = [request.registry["xom"].model.getstage(*name.split("/")) for name in
              ("data/private", "root/names", "root/pypi")]
    reads.ReadableSearch(index, lambda: request).query_packages({}, stages)
    assert asked == [["root/pypi"]]


def test_guard_search_wraps_devpi_webs_index_once_and_nothing_without_it():
    registry = {"search_index": _Index([])}
    reads.guard_search(registry)
    wrapped = registry["search_index"]
    assert isinstance(wrapped, reads.ReadableSearch)
    reads.guard_search(registry)
    assert registry["search_index"] is wrapped
    empty = {}
    reads.guard_search(empty)
    assert empty == {}
