"""The backup archive's manifest and members, with no process: what a backup holds, and
every way an archive is refused before anything is written."""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from kit.ops.backup import (
    ARCHIVE_MANIFEST, FORMAT, LEFT_OUT, BackupError, _write_archive, check_manifest, check_members, manifest_for,
    read_archive, safe_member_name, site_members,
)

SECRET = "ab" * 32


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archive_of(tmp_path: Path, files: dict[str, bytes], **manifest_changes) -> Path:
    """An archive as kit backup writes it, of ``files`` (member name → bytes)."""
    src = tmp_path / "src"
    members = {}
    for name, data in files.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        members[name] = path
    manifest = manifest_for({name: digest(data) for name, data in files.items()}, devpi_server="6.20.3", serial=7)
    manifest.update(manifest_changes)
    archive = tmp_path / "b.tar.gz"
    with open(archive, "wb") as out:
        _write_archive(out, manifest, members)
    return archive


GOOD = {"site/kit.toml": b"teams = ['web']\n", "site/cluster/devpi-secret": SECRET.encode() + b"\n",
        "devpi-export/dataindex.json": b"{}", "devpi-export/web/private/p/1.0/p-1.0-py3-none-any.whl": b"PK wheel"}


def test_site_members_are_kit_toml_and_the_secrets_that_exist(tmp_path):
    (tmp_path / "cluster").mkdir()
    (tmp_path / "kit.toml").write_text("")
    (tmp_path / "cluster" / "devpi-secret").write_text(SECRET)
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "devpi-secret").write_text(SECRET)  # the same secret: kept once
    assert site_members(tmp_path) == ["kit.toml", "cluster/devpi-secret"]
    (tmp_path / "cluster" / "edge-purge-secret").write_text(SECRET)
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "ca-key.pem").write_text("key")
    assert site_members(tmp_path) == ["kit.toml", "cluster/devpi-secret", "cluster/edge-purge-secret", "tls/ca-key.pem"]


def test_the_manifest_says_versions_serial_members_and_what_was_left_out():
    now = datetime.datetime(2026, 12, 5, 3, 0, tzinfo=datetime.timezone.utc)
    manifest = manifest_for({"site/kit.toml": "0" * 64}, devpi_server="6.20.3", serial=12, now=now)
    assert manifest["format"] == FORMAT and manifest["devpi_server"] == "6.20.3" and manifest["master_serial"] == 12
    assert manifest["created"] == "2026-12-05T03:00:00Z" and manifest["left_out"] == list(LEFT_OUT)
    assert manifest["members"] == {"site/kit.toml": "0" * 64} and manifest["kit"]


@pytest.mark.parametrize("name, safe", [
    ("site/kit.toml", True), ("devpi-export/web/private/x.whl", True), ("kit.toml", False), ("site", False),
    ("/etc/passwd", False), ("site/../../x", False), ("other/kit.toml", False), ("site\\..\\x", False)])
def test_member_names_stay_inside_the_two_parts(name, safe):
    assert safe_member_name(name) is safe


def test_a_manifest_kit_does_not_write_is_refused():
    members = {"site/kit.toml": "0" * 64, "devpi-export/dataindex.json": "1" * 64}
    assert check_manifest({"format": FORMAT, "members": members}, "b") == members
    with pytest.raises(BackupError, match="^b is a kit backup of format 99, this kit reads 1; restore it with the kit"):
        check_manifest({"format": 99, "members": members}, "b")
    for bad in ([], {"format": FORMAT}, {"format": FORMAT, "members": {"site/kit.toml": "xyz"}},
                {"format": FORMAT, "members": {**members, "../x": "0" * 64}}):
        with pytest.raises(BackupError, match="^b is not a kit backup"):
            check_manifest(bad, "b")
    with pytest.raises(BackupError, match="lacks kit.toml or devpi's export"):
        check_manifest({"format": FORMAT, "members": {"site/kit.toml": "0" * 64}}, "b")


def test_members_must_be_those_of_the_manifest():
    expected = {"site/a": "0" * 64, "site/b": "1" * 64}
    check_members(expected, dict(expected), "b")
    with pytest.raises(BackupError, match="^b is damaged: site/b does not match its sha256"):
        check_members(expected, {"site/a": "0" * 64, "site/b": "2" * 64}, "b")
    with pytest.raises(BackupError, match="^b holds site/c, which its manifest does not list"):
        check_members(expected, {**expected, "site/c": "0" * 64}, "b")
    with pytest.raises(BackupError, match=r"^b is incomplete: 1 member of its manifest missing \(site/b…\)"):
        check_members(expected, {"site/a": "0" * 64}, "b")


def test_an_archive_round_trips_manifest_first_private_files(tmp_path):
    archive = archive_of(tmp_path, GOOD)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert all(m.mode == 0o600 and m.uid == 0 and not m.uname for m in tar.getmembers())
    assert names[0] == ARCHIVE_MANIFEST and sorted(names[1:]) == sorted(GOOD)
    into = tmp_path / "into"
    manifest = read_archive(archive, into)
    assert manifest["master_serial"] == 7
    for name, data in GOOD.items():
        assert (into / name).read_bytes() == data and (into / name).stat().st_mode & 0o777 == 0o600


def test_a_flipped_byte_anywhere_is_refused(tmp_path):
    """Every few bytes of the compressed data and gzip's trailer, flipped: "damaged", never another
    complaint (CI once saw a flip turn the manifest's member names into "lacks kit.toml", a backup
    that was merely damaged called not a kit backup); a flip deflate ignores (unused padding bits)
    may pass, with every member intact."""
    archive = archive_of(tmp_path, GOOD)
    good = archive.read_bytes()
    refused = 0
    for where in [*range(len(good) // 4, len(good) - 8, 7), len(good) - 3]:
        damaged = bytearray(good)
        damaged[where] ^= 0xFF
        archive.write_bytes(bytes(damaged))
        into = tmp_path / f"into-{where}"
        try:
            read_archive(archive, into)
        except BackupError as exc:
            assert "damaged" in str(exc), (where, str(exc))
            refused += 1
        else:
            assert {name: (into / name).read_bytes() for name in GOOD} == GOOD, where
    assert refused >= 50


def test_a_member_changed_after_the_backup_is_refused(tmp_path):
    archive = archive_of(tmp_path, {**GOOD, "site/kit.toml": b"changed"}, members={
        **{name: digest(data) for name, data in GOOD.items()}})
    with pytest.raises(BackupError, match="is damaged: site/kit.toml does not match its sha256 in the manifest"):
        read_archive(archive, tmp_path / "into")


def test_an_archive_without_a_manifest_first_or_with_other_members_is_refused(tmp_path):
    plain = tmp_path / "plain.tar.gz"
    with tarfile.open(plain, "w:gz") as tar:
        info = tarfile.TarInfo("site/kit.toml")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(BackupError, match="is not a kit backup \\(no manifest first\\)"):
        read_archive(plain, tmp_path / "a")
    linked = tmp_path / "linked.tar.gz"
    members = {"site/kit.toml": "0" * 64, "devpi-export/dataindex.json": "1" * 64}
    with tarfile.open(linked, "w:gz") as tar:
        payload = json.dumps({"format": FORMAT, "members": members}).encode()
        info = tarfile.TarInfo(ARCHIVE_MANIFEST)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
        link = tarfile.TarInfo("site/kit.toml")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(BackupError, match="holds 'site/kit.toml', which no kit backup holds"):
        read_archive(linked, tmp_path / "b")
    assert not (tmp_path / "b" / "site" / "kit.toml").exists()
