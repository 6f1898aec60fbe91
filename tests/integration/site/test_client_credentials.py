"""Reading a team's index with credentials, each client its own way, on a real cluster
with ``read_access = team`` (teams web and data): pip, uv, poetry, pdm, buildout and
setuptools install web's kitdemo-private using only the generated files (netrc, .pypirc,
ci.env with KIT_TOKEN), and each is refused with data's credentials and with none.

No client is given a password on its command line: each reads it from the file or
variable kit's README names. KIT_TOKEN holds the team's password here (a token
from ``kit token create`` is used the same way, as that user's password).
"""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN, PRIVATE, UPSTREAM_ONLY, clean_env, kit_cmd, run
from tests.support.clients import new_venv, who
from tests.support.cluster import running_site, team_upload

CONSUMER = """\
[project]
name = "consumer"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["kitdemo-private", "kitdemo-upstream"]
"""


@pytest.fixture(scope="module")
def team_site(tmp_path_factory, dists):
    """A running site whose teams read only their own index; web's kitdemo-private 1.0 uploaded."""
    root = tmp_path_factory.mktemp("team-reads")
    env = clean_env(root / "home")
    with running_site(root, env, dists.upstream_folder, "--set", "read_access=team", "--set", "teams=web,data") as (site, _):
        team_upload(site, env, dists.private)
        yield site, env


def password(site: Path, team: str) -> str:
    return (site / "teams" / team / "netrc").read_text().split()[-1]


def as_whom(site: Path, tmp: Path, who_: str) -> dict:
    """The environment of someone reading web's index: web (its own netrc), data (data's
    netrc) or nobody (an empty netrc); a fresh HOME, so no ~/.netrc or ~/.pypirc helps."""
    home = tmp / f"home-{who_}"
    client = clean_env(home)
    if who_ == "nobody":
        empty = tmp / "empty-netrc"
        empty.write_text("")
        empty.chmod(0o600)
        client["NETRC"] = str(empty)
    else:
        client["NETRC"] = str(site / "teams" / who_ / "netrc")
    return client


READERS = [("web", True), ("data", False), ("nobody", False)]


@pytest.mark.parametrize("reader, allowed", READERS)
def test_pip_reads_with_the_netrc(team_site, tmp_path, reader, allowed):
    site, _ = team_site
    python = new_venv(tmp_path / "venv")
    client = dict(as_whom(site, tmp_path, reader), PIP_CONFIG_FILE=str(site / "teams" / "web" / "pip.conf"))
    done = run([BIN / "python", "-m", "pip", "--python", python, "install", "--no-input", "--no-cache-dir",
                PRIVATE, UPSTREAM_ONLY], env=client, check=False)
    assert (done.returncode == 0) is allowed, done.stdout + done.stderr
    if allowed:
        assert who(python, client) == ("team", "1.0", "upstream")


@pytest.mark.parametrize("reader, allowed", READERS)
def test_uv_reads_with_the_netrc(team_site, tmp_path, reader, allowed):
    site, _ = team_site
    python = new_venv(tmp_path / "venv")
    client = dict(as_whom(site, tmp_path, reader), UV_CONFIG_FILE=str(site / "teams" / "web" / "uv.toml"),
                  UV_CACHE_DIR=str(tmp_path / "uv-cache"))
    done = run([BIN / "uv", "pip", "install", "--python", python, PRIVATE, UPSTREAM_ONLY], env=client, check=False)
    assert (done.returncode == 0) is allowed, done.stdout + done.stderr
    if allowed:
        assert who(python, client) == ("team", "1.0", "upstream")


@pytest.mark.parametrize("reader, allowed", READERS)
def test_setup_requires_reads_with_the_netrc(team_site, tmp_path, reader, allowed):
    """setuptools hands setup_requires to pip, which reads NETRC."""
    site, _ = team_site
    project = tmp_path / "legacy"
    project.mkdir()
    shutil.copy(site / "teams" / "web" / "setup.cfg", project / "setup.cfg")
    (project / "setup.py").write_text("from setuptools import setup\n"
                                      "setup(name='legacy', version='0.1', setup_requires=['kitdemo-private'])\n")
    done = run([BIN / "python", "setup.py", "egg_info"], env=as_whom(site, tmp_path, reader), cwd=project,
               check=False)
    assert (done.returncode == 0) is allowed, done.stdout + done.stderr
    if allowed:
        init = next((project / ".eggs").rglob("kitdemo_private/__init__.py"))
        assert "WHO = 'team'" in init.read_text()


