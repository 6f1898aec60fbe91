"""The edge's store without sockets: representations, links, purges, files on disk."""

from __future__ import annotations

import gzip
import hashlib
import os
import time

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


#: A file's sha256 sidecar: 64 hex digits and a newline, counted with the file.
SIDECAR = 65


def test_files_only_whole_and_verified_and_evicted_by_size(tmp_path):
    files = Files(tmp_path / "cache", max_bytes=2 * (100 + SIDECAR) + 20)
    files.open()
    (tmp_path / "cache" / ".fill-x.part").write_bytes(b"half")  # a killed edge's leftover
    files = Files(tmp_path / "cache", max_bytes=2 * (100 + SIDECAR) + 20)
    files.open()
    assert list((tmp_path / "cache").iterdir()) == []
    for n in range(3):
        with files.new_part() as part:
            part.write(bytes([n]) * 100)
        assert files.lookup(f"/u/i/+f/{n}") is None  # a part is never found
        files.commit(part.name, f"/u/i/+f/{n}", hashlib.sha256(bytes([n]) * 100).hexdigest())
    assert files.lookup("/u/i/+f/0") is None  # the oldest went: three files and sidecars > the bound
    found = files.lookup("/u/i/+f/2")
    assert found.size == 100 and found.sha256 == hashlib.sha256(bytes([2]) * 100).hexdigest()
    assert files.drop("/u/i/+f/2") and files.lookup("/u/i/+f/2") is None and files.bytes == 100 + SIDECAR


def _store(files: Files, key: str, data: bytes) -> None:
    with files.new_part() as part:
        part.write(data)
    files.commit(part.name, key, hashlib.sha256(data).hexdigest())


def _kept(files: Files, count: int) -> list[int]:
    """Which of files 0..count-1 are on disk (looked at without a hit, which would change the order)."""
    return [n for n in range(count) if (files.folder / f"{Files.name_of(f'/u/i/+f/{n}')}.file").exists()]


def _folder_bytes(folder) -> int:
    return sum(path.stat().st_size for path in folder.iterdir())


def test_a_hit_keeps_a_file_and_the_folder_never_holds_more_than_the_bound(tmp_path):
    folder = tmp_path / "cache"
    files = Files(folder, max_bytes=3 * (100 + SIDECAR))
    files.open()
    for n in range(3):
        _store(files, f"/u/i/+f/{n}", bytes([n]) * 100)
    assert files.lookup("/u/i/+f/0") is not None  # a hit: 0 is now the most recently used
    _store(files, "/u/i/+f/3", bytes([3]) * 100)  # 1, the least recently used, goes
    assert _kept(files, 4) == [0, 2, 3]
    assert files.store_metadata("/u/i/+f/3", b"Metadata-Version: 2.1\n" * 2)  # counted: past the bound, 2 goes
    assert _kept(files, 4) == [0, 3]
    assert files.bytes == _folder_bytes(folder) <= files.max_bytes
    _store(files, "/u/i/+f/big", b"x" * 1000)  # larger than the bound alone: served, not kept
    assert files.lookup("/u/i/+f/big") is None and _folder_bytes(folder) <= files.max_bytes


def test_after_a_restart_the_cache_knows_what_is_on_disk_in_order_of_use_and_keeps_a_lowered_bound(tmp_path):
    folder = tmp_path / "cache"
    files = Files(folder, max_bytes=10_000)
    files.open()
    for n in range(4):
        _store(files, f"/u/i/+f/{n}", bytes([n]) * 100)
    for n, used in enumerate((400, 100, 300, 200)):  # when each was last served, as its access time
        path = folder / f"{Files.name_of(f'/u/i/+f/{n}')}.file"
        os.utime(path, (time.time() - used, path.stat().st_mtime))
    (folder / f"{Files.name_of('/u/i/+f/gone')}.sha256").write_text("0" * 64 + "\n")  # its file was lost
    again = Files(folder, max_bytes=2 * (100 + SIDECAR))  # the bound was lowered before the restart
    again.open()
    assert _kept(again, 4) == [1, 3]
    assert again.bytes == _folder_bytes(folder) == 2 * (100 + SIDECAR)


def test_a_hit_on_a_file_not_read_lately_sets_its_access_time(tmp_path):
    files = Files(tmp_path / "cache", max_bytes=10_000)
    files.open()
    _store(files, "/u/i/+f/0", b"x" * 100)
    path = tmp_path / "cache" / f"{Files.name_of('/u/i/+f/0')}.file"
    stored = path.stat().st_mtime
    os.utime(path, (time.time() - 2 * Files.TOUCH_AFTER, stored))
    files.lookup("/u/i/+f/0")
    assert time.time() - path.stat().st_atime < Files.TOUCH_AFTER and path.stat().st_mtime == stored


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


def test_the_record_of_reads_keeps_one_line_a_day_per_file_and_is_compacted_at_a_start(tmp_path):
    from kit.edge.cache import ReadRecord

    now = [1_000_000.0]
    record = ReadRecord(tmp_path / "reads.log", clock=lambda: now[0])
    record.open()
    wheel = "/root/pypi/+f/abc/def/kitdemo_old-1.0-py3-none-any.whl"
    for _ in range(3):
        record.mark(wheel)  # read three times within a day: one line
    now[0] += 86400 + 1
    record.mark(wheel)
    record.mark("/root/pypi/+f/123/456/kitdemo_new-1.0.tar.gz")
    assert (tmp_path / "reads.log").read_text().count(wheel) == 2
    since, last = ReadRecord.read(tmp_path / "reads.log")
    assert since == 1_000_000 and last[wheel] == 1_000_000 + 86400 + 1 and len(last) == 2
    again = ReadRecord(tmp_path / "reads.log", clock=lambda: now[0])
    again.open()
    assert (tmp_path / "reads.log").read_text().count(wheel) == 1 and again.since == 1_000_000
    assert ReadRecord.read(tmp_path / "reads.log") == (since, last)
