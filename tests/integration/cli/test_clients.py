"""``kit clients``: settings for any existing index, printed or written."""

from __future__ import annotations

import stat
import subprocess
import sys

import pytest

from tests.conftest import BIN, PRIVATE, clean_env, run
from tests.support.cli import kit
from tests.support.clients import new_venv


def test_prints_every_tool_for_a_devpi_index(capsys):
    code, out, err = kit("clients", "--index-url", "http://127.0.0.1:3141/web/private/+simple/", capsys=capsys)
    assert code == 0, err
    for name in ("pip.conf", "uv.toml", "buildout.cfg", "setup.cfg", "poetry-source.toml", "pdm.toml", ".pypirc", "ci.env"):
        assert f"# ---- {name} ----" in out
    assert "README" not in out  # explanations are in each file's comments, or in --out DIR
    assert "repository = http://127.0.0.1:3141/web/private/" in out
    assert "username = web" in out
    assert "password =" not in out  # kit clients never knows one


def test_one_tool_only(capsys):
    code, out, _ = kit("clients", "--index-url", "https://pkgs.example.test/simple/", "--tool", "pip", capsys=capsys)
    assert code == 0
    assert "index-url = https://pkgs.example.test/simple/" in out
    assert "# ---- uv.toml ----" not in out and "trusted-host" not in out


@pytest.mark.parametrize("tool, name", [("pip", "pip.conf"), ("uv", "uv.toml"), ("buildout", "buildout.cfg"),
                                        ("pdm", "pdm.toml"), ("twine", ".pypirc"), ("env", "ci.env")])
def test_one_tool_prints_exactly_its_file(tmp_path, capsys, tool, name):
    """``kit clients --tool pip > pip.conf`` once wrote a Markdown README into pip.conf."""
    url = "http://127.0.0.1:3141/web/private/+simple/"
    code, out, _ = kit("clients", "--index-url", url, "--tool", tool, capsys=capsys)
    assert code == 0
    assert kit("clients", "--index-url", url, "--tool", tool, "--out", str(tmp_path), capsys=capsys)[0] == 0
    assert out == (tmp_path / name).read_text()


def test_piped_pip_conf_is_read_by_pip(tmp_path):
    """The redirect a team lead types, then pip itself reading the file."""
    env = clean_env(tmp_path / "home")
    conf = tmp_path / "pip.conf"
    with open(conf, "w") as out:
        subprocess.run([sys.executable, "-m", "kit", "clients", "--index-url", "http://127.0.0.1:3141/web/private/+simple/",
                        "--tool", "pip"], stdout=out, check=True, env=env)
    proc = run([BIN / "python", "-m", "pip", "config", "list"], env=dict(env, PIP_CONFIG_FILE=str(conf)))
    assert "global.index-url='http://127.0.0.1:3141/web/private/+simple/'" in proc.stdout
    assert proc.stderr == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (["--index-url", "ftp://x/simple/"], "unsupported scheme 'ftp'"),
        (["--index-url", "not a url"], "is not a URL"),
        (["--index-url", "http://x/simple/", "--tool", "npm"], "--tool: unknown choice 'npm'"),
        (["--index-url", "http://x/simple/", "--tool", "twine"], "pass --upload-url"),
        (["--index-url", "http://x/web/dev/+simple/", "--team", "Bad Team"], "invalid team name"),
    ],
)
def test_bad_input(capsys, tmp_path, args, message):
    code, out, err = kit("clients", *args, "--out", str(tmp_path / "out"), capsys=capsys)
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_out_writes_files_with_modes_and_refuses_to_clobber(tmp_path, capsys):
    out_dir = tmp_path / "out"
    args = ("clients", "--index-url", "http://127.0.0.1:3141/web/private/+simple/", "--out", str(out_dir))
    assert kit(*args, capsys=capsys)[0] == 0
    assert stat.S_IMODE((out_dir / ".pypirc").stat().st_mode) == 0o600
    assert stat.S_IMODE((out_dir / "pip.conf").stat().st_mode) == 0o644
    assert kit(*args, capsys=capsys)[0] == 0  # same content: fine
    (out_dir / "pip.conf").write_text("mine\n")
    code, _, err = kit(*args, capsys=capsys)
    assert code == 2 and "pip.conf" in err and "--force" in err
    assert (out_dir / "pip.conf").read_text() == "mine\n"
    assert kit(*args, "--force", capsys=capsys)[0] == 0
    assert "index-url" in (out_dir / "pip.conf").read_text()


def test_written_pip_conf_installs_from_a_running_index(uploaded, tmp_path, capsys):  # noqa: F811
    out_dir = tmp_path / "out"
    code, _, err = kit("clients", "--index-url", f"{uploaded.url}/web/private/+simple/", "--tool", "pip", "--out", str(out_dir), capsys=capsys)
    assert code == 0, err
    python = new_venv(tmp_path / "venv")
    env = dict(uploaded.env, PIP_CONFIG_FILE=str(out_dir / "pip.conf"))
    run([BIN / "python", "-m", "pip", "--python", python, "install", "--no-cache-dir", PRIVATE], env=env)
    out = run([python, "-c", "import kitdemo_private as p; print(p.WHO)"], env=env).stdout.strip()
    assert out == "team"


