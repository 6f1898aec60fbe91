"""kit.core.secrets: one set of rules for the purge secret, read by devpi's
plugin (fatal at start) and by the edge (purges refused): no sockets."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kit.core.errors import SecretError
from kit.core.secrets import read_secret

TOKEN = "9f" * 32  # fixed: parametrised test ids must be the same in every pytest-xdist worker


def secret_file(folder: Path, text: str | bytes = TOKEN + "\n", mode: int = 0o600, name: str = "secret") -> Path:
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    path.chmod(mode)
    return path


@pytest.mark.parametrize("required", [True, False])
@pytest.mark.parametrize("mode", [0o600, 0o400, 0o640])
def test_a_token_only_its_owner_and_group_read_is_read_stripped(tmp_path, mode, required):
    """Group access is allowed: an edge running as another user may share the file through a group."""
    assert read_secret(secret_file(tmp_path, f"  {TOKEN}\n", mode), required=required) == TOKEN


def test_a_missing_file_is_no_secret_unless_one_is_required(tmp_path):
    assert read_secret(tmp_path / "absent", required=False) is None
    with pytest.raises(SecretError, match=r"secret file .*absent does not exist; write the secret"):
        read_secret(tmp_path / "absent", required=True)


@pytest.mark.parametrize("text, mode, said", [
    (TOKEN, 0o604, "can be read by every user of this machine; run: chmod 600 "),
    (TOKEN, 0o602, "is open to every user of this machine (mode 0602); run: chmod 600 "),
    ("", 0o600, "is empty"),
    (" \n\t", 0o600, "is empty"),
    ("short", 0o600, "does not hold one token of at least 32"),
    ("two words " + "a" * 40, 0o600, "does not hold one token"),
    ("a" * 40 + "\nsecond line", 0o600, "does not hold one token"),
    ("é" * 40, 0o600, "holds something else than a secret"),
    (b"\xff" * 40, 0o600, "holds something else than a secret"),
])
@pytest.mark.parametrize("required", [True, False])
def test_a_broken_rule_is_one_line_naming_the_file_and_the_fix(tmp_path, text, mode, said, required):
    path = secret_file(tmp_path, text, mode)
    with pytest.raises(SecretError) as caught:
        read_secret(path, required=required)
    message = str(caught.value)
    assert said in message and str(path) in message and "\n" not in message
    assert "chmod 600" in message  # the fix, whichever rule broke


def test_a_folder_is_not_a_secret_file(tmp_path):
    with pytest.raises(SecretError, match="is not a file"):
        read_secret(tmp_path, required=False)


def test_the_reader_names_its_own_fix(tmp_path):
    with pytest.raises(SecretError, match="; remove kit-purge-url$"):
        read_secret(secret_file(tmp_path, "short"), required=True, fix="remove kit-purge-url")


def test_devpi_refuses_to_start_on_a_broken_rule(tmp_path):
    """The plugin's reaction: devpi's Fatal ("fatal: kit-purge: …", exit 1), with its own fix."""
    from devpi_server.main import Fatal

    from kit.plugin.settings import read_secret as plugin_read_secret

    with pytest.raises(Fatal, match=r"^kit-purge: secret file .* can be read by every user"):
        plugin_read_secret(secret_file(tmp_path, mode=0o644))
    with pytest.raises(Fatal, match="does not exist; .* or remove kit-purge-url$"):
        plugin_read_secret(tmp_path / "absent")


# -- the edge: what it accepts changed (it took any text, in any mode) ------------------------------


@pytest.mark.parametrize("text, mode", [(TOKEN, 0o644), (TOKEN, 0o606), ("short", 0o600), ("two words", 0o600)])
def test_the_edge_refuses_purges_with_a_secret_that_breaks_a_rule(tmp_path, caplog, text, mode):
    """Before kit.core.secrets the edge took a world-readable secret, or any
    text at all, and accepted purges carrying it."""
    from kit.edge.purge import PurgeRefused, check_authorization
    from kit.edge.purge import read_secret as edge_read_secret

    path = secret_file(tmp_path, text, mode)
    with caplog.at_level(logging.WARNING, logger="kit.edge"):
        assert edge_read_secret(path) is None
        assert edge_read_secret(path) is None
    with pytest.raises(PurgeRefused) as refused:
        check_authorization(f"Bearer {text}", edge_read_secret(path))
    assert refused.value.status == 403
    # Logged once, however many purges are refused, naming the file and the fix.
    warnings = [r.getMessage() for r in caplog.records if r.name == "kit.edge"]
    assert len(warnings) == 1 and str(path) in warnings[0] and "chmod 600" in warnings[0]


def test_the_edge_still_has_no_secret_without_the_file_and_takes_a_good_one(tmp_path):
    from kit.edge.purge import check_authorization
    from kit.edge.purge import read_secret as edge_read_secret

    assert edge_read_secret(tmp_path / "absent") is None
    check_authorization(f"Bearer {TOKEN}", edge_read_secret(secret_file(tmp_path, mode=0o640)))


