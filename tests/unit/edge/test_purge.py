"""The purge contract devpi's plugin relies on: no sockets."""

from __future__ import annotations

import pytest

from kit.edge.purge import PurgeKey, PurgeRefused, check_authorization, parse_purge, read_secret

SECRET = "ab" * 32


@pytest.mark.parametrize("header, secret, status", [
    (None, SECRET, 401), ("", SECRET, 401), ("Basic xyz", SECRET, 401), ("Bearer", SECRET, 401),
    ("Bearer " + "0" * 64, SECRET, 403), ("Bearer " + SECRET, None, 403),
])
def test_authorization_refused(header, secret, status):
    with pytest.raises(PurgeRefused) as refused:
        check_authorization(header, secret)
    assert refused.value.status == status


def test_authorization_accepted_and_the_secret_file_read_stripped(tmp_path):
    (tmp_path / "s").write_text(SECRET + "\n")
    (tmp_path / "s").chmod(0o600)
    check_authorization("Bearer " + SECRET, read_secret(tmp_path / "s"))
    assert read_secret(tmp_path / "missing") is None
    (tmp_path / "empty").write_text("\n")
    assert read_secret(tmp_path / "empty") is None


def test_keys_parse_to_root_project_and_everything():
    keys, serial = parse_purge(b'{"keys": ["web/private", "web/private/Foo.Bar", "web/private/*"], "serial": 7}')
    assert keys == [PurgeKey("web/private", ""), PurgeKey("web/private", "foo-bar"), PurgeKey("web/private", None)]
    assert serial == 7


@pytest.mark.parametrize("body", [b"", b"[]", b'{"keys": "web/private"}', b'{"keys": ["web"]}',
                                  b'{"keys": ["a/b/c/d"]}', b'{"keys": [1]}', b'{"keys": [], "serial": "x"}',
                                  b'{"keys": ["a//c"]}'])
def test_bad_bodies_get_400(body):
    with pytest.raises(PurgeRefused) as refused:
        parse_purge(body)
    assert refused.value.status == 400
