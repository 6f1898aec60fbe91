"""Private reads through either edge (kit's own, and Varnish with kit's edge as its
shield) of a real cluster run by kit up with ``read_access = team`` and teams web
and data: nobody but the team reads its index through the edge — pages (HTML and
PEP 691 JSON), devpi's JSON API, files — whether the edge has them cached or not,
serves them stale with every origin down, or from its static copy; anonymous gets
401 with a Basic challenge, the other team 403. A changed password and a revoked
token are refused at once: the plugin's purge of ``+user/web`` reaches the edge
(its decisions are kept an hour here, so nothing else could explain it). devpi's
own client, logged in, reads through the edge too."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import urllib.request

import httpx
import pytest

from kit.core.wait import wait_until
from kit.edge.auth import read_credentials
from kit.edge.config import EdgeConfig
from kit.edge.static_copy import refresh
from kit.ops.sample import make_wheel
from kit.site.folder import Site
from tests.conftest import BIN, PRIVATE, UPSTREAM_ONLY, clean_env, kit_cmd, run
from tests.support.cluster import (EdgeSite, edge_kind, edge_url, make_site, origins_all_up, pids, restored,
                                   stop_cluster, team_upload, wait_mirror_in_sync)
from tests.support.clients import new_venv, who
from tests.support.edge import answer

HTML = {"Accept": "text/html"}
PEP691 = {"Accept": "application/vnd.pypi.simple.v1+json"}
API = {"Accept": "application/json"}
#: Seconds the edges keep a read decision here: far past any test, so only a purge explains a refusal.
LONG_TTL = 3600.0
CHALLENGE = 'Basic realm="kit"'


class Private(EdgeSite):
    def __init__(self, kind, site, env, up_output):
        super().__init__(kind, site, env, up_output)
        answers = Site.load(site).answers
        self.master = f"http://127.0.0.1:{answers.master_port}"
        self.passwords = {"web": answers.team_password("web"), "data": answers.team_password("data"),
                          "root": answers.admin_password}

    def auth(self, who: str, password: str | None = None) -> dict[str, str]:
        """The Authorization header of ``who`` ("anonymous": none; "wrong": web with a wrong password)."""
        if who == "anonymous":
            return {}
        user, secret = ("web", "not-the-password") if who == "wrong" else (who, password or self.passwords[who])
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}

    def get(self, path: str, who: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
        """``path`` at the edge as ``who``; an Authorization in ``headers`` wins."""
        return answer(self.url + path, {**self.auth(who), **(headers or HTML)})

    def reads(self, project: str, version: str = "1.0") -> list[tuple[str, dict]]:
        """Every read of ``project`` on web/private a client makes: pages, JSON API, its file (and .metadata)."""
        with httpx.Client(trust_env=False, timeout=30) as client:  # asked at the master: the edge stays cold
            page = client.get(f"{self.master}/web/private/+simple/{project}/",
                              auth=("root", self.passwords["root"]), headers=PEP691).json()
        file = page["files"][0]
        href = urllib.request.urljoin(f"{self.url}/web/private/+simple/{project}/", file["url"])
        path = href[len(self.url):]
        reads = [("/web/private/+simple/", HTML), ("/web/private/+simple/", PEP691),
                 (f"/web/private/+simple/{project}/", HTML), (f"/web/private/+simple/{project}/", PEP691),
                 ("/web/private", API), (f"/web/private/{project}", API), (f"/web/private/{project}/{version}", API),
                 (path, {})]
        if file.get("core-metadata") or file.get("data-dist-info-metadata"):
            reads.append((path + ".metadata", {}))
        return reads

    def refused(self, reads: list[tuple[str, dict]], when: str) -> None:
        """Anonymous and a wrong password: 401 with the challenge; the other team: 403; never a byte of it."""
        for path, headers in reads:
            for asker, status in (("anonymous", 401), ("wrong", 401), ("data", 403)):
                code, answered, body = self.get(path, asker, headers)
                assert code == status, (when, asker, path, headers, code, body[:300])
                if status == 401:
                    assert answered.get("WWW-Authenticate") == CHALLENGE, (when, asker, path, answered)
                assert b"sha256=" not in body and b"PK\x03\x04" not in body, (when, asker, path)


@contextlib.contextmanager
def private_cluster(root, dists, *extra: str):
    env = clean_env(root / "home")
    site = make_site(root, env, dists.upstream_folder, "--set", "read_access=team", "--set", "teams=web,data", *extra)
    edge_json = site / "cluster" / "edge.json"
    config = json.loads(edge_json.read_text())
    edge_json.write_text(json.dumps({**config, "auth_ttl": LONG_TTL}, indent=2))
    up = run(kit_cmd("up", str(site)), env=env)
    started = pids(site)
    try:
        yield site, env, up.stdout
    finally:
        stop_cluster(site, env, {**started, **{f"{name} (now)": pid for name, pid in pids(site).items()}})


@pytest.fixture(scope="module", params=["python", "varnish"])
def private(request, tmp_path_factory, dists):
    """A team-read site of each edge kind, web's kitdemo-private uploaded; its edges keep decisions an hour."""
    extra = edge_kind(request.param)
    with private_cluster(tmp_path_factory.mktemp(f"{request.param}-private"), dists, *extra) as (site, env, out):
        team_upload(site, env, dists.private)
        yield Private(request.param, site, env, out)


