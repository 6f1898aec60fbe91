"""kit's launcher of devpi's programs (kit/plugin/launch.py) on real sites run by kit up.

devpi-web, once installed, is loaded by every devpi-server of that Python;
kit runs devpi through its launcher, which blocks it unless the answer web
is yes. With web = yes and read_access = team, devpi-web's pages (project,
version, documentation, search, the list of indexes) are browsed at the
edge's URL, links pointing at it, and a team never sees another team's
private projects in any of them, search results included. With web = yes
and devpi-web missing, kit up stops in one line naming the fix.

The devpi-web tests need devpi-web installed beside kit (skipped otherwise);
the missing-devpi-web test needs it absent (skipped otherwise).
"""

from __future__ import annotations

import io
import sys
import re
import zipfile
from importlib.util import find_spec
from pathlib import Path

import httpx
import pytest

from kit.core.wait import wait_until
from kit.ops.sample import make_wheel
from kit.plugin.launch import launch_argv
from kit.site.folder import Site
from tests.conftest import PRIVATE, clean_env, kit_cmd, run
from tests.support.cluster import edge_url, make_site, running_site, wait_mirror_in_sync

HAS_WEB = find_spec("devpi_web") is not None
needs_web = pytest.mark.skipif(not HAS_WEB, reason="devpi-web is not installed beside kit")
HTML = {"Accept": "text/html"}
#: The data team's private project: web must never see its name.
SECRET = "kitdemo-secret-of-data"
NAMED = re.compile(r"kitdemo[-_.]private", re.I)
SECRET_NAMED = re.compile(r"kitdemo[-_.]secret[-_.]of[-_.]data", re.I)
#: web's project in web's index (the upstream serves a kitdemo-private too: the dependency-confusion attack),
#: or its documentation's text.
WEBS_OWN = re.compile(r"/web/private/kitdemo[-_.]private|Kitdemo handbook", re.I)


class Web:
    """A running site's edge and master, read as a given user (or anonymously)."""

    def __init__(self, site: Path):
        self.site = site
        self.answers = Site.load(site).answers
        self.edge = edge_url(site)
        self.master = f"http://127.0.0.1:{self.answers.master_port}"
        self.passwords = {team: self.answers.team_password(team) for team in self.answers.teams}
        self.passwords["root"] = self.answers.admin_password
        self.mirror = f"http://127.0.0.1:{self.answers.mirror_port}"

    def indexed(self, base: str) -> bool:
        """Whether devpi-web's search index at ``base`` holds what the fixture uploaded (it indexes in
        the background, after the upload's answer), as root sees it."""
        found = self.get("/+search?query=kitdemo OR handbook", "root", base).text
        return all(part in found for part in ("/web/private/kitdemo", "/data/private/kitdemo", "handbook"))

    def auth(self, who: str):
        return None if who == "anonymous" else (who, self.passwords[who])

    def get(self, path: str, who: str = "anonymous", base: str | None = None) -> httpx.Response:
        with httpx.Client(trust_env=False, timeout=60, follow_redirects=True) as client:
            return client.get((base or self.edge) + path, headers=HTML, auth=self.auth(who))

    def post(self, index: str, who: str, data: dict, name: str, content: bytes) -> None:
        with httpx.Client(trust_env=False, timeout=60) as client:
            answer = client.post(f"{self.master}/{index}/", auth=self.auth(who), data=data,
                                 files={"content": (name, content, "application/octet-stream")})
        assert answer.status_code == 200, answer.text

    def upload(self, index: str, wheel: Path, who: str) -> None:
        name, version = wheel.name.split("-")[:2]
        self.post(index, who, {":action": "file_upload", "name": name, "version": version}, wheel.name,
                  wheel.read_bytes())

    def upload_docs(self, index: str, project: str, version: str, who: str, html: str) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("index.html", html)
        self.post(index, who, {":action": "doc_upload", "name": project, "version": version},
                  f"{project}-{version}.doc.zip", buffer.getvalue())


@pytest.fixture(scope="module")
def web(tmp_path_factory, dists):
    if not HAS_WEB:
        pytest.skip("devpi-web is not installed beside kit")
    root = tmp_path_factory.mktemp("web")
    env = clean_env(root / "home")
    secret = make_wheel(root / "secret", SECRET, "2.5", marker="data")
    with running_site(root, env, dists.upstream_folder, "--set", "read_access=team", "--set", "teams=web,data",
                      "--set", "web=yes") as (site, _):
        found = Web(site)
        found.upload("web/private", dists.private, "web")
        found.upload_docs("web/private", PRIVATE, "1.0", "web", "<html><body><h1>Kitdemo handbook</h1></body></html>")
        found.upload("data/private", secret, "data")
        wait_mirror_in_sync(site, env)
        for base in (found.master, found.mirror):
            wait_until(lambda: found.indexed(base), 30, 0.2,
                       fail=lambda: AssertionError(f"devpi-web at {base} did not index the uploads"))
        yield found


@needs_web
def test_web_off_devpi_web_is_not_loaded_though_installed(tmp_path, dists):
    env = clean_env(tmp_path / "home")
    with running_site(tmp_path, env, dists.upstream_folder) as (site, _):
        assert "kit-web: false" in (site / "cluster" / "master.yml").read_text()
        off = Web(site)
        for base in (off.edge, off.master):
            assert off.get("/+search?query=kitdemo", base=base).status_code == 404
            assert off.get("/", base=base).status_code == 404  # devpi-web's list of indexes: not there either


