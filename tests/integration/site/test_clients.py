"""Each generated client file, used by the real client against a real devpi-server.

The team index holds the team's own kitdemo-private 1.0; the upstream serves
the same name as 2.0 and as 1.0 with other bytes. Every client must install
the team's bytes (module attribute WHO == "team") and the upstream-only
package through the one team index.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BIN, PRIVATE, UPSTREAM_ONLY, clean_env, run
from tests.support.clients import load_env_file, new_venv, on_team_index, who


def test_devpi_server_reads_generated_config_without_warnings(devpi_site):
    text = devpi_site.log.read_text(errors="replace")
    assert "Unknown devpi-server option" not in text
    assert f"{devpi_site.url.rsplit(':', 1)[1]}" in text  # listens where devpi-server.yml says


def test_pip_installs_team_bytes_with_generated_pip_conf(uploaded, tmp_path):
    python = new_venv(tmp_path / "venv")
    env = dict(uploaded.env, PIP_CONFIG_FILE=str(uploaded.team_dir("web") / "pip.conf"))
    # pip reads the team's file, and nothing else adds an index (this machine's own settings do).
    settings = run([BIN / "python", "-m", "pip", "config", "list"], env=env).stdout
    assert f"global.index-url='{uploaded.url}/web/private/+simple/'" in settings
    assert "global.extra-index-url=''" in settings and "global.find-links=''" in settings
    run([BIN / "python", "-m", "pip", "--python", python, "install", "--no-cache-dir", PRIVATE, UPSTREAM_ONLY], env=env)
    assert who(python, env) == ("team", "1.0", "upstream")


def test_uv_installs_team_bytes_with_generated_uv_toml(uploaded, tmp_path):
    python = new_venv(tmp_path / "venv")
    env = dict(uploaded.env, UV_CONFIG_FILE=str(uploaded.team_dir("web") / "uv.toml"), UV_CACHE_DIR=str(tmp_path / "uvcache"))
    run([BIN / "uv", "pip", "install", "--python", python, PRIVATE, UPSTREAM_ONLY], env=env)
    assert who(python, env) == ("team", "1.0", "upstream")


def test_ci_env_drives_pip_uv_and_twine(uploaded, dists, tmp_path):
    """The data team's ci.env: twine uploads its own project; pip and uv install it, web's
    kitdemo-private (through the team indexes' inheritance) and the upstream's project."""
    ci = load_env_file(uploaded.team_dir("data") / "ci.env")
    env = dict(uploaded.env, **ci, UV_CACHE_DIR=str(tmp_path / "uvcache"))
    from kit.ops.sample import make_wheel

    wheel = make_wheel(tmp_path / "dist", "kitdemo-data", "1.0", marker="data-team")
    run([BIN / "twine", "upload", "--non-interactive", "--disable-progress-bar", wheel], env=env)
    code = "import kitdemo_data as d; print(d.WHO)"
    for name, command in [("pip", [BIN / "python", "-m", "pip", "--python", "PY", "install", "--no-cache-dir"]),
                          ("uv", [BIN / "uv", "pip", "install", "--python", "PY"])]:
        python = new_venv(tmp_path / f"venv-{name}")
        run([python if part == "PY" else part for part in command] + ["kitdemo-data", PRIVATE, UPSTREAM_ONLY],
            env=env)
        assert run([python, "-c", code], env=env).stdout.split() == ["data-team"]
        assert who(python, env) == ("team", "1.0", "upstream")


def test_the_production_server_keeps_a_name_to_its_team(uploaded, tmp_path):
    """server/devpi-server.yml turns kit's one-team-per-project rule on, and create-indexes.sh
    gave kitdemo-data to team data (private_projects = data:kitdemo-data): web may not publish it."""
    from kit.ops.sample import make_wheel

    wheel = make_wheel(tmp_path / "dist", "kitdemo-data", "9.0", marker="web")
    refused = run([BIN / "twine", "upload", "--config-file", uploaded.team_dir("web") / ".pypirc", "-r", "web",
                   "--disable-progress-bar", "--non-interactive", wheel], env=uploaded.env, check=False)
    assert refused.returncode != 0
    assert "kitdemo-data belongs to team data (data/private holds it)" in " ".join((refused.stdout + refused.stderr).split())


def test_setup_requires_fetches_team_bytes_with_generated_setup_cfg(uploaded, tmp_path):
    project = tmp_path / "legacy"
    project.mkdir()
    (project / "setup.cfg").write_text((uploaded.team_dir("web") / "setup.cfg").read_text())
    (project / "setup.py").write_text(
        "from setuptools import setup\n"
        "setup(name='legacy', version='0.1', setup_requires=['kitdemo-private'])\n"
    )
    run([BIN / "python", "setup.py", "egg_info"], env=uploaded.env, cwd=project)
    eggs = list((project / ".eggs").glob("kitdemo_private-1.0*"))
    assert eggs, list((project / ".eggs").iterdir())
    init = next(eggs[0].rglob("kitdemo_private/__init__.py"))
    assert "WHO = 'team'" in init.read_text()


def test_buildout_installs_team_bytes_with_generated_buildout_cfg(uploaded, tmp_path):
    project = tmp_path / "buildout"
    project.mkdir()
    (project / "buildout.cfg").write_text(
        "[buildout]\n"
        f"extends = {uploaded.team_dir('web') / 'buildout.cfg'}\n"
        "parts = app\n\n"
        "[app]\nrecipe = zc.recipe.egg\neggs =\n    kitdemo-private\n    kitdemo-upstream\ninterpreter = py\n"
    )
    env = dict(uploaded.env, PIP_CONFIG_FILE=str(uploaded.team_dir("web") / "pip.conf"))
    result = run([BIN / "buildout"], env=env, cwd=project)
    log = result.stdout + result.stderr
    assert "/web/private/+simple/" in log  # it read the team index, and only that
    out = run([project / "bin" / "py", "-c", "import kitdemo_private as p, kitdemo_upstream as u; print(p.WHO, p.VERSION, u.WHO)"], env=env)
    assert out.stdout.split() == ["team", "1.0", "upstream"]


def test_allow_hosts_keeps_buildout_off_other_hosts(uploaded, tmp_path, local_upstream):
    """The upstream also serves kitdemo-upstream; buildout told about it via
    find-links must still not fetch from it, because allow-hosts says no."""
    project = tmp_path / "buildout"
    project.mkdir()
    (project / "buildout.cfg").write_text(
        "[buildout]\n"
        f"extends = {uploaded.team_dir('web') / 'buildout.cfg'}\n"
        f"find-links = {local_upstream.url}kitdemo-private/\n"
        "parts = app\n\n[app]\nrecipe = zc.recipe.egg\neggs = kitdemo-private\n"
    )
    env = dict(uploaded.env, PIP_CONFIG_FILE=str(uploaded.team_dir("web") / "pip.conf"))
    result = run([BIN / "buildout", "-v"], env=env, cwd=project)
    assert f"Reading {local_upstream.url}" not in result.stdout + result.stderr
    assert "2.0" not in "".join(p.name for p in (project / "eggs").iterdir())


def test_without_kit_the_attack_works(uploaded, tmp_path, local_upstream):
    """Control: the classic extra-index-url set-up installs the attacker's 2.0,
    so the tests above would catch a config that let it in."""
    python = new_venv(tmp_path / "venv")
    env = dict(uploaded.env, PIP_CONFIG_FILE=str(tmp_path / "unsafe.conf"))
    (tmp_path / "unsafe.conf").write_text(
        f"[global]\nindex-url = {uploaded.url}/web/private/+simple/\nextra-index-url = {local_upstream.url}\n"
    )
    run([BIN / "python", "-m", "pip", "--python", python, "install", "--no-cache-dir", PRIVATE, UPSTREAM_ONLY], env=env)
    assert who(python, env)[0] == "attacker"


def test_team_index_hides_the_upstream_versions_of_a_private_name(uploaded):
    import urllib.request

    with urllib.request.urlopen(f"{uploaded.url}/web/private/+simple/kitdemo-private/") as response:
        page = response.read().decode()
    assert "kitdemo_private-1.0-py3-none-any.whl" in page
    assert "2.0" not in page and "/root/pypi/+f/" not in page


# -- publishing: uv, poetry and pdm upload with the team's files -------------------


def project_folder(path: Path, name: str, version: str, marker: str) -> tuple[Path, Path]:
    """A project as poetry and pdm publish it: pyproject.toml naming it, its wheel built into dist/."""
    from kit.ops.sample import make_wheel

    path.mkdir(parents=True)
    (path / "pyproject.toml").write_text(f'[project]\nname = "{name}"\nversion = "{version}"\n'
                                         'requires-python = ">=3.11"\n')
    return path, make_wheel(path / "dist", name, version, marker=marker)


def test_uv_publishes_with_generated_uv_toml(devpi_site, tmp_path):
    """``uv publish --index web`` uploads to the team index (the index's publish-url), and so
    does a plain ``uv publish`` (the top-level one: never PyPI); the credentials as ci.env
    gives them to uv. What was published then installs with the same uv.toml."""
    from kit.ops.sample import make_wheel

    ci = load_env_file(devpi_site.team_dir("web") / "ci.env")
    env = dict(devpi_site.env, UV_CONFIG_FILE=str(devpi_site.team_dir("web") / "uv.toml"),
               UV_CACHE_DIR=str(tmp_path / "uvcache"),
               UV_PUBLISH_USERNAME=ci["UV_PUBLISH_USERNAME"], UV_PUBLISH_PASSWORD=ci["UV_PUBLISH_PASSWORD"])
    first = make_wheel(tmp_path / "dist", "kitdemo-uv", "1.0", marker="uv")
    run([BIN / "uv", "publish", "--index", "web", first], env=env, cwd=tmp_path)
    on_team_index(devpi_site, "web", first)
    second = make_wheel(tmp_path / "dist", "kitdemo-uv", "1.1", marker="uv")
    run([BIN / "uv", "publish", second], env=env, cwd=tmp_path)
    on_team_index(devpi_site, "web", second)
    python = new_venv(tmp_path / "venv")
    run([BIN / "uv", "pip", "install", "--python", python, "kitdemo-uv"], env=env)
    assert run([python, "-c", "import kitdemo_uv as u; print(u.WHO, u.VERSION)"], env=env).stdout.split() == ["uv", "1.1"]


def test_ci_env_publishes_with_uv(devpi_site, tmp_path):
    """A CI job that loads the data team's ci.env runs a plain ``uv publish``: ci.env names
    the team's upload URL next to the credentials, so they never go to PyPI."""
    from kit.ops.sample import make_wheel

    ci = load_env_file(devpi_site.team_dir("data") / "ci.env")
    assert ci["UV_PUBLISH_URL"] == f"{devpi_site.url}/data/private/"  # checked first: else uv would try PyPI
    wheel = make_wheel(tmp_path / "dist", "kitdemo-ci-uv", "1.0", marker="data-team")
    run([BIN / "uv", "publish", wheel], env=dict(devpi_site.env, **ci, UV_CACHE_DIR=str(tmp_path / "uvcache")),
        cwd=tmp_path)
    on_team_index(devpi_site, "data", wheel)


@pytest.mark.slow_client
def test_poetry_publishes_with_the_generated_settings(devpi_site, tmp_path):
    """``poetry publish -r web``: on a laptop after the two ``poetry config`` commands
    poetry-source.toml names (the password typed when asked); in CI with ci.env loaded."""
    comments = (devpi_site.team_dir("web") / "poetry-source.toml").read_text().splitlines()
    commands = [line.split("#", 1)[1].split() for line in comments if line.startswith("#   poetry config ")]
    assert [c[:3] for c in commands] == [["poetry", "config", "repositories.web"], ["poetry", "config", "http-basic.web"]]
    password = load_env_file(devpi_site.team_dir("web") / "ci.env")["POETRY_HTTP_BASIC_WEB_PASSWORD"]
    laptop = clean_env(tmp_path / "laptop-home")
    project, wheel = project_folder(tmp_path / "laptop", "kitdemo-poetry", "1.0", marker="poetry")
    for command in commands:
        done = subprocess.run([BIN / command[0], *command[1:]], env=laptop, input=password + "\n", text=True,
                              capture_output=True)
        assert done.returncode == 0, done.stdout + done.stderr
    run([BIN / "poetry", "publish", "-r", "web", "--no-interaction"], env=laptop, cwd=project)
    on_team_index(devpi_site, "web", wheel)

    ci = load_env_file(devpi_site.team_dir("web") / "ci.env")
    project, wheel = project_folder(tmp_path / "ci", "kitdemo-poetry", "2.0", marker="poetry")
    run([BIN / "poetry", "publish", "-r", "web", "--no-interaction"],
        env=dict(clean_env(tmp_path / "ci-home"), **ci), cwd=project)
    on_team_index(devpi_site, "web", wheel)


@pytest.mark.slow_client
def test_pdm_publishes_with_generated_pdm_toml(devpi_site, tmp_path):
    """``pdm publish -r web`` with the team's pdm.toml in the project (the password from
    PDM_PUBLISH_PASSWORD); and a plain ``pdm publish`` in CI with ci.env loaded."""
    ci = load_env_file(devpi_site.team_dir("web") / "ci.env")
    project, wheel = project_folder(tmp_path / "laptop", "kitdemo-pdm", "1.0", marker="pdm")
    (project / "pdm.toml").write_text((devpi_site.team_dir("web") / "pdm.toml").read_text())
    env = dict(devpi_site.env, PDM_CACHE_DIR=str(tmp_path / "pdm-cache"), PDM_PUBLISH_PASSWORD=ci["PDM_PUBLISH_PASSWORD"])
    run([BIN / "pdm", "publish", "-r", "web", "--no-build"], env=env, cwd=project)
    on_team_index(devpi_site, "web", wheel)

    assert ci["PDM_PUBLISH_REPO"] == f"{devpi_site.url}/web/private/"  # checked first: else pdm would try PyPI
    project, wheel = project_folder(tmp_path / "ci", "kitdemo-pdm", "2.0", marker="pdm")
    run([BIN / "pdm", "publish", "--no-build"], env=dict(devpi_site.env, **ci, PDM_CACHE_DIR=str(tmp_path / "pdm-cache")),
        cwd=project)
    on_team_index(devpi_site, "web", wheel)


CONSUMER = """\
[project]
name = "consumer"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["kitdemo-private", "kitdemo-upstream"]
"""


@pytest.mark.slow_client
def test_poetry_installs_team_bytes_with_generated_source(uploaded, tmp_path):
    project = tmp_path / "poetry-project"
    project.mkdir()
    snippet = (uploaded.team_dir("web") / "poetry-source.toml").read_text()
    (project / "pyproject.toml").write_text(CONSUMER + "\n[tool.poetry]\npackage-mode = false\n\n" + snippet)
    env = dict(uploaded.env, POETRY_VIRTUALENVS_IN_PROJECT="true", POETRY_CACHE_DIR=str(tmp_path / "poetry-cache"))
    run([BIN / "poetry", "lock"], env=env, cwd=project)
    lock = (project / "poetry.lock").read_text()
    assert 'reference = "web"' in lock and "password" not in lock
    run([BIN / "poetry", "install"], env=env, cwd=project)
    assert who(project / ".venv" / "bin" / "python", env) == ("team", "1.0", "upstream")


@pytest.mark.slow_client
def test_pdm_installs_team_bytes_with_generated_pdm_toml(uploaded, tmp_path):
    project = tmp_path / "pdm-project"
    project.mkdir()
    (project / "pyproject.toml").write_text(CONSUMER + "\n[tool.pdm]\ndistribution = false\n")
    (project / "pdm.toml").write_text((uploaded.team_dir("web") / "pdm.toml").read_text())
    env = dict(uploaded.env, PDM_CACHE_DIR=str(tmp_path / "pdm-cache"))
    run([BIN / "pdm", "lock"], env=env, cwd=project)
    run([BIN / "pdm", "install"], env=env, cwd=project)
    assert who(project / ".venv" / "bin" / "python", env) == ("team", "1.0", "upstream")


def test_server_files_with_the_default_upstream(tmp_path):
    """upstream = pypi: init.sh lets devpi create its own built-in root/pypi,
    create-indexes.sh adds root/names and the team index on top. Nothing asks
    the upstream, and no password is ever on a command line."""
    import base64
    import json
    import tomllib
    import urllib.error
    import urllib.request

    from tests.conftest import FAST_DEVPI, clean_env, free_port, kit_cmd, wait_http

    env = clean_env(tmp_path / "home", **FAST_DEVPI)
    # Every devpi-init, devpi and python3 the scripts start logs its command line first.
    shims, argv_log = tmp_path / "shims", tmp_path / "argv.log"
    shims.mkdir()
    for name in ("devpi-init", "devpi", "python3"):
        real = BIN / name if (BIN / name).exists() else Path(sys.executable)
        (shims / name).write_text(f'#!/bin/sh\nprintf "%s\\n" "$0 $*" >> {argv_log}\nexec {real} "$@"\n')
        (shims / name).chmod(0o755)
    env["PATH"] = f"{shims}:{env['PATH']}"
    port = free_port()
    site = tmp_path / "site"
    run(kit_cmd("init", str(site), "--no-input", "--set", "setups=private,clients", "--set", f"master_port={port}",
                "--set", "private_projects=team-secret"), env=env)
    password = tomllib.loads((site / "kit.toml").read_text())["admin_password"]
    server_dir = site / "server"
    assert "--no-root-pypi" not in (server_dir / "init.sh").read_text()
    run(["sh", server_dir / "init.sh"], env=env)
    log = tmp_path / "devpi.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([BIN / "devpi-server", "-c", "devpi-server.yml"], cwd=server_dir, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/+api", proc, log=log)
        out = run(["sh", server_dir / "create-indexes.sh"], env=env).stdout
        assert "team/private: private index of team team, inherits root/names, root/pypi" in out
        assert "root/names: reserves team-secret" in out

        def config(index: str, auth: str | None = "root:" + password) -> dict:
            # A new site's indexes are read with credentials only (read_access = team): root's here.
            headers = {"Accept": "application/json"}
            if auth:
                headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
            request = urllib.request.Request(f"http://127.0.0.1:{port}/{index}", headers=headers)
            with urllib.request.urlopen(request) as response:
                return json.loads(response.read())["result"]

        with pytest.raises(urllib.error.HTTPError, match="401"):
            config("team/private", auth=None)
        edge_password = (server_dir / "secrets.env").read_text().split("KIT_EDGE_READ_PASSWORD=")[1].split()[0]
        assert config("team/private", auth="kit-edge:" + edge_password.strip("'"))["acl_pkg_read"] == ["team", "kit-edge"]
        assert config("root/pypi")["acl_pkg_read"] == config("root/names")["acl_pkg_read"] == [":AUTHENTICATED:"]

        assert config("root/pypi")["type"] == "mirror" and config("root/pypi")["title"] == "PyPI"  # devpi's own
        team = config("team/private")
        assert team["bases"] == ["root/names", "root/pypi"] and team["mirror_whitelist"] == []
        assert config("root/names")["projects"] == ["team-secret"]
        # safe to run again
        assert "team/private" in run(["sh", server_dir / "create-indexes.sh"], env=env).stdout
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    command_lines = argv_log.read_text()
    assert "devpi-init -c devpi-server.yml" in command_lines and "-m kit.cluster.devpi" in command_lines
    team_password = (server_dir / "secrets.env").read_text().split("KIT_TEAM_TEAM_PASSWORD=")[1].split()[0]
    assert password not in command_lines and team_password not in command_lines