def purges_settled(private) -> None:
    """Wait until the upload's purges have reached the edge: the master's at once, the mirror's
    once it has replicated the commit. One arriving between a cold and a warm read would make
    the warm read a miss, rightly."""
    wait_mirror_in_sync(private.site, private.env)
    if private.kind != "python":
        return

    def purges() -> int:
        with urllib.request.urlopen(edge_url(private.site) + "/+edge/stats", timeout=5) as answer:
            return json.load(answer)["purges"]

    seen = [purges()]

    def steady() -> bool:
        seen.append(purges())
        return seen[-1] == seen[-2]

    wait_until(steady, 10, 0.5)


def test_only_the_team_reads_through_the_edge_cold_and_warm(private, tmp_path):
    team_upload(private.site, private.env, make_wheel(tmp_path, "kitdemo-cold", "1.0"))
    purges_settled(private)
    reads = private.reads("kitdemo-cold")
    private.refused(reads, "cold")
    # Each read twice in a row: the second is a hit. (A whole cold pass first once took longer
    # than the edge's page_ttl, 5 s, on a loaded machine, and the warm pass rightly revalidated.)
    for path, headers in reads:
        for when in ("cold", "warm"):
            code, answered, body = private.get(path, "web", headers)
            assert code == 200, (when, path, headers, code, body[:300])
            if when == "warm" and private.kind == "python" and ("/+simple/" in path or path.endswith(".whl")):
                assert answered["X-Cache"] == "HIT", (path, headers, answered)
    private.refused(reads, "warm")
    # root/pypi is for every user of the site, and nobody else
    assert private.get(f"/root/pypi/+simple/{UPSTREAM_ONLY}/", "data")[0] == 200
    assert private.get(f"/root/pypi/+simple/{UPSTREAM_ONLY}/", "anonymous")[0] == 401


def test_pip_installs_with_the_teams_netrc_and_nothing_without_it(private, tmp_path):
    team = private.site / "teams" / "web"
    env = dict(private.env, PIP_CONFIG_FILE=str(team / "pip.conf"), NETRC=str(team / "netrc"))
    python = new_venv(tmp_path / "venv")
    run([BIN / "python", "-m", "pip", "--python", python, "install", "--no-cache-dir", PRIVATE, UPSTREAM_ONLY], env=env)
    assert who(python, env) == ("team", "1.0", "upstream")
    (tmp_path / "empty-netrc").write_text("")
    refused = run([BIN / "python", "-m", "pip", "--python", new_venv(tmp_path / "no"), "install", "--no-cache-dir",
                   "--no-input", PRIVATE], env=dict(env, NETRC=str(tmp_path / "empty-netrc")), check=False)
    # pip hides the 401 without a prompt to ask on: it found no version it may read
    assert refused.returncode != 0 and "No matching distribution found for kitdemo-private" in refused.stderr


