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


# -- a team whose reads take credentials ------------------------------------------


def private_team(tmp_path, read_access: str = "team"):
    """web's folder of a site whose reads take credentials (netrc, ci.env with KIT_TOKEN)."""
    from kit.site.answers import answers_from_raw
    from kit.site.clients import render_team, team_context

    answers = answers_from_raw({"teams": ["web", "data"], "setups": ["mirror", "private", "clients"],
                                "upstream": str(tmp_path), "read_access": read_access})
    folder = tmp_path / "teams" / "web"
    folder.parent.mkdir()
    render_team(team_context(answers, "web"), folder)
    return answers, folder


def test_lint_passes_the_files_of_a_team_that_reads_with_credentials(tmp_path):
    """ci.env's "${KIT_TOKEN}" is the one expansion allowed; PIP_INDEX_URL with the user in
    it and uv's named UV_DEFAULT_INDEX still name the one team index."""
    from kit.ops.check import lint_team

    _, folder = private_team(tmp_path)
    findings = lint_team("web", folder)
    assert [f for f in findings if not f.ok] == []
    secrets = next(f for f in findings if f.check == "secrets not world-readable")
    assert secrets.detail == ".pypirc, ci.env and netrc are mode 0600"


def test_a_world_readable_netrc_is_flagged(tmp_path):
    from kit.ops.check import lint_team

    _, folder = private_team(tmp_path)
    (folder / "netrc").chmod(0o644)
    (finding,) = [f for f in lint_team("web", folder) if not f.ok]
    assert finding.check == "secrets not world-readable" and "netrc is mode 0644" in finding.detail
    assert finding.fix.startswith("chmod 600 ") and f"{folder}/netrc" in finding.fix


@pytest.mark.parametrize("line", [
    'TWINE_PASSWORD="${HOME}"',
    'TWINE_PASSWORD="${KIT_TOKEN}$(id)"',
    "TWINE_PASSWORD=${KIT_TOKEN:-$(id)}",
    'PIP_INDEX_URL=http://web:"${KIT_TOKEN}"@h/`id`',
])
def test_ci_env_allows_no_expansion_but_kit_token(tmp_path, line):
    from kit.ops.check import lint_team

    _, folder = private_team(tmp_path)
    (folder / "ci.env").write_text((folder / "ci.env").read_text() + line + "\n")
    (finding,) = [f for f in lint_team("web", folder) if not f.ok]
    assert finding.check == "files readable" and "not a plain KEY=value" in finding.detail


def test_ci_env_naming_a_second_index_with_credentials_is_still_a_second_index(tmp_path):
    from kit.ops.check import lint_team

    _, folder = private_team(tmp_path)
    text = (folder / "ci.env").read_text()
    (folder / "ci.env").write_text(text.replace("UV_DEFAULT_INDEX=web=http://127.0.0.1",
                                                "UV_DEFAULT_INDEX=web=http://evil:1@127.0.0.9"))
    (finding,) = [f for f in lint_team("web", folder) if not f.ok]
    assert finding.check == "one index only" and "ci.env names more than one index" in finding.detail


def test_check_reads_the_credentials_from_the_netrc_as_clients_do(tmp_path):
    from kit.ops.check.live import read_credentials

    answers, folder = private_team(tmp_path)
    url = f"http://{answers.host}:{answers.client_port}/web/private/+simple/"
    assert read_credentials(folder, url) == ("web", answers.team_password("web"))
    assert read_credentials(folder, "http://elsewhere.example:80/web/private/+simple/") is None
    assert read_credentials(tmp_path, url) is None  # no netrc


def test_a_team_without_its_netrc_fails_in_one_line_with_the_fix(tmp_path):
    """No request is made: the missing file is the finding."""
    from kit.ops.check import Hints, live_team

    _, folder = private_team(tmp_path)
    (folder / "netrc").unlink()
    (finding,) = live_team("web", folder, None, Hints(init="kit init site"), read_access="team")
    assert (finding.check, finding.ok) == ("index answers", False)
    assert finding.detail == "netrc gives no credentials for 127.0.0.1"
    assert finding.fix == "regenerate it with: kit init site"