@pytest.mark.parametrize("reader, allowed", READERS)
def test_buildout_reads_with_the_pypirc_in_home(team_site, tmp_path, reader, allowed):
    """buildout 6 sends ~/.pypirc's credentials to URLs its sections' repositories begin:
    the team index, and the mirror whose files the team index inherits."""
    site, _ = team_site
    client = as_whom(site, tmp_path, reader)
    if reader != "nobody":
        home_rc = Path(client["HOME"]) / ".pypirc"
        run(["install", "-m", "600", site / "teams" / reader / ".pypirc", home_rc], env=client)
    project = tmp_path / "buildout"
    project.mkdir()
    (project / "buildout.cfg").write_text(
        f"[buildout]\nextends = {site / 'teams' / 'web' / 'buildout.cfg'}\nparts = app\n\n"
        "[app]\nrecipe = zc.recipe.egg\neggs =\n    kitdemo-private\n    kitdemo-upstream\ninterpreter = py\n")
    client["PIP_CONFIG_FILE"] = str(site / "teams" / "web" / "pip.conf")
    done = run([BIN / "buildout"], env=client, cwd=project, check=False)
    log = done.stdout + done.stderr
    assert (done.returncode == 0) is allowed, log
    assert password(site, "web") not in log and password(site, "data") not in log
    if allowed:
        assert "Authenticating as web for" in log  # from .pypirc, as buildout says
        out = run([project / "bin" / "py", "-c", "import kitdemo_private as p; print(p.WHO, p.VERSION)"], env=client)
        assert out.stdout.split() == ["team", "1.0"]


@pytest.mark.slow_client
@pytest.mark.parametrize("reader, allowed", READERS)
def test_poetry_reads_with_the_netrc(team_site, tmp_path, reader, allowed):
    site, _ = team_site
    project = tmp_path / "poetry-project"
    project.mkdir()
    snippet = (site / "teams" / "web" / "poetry-source.toml").read_text()
    (project / "pyproject.toml").write_text(CONSUMER + "\n[tool.poetry]\npackage-mode = false\n\n" + snippet)
    client = dict(as_whom(site, tmp_path, reader), POETRY_VIRTUALENVS_IN_PROJECT="true",
                  POETRY_CACHE_DIR=str(tmp_path / "poetry-cache"))
    done = run([BIN / "poetry", "lock", "--no-interaction"], env=client, cwd=project, check=False)
    assert (done.returncode == 0) is allowed, done.stdout + done.stderr
    if allowed:
        assert password(site, "web") not in (project / "poetry.lock").read_text()
        run([BIN / "poetry", "install", "--no-interaction"], env=client, cwd=project)
        assert who(project / ".venv" / "bin" / "python", client) == ("team", "1.0", "upstream")


@pytest.mark.slow_client
@pytest.mark.parametrize("reader, allowed", READERS)
def test_pdm_reads_with_the_netrc(team_site, tmp_path, reader, allowed):
    site, _ = team_site
    project = tmp_path / "pdm-project"
    project.mkdir()
    (project / "pyproject.toml").write_text(CONSUMER + "\n[tool.pdm]\ndistribution = false\n")
    shutil.copy(site / "teams" / "web" / "pdm.toml", project / "pdm.toml")
    client = dict(as_whom(site, tmp_path, reader), PDM_CACHE_DIR=str(tmp_path / "pdm-cache"))
    done = run([BIN / "pdm", "lock"], env=client, cwd=project, check=False)
    assert (done.returncode == 0) is allowed, done.stdout + done.stderr
    if allowed:
        assert password(site, "web") not in (project / "pdm.lock").read_text()
        run([BIN / "pdm", "install"], env=client, cwd=project)
        assert who(project / ".venv" / "bin" / "python", client) == ("team", "1.0", "upstream")


# -- CI: ci.env with the secret variable KIT_TOKEN ----------------------------------


def ci_env(site: Path, tmp: Path, token: str | None) -> dict:
    """A CI job's environment: web's ci.env loaded by the shell with KIT_TOKEN set to
    ``token`` (None: not set), nothing else of the team's files, no netrc."""
    loaded = subprocess.run(["sh", "-c", f"set -a; . '{site / 'teams' / 'web' / 'ci.env'}'; env -0"],
                            capture_output=True, check=True, env={} if token is None else {"KIT_TOKEN": token})
    pairs = [item.split("=", 1) for item in loaded.stdout.decode().split("\0") if "=" in item]
    client = clean_env(tmp / "ci-home")
    client.update({k: v for k, v in pairs if k.startswith(("PIP_", "UV_", "PDM_", "TWINE_", "POETRY_"))})
    client["NETRC"] = str(tmp / "no-netrc")
    return client


