"""The release steps of the README: the version is one, the wheel builds and passes twine check."""

from __future__ import annotations

import sys
import zipfile
from email.parser import Parser

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import kit
from tests.conftest import clean_env, run
from tests.tutorial.wheelhouse import build_kit_wheel


def test_the_release_wheel_builds_passes_twine_check_and_names_the_tutorial_extra(tmp_path):
    wheel = build_kit_wheel(tmp_path)
    assert wheel.name == f"pkgindex_kit-{kit.__version__}-py3-none-any.whl"
    checked = run([sys.executable, "-m", "twine", "check", "--strict", str(wheel)], env=clean_env(tmp_path / "home"))
    assert "PASSED" in checked.stdout
    with zipfile.ZipFile(wheel) as zf:
        meta = Parser().parsestr(zf.read(f"pkgindex_kit-{kit.__version__}.dist-info/METADATA").decode())
        names = zf.namelist()
    assert meta["Version"] == kit.__version__
    assert {"tutorial", "docs"} <= set(meta.get_all("Provides-Extra"))
    tutorial = [r for r in meta.get_all("Requires-Dist") if "extra == 'tutorial'" in r or 'extra == "tutorial"' in r]
    named = {canonicalize_name(Requirement(r).name) for r in tutorial}
    assert named >= {"uv", "zc-buildout", "zc-recipe-egg", "poetry", "pdm", "setuptools"}
    assert "kit/ops/wheelhouse.py" in names and any(n.startswith("kit/templates/") for n in names)
