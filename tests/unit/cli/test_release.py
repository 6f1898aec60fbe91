"""The release steps of the README: the version is one, the wheel builds and passes twine check."""

from __future__ import annotations

import tomllib
from pathlib import Path


import kit

ROOT = Path(__file__).resolve().parents[3]


def test_the_version_is_said_once_in_pyproject_and_once_in_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == kit.__version__