def test_written_uv_toml_publishes_to_a_running_devpi_index(devpi_site, tmp_path, capsys):
    """For a devpi index, kit clients knows the upload URL: uv publishes there with its uv.toml
    (the password from the environment, which kit clients never writes)."""
    from kit.ops.sample import make_wheel
    from tests.support.clients import load_env_file, on_team_index

    out_dir = tmp_path / "out"
    code, _, err = kit("clients", "--index-url", f"{devpi_site.url}/web/private/+simple/", "--tool", "uv", "--tool", "env",
                       "--out", str(out_dir), capsys=capsys)
    assert code == 0, err
    assert "PASSWORD" not in (out_dir / "ci.env").read_text()
    password = load_env_file(devpi_site.team_dir("web") / "ci.env")["UV_PUBLISH_PASSWORD"]
    wheel = make_wheel(tmp_path / "dist", "kitdemo-clients", "1.0", marker="clients")
    env = dict(devpi_site.env, UV_CONFIG_FILE=str(out_dir / "uv.toml"), UV_CACHE_DIR=str(tmp_path / "uvcache"),
               UV_PUBLISH_USERNAME="web", UV_PUBLISH_PASSWORD=password)
    run([BIN / "uv", "publish", "--index", "web", wheel], env=env, cwd=tmp_path)
    on_team_index(devpi_site, "web", wheel)


def test_no_publish_settings_without_an_upload_url(capsys):
    """An index whose upload URL kit cannot tell gets no upload target at all, not PyPI's."""
    code, out, err = kit("clients", "--index-url", "https://pkgs.example.test/simple/", "--tool", "uv", "--tool", "pdm",
                         "--tool", "poetry", "--tool", "env", capsys=capsys)
    assert code == 0, err
    assert "publish" not in out.lower() and "repository" not in out and "POETRY_" not in out


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("keep")
    code, _, err = kit("clients", "--index-url", "http://127.0.0.1:3141/web/private/+simple/", "--out", str(target), capsys=capsys)
    assert code == 2 and "is a file" in err and target.read_text() == "keep"


# -- hostile input (issue 8) -------------------------------------------------

INJECTION = "http://127.0.0.1:3143/acme/private/+simple/\n[install]\nextra-index-url = http://127.0.0.1:3144/simple/\n[x]"


@pytest.mark.parametrize("args, message", [
    (["--index-url", INJECTION, "--tool", "pip"], "control character U+000A"),
    (["--index-url", 'http://127.0.0.1:3141/web/"private/+simple/', "--tool", "uv"], "quote or backslash"),
    (["--index-url", "http://h/$(touch${IFS}/tmp/x)/+simple/", "--tool", "env"], "contains '$'"),
    (["--index-url", "http://h/`id`/+simple/", "--tool", "env"], "quote or backslash"),
    (["--index-url", "http://h/a;id/+simple/", "--tool", "env"], "contains ';'"),
    (["--index-url", "http://web:s3cret@h/web/private/+simple/"], "a keyring or .netrc"),
    (["--index-url", "http://h/web/private/+simple/", "--upload-url", "http://web:s3cret@h/web/private/"],
     ".pypirc or TWINE_PASSWORD"),
    (["--index-url", "http://h/web/private/+simple/", "--upload-url", "http://h/web/private/\nx"],
     "--upload-url"),
    (["--index-url", "http://h/web/private/+simple/", "--team", "my team"], "--team: invalid team name 'my team'"),
    (["--index-url", "http://h/web/private/+simple/", "--team", "root"], "--team: team name 'root' is reserved"),
])
def test_hostile_values_are_refused_and_nothing_written(capsys, tmp_path, args, message):
    code, out, err = kit("clients", *args, "--out", str(tmp_path / "out"), capsys=capsys)
    assert code == 2 and message in err, err
    assert err.startswith("kit: error: ") and err.count("\n") == 1 and "Traceback" not in out + err
    assert "s3cret" not in err
    assert not (tmp_path / "out").exists()


def test_out_under_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("keep")
    code, out, err = kit("clients", "--index-url", "http://127.0.0.1:3141/web/private/+simple/",
                         "--out", str(tmp_path / "file" / "sub"), capsys=capsys)
    assert code == 2 and "is a file, not a folder" in err and err.count("\n") == 1
    assert (tmp_path / "file").read_text() == "keep"


def test_out_with_a_non_utf8_file_in_the_way(tmp_path, capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "pip.conf").write_bytes(b"\xff\xfe")
    code, out, err = kit("clients", "--index-url", "http://127.0.0.1:3141/web/private/+simple/", "--tool", "pip",
                         "--out", str(out_dir), capsys=capsys)
    assert code == 2 and "--force" in err and err.count("\n") == 1
    assert (out_dir / "pip.conf").read_bytes() == b"\xff\xfe"