TOKENS = [("web", True), ("data", False), (None, False)]


def token_of(site: Path, team: str | None) -> str | None:
    return password(site, team) if team else None


@pytest.mark.parametrize("team, allowed", TOKENS)
def test_ci_env_reads_with_pip_and_uv(team_site, tmp_path, team, allowed):
    site, _ = team_site
    client = ci_env(site, tmp_path, token_of(site, team))
    for name, command in [("pip", [BIN / "python", "-m", "pip", "--python", "PY", "install", "--no-input",
                                    "--no-cache-dir"]),
                          ("uv", [BIN / "uv", "pip", "install", "--python", "PY"])]:
        python = new_venv(tmp_path / f"venv-{name}")
        done = run([python if part == "PY" else part for part in command] + [PRIVATE, UPSTREAM_ONLY],
                   env=dict(client, UV_CACHE_DIR=str(tmp_path / "uv-cache")), check=False)
        assert (done.returncode == 0) is allowed, name + ": " + done.stdout + done.stderr
        if team:
            assert password(site, team) not in done.stdout + done.stderr  # pip masks it in the URL it prints
        if allowed:
            assert who(python, client) == ("team", "1.0", "upstream")


@pytest.mark.slow_client
@pytest.mark.parametrize("team, allowed", TOKENS)
def test_ci_env_reads_with_poetry_and_pdm(team_site, tmp_path, team, allowed):
    site, _ = team_site
    client = ci_env(site, tmp_path, token_of(site, team))
    poetry = tmp_path / "poetry-project"
    poetry.mkdir()
    snippet = (site / "teams" / "web" / "poetry-source.toml").read_text()
    (poetry / "pyproject.toml").write_text(CONSUMER + "\n[tool.poetry]\npackage-mode = false\n\n" + snippet)
    done = run([BIN / "poetry", "lock", "--no-interaction"], cwd=poetry, check=False,
               env=dict(client, POETRY_CACHE_DIR=str(tmp_path / "poetry-cache")))
    assert (done.returncode == 0) is allowed, "poetry: " + done.stdout + done.stderr
    pdm = tmp_path / "pdm-project"
    pdm.mkdir()
    (pdm / "pyproject.toml").write_text(CONSUMER + "\n[tool.pdm]\ndistribution = false\n")
    done = run([BIN / "pdm", "lock"], cwd=pdm, check=False, env=dict(client, PDM_CACHE_DIR=str(tmp_path / "pdm-cache")))
    assert (done.returncode == 0) is allowed, "pdm: " + done.stdout + done.stderr
    if allowed:
        for lock in (poetry / "poetry.lock", pdm / "pdm.lock"):
            assert password(site, "web") not in lock.read_text()


def test_uv_lock_holds_no_password(team_site, tmp_path):
    site, _ = team_site
    project = tmp_path / "uv-project"
    project.mkdir()
    (project / "pyproject.toml").write_text(CONSUMER)
    client = dict(ci_env(site, tmp_path, password(site, "web")), UV_CACHE_DIR=str(tmp_path / "uv-cache"))
    run([BIN / "uv", "lock"], env=client, cwd=project)
    lock = (project / "uv.lock").read_text()
    assert "kitdemo-private" in lock and password(site, "web") not in lock
    assert not re.search(r"://[^/\s\"]*:[^/\s\"]*@", lock)  # no user:password@ in any URL


def test_ci_env_uploads_with_twine(team_site, tmp_path):
    """twine takes TWINE_USERNAME/TWINE_PASSWORD from ci.env, the password from KIT_TOKEN."""
    from kit.ops.sample import make_wheel

    site, _ = team_site
    wheel = make_wheel(tmp_path / "dist", "kitdemo-ci", "1.0", marker="ci")
    client = ci_env(site, tmp_path, password(site, "web"))
    run([BIN / "twine", "upload", "--non-interactive", "--disable-progress-bar", wheel], env=client)
    refused = run([BIN / "twine", "upload", "--non-interactive", "--disable-progress-bar", wheel],
                  env=ci_env(site, tmp_path, None), check=False)
    assert refused.returncode != 0


# -- the files themselves -------------------------------------------------------------


def test_the_files_holding_credentials_are_mode_0600_and_no_other_holds_one(team_site):
    site, _ = team_site
    for team in ("web", "data"):
        folder = site / "teams" / team
        secret = password(site, team)
        assert (folder / "netrc").read_text() == f"machine 127.0.0.1 login {team} password {secret}\n"
        for name in ("netrc", ".pypirc", "ci.env"):
            assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
        holders = sorted(p.name for p in folder.iterdir() if secret in p.read_text())
        assert holders == [".pypirc", "netrc"]
        ci = (folder / "ci.env").read_text()
        assert "${KIT_TOKEN}" in ci and not re.search(r"PASSWORD=(?!\"\$\{KIT_TOKEN\}\")", ci)


