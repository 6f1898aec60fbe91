"""Dependency confusion across the teams of one site, with a real cluster and
real pip and uv, using only one team's generated files.

The local upstream plays PyPI: it holds a look-alike ``acme-utils 99.0`` (the
acme team's private name) and ``secret-thing 5.0`` (a name the site declared
in ``private_projects`` before any team uploaded it).
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from kit.sample import make_wheel
from tests.conftest import BIN, clean_env, kit_cmd, run
from tests.kit.test_cluster import stop_cluster, edge_url, make_site, pids
from tests.kit.test_clients_real import new_venv

NAMES_INDEX = "root/names"  # the site-wide stage that reserves the private names


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("confusion")
    env = clean_env(root / "home")
    upstream = root / "upstream"
    make_wheel(upstream, "acme-utils", "99.0", marker="attacker")
    make_wheel(upstream, "secret-thing", "5.0", marker="attacker")
    make_wheel(upstream, "kitdemo-upstream", "1.0", marker="upstream")
    site = make_site(root, env, upstream, "--set", "teams=web,acme", "--set", "private_projects=secret-thing")
    run(kit_cmd("up", str(site)), env=env)
    started = pids(site)
    try:
        # The acme team publishes its acme-utils 1.0 with its own .pypirc.
        wheel = make_wheel(root / "dist", "acme-utils", "1.0", marker="acme")
        acme = site / "teams" / "acme"
        run([BIN / "twine", "upload", "--config-file", acme / ".pypirc", "-r", "acme", "--disable-progress-bar", wheel],
            env=env)
        yield site, env
    finally:
        stop_cluster(site, env, started)


def installed(python, env) -> tuple[str, str]:
    out = run([python, "-c", "import acme_utils as a; print(a.WHO, a.VERSION)"], env=env).stdout.split()
    return out[0], out[1]


def test_pip_with_web_files_gets_acme_utils_from_acme_never_the_upstream(site, tmp_path):
    site, env = site
    python = new_venv(tmp_path / "venv")
    pip_env = dict(env, PIP_CONFIG_FILE=str(site / "teams" / "web" / "pip.conf"))
    run([BIN / "python", "-m", "pip", "--python", python, "install", "--no-cache-dir", "acme-utils"], env=pip_env)
    assert installed(python, pip_env) == ("acme", "1.0")


def test_uv_with_web_files_gets_acme_utils_from_acme_never_the_upstream(site, tmp_path):
    site, env = site
    python = new_venv(tmp_path / "venv")
    uv_env = dict(env, UV_CONFIG_FILE=str(site / "teams" / "web" / "uv.toml"), UV_CACHE_DIR=str(tmp_path / "uvcache"))
    run([BIN / "uv", "pip", "install", "--python", python, "acme-utils"], env=uv_env)
    assert installed(python, uv_env) == ("acme", "1.0")


def simple_page(site, index: str, project: str) -> str:
    request = urllib.request.Request(f"{edge_url(site)}/{index}/+simple/{project}/")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"


def test_a_declared_name_never_shows_the_upstream_before_its_first_upload(site, tmp_path):
    site, env = site
    for team in ("web", "acme"):
        page = simple_page(site, f"{team}/private", "secret-thing")
        assert "secret_thing-5.0" not in page, (team, page)
    assert "<a " not in simple_page(site, NAMES_INDEX, "secret-thing")  # a reservation has no file
    python = new_venv(tmp_path / "venv")
    pip_env = dict(env, PIP_CONFIG_FILE=str(site / "teams" / "web" / "pip.conf"))
    proc = run([BIN / "python", "-m", "pip", "--python", python, "install", "--no-cache-dir", "secret-thing"],
               env=pip_env, check=False)
    assert proc.returncode != 0 and "No matching distribution found for secret-thing" in proc.stderr
    # an undeclared, unpublished name still comes from the upstream
    assert "kitdemo_upstream-1.0" in simple_page(site, "web/private", "kitdemo-upstream")


def test_up_again_keeps_the_indexes_as_they_are(site):
    site, env = site
    first = json.loads(urllib.request.urlopen(f"{edge_url(site)}/web/private", timeout=10).read())["result"]
    assert first["bases"] == [NAMES_INDEX, "acme/private", "root/pypi"] and first["mirror_whitelist"] == []
    assert "already up" in run(kit_cmd("up", str(site)), env=env).stdout
    again = json.loads(urllib.request.urlopen(f"{edge_url(site)}/web/private", timeout=10).read())["result"]
    assert again == first


def test_check_warns_when_two_teams_publish_one_name(site, tmp_path):
    site, env = site
    wheel = make_wheel(tmp_path / "dist", "acme-utils", "1.1", marker="web")
    web = site / "teams" / "web"
    run([BIN / "twine", "upload", "--config-file", web / ".pypirc", "-r", "web", "--disable-progress-bar", wheel], env=env)
    proc = run(kit_cmd("check", str(site)), env=env)
    assert "one team per project" in proc.stdout and "acme-utils is published by web and acme" in proc.stdout
    assert "0 failed" in proc.stdout