@needs_web
def test_a_project_page_through_the_edge_lists_the_teams_version_with_links_to_the_edge(web):
    assert "kit-web: true" in (web.site / "cluster" / "master.yml").read_text()
    assert "kit-web: true" in (web.site / "cluster" / "mirror.yml").read_text()
    page = web.get(f"/web/private/{PRIVATE}", "web")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html"), page.text[:300]
    assert NAMED.search(page.text) and "1.0" in page.text
    # Every link of the site is the edge's (devpi's own URLs are never shown to a browser).
    links = [link for link in re.findall(r'(?:href|src)="(https?://[^"]+)"', page.text) if "127.0.0.1" in link]
    assert links and all(link.startswith(web.edge + "/") for link in links), links
    version = web.get(f"/web/private/{PRIVATE}/1.0", "web")
    assert version.status_code == 200 and NAMED.search(version.text) and "1.0" in version.text
    wheel = re.search(r'href="([^"]+/web/private/\+f/[^"#]+\.whl)', version.text).group(1)
    assert wheel.startswith(web.edge + "/")
    with httpx.Client(trust_env=False, timeout=60) as client:  # and the file comes from the edge
        assert client.get(wheel, auth=web.auth("web")).content[:2] == b"PK"
    # The documentation: devpi-web's page around it (+d/), and its own HTML (+doc/).
    docs = web.get(f"/web/private/{PRIVATE}/1.0/+d/index.html", "web")
    assert docs.status_code == 200 and "Documentation" in docs.text, docs.text[:300]
    inner = web.get(f"/web/private/{PRIVATE}/1.0/+doc/index.html", "web")
    assert inner.status_code == 200 and "Kitdemo handbook" in inner.text
    # devpi-web's stylesheets and scripts, linked from every page, come through the edge too.
    static = re.search(r'href="(https?://[^"]+/\+static[^"]+\.css)"', page.text).group(1)
    assert web.get(static[len(web.edge):], "web").status_code == 200
    # The API still gets JSON at the same URL.
    with httpx.Client(trust_env=False, timeout=60) as client:
        api = client.get(f"{web.edge}/web/private/{PRIVATE}", headers={"Accept": "application/json"},
                         auth=web.auth("web"))
    assert api.status_code == 200 and api.json()["result"]


@needs_web
def test_search_through_the_edge_finds_the_teams_project(web):
    found = web.get("/+search?query=kitdemo", "web")
    assert found.status_code == 200, found.text[:300]
    assert re.search(rf'href="{re.escape(web.edge)}/web/private/kitdemo[-_.]private', found.text, re.I), found.text
    assert WEBS_OWN.search(web.get("/+search?query=handbook", "web").text)  # the uploaded documentation's text
    own = web.get(f"/+search?query={SECRET}", "data")
    assert SECRET_NAMED.search(own.text)


@needs_web
@pytest.mark.parametrize("server", ["edge", "master", "mirror"])
def test_another_team_and_anonymous_never_see_a_private_project(web, server):
    base = {"edge": web.edge, "master": web.master, "mirror": web.mirror}[server]
    for path in (f"/web/private/{PRIVATE}", f"/web/private/{PRIVATE}/1.0",
                 f"/web/private/{PRIVATE}/1.0/+doc/index.html", f"/web/private/{PRIVATE}/1.0/+d/index.html",
                 "/web/private"):
        assert web.get(path, "data", base).status_code in (401, 403, 404), path
        assert web.get(path, "anonymous", base).status_code in (401, 403, 404), path
    for who in ("data", "anonymous"):
        for query in ("kitdemo", PRIVATE, "handbook", "path:/web/private/*", "index:private"):
            answer = web.get(f"/+search?query={query}", who, base)
            leak = WEBS_OWN.search(answer.text)
            assert answer.status_code == 200 and not leak, (who, query, leak and answer.text[leak.start() - 300:])
        listing = web.get("/", who, base)
        assert listing.status_code == 200 and not NAMED.search(listing.text)
    for who in ("web", "anonymous"):
        assert not SECRET_NAMED.search(web.get("/+search?query=kitdemo", who, base).text), who
    assert SECRET_NAMED.search(web.get("/+search?query=kitdemo", "data", base).text)


def without_devpi_web(env: dict, folder: Path) -> dict:
    """``env`` in which kit's Python finds no devpi-web, installed or not (the test extra installs it):
    a sitecustomize marks the module missing, as importlib does for a module known to be absent."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text('import sys\nsys.modules["devpi_web"] = None\n')
    return dict(env, PYTHONPATH=str(folder))


def test_web_yes_without_devpi_web_stops_kit_up_in_one_line(tmp_path, dists):
    env = without_devpi_web(clean_env(tmp_path / "home"), tmp_path / "no-devpi-web")
    hidden = run([sys.executable, "-c", "import importlib.util as u; print(u.find_spec('devpi_web'))"], env=env)
    assert hidden.stdout.strip() == "None"  # the stand-in works: kit's Python sees no devpi-web
    site = make_site(tmp_path, env, dists.upstream_folder, "--set", "web=yes")
    try:
        up = run(kit_cmd("up", str(site)), env=env, check=False)
        assert up.returncode != 0
        lines = [line for line in up.stderr.splitlines() if "devpi-web" in line]
        assert len(lines) == 1 and "pip install devpi-web" in lines[0], up.stderr
        assert "Traceback" not in up.stderr + up.stdout
    finally:
        run(kit_cmd("down", str(site)), env=env, check=False)
    # The launcher itself, as systemd runs it: one line, status 2, nothing started.
    cluster = site / "cluster"
    launched = run([*launch_argv("devpi-server"), "-c", "master.yml"], env=env, cwd=cluster, check=False)
    assert launched.returncode == 2 and launched.stdout == ""
    assert launched.stderr.count("\n") == 1 and "pip install devpi-web" in launched.stderr