def test_no_command_the_readme_or_docs_give_puts_a_password_on_argv(team_site):
    """A command line is readable by every user of the machine (ps, /proc): the
    README and the docs never tell anyone to pass a password or token as an argument."""
    site, _ = team_site
    readme = (site / "teams" / "web" / "README.md").read_text()
    assert "NETRC=$PWD/netrc" in readme and "install -m 600 .pypirc ~/.pypirc" in readme
    assert "KIT_TOKEN" in readme and "kit token create --team web" in readme
    docs = Path(__file__).resolve().parents[3] / "docs"
    texts = {"README.md": readme} | {str(p): p.read_text() for p in docs.rglob("*.rst")}
    commands = [(name, line) for name, text in texts.items() for line in re.findall(r"`+([^`\n]+)`+", text)]
    commands += [(name, line.strip()) for name, text in texts.items() for line in text.splitlines()
                 if line.strip().startswith(("$ ", "pip ", "uv ", "poetry ", "pdm ", "twine ", "curl "))]
    for name, command in commands:
        assert password(site, "web") not in command, (name, command)
        assert not re.search(r"\b(twine|devpi|poetry|pdm|uv|pip|curl|kit)\b.*\s(-p|--password|-u)\s", command), (name, command)
        assert not re.search(r"http-basic\.\S+\s+\S+\s+\S+", command), (name, command)  # poetry config's password argument
        assert not re.search(r"^(\$ )?(pip|uv|poetry|pdm|twine|curl|devpi|kit)\b.*\$\{?KIT_TOKEN", command), (name, command)


def test_kit_check_proves_each_team_reads_only_its_own_index(team_site):
    site, env = team_site
    # kitdemo-private is web's: on data's index it is a name held without files, as it should be.
    proc = run(kit_cmd("check", str(site), "--package", UPSTREAM_ONLY), env=env, check=False)
    out = proc.stdout
    for team, other in (("web", "data"), ("data", "web")):
        assert re.search(rf"^{team} +index answers +pass +\S+ as {team} → HTTP 200$", out, re.M), out
        assert re.search(rf"^{team} +anonymous refused +pass +without credentials → HTTP 401$", out, re.M), out
        assert re.search(rf"^{team} +other teams refused +pass +as {other} → HTTP 403$", out, re.M), out
    assert proc.returncode == 0, out


def test_kit_check_fails_in_one_line_when_a_private_index_is_open_to_anyone(team_site):
    """web/private opened to anonymous reads on the master (its acl_pkg_read changed by
    hand): kit check says so in one line, with the fix, and exits 1."""
    import tomllib

    from kit.cluster.devpi import DevpiAPI
    from kit.core.wait import wait_until

    site, env = team_site
    answers = tomllib.loads((site / "kit.toml").read_text())
    api = DevpiAPI(f"http://127.0.0.1:{answers['master_port']}")
    api.login("root", answers["admin_password"])
    config = api.get("/web/private")
    readers = config["acl_pkg_read"]

    def anonymous_row() -> tuple[subprocess.CompletedProcess, str]:
        proc = run(kit_cmd("check", str(site), "--package", UPSTREAM_ONLY), env=env, check=False)
        line = next((line for line in proc.stdout.splitlines() if line.startswith("web        anonymous refused")), "")
        return proc, line

    api.patch("/web/private", dict(config, acl_pkg_read=[":ANONYMOUS:"]))
    try:
        # The edge may keep its last answer for anonymous for a few seconds.
        wait_until(lambda: " FAIL " in anonymous_row()[1], 30, 1,
                   fail=lambda: AssertionError(anonymous_row()[0].stdout))
        proc, line = anonymous_row()
        assert proc.returncode == 1 and proc.stderr == "" and "Traceback" not in proc.stdout
        assert re.fullmatch(r"web +anonymous refused +FAIL +web/private is readable without credentials \(HTTP 200\)",
                            line), line
        fix = proc.stdout.splitlines()[proc.stdout.splitlines().index(line) + 1].strip()
        assert fix == (f"fix: the master and mirror do not enforce read_access = team: restart them with kit's "
                       f"plugin (kit down {site} && kit up {site})")
    finally:
        api.patch("/web/private", dict(config, acl_pkg_read=readers))
        wait_until(lambda: " pass " in anonymous_row()[1], 30, 1)

