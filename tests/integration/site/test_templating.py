"""The quoting filters: what a template writes, the file's reader reads back
unchanged, or kit refuses to write it."""

from __future__ import annotations

import subprocess

import pytest

from kit.site.templating import sh_word

HOSTILE = [
    "plain",
    "http://h/$(touch${IFS}/tmp/x)/+simple/",
    "a'b\"c`d`",
    "semi;colon && echo no",
    "-starts-with-dash",
    "back\\slash",
    "üñíçødé",
    "",
]


@pytest.mark.parametrize("value", HOSTILE + ["two\nlines", "tab\tand\rcr"])
def test_sh_word_reads_back_unchanged_and_runs_nothing(value, tmp_path):
    script = tmp_path / "vars.env"
    script.write_bytes(f"VALUE={sh_word(value)}\n".encode())
    out = subprocess.run(["sh", "-c", '. ./vars.env && printf %s "$VALUE"'], cwd=tmp_path,
                         capture_output=True, check=True)
    assert out.stdout.decode() == value
    assert not (tmp_path / "x").exists()


