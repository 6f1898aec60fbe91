"""kit.core.core_metadata: a wheel's METADATA read out of it, and pages marked as offering it."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from kit.core.core_metadata import (
    MAX_METADATA_BYTES, METADATA_SUFFIX, CoreMetadataError, advertise, declared_metadata_hashes, metadata_from_wheel,
)
from kit.core.errors import KitError

METADATA = b"Metadata-Version: 2.1\r\nName: Foo.Bar\nVersion: 1.0\nRequires-Dist: idna\n\n\xc3\xa9 long description\n"
HEX = "ab" * 32
OTHER = "cd" * 32


def wheel(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_the_suffix_is_pep_658s():
    assert METADATA_SUFFIX == ".metadata"


def test_metadata_comes_out_byte_for_byte_from_a_path_or_a_file_object(tmp_path):
    data = wheel({"foo/__init__.py": b"", "foo_bar-1.0.dist-info/METADATA": METADATA,
                  "foo_bar-1.0.dist-info/RECORD": b""})
    path = tmp_path / "Foo.Bar-1.0-py3-none-any.whl"
    path.write_bytes(data)
    assert metadata_from_wheel(path, path.name) == METADATA
    assert metadata_from_wheel(str(path), path.name) == METADATA
    with path.open("rb") as stream:
        assert metadata_from_wheel(stream, path.name) == METADATA


def test_the_projects_own_dist_info_wins_over_a_vendored_one():
    data = wheel({"vendored-2.0.dist-info/METADATA": b"Name: vendored\n",
                  "foo_bar-1.0.dist-info/METADATA": METADATA,
                  "foo_bar/_vendor/x-1.dist-info/METADATA": b"nested, not top-level\n"})
    assert metadata_from_wheel(io.BytesIO(data), "foo.bar-1.0-py3-none-any.whl") == METADATA


def test_a_single_dist_info_is_taken_even_when_its_name_is_spelt_differently():
    data = wheel({"Foo_Bar-1.0.dist-info/METADATA": METADATA})
    assert metadata_from_wheel(io.BytesIO(data), "foo_bar-1.0-py3-none-any.whl") == METADATA


def test_two_versions_of_the_project_are_told_apart_by_the_version():
    data = wheel({"foo-1.0.dist-info/METADATA": b"old\n", "foo-2.0.dist-info/METADATA": METADATA})
    assert metadata_from_wheel(io.BytesIO(data), "foo-2.0-py3-none-any.whl") == METADATA


@pytest.mark.parametrize("members, filename, words", [
    ({"a-1.dist-info/METADATA": b"x"}, "foo-1.0.tar.gz", "not a wheel"),
    ({"a-1.dist-info/METADATA": b"x"}, "foo.whl", "not a wheel"),
    ({"foo/__init__.py": b""}, "foo-1.0-py3-none-any.whl", "no .dist-info/METADATA"),
    ({"pkg/foo-1.0.dist-info/METADATA": b"x"}, "foo-1.0-py3-none-any.whl", "no .dist-info/METADATA"),
    ({"a-1.dist-info/METADATA": b"x", "b-1.dist-info/METADATA": b"y"}, "foo-1.0-py3-none-any.whl", "no METADATA"),
    ({"foo-1.0.dist-info/METADATA": b"x", "Foo-1.0.dist-info/METADATA": b"y"}, "foo-1.0-py3-none-any.whl",
     "several"),
])
def test_no_metadata_or_an_ambiguous_one_is_refused_in_one_line(members, filename, words):
    with pytest.raises(CoreMetadataError) as caught:
        metadata_from_wheel(io.BytesIO(wheel(members)), filename)
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value, KitError)


def test_a_file_that_is_not_a_zip_or_is_cut_short_is_refused(tmp_path):
    for data in (b"<html>not found</html>", wheel({"foo-1.dist-info/METADATA": METADATA})[:60]):
        with pytest.raises(CoreMetadataError, match="cannot be read as a wheel"):
            metadata_from_wheel(io.BytesIO(data), "foo-1-py3-none-any.whl")
    with pytest.raises(CoreMetadataError, match="cannot be read"):
        metadata_from_wheel(tmp_path / "missing.whl", "foo-1-py3-none-any.whl")


def test_a_corrupted_member_is_refused_not_returned():
    data = bytearray(wheel({"foo-1.dist-info/METADATA": METADATA * 50}))
    at = data.index(b"foo-1.dist-info/METADATA") + len("foo-1.dist-info/METADATA") + 10
    data[at:at + 20] = bytes(20)  # inside the deflated bytes: the CRC no longer matches
    with pytest.raises(CoreMetadataError):
        metadata_from_wheel(io.BytesIO(bytes(data)), "foo-1-py3-none-any.whl")


def test_a_zip_bomb_is_refused_before_it_is_inflated():
    bomb = wheel({"foo-1.dist-info/METADATA": b"\0" * (MAX_METADATA_BYTES + 1)})
    assert len(bomb) < MAX_METADATA_BYTES // 100
    with pytest.raises(CoreMetadataError, match="too large"):
        metadata_from_wheel(io.BytesIO(bomb), "foo-1-py3-none-any.whl")


def test_a_header_lying_about_the_size_does_not_get_past_the_limit():
    bomb = bytearray(wheel({"foo-1.dist-info/METADATA": b"\0" * (MAX_METADATA_BYTES + 1)}))
    big = (MAX_METADATA_BYTES + 1).to_bytes(4, "little")
    assert bomb.count(big) == 2  # the local header and the central directory both record the size
    bomb[:] = bomb.replace(big, (100).to_bytes(4, "little"))
    with pytest.raises(CoreMetadataError):
        metadata_from_wheel(io.BytesIO(bytes(bomb)), "foo-1-py3-none-any.whl")


PAGE = (
    '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0"></head><body>\n'
    f'<a href="../../+f/1a/2b/foo-1.0-py3-none-any.whl#sha256={HEX}" data-requires-python="&gt;=3.8">'
    'foo-1.0-py3-none-any.whl</a><br>\n'
    f"<A HREF='../../+f/3c/foo-1.0.tar.gz#sha256={HEX}'>foo-1.0.tar.gz</A><br>\n"
    f'<a href="https://files.example/foo-0.9-py3-none-any.whl?x=1&amp;y=2" data-core-metadata="sha256={OTHER}"'
    ' data-dist-info-metadata>foo-0.9-py3-none-any.whl</a>\n'
    '<a href="foo-0.8-py3-none-any.whl" />\n<a name="no-href">x</a>\n'
    "</body></html>\n"
).encode() + b"\xff\xfe not utf-8 \n"


def test_html_wheel_links_get_both_attributes_and_the_rest_stays_byte_for_byte():
    asked = []

    def value_for(url):
        asked.append(url)
        return f"sha256={HEX.upper()}" if "1.0" in url else "true"

    out = advertise(PAGE, "text/html; charset=utf-8", value_for)
    assert asked == [f"../../+f/1a/2b/foo-1.0-py3-none-any.whl#sha256={HEX}",
                     "https://files.example/foo-0.9-py3-none-any.whl?x=1&amp;y=2", "foo-0.8-py3-none-any.whl"]
    expected = PAGE.replace(
        b'data-requires-python="&gt;=3.8">',
        f'data-requires-python="&gt;=3.8" data-dist-info-metadata="sha256={HEX}" '
        f'data-core-metadata="sha256={HEX}">'.encode(),
    ).replace(
        f' data-core-metadata="sha256={OTHER}" data-dist-info-metadata>'.encode(),
        b' data-dist-info-metadata="true" data-core-metadata="true">',
    ).replace(
        b'<a href="foo-0.8-py3-none-any.whl" />',
        b'<a href="foo-0.8-py3-none-any.whl" data-dist-info-metadata="true" data-core-metadata="true" />',
    )
    assert out == expected


def test_none_leaves_a_link_as_it_was_and_an_unchanged_page_is_the_same_bytes():
    assert advertise(PAGE, "text/html", lambda url: None) is PAGE
    out = advertise(PAGE, "text/html", lambda url: "true" if "0.8" in url else None)
    assert f'data-core-metadata="sha256={OTHER}" data-dist-info-metadata>'.encode() in out


def test_declared_hashes_are_read_back_from_html_pep_714_spelling_first():
    assert declared_metadata_hashes(PAGE, "text/html") == {"https://files.example/foo-0.9-py3-none-any.whl?x=1&y=2": OTHER}
    old_only = f'<a href="a-1-py3-none-any.whl#sha256={HEX}" data-dist-info-metadata="sha256={HEX.upper()}">'
    assert declared_metadata_hashes(old_only.encode(), "text/html") == {"a-1-py3-none-any.whl": HEX}
    out = advertise(PAGE, "text/html", lambda url: f"sha256={HEX}")
    assert set(declared_metadata_hashes(out, "text/html").values()) == {HEX}
    assert len(declared_metadata_hashes(out, "text/html")) == 3


JSON_TYPE = "application/vnd.pypi.simple.v1+json"
JSON_PAGE = json.dumps({
    "meta": {"api-version": "1.0"}, "name": "foo",
    "files": [
        {"filename": "foo-1.0-py3-none-any.whl", "url": "../../+f/1a/foo-1.0-py3-none-any.whl",
         "hashes": {"sha256": HEX}, "core-metadata": False},
        {"filename": "foo-1.0.tar.gz", "url": "../../+f/3c/foo-1.0.tar.gz", "hashes": {"sha256": HEX}},
        {"filename": "foo-0.9-py3-none-any.whl", "url": "foo-0.9-py3-none-any.whl", "hashes": {}},
    ],
}, indent=2).encode()


def test_json_wheel_entries_get_both_keys():
    out = advertise(JSON_PAGE, JSON_TYPE, lambda url: f"sha256={HEX}" if "1.0" in url else "true")
    files = json.loads(out)["files"]
    assert files[0]["core-metadata"] == files[0]["dist-info-metadata"] == {"sha256": HEX}
    assert "core-metadata" not in files[1]
    assert files[2]["core-metadata"] is files[2]["dist-info-metadata"] is True
    assert declared_metadata_hashes(out, JSON_TYPE) == {"../../+f/1a/foo-1.0-py3-none-any.whl": HEX}
    assert advertise(JSON_PAGE, JSON_TYPE, lambda url: None) is JSON_PAGE


@pytest.mark.parametrize("content_type, body", [
    (JSON_TYPE, b"{not json"), (JSON_TYPE, b"[1, 2]"), (JSON_TYPE, b'{"files": 3}'), ("text/html", b""),
])
def test_a_page_that_cannot_be_parsed_comes_back_unchanged(content_type, body):
    assert advertise(body, content_type, lambda url: "true") is body
    assert declared_metadata_hashes(body, content_type) == {}


def test_a_value_that_is_neither_true_nor_a_sha256_is_a_programming_error():
    with pytest.raises(ValueError):
        advertise(PAGE, "text/html", lambda url: "md5=abc")
