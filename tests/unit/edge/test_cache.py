"""The edge's store without sockets: representations, links, purges, files on disk."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from kit.edge.cache import GZIP_MIN, HTML, JSON, Files, Hashes, Page, PageKey, Pages, accepts_gzip, links_of, representation

DIGEST = "4e1d6437f594e3cdf5ce52e8c65a447bf5e2a8139db5ce6c367d203f31139061"


def test_accept_headers_reduce_to_two_representations():
    assert representation("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01") == JSON
    assert representation("text/html") == HTML
    assert representation("") == HTML and representation(None) == HTML and representation("*/*") == HTML
    assert representation("application/vnd.pypi.simple.v1+json; q=0, text/html") == HTML
    assert representation("application/vnd.pypi.simple.v1+json;q=0.5, text/html;q=0.5") == HTML  # a tie: HTML
    assert representation("application/vnd.pypi.simple.v1+json;q=abc") == HTML


def test_links_of_html_and_json_resolve_against_the_page():
    html = (f'<a href="../../+f/4e1/d6437f594e3cd/pkg_x-1.0-py3-none-any.whl#sha256={DIGEST}">x</a>'
            '<a href="https://elsewhere.test/f/other-1.0.tar.gz#sha256=' + "0" * 64 + '">y</a>'
            '<a href="../../+f/abc/no-digest-1.0.tar.gz">z</a>').encode()
    expected = {"/root/dev/+f/4e1/d6437f594e3cd/pkg_x-1.0-py3-none-any.whl": DIGEST}
    assert links_of(html, "text/html; charset=utf-8", "/root/dev/+simple/pkg-x/") == expected
    body = ('{"files": [{"url": "../../+f/4e1/d6437f594e3cd/pkg_x-1.0-py3-none-any.whl", "hashes": {"sha256": "%s"}}]}' % DIGEST).encode()
    assert links_of(body, JSON, "/root/dev/+simple/pkg-x/") == expected
    absolute = f'<a href="http://edge.test/root/dev/+f/a/b/pkg_x-1.0.tar.gz#sha256={DIGEST}">x</a>'.encode()
    assert links_of(absolute, "text/html", "/root/dev/+simple/pkg-x/", "http://edge.test") == {"/root/dev/+f/a/b/pkg_x-1.0.tar.gz": DIGEST}
    assert links_of(b"not json", JSON, "/r/d/+simple/x/") == {}


def test_a_page_cannot_vouch_for_another_index_s_files():
    hashes = Hashes()
    hashes.learn({"/team/a/+f/1/2/x-1.0.tar.gz": DIGEST, "/team/b/+f/1/2/x-1.0.tar.gz": DIGEST}, "team/a", "x")
    assert hashes.get("/team/a/+f/1/2/x-1.0.tar.gz") == DIGEST and hashes.get("/team/b/+f/1/2/x-1.0.tar.gz") is None
    assert hashes.forget("team/a", "y") == [] and hashes.forget("team/a", None) == ["/team/a/+f/1/2/x-1.0.tar.gz"]


def test_purge_drops_a_project_in_every_representation_the_root_or_the_whole_index():
    pages = Pages()
    for index in ("web/private", "data/private"):
        for project in ("", "a", "b"):
            for kind in (JSON, HTML):
                pages.put(PageKey(index, project, kind), Page(b"", kind, 0.0, "master"))
    assert pages.purge("web/private", "a") == 2
    assert pages.purge("web/private", "") == 2
    assert pages.purge("web/private", None) == 2
    assert len(pages) == 6 and pages.get(PageKey("data/private", "a", JSON)) is not None


def test_pages_are_bounded():
    pages = Pages(max_pages=2)
    for n in range(3):
        pages.put(PageKey("u/i", str(n), HTML), Page(b"", HTML, 0.0, "master"))
    assert len(pages) == 2 and pages.get(PageKey("u/i", "0", HTML)) is None


def test_files_only_whole_and_verified_and_evicted_by_size(tmp_path):
    files = Files(tmp_path / "cache", max_bytes=250)
    files.open()
    (tmp_path / "cache" / ".fill-x.part").write_bytes(b"half")  # a killed edge's leftover
    files = Files(tmp_path / "cache", max_bytes=250)
    files.open()
    assert list((tmp_path / "cache").iterdir()) == []
    for n in range(3):
        with files.new_part() as part:
            part.write(bytes([n]) * 100)
        assert files.lookup(f"/u/i/+f/{n}") is None  # a part is never found
        files.commit(part.name, f"/u/i/+f/{n}", hashlib.sha256(bytes([n]) * 100).hexdigest())
    assert files.lookup("/u/i/+f/0") is None  # the oldest went: 300 bytes > 250
    found = files.lookup("/u/i/+f/2")
    assert found.size == 100 and found.sha256 == hashlib.sha256(bytes([2]) * 100).hexdigest()
    assert files.drop("/u/i/+f/2") and files.lookup("/u/i/+f/2") is None and files.bytes == 100


def test_a_page_fetched_before_a_purge_is_not_kept():
    """A fetch that began before a purge may carry the old page: it must not be cached for a whole TTL."""
    pages = Pages()
    key = PageKey("u/i", "p", HTML)
    began = pages.generation
    pages.purge("u/i", "p")  # the commit's purge arrives while the fetch is in flight
    assert not pages.put(key, Page(b"old", HTML, 0.0, "master"), since=began)
    assert pages.get(key) is None
    assert pages.put(key, Page(b"new", HTML, 0.0, "master"), since=pages.generation)
    assert pages.get(key).body == b"new"


def test_a_cache_folder_that_cannot_be_made_is_a_problem_not_a_crash(tmp_path):
    (tmp_path / "file").write_text("in the way")
    files = Files(tmp_path / "file" / "cache", max_bytes=10)
    files.open()
    fill = files.fill()
    fill.write(b"bytes")
    assert not fill.keep("/u/i/+f/x", "0" * 64)
    assert "cannot store files in" in files.problem() and files.write_failures == 2


@pytest.mark.parametrize("accept, kind", [
    ("application/vnd.pypi.simple.latest+json", JSON),
    ("application/vnd.pypi.simple.latest+json, text/html;q=0.01", JSON),
    ("application/vnd.pypi.simple.latest+html", HTML),
    ("application/vnd.pypi.simple.latest+html, application/vnd.pypi.simple.latest+json;q=0.5", HTML),
])
def test_pep_691s_latest_aliases_name_the_v1_representations(accept, kind):
    assert representation(accept) == kind


@pytest.mark.parametrize("header, takes", [
    ("gzip, deflate", True), ("gzip, deflate, br, zstd", True), ("GZIP;q=0.5", True), ("x-gzip", True), ("*", True),
    (None, False), ("", False), ("identity", False), ("br", False), ("gzip;q=0", False), ("*;q=0", False),
    ("gzip;q=0, *", False), ("gzip;q=bogus", False), ("br, *;q=0.1", True),
])
def test_accepts_gzip_reads_quality_values(header, takes):
    assert accepts_gzip(header) is takes


def test_a_large_page_has_a_gzip_tag_and_its_gzip_bytes_are_made_once():
    body = b"<a href='x'>x</a>\n" * 1000
    page = Page(body, HTML, 0.0, "master", '"origin-tag"')
    assert (page.tag, page.gzip_tag) == ('"origin-tag"', '"origin-tag-gzip"')
    assert gzip.decompress(page.gzipped()) == body and page.gzipped() is page.gzipped()
    small = Page(b"x" * (GZIP_MIN - 1), HTML, 0.0, "master")
    assert small.gzip_tag == "" and Page(b"x" * GZIP_MIN, HTML, 0.0, "master").gzip_tag.endswith('-gzip"')
