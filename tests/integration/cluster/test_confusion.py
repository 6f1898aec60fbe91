"""Dependency confusion across the teams of one site, with a real cluster and
real pip and uv, using only one team's generated files.

The local upstream plays PyPI: it holds a look-alike ``acme-utils 99.0`` (the
acme team's private name) and ``secret-thing 5.0`` (a name the site declared
in ``private_projects`` before any team uploaded it).
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request

import pytest

from kit.ops.sample import make_wheel
from tests.conftest import BIN, clean_env, kit_cmd, run
from tests.support.cluster import alive, edge_url, make_site, pids, restored, stop_cluster
from tests.support.clients import new_venv

NAMES_INDEX = "root/names"  # the site-wide stage that reserves the private names


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("confusion")
    env = clean_env(root / "home")
    upstream = root / "upstream"
    make_wheel(upstream, "acme-utils", "99.0", marker="attacker")
    make_wheel(upstream, "secret-thing", "5.0", marker="attacker")
    make_wheel(upstream, "kitdemo-upstream", "1.0", marker="upstream")
    site = make_site(root, env, upstream, "--set", "teams=web,acme",
                     "--set", "private_projects=secret-thing,acme:acme-owned")
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


def twine(site, env, team: str, wheel, *, check: bool = True):
    return run([BIN / "twine", "upload", "--config-file", site / "teams" / team / ".pypirc", "-r", team,
                "--disable-progress-bar", "--non-interactive", wheel], env=env, check=check)


@pytest.mark.parametrize("project", ["acme-utils", "Acme_Utils", "acme-owned"])
def test_a_team_cannot_publish_a_name_another_team_holds(site, tmp_path, project):
    """Once: web's acme-utils 9.0 was accepted, mixed into acme's page, and acme's builds installed it.
    acme-owned: given to acme by private_projects (acme:acme-owned), before acme uploaded anything."""
    site, env = site
    wheel = make_wheel(tmp_path / "dist", project, "9.0", marker="web")
    refused = twine(site, env, "web", wheel, check=False)
    normal = project.lower().replace("_", "-")
    assert refused.returncode != 0 and "409" in refused.stdout + refused.stderr
    assert f"{normal} belongs to team acme (acme/private holds it)" in refused.stdout + refused.stderr
    for team in ("web", "acme"):
        assert "-9.0" not in simple_page(site, f"{team}/private", normal)


def test_the_owning_team_publishes_its_given_name_and_every_team_gets_it(site, tmp_path):
    site, env = site
    twine(site, env, "acme", make_wheel(tmp_path / "dist", "acme-owned", "1.0", marker="acme"))
    # The edge dropped acme's pages on the upload; web's (which inherits acme's index)
    # go when devpi's purge plugin names them, a moment after the commit.
    deadline = time.monotonic() + 5
    while "acme_owned-1.0" not in simple_page(site, "web/private", "acme-owned"):
        assert time.monotonic() < deadline, "web's page never listed acme's upload"
        time.sleep(0.05)
    listed = json.loads(urllib.request.urlopen(f"{edge_url(site)}/acme/private", timeout=10).read())["result"]
    assert "acme-owned" in listed["projects"]


def test_check_strict_fails_when_a_name_is_on_two_teams(site, tmp_path):
    """How two teams can still hold one name: the master ran for a while without kit's rule
    (``kit-one-team-per-project`` taken out of master.yml, which the plugin now applies across
    every index), web uploaded, and the rule came back. kit check warns; kit check --strict,
    for CI, fails. (The module's last test: web's file stays, the index is not volatile.)"""
    site, env = site
    config = site / "cluster" / "master.yml"
    text = config.read_text()
    rule = "  kit-one-team-per-project: true\n"
    assert rule in text

    def restart_master() -> None:
        pid = pids(site)["master"]
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        restored(site, env)

    config.write_text(text.replace(rule, ""))
    try:
        restart_master()
        twine(site, env, "web", make_wheel(tmp_path / "dist", "acme-utils", "1.1", marker="web"))
    finally:
        config.write_text(text)
        restart_master()
    proc = run(kit_cmd("check", str(site)), env=env)
    assert "one team per project" in proc.stdout and "acme-utils is published by web and acme" in proc.stdout
    assert "0 failed" in proc.stdout and "warn" in proc.stdout
    strict = run(kit_cmd("check", str(site), "--strict"), env=env, check=False)
    assert strict.returncode == 1
    assert any("one team per project" in line and " FAIL " in line for line in strict.stdout.splitlines())


def test_a_team_added_later_never_gets_the_upstream_for_a_name_published_before(tmp_path):
    """Teams that read only their own index (read_access team) do not inherit each other: a name
    web published while it was the site's only team must still be held for the data team that
    came later (root/names), or data's pip would install the upstream's look-alike."""
    env = clean_env(tmp_path / "home")
    upstream = tmp_path / "upstream"
    make_wheel(upstream, "acme-utils", "99.0", marker="attacker")
    site = make_site(tmp_path, env, upstream, "--set", "read_access=team")
    run(kit_cmd("up", str(site)), env=env)
    started = pids(site)
    try:
        web = site / "teams" / "web"
        wheel = make_wheel(tmp_path / "dist", "acme-utils", "1.0", marker="web")
        run([BIN / "twine", "upload", "--config-file", web / ".pypirc", "-r", "web", "--disable-progress-bar", wheel],
            env=env)
        # The add-a-team how-to: a new team in the answers, then kit up on the running cluster.
        run(kit_cmd("init", str(site), "--no-input", "--set", "teams=web,data"), env=env)
        run(kit_cmd("up", str(site)), env=env)
        data = site / "teams" / "data"
        python = new_venv(tmp_path / "venv")
        pip_env = dict(env, PIP_CONFIG_FILE=str(data / "pip.conf"), NETRC=str(data / "netrc"))
        proc = run([BIN / "python", "-m", "pip", "--python", python, "install", "--no-cache-dir", "acme-utils"],
                   env=pip_env, check=False)
        assert proc.returncode != 0 and "No matching distribution found for acme-utils" in proc.stderr, proc.stdout
        assert "99.0" not in proc.stdout
    finally:
        stop_cluster(site, env, {**started, **{f"{name} (now)": pid for name, pid in pids(site).items()}})
