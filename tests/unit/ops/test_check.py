"""``kit check`` without a server or a process: the shell's overriding variables,
and team files a client would refuse, as findings, never a traceback. On real
sites and clusters: tests/integration/ops/test_check.py."""

from __future__ import annotations


import pytest

from kit.ops.check import OVERRIDING_VARIABLES, environment_findings


def test_every_index_variable_of_every_client_is_known():
    assert environment_findings({}) == []
    for name in OVERRIDING_VARIABLES:
        (finding,) = environment_findings({name: "x"})
        assert finding.warning and name in finding.detail
    assert environment_findings({"PIP_CONFIG_FILE": "/x/pip.conf", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}) == []


# -- a hand-edited file of the wrong shape --------------------------------------


@pytest.mark.parametrize("name, text", [
    ("pdm.toml", 'pypi = "x"\n'),
    ("uv.toml", 'index = "http://127.0.0.1:3143/acme/private/+simple/"\n'),
    ("uv.toml", 'index = ["http://127.0.0.1:3143/acme/private/+simple/"]\n'),
    ("uv.toml", "index = 3\n"),
    ("poetry-source.toml", '[tool.poetry]\nsource = ["primary"]\n'),
    ("poetry-source.toml", '[tool]\npoetry = "x"\n'),
], ids=["pdm-pypi-a-string", "uv-index-a-string", "uv-index-of-strings", "uv-index-a-number",
        "poetry-source-of-strings", "poetry-a-string"])
def test_a_file_of_the_wrong_shape_is_one_finding_never_a_traceback(tmp_path, name, text):
    """Valid TOML its client would refuse: kit check names the file and the fix, as for a broken one."""
    from kit.ops.check import lint_team
    from kit.site.clients import index_context, render_clients, write_clients

    folder = tmp_path / "acme"
    write_clients(render_clients(index_context("http://127.0.0.1:3143/acme/private/+simple/", team="acme"),
                                 readme=False), folder)
    (folder / name).write_text(text)
    (finding,) = [f for f in lint_team("acme", folder) if not f.ok]
    assert finding.check == "files readable" and finding.detail.startswith(f"{name} cannot be read: ")
    assert "regenerate it with" in finding.fix