def test_with_every_origin_down_stale_and_static_copy_reads_are_the_teams_only(private, tmp_path):
    site, env = private.site, private.env
    origins_all_up(site)
    wait_mirror_in_sync(site, env)
    seen = private.reads(PRIVATE)
    for path, headers in seen:  # warm: filled by the team
        assert private.get(path, "web", headers)[0] == 200
    private.refused(seen, "warm")
    unseen = make_wheel(tmp_path, "kitdemo-unseen", "1.0")
    team_upload(site, env, unseen)
    wait_mirror_in_sync(site, env)
    config = EdgeConfig.load(site / "cluster" / "edge.json")
    copied = refresh(config.static_copy_sources, config.static_copy_indexes, site / "cluster" / config.static_copy_dir,
                     outside_url=config.public_url,
                     authorization=read_credentials(site / "cluster" / config.read_credentials_file))
    assert not copied.errors, copied.errors
    ids = pids(site)
    os.kill(ids["master"], signal.SIGKILL)
    os.kill(ids["mirror"], signal.SIGKILL)
    try:
        page = f"/web/private/+simple/{PRIVATE}/"
        code, headers, body = wait_until(lambda: private.get(page, "web", PEP691), 15, 0.2,
                                         accept=lambda got: got[1].get("X-Cache") not in ("HIT", None) or got[0] != 200)
        assert code == 200 and headers["X-Cache"] == "STALE" and PRIVATE in body.decode(), (code, headers)
        file_path = seen[-1][0] if "/+f/" in seen[-1][0] else seen[-2][0]
        assert private.get(file_path, "web", {})[0] == 200
        stale = [(page, PEP691), (page, HTML), (file_path, {})]
        private.refused(stale, "stale")
        unseen_page = [("/web/private/+simple/kitdemo-unseen/", PEP691), ("/web/private/+simple/kitdemo-unseen/", HTML)]
        code, headers, _ = private.get(unseen_page[0][0], "web", PEP691)
        assert code == 200 and headers["X-Served-By"].endswith("static-copy"), headers
        private.refused(unseen_page, "static copy")
        # Credentials no origin ever judged: nothing private on a guess.
        code, _, body = private.get(unseen_page[0][0], "web", {**PEP691, **private.auth("web", "never-seen")})
        assert code == 503 and b"kitdemo" not in body, (code, body)
        team = site / "teams" / "web"
        got = tmp_path / "got"
        run([BIN / "python", "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-d", got, "kitdemo-unseen"],
            env=dict(env, PIP_CONFIG_FILE=str(team / "pip.conf"), NETRC=str(team / "netrc")))
        assert (got / unseen.name).read_bytes() == unseen.read_bytes()
    finally:
        restored(site, env)


def change_password(private: Private, user: str, password: str) -> None:
    with httpx.Client(trust_env=False, timeout=30) as client:
        answered = client.patch(f"{private.master}/{user}", auth=("root", private.passwords["root"]),
                                json={"password": password})
    assert answered.status_code == 200, answered.text


def test_a_changed_password_is_refused_at_once(private):
    page = f"/web/private/+simple/{PRIVATE}/"
    assert private.get(page, "web")[0] == 200  # decided: kept an hour unless purged
    old = private.passwords["web"]
    change_password(private, "web", "a-new-password-1")
    try:
        wait_until(lambda: private.get(page, "web")[0] == 401, 10, 0.1,
                   fail=lambda: AssertionError(f"the old password still reads: {private.get(page, 'web')[:2]}"))
        assert private.get(page, "web", {**HTML, **private.auth("web", "a-new-password-1")})[0] == 200
    finally:
        change_password(private, "web", old)
    wait_until(lambda: private.get(page, "web")[0] == 200, 10, 0.1)


def test_a_revoked_token_is_refused_at_once_however_it_is_sent(private):
    proc = run(kit_cmd("token", "create", str(private.site), "--team", "web"), env=private.env)
    token = proc.stdout.strip()
    token_id = re.search(r"^token (\w+) for team ", proc.stderr, re.M).group(1)
    page = f"/web/private/+simple/{PRIVATE}/"
    spellings = [{"Authorization": f"Bearer {token}"}, private.auth("web", token),
                 {"Authorization": "Basic " + base64.b64encode(f":{token}".encode()).decode()}]
    for sent in spellings:
        code, _, body = answer(private.url + page, {**HTML, **sent})
        assert code == 200 and PRIVATE.replace("-", "_") in body.decode(), (sent, code, body[:200])
    run(kit_cmd("token", "revoke", token_id, str(private.site)), env=private.env)
    for sent in spellings:
        wait_until(lambda: answer(private.url + page, {**HTML, **sent})[0] == 403, 10, 0.1,
                   fail=lambda: AssertionError(f"the revoked token still reads: {sent['Authorization'][:10]}"))
    assert private.get(page, "web")[0] == 200  # the team's password is untouched
