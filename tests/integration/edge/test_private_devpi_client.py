"""devpi's own client through either edge of a team-read site: ``devpi use`` finds the index
(its ``+api``, the map of its URLs, is open as devpi keeps it: it holds no package), ``devpi
login`` takes the team's password from a pipe (never the command line), and then ``devpi
upload``, ``devpi list`` and ``devpi getjson`` work as the team; logged off, the index is
refused again."""

from __future__ import annotations

import json
import subprocess

import pytest

from kit.ops.sample import make_wheel
from kit.site.folder import Site
from tests.conftest import BIN, clean_env
from tests.support.cluster import edge_kind, front_url, running_site
from tests.support.edge import answer
from tests.support.processes import leaked, watched_cmdlines


@pytest.fixture(scope="module", params=["python", "varnish"])
def team_site(request, tmp_path_factory, dists):
    extra = edge_kind(request.param)
    root = tmp_path_factory.mktemp(f"{request.param}-devpi-client")
    env = clean_env(root / "home")
    with running_site(root, env, dists.upstream_folder, "--set", "read_access=team", "--set", "teams=web,data",
                      *extra) as (site, _out):
        yield site, env


def test_devpi_use_login_upload_and_read_through_the_edge(team_site, tmp_path):
    site, env = team_site
    url = front_url(site)
    password = Site.load(site).answers.team_password("web")
    env = dict(env, DEVPI_CLIENTDIR=str(tmp_path / "devpi-client"))

    def devpi(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        # A new session: no terminal, so devpi login's getpass reads the pipe.
        return subprocess.run([str(BIN / "devpi"), *args], env=env, input=stdin, capture_output=True, text=True,
                              start_new_session=True, timeout=120)

    # The map of the index is anyone's (as at devpi itself); the index's own JSON is not.
    code, _, body = answer(url + "/web/private/+api", {"Accept": "application/json"})
    assert code == 200 and json.loads(body)["result"]["login"].startswith(url), (code, body[:300])
    assert answer(url + "/web/private", {"Accept": "application/json"})[0] == 401

    used = devpi("use", url)
    assert used.returncode == 0, used.stdout + used.stderr
    with watched_cmdlines() as seen:
        login = devpi("login", "web", stdin=password + "\n")
    assert login.returncode == 0 and "logged in 'web'" in login.stdout, login.stdout + login.stderr
    assert not leaked(seen, {"web password": password})
    used = devpi("use", "web/private")
    assert used.returncode == 0 and "(logged in as web)" in used.stdout, used.stdout + used.stderr

    wheel = make_wheel(tmp_path / "dist", "kitdemo-devpi", "1.0")
    uploaded = devpi("upload", str(wheel))
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    listed = devpi("list", "kitdemo-devpi")
    assert listed.returncode == 0 and f"{url}/web/private/+f/" in listed.stdout and wheel.name in listed.stdout, \
        listed.stdout + listed.stderr
    got = devpi("getjson", "/web/private/kitdemo-devpi")
    assert got.returncode == 0 and json.loads(got.stdout)["result"]["1.0"]["name"] == "kitdemo-devpi", got.stderr

    assert devpi("logoff").returncode == 0
    refused = devpi("list", "kitdemo-devpi")
    assert refused.returncode != 0 and "401 Unauthorized" in refused.stdout + refused.stderr
