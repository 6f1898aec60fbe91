"""The plugin's purge secret file (:mod:`kit.plugin.settings`), read as devpi
reads its own settings: a bad one refused in one ``fatal:`` line naming the
file and the fix. devpi refusing to start with one:
tests/integration/plugin/test_hooks.py."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from kit.plugin.settings import read_secret, secret_path


def _secret_file(folder: Path, text: str | None = None, mode: int = 0o600, name: str = "purge-secret") -> Path:
    path = folder / name
    path.write_text(secrets.token_hex(32) + "\n" if text is None else text)
    path.chmod(mode)
    return path


def test_the_secret_is_read_stripped(tmp_path):
    path = _secret_file(tmp_path)
    assert read_secret(path) == path.read_text().strip()
    assert len(read_secret(path)) == 64


@pytest.mark.parametrize("text, mode, said", [
    (None, 0o604, "can be read by every user of this machine; run: chmod 600"),
    ("", 0o600, "is empty"),
    ("  \n", 0o600, "is empty"),
    ("short", 0o600, "does not hold one token"),
    ("two words " + "a" * 40, 0o600, "does not hold one token"),
])
def test_a_bad_secret_file_is_refused_naming_it_and_the_fix(tmp_path, text, mode, said):
    from devpi_server.main import Fatal

    path = _secret_file(tmp_path, text, mode)
    with pytest.raises(Fatal) as caught:
        read_secret(path)
    assert said in str(caught.value) and str(path) in str(caught.value)


def test_a_missing_secret_file_is_refused(tmp_path):
    from devpi_server.main import Fatal

    with pytest.raises(Fatal, match="does not exist; write the edge's purge secret"):
        read_secret(tmp_path / "nothing-here")


def test_a_relative_secret_path_is_taken_from_the_working_folder_as_devpi_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert secret_path("purge-secret") == tmp_path / "purge-secret"
    assert secret_path("~/s") == Path(os.environ["HOME"]) / "s"
