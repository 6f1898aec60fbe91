"""Core metadata (PEP 658, renamed by PEP 714): a wheel's METADATA served beside it.

A resolver that finds ``data-core-metadata`` on a link (``core-metadata`` in
PEP 691 JSON) fetches ``FILE.whl.metadata`` — a few kilobytes — instead of the
whole wheel to learn its dependencies. This module holds the two pure halves of
offering that: reading the METADATA out of a wheel (:func:`metadata_from_wheel`)
and marking a simple page's wheel links as having it (:func:`advertise`), plus
reading what a page already declares (:func:`declared_metadata_hashes`). The
edge and ``kit mirror`` both use them; nothing here touches the network.
"""

from __future__ import annotations

import html
import json
import os
import re
import zipfile
import zlib
from collections.abc import Callable
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from kit.core.errors import CoreMetadataError, one_line
from kit.core.names import normalize

__all__ = [
    "CoreMetadataError", "METADATA_SUFFIX", "MAX_METADATA_BYTES", "metadata_from_wheel", "advertise",
    "declared_metadata_hashes", "metadata_value",
]

#: What a wheel's URL gains to name its core metadata (PEP 658).
METADATA_SUFFIX = ".metadata"
#: Real METADATA files are kilobytes (the largest on PyPI are long READMEs, under 1 MiB); a
#: bigger one is a zip bomb or a broken wheel, and is refused rather than read into memory.
MAX_METADATA_BYTES = 10 * 1024 * 1024

_JSON_MARK = "json"
_SHA256_VALUE = re.compile(r"sha256=([0-9a-fA-F]{64})")
# An <a ...> start tag, as kit/edge/cache.py's links_of reads hrefs: attributes quoted either way.
_A_TAG = re.compile(r"""<a\s(?:[^>"']|"[^"]*"|'[^']*')*>""", re.IGNORECASE)
_HREF = re.compile(r"""\shref\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
# The two metadata attributes, with or without a value (PEP 658 allows a bare attribute).
_METADATA_ATTR = re.compile(
    r"""\s+data-(?:core|dist-info)-metadata(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?""", re.IGNORECASE
)
_DECLARED_ATTR = re.compile(
    r"""\sdata-(core|dist-info)-metadata\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE
)


def metadata_from_wheel(wheel: str | os.PathLike | BinaryIO, filename: str) -> bytes:
    """The bytes of the wheel's ``NAME-VERSION.dist-info/METADATA``, exactly as stored in it.

    ``filename`` is the wheel's file name (its project picks the ``.dist-info``
    folder when a wheel holds several). Raises :class:`CoreMetadataError` for a
    file that is not a wheel, not a readable zip, has no or several candidate
    METADATA files, or one over :data:`MAX_METADATA_BYTES`.
    """
    if not filename.endswith(".whl") or filename.count("-") < 2:
        raise CoreMetadataError(f"{filename} is not a wheel: only wheels carry a METADATA file to serve")
    try:
        with zipfile.ZipFile(wheel) as archive:
            info = _metadata_member(archive, filename)
            if info.file_size > MAX_METADATA_BYTES:
                raise CoreMetadataError(_too_big(filename, info.filename))
            with archive.open(info) as member:
                # The header's size can lie; never read more than the limit whatever it says.
                data = member.read(MAX_METADATA_BYTES + 1)
    except CoreMetadataError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError, ValueError) as exc:
        raise CoreMetadataError(
            f"{filename} cannot be read as a wheel ({one_line(exc)}); fetch it again or rebuild it"
        ) from None
    if len(data) > MAX_METADATA_BYTES:
        raise CoreMetadataError(_too_big(filename, info.filename))
    return data


def _too_big(filename: str, member: str) -> str:
    return (f"{filename}: {member} is over {MAX_METADATA_BYTES // (1024 * 1024)} MiB, too large to be real "
            "metadata; rebuild the wheel")


