"""kit.names: the one place for project and file name rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.core.names import NORMALIZED_PROJECT_RE, PROJECT_RE, normalize, project_of, version_of

KIT = Path(__file__).resolve().parents[3] / "kit"


@given(st.from_regex(PROJECT_RE, fullmatch=True))
def test_a_valid_name_normalises_as_pep_503_writes_it(name):
    assert normalize(name) == re.sub(r"[-_.]+", "-", name).lower()
    assert NORMALIZED_PROJECT_RE.fullmatch(normalize(name))


@pytest.mark.parametrize("filename, project, version", [
    ("My_Pkg-1.0-py3-none-any.whl", "my-pkg", "1.0"),
    ("zc.buildout-6.0.1.tar.gz", "zc-buildout", "6.0.1"),
    ("acme-utils-2.0.zip", "acme-utils", "2.0"),
    ("odd.name-1.1.dev1.tar.bz2", "odd-name", "1.1.dev1"),
])
def test_file_names_give_project_and_version(filename, project, version):
    assert project_of(filename) == project and version_of(filename) == version


@pytest.mark.parametrize("filename", ["README", "x.tar.gz", "notes.txt", "simple.json"])
def test_other_files_are_no_distribution(filename):
    assert project_of(filename) is None


def test_no_other_module_writes_the_normalisation_rule_again():
    again = [str(p.relative_to(KIT)) for p in KIT.rglob("*.py")
             if p.name != "names.py" and "[-_.]+" in p.read_text()]
    assert again == []
