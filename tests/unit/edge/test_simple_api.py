"""devpi's pages as api-version 1.1 and with PEP 629's <meta> (:mod:`kit.edge.simple_api`), without sockets."""

from __future__ import annotations

import json

import pytest

from kit.edge.simple_api import FileFact, FileFacts, acceptable, upgrade, upgrade_html, upload_time, version_of

#: devpi 6.20's JSON page for a project, as it writes it (api-version 1.0, no size).
DEVPI_PAGE = json.dumps({"meta": {"api-version": "1.0"}, "name": "kitdemo", "files": [
    {"filename": "kitdemo-1.0-py3-none-any.whl", "url": "../../+f/0ab/1/kitdemo-1.0-py3-none-any.whl",
     "hashes": {"sha256": "a" * 64}},
    {"filename": "kitdemo-1.0.tar.gz", "url": "../../+f/0ab/2/kitdemo-1.0.tar.gz", "hashes": {"sha256": "b" * 64}},
    {"filename": "kitdemo-2.0rc1.zip", "url": "../../+f/0ab/3/kitdemo-2.0rc1.zip", "hashes": {}},
    {"filename": "kitdemo-0.9.egg", "url": "../../+f/0ab/4/kitdemo-0.9.egg", "hashes": {}},
]}).encode()


def test_a_devpi_json_page_becomes_api_version_1_1_with_versions_sizes_and_upload_times():
    facts = {"../../+f/0ab/1/kitdemo-1.0-py3-none-any.whl": FileFact(1234, "2026-12-04T22:33:22.000000Z"),
             "../../+f/0ab/2/kitdemo-1.0.tar.gz": FileFact(99, None),
             "../../+f/0ab/3/kitdemo-2.0rc1.zip": FileFact(7, None), "../../+f/0ab/4/kitdemo-0.9.egg": FileFact(8, None)}
    page = json.loads(upgrade(DEVPI_PAGE, "application/vnd.pypi.simple.v1+json", facts.get))
    assert page["meta"] == {"api-version": "1.1"}
    assert page["versions"] == ["1.0", "2.0rc1"]  # the egg's name carries no version packaging reads
    wheel, sdist, zipped, egg = page["files"]
    assert (wheel["size"], wheel["upload-time"]) == (1234, "2026-12-04T22:33:22.000000Z")
    assert sdist["size"] == 99 and "upload-time" not in sdist  # optional in PEP 700: left out, never guessed
    assert (zipped["size"], egg["size"]) == (7, 8)
    assert wheel["hashes"] == {"sha256": "a" * 64} and wheel["url"].endswith(".whl")


def test_a_page_with_a_file_of_unknown_size_stays_api_version_1_0():
    """PEP 700 makes ``size`` mandatory on a 1.1 page: devpi's mirror of PyPI is never asked
    a size (it would fetch the file), so such a page keeps devpi's 1.0, with what is known."""
    facts = {"../../+f/0ab/1/kitdemo-1.0-py3-none-any.whl": FileFact(1234, "2026-12-04T22:33:22.000000Z")}
    page = json.loads(upgrade(DEVPI_PAGE, "application/vnd.pypi.simple.v1+json", facts.get))
    assert page["meta"] == {"api-version": "1.0"} and page["versions"] == ["1.0", "2.0rc1"]
    wheel, sdist, zipped, egg = page["files"]
    assert wheel["size"] == 1234 and wheel["upload-time"] == "2026-12-04T22:33:22.000000Z"
    assert not {"size", "upload-time"} & (sdist.keys() | zipped.keys() | egg.keys())


def test_the_root_page_gets_the_api_version_only():
    root = b'{"meta":{"api-version":"1.0"},"projects":[{"name":"kitdemo"}]}'
    assert json.loads(upgrade(root, "application/vnd.pypi.simple.v1+json", {}.get)) == {
        "meta": {"api-version": "1.1"}, "projects": [{"name": "kitdemo"}]}


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b""])
def test_a_page_that_is_not_a_json_object_is_left_as_it_is(body):
    assert upgrade(body, "application/vnd.pypi.simple.v1+json", {}.get) == body


@pytest.mark.parametrize("body, expected", [
    (b'<!DOCTYPE html><html lang="en"><head><title>t</title></head><body></body></html>',
     b'<!DOCTYPE html><html lang="en"><head><meta name="pypi:repository-version" content="1.1"><title>t</title>'),
    (b'<!DOCTYPE html><html lang="en"><body><a href="x/">x</a>',
     b'<!DOCTYPE html><html lang="en"><meta name="pypi:repository-version" content="1.1"><body>'),
    (b"<a href='x/'>x</a>", b'<meta name="pypi:repository-version" content="1.1">\n<a href='),
    (b'<html><header></header>', b'<html><meta name="pypi:repository-version" content="1.1"><header>'),
])
def test_html_pages_carry_the_repository_version_in_their_head(body, expected):
    assert upgrade_html(body).startswith(expected)
    assert upgrade_html(upgrade_html(body)) == upgrade_html(body)  # once only


@pytest.mark.parametrize("accept, ok", [
    (None, True), ("", True), ("*/*", True), ("text/html", True), ("application/vnd.pypi.simple.latest+json", True),
    ("application/vnd.pypi.simple.v1+json", True), ("application/*", True),
    ("application/xml", False), ("application/json", False), ("text/html;q=0", False), ("text/html;q=x", False),
])
def test_acceptable(accept, ok):
    assert acceptable(accept) is ok


@pytest.mark.parametrize("header, expected", [
    ("Fri, 04 Dec 2026 22:33:22 GMT", "2026-12-04T22:33:22.000000Z"),
    ("Fri, 04 Dec 2026 23:33:22 +0100", "2026-12-04T22:33:22.000000Z"),
    ("yesterday", None), ("", None), (None, None),
])
def test_upload_time_is_pep_700s_form_of_devpis_last_modified(header, expected):
    assert upload_time(header) == expected


def test_version_of_reads_wheel_and_sdist_names_only():
    assert str(version_of("Kit_Demo-1.0.post1-py3-none-any.whl")) == "1.0.post1"
    assert str(version_of("kitdemo-3.0.tar.gz")) == "3.0"
    assert version_of("kitdemo-3.0.exe") is None and version_of("nonsense.whl") is None


def test_file_facts_keep_the_most_recently_used():
    facts = FileFacts(max_entries=2)
    for name in "abc":
        facts.put(name, FileFact(1, None))
    assert facts.get("a") is None and facts.get("c") == FileFact(1, None) and len(facts) == 2