def _metadata_member(archive: zipfile.ZipFile, filename: str) -> zipfile.ZipInfo:
    """The top-level ``*.dist-info/METADATA`` that belongs to the wheel's project."""
    candidates = [i for i in archive.infolist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", i.filename)]
    if not candidates:
        raise CoreMetadataError(f"{filename} holds no .dist-info/METADATA; it is not a valid wheel, rebuild it")
    if len(candidates) == 1:
        return candidates[0]
    project, version = filename.split("-")[:2]
    folders = {i.filename: i.filename.split("/", 1)[0][: -len(".dist-info")] for i in candidates}
    mine = [i for i in candidates if normalize(folders[i.filename].rsplit("-", 1)[0]) == normalize(project)]
    if len(mine) > 1:
        mine = [i for i in mine if folders[i.filename].rsplit("-", 1)[-1] == version]
    if len(mine) != 1:
        names = ", ".join(sorted(i.filename for i in candidates))
        raise CoreMetadataError(
            f"{filename} holds {'several' if mine else 'no'} METADATA for its project among {names}; rebuild the wheel"
        )
    return mine[0]


def metadata_value(value: str | None) -> str | None:
    """A ``value_for`` answer checked: ``"true"``, ``"sha256=HEX"`` (hex lower-cased) or None."""
    if value is None or value == "true":
        return value
    match = _SHA256_VALUE.fullmatch(value)
    if not match:
        raise ValueError(f"core metadata value must be 'true' or 'sha256=<64 hex digits>', not {value!r}")
    return f"sha256={match.group(1).lower()}"


def _is_wheel_url(url: str) -> bool:
    return unquote(urlsplit(url).path).rsplit("/", 1)[-1].endswith(".whl")


def advertise(body: bytes, content_type: str, value_for: Callable[[str], str | None]) -> bytes:
    """A simple page with its wheel links marked as having core metadata.

    For each file whose URL's last segment ends in ``.whl``, ``value_for`` gets
    the URL as written in the page (an HTML href raw, fragment and entities
    included; a JSON file's ``url``) and answers ``"sha256=HEX"``, ``"true"`` or
    None. A value sets both the PEP 658 and the PEP 714 spelling (HTML
    ``data-dist-info-metadata`` and ``data-core-metadata``, replacing any there;
    JSON ``dist-info-metadata`` and ``core-metadata``); None leaves the link as
    it was. Everything else in an HTML page stays byte for byte; a JSON page is
    dumped again compactly if anything changed. A page that cannot be parsed is
    returned unchanged.
    """
    if content_type.split(";")[0].strip().lower().endswith(_JSON_MARK):
        return _advertise_json(body, value_for)
    return _advertise_html(body, value_for)


def _advertise_html(body: bytes, value_for: Callable[[str], str | None]) -> bytes:
    # surrogateescape: bytes that are not UTF-8 come back out exactly as they went in.
    text = body.decode("utf-8", "surrogateescape")
    changed = False

    def mark(match: re.Match) -> str:
        nonlocal changed
        tag = match.group(0)
        href = _HREF.search(tag)
        if href is None:
            return tag
        url = href.group(1) if href.group(1) is not None else href.group(2)
        if not _is_wheel_url(html.unescape(url)):
            return tag
        value = metadata_value(value_for(url))
        if value is None:
            return tag
        changed = True
        bare = _METADATA_ATTR.sub("", tag)
        closing = "/>" if bare.endswith("/>") else ">"
        head = bare[: -len(closing)]
        kept = head.rstrip()
        attrs = f' data-dist-info-metadata="{value}" data-core-metadata="{value}"'
        return kept + attrs + head[len(kept):] + closing

    result = _A_TAG.sub(mark, text)
    return result.encode("utf-8", "surrogateescape") if changed else body


def _advertise_json(body: bytes, value_for: Callable[[str], str | None]) -> bytes:
    try:
        data = json.loads(body)
        files = data.get("files")
        if not isinstance(files, list):
            return body
    except (ValueError, AttributeError, TypeError):
        return body
    changed = False
    for entry in files:
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str) or not _is_wheel_url(entry["url"]):
            continue
        value = metadata_value(value_for(entry["url"]))
        if value is None:
            continue
        declared = True if value == "true" else {"sha256": value[len("sha256="):]}
        entry["dist-info-metadata"] = declared
        entry["core-metadata"] = declared
        changed = True
    if not changed:
        return body
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def declared_metadata_hashes(body: bytes, content_type: str) -> dict[str, str]:
    """What a page declares of its files' core metadata: URL → the METADATA's sha256 (lower-case hex).

    The URL is as :func:`kit.edge.cache.links_of` reads it before resolving: an
    HTML href with ``&amp;`` undone and the fragment removed; a JSON file's
    ``url``. Only links declaring a sha256 are listed (``true`` promises a file
    but no hash). The PEP 714 spelling wins over the older one when both are there.
    """
    found: dict[str, str] = {}
    if content_type.split(";")[0].strip().lower().endswith(_JSON_MARK):
        try:
            for entry in json.loads(body).get("files", []):
                url = entry.get("url")
                for key in ("core-metadata", "dist-info-metadata"):
                    digest = entry.get(key)
                    digest = digest.get("sha256") if isinstance(digest, dict) else None
                    if isinstance(url, str) and isinstance(digest, str) and re.fullmatch(r"[0-9a-fA-F]{64}", digest):
                        found[url] = digest.lower()
                        break
        except (ValueError, AttributeError, TypeError):
            return {}
        return found
    for tag in _A_TAG.findall(body.decode("utf-8", "replace")):
        href = _HREF.search(tag)
        if href is None:
            continue
        url = (href.group(1) if href.group(1) is not None else href.group(2)).partition("#")[0].replace("&amp;", "&")
        declared = {}
        for match in _DECLARED_ATTR.finditer(tag):
            raw = next(g for g in match.groups()[1:] if g is not None)
            value = _SHA256_VALUE.fullmatch(html.unescape(raw))
            if value:
                declared[match.group(1).lower()] = value.group(1).lower()
        digest = declared.get("core") or declared.get("dist-info")
        if digest:
            found[url] = digest
    return found
