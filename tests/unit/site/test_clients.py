"""A team folder's files as ``read_access`` says, rendered without a server: where
reading takes credentials, a 0600 ``netrc`` holds them and ``ci.env`` names the CI
secret variable KIT_TOKEN, never a password; with open reads the files are as they
always were. The real clients read them in tests/integration/site/test_client_credentials.py."""

from __future__ import annotations

import netrc
import stat

import pytest

from kit.site.answers import answers_from_raw
from kit.site.clients import index_context, render_clients, render_team, team_context

PRIVATE_SITE = {"teams": ["web", "data"], "setups": ["mirror", "private", "clients"],
                "admin_password": "correct-horse-battery"}


def team_folder(tmp_path, team="web", **answers):
    tmp_path.mkdir(parents=True, exist_ok=True)
    raw = dict(PRIVATE_SITE, upstream=str(tmp_path), **answers)
    site = answers_from_raw(raw)
    context = team_context(site, team)
    dest = tmp_path / "teams" / team
    dest.parent.mkdir(exist_ok=True)
    render_team(context, dest)
    return site, dest


@pytest.mark.parametrize("read_access", ["team", "site"])
def test_reading_with_credentials_writes_a_private_netrc_for_the_host(tmp_path, read_access):
    site, folder = team_folder(tmp_path, read_access=read_access)
    path = folder / "netrc"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == f"machine {site.host} login web password {site.team_password('web')}\n"
    # As pip, uv, poetry and pdm look it up: by host name, without the port.
    login, _, password = netrc.netrc(str(path)).authenticators(site.host)
    assert (login, password) == ("web", site.team_password("web"))


def test_the_password_is_in_netrc_and_pypirc_only(tmp_path):
    site, folder = team_folder(tmp_path, read_access="team")
    secret = site.team_password("web")
    assert sorted(p.name for p in folder.iterdir() if secret in p.read_text()) == [".pypirc", "netrc"]
    for name in (".pypirc", "ci.env", "netrc"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name


def test_ci_env_takes_every_password_from_kit_token_when_the_shell_loads_it(tmp_path):
    site, folder = team_folder(tmp_path, read_access="team")
    text = (folder / "ci.env").read_text()
    passwords = [line for line in text.splitlines() if "_PASSWORD=" in line]
    assert passwords and all(line.endswith('="${KIT_TOKEN}"') for line in passwords), passwords
    url = f"http://web:\"${{KIT_TOKEN}}\"@{site.host}:{site.client_port}/web/private/+simple/"
    assert f"PIP_INDEX_URL={url}" in text.splitlines()
    assert f"UV_DEFAULT_INDEX=web=http://{site.host}:{site.client_port}/web/private/+simple/" in text.splitlines()
    for name in ("UV_INDEX_WEB_USERNAME=web", "POETRY_HTTP_BASIC_WEB_USERNAME=web", "PDM_PYPI_USERNAME=web",
                 "TWINE_USERNAME=web"):
        assert name in text.splitlines()


def test_buildout_finds_the_credentials_of_the_index_and_of_the_mirror_in_pypirc(tmp_path):
    """buildout sends a section's credentials to URLs its repository begins: the team
    index's pages and files, and the files it inherits from root/pypi."""
    import configparser

    site, folder = team_folder(tmp_path, read_access="team")
    ini = configparser.RawConfigParser()
    ini.read_string((folder / ".pypirc").read_text())
    base = f"http://{site.host}:{site.client_port}"
    repositories = {ini.get(s, "repository"): (ini.get(s, "username"), ini.get(s, "password")) for s in ini.sections()
                    if ini.has_option(s, "repository")}
    credentials = ("web", site.team_password("web"))
    for url in (f"{base}/web/private/+simple/kitdemo/", f"{base}/web/private/+f/abc/kitdemo-1.0.whl",
                f"{base}/root/pypi/+f/abc/other-1.0.whl"):
        assert [c for r, c in repositories.items() if url.startswith(r)] == [credentials], url
    assert ini.get("distutils", "index-servers").split() == ["web"]  # twine still sees one repository


def test_the_readme_says_who_may_read(tmp_path):
    _, team = team_folder(tmp_path / "team", read_access="team")
    readme = (team / "README.md").read_text()
    assert 'only team "web" (and read tokens\nmade for it) may read it' in readme
    assert "NETRC=$PWD/netrc" in readme and "`KIT_TOKEN`" in readme
    _, site = team_folder(tmp_path / "site", read_access="site")
    assert "any user of this site\nmay read it" in (site / "README.md").read_text()
    _, open_ = team_folder(tmp_path / "open", read_access="anonymous")
    assert "reading\nneeds none" in (open_ / "README.md").read_text()


def test_open_reads_write_no_netrc_and_the_files_of_before(tmp_path):
    site, folder = team_folder(tmp_path, read_access="anonymous")
    assert not (folder / "netrc").exists()
    text = (folder / "ci.env").read_text()
    assert "KIT_TOKEN" not in text and f"TWINE_PASSWORD={site.team_password('web')}" in text
    assert "netrc" not in (folder / "pip.conf").read_text()


def test_a_mirror_only_site_and_kit_clients_write_no_netrc(tmp_path):
    raw = dict(PRIVATE_SITE, upstream=str(tmp_path), setups=["mirror", "clients"], read_access="anonymous")
    context = team_context(answers_from_raw(raw), "web")
    assert not context["read_auth"]
    files = render_clients(index_context("http://127.0.0.1:3143/acme/private/+simple/", team="acme"))
    assert "netrc" not in files and "KIT_TOKEN" not in files["ci.env"]
