"""The shell quoting filter, tried by a real sh: a sourced value reads back unchanged
and runs nothing (the other filters, without a process: tests/unit/site/test_templating.py)."""

from __future__ import annotations

import subprocess

import pytest

from kit.site.templating import sh_word
from tests.support.values import HOSTILE



@pytest.mark.parametrize("value", HOSTILE + ["two\nlines", "tab\tand\rcr"])
def test_sh_word_reads_back_unchanged_and_runs_nothing(value, tmp_path):
    script = tmp_path / "vars.env"
    script.write_bytes(f"VALUE={sh_word(value)}\n".encode())
    out = subprocess.run(["sh", "-c", '. ./vars.env && printf %s "$VALUE"'], cwd=tmp_path,
                         capture_output=True, check=True)
    assert out.stdout.decode() == value
    assert not (tmp_path / "x").exists()


