"""Upload → listed at the edge, end to end: kit up runs master and mirror with
kit's devpi plugin, which tells the edge which pages a commit changed. The
edge's own revalidation is set to minutes here, so only the purge can make a
cached page fresh."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from kit.ops.sample import make_wheel
from kit.site.folder import Site
from tests.conftest import BIN, clean_env, kit_cmd, run
from tests.support.cluster import make_site, pids, stop_cluster

PROJECT = "kitdemo-purged"


@pytest.fixture(scope="module")
def site_up(tmp_path_factory, dists):
    root = tmp_path_factory.mktemp("purge")
    env = clean_env(root / "home")
    site = make_site(root, env, dists.upstream_folder)
    edge_json = site / "cluster" / "edge.json"
    config = json.loads(edge_json.read_text())
    edge_json.write_text(json.dumps(dict(config, page_ttl=600)))  # a lost purge would show for 10 minutes
    run(kit_cmd("up", str(site)), env=env)
    started = pids(site)
    try:
        yield site, env, config["port"]
    finally:
        stop_cluster(site, env, started)


def page(port: int, path: str) -> tuple[str, str]:
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(f"http://127.0.0.1:{port}{path}") as response:
        return response.headers.get("X-Cache", ""), response.read().decode()


def upload_to_master(site, env, tmp_path, version: str) -> None:
    """Straight to the master, past the edge: only the plugin can tell the edge."""
    answers = Site.load(site).answers
    wheel = make_wheel(tmp_path / version, PROJECT, version, marker=version)
    run([BIN / "twine", "upload", "--disable-progress-bar", "--repository-url",
         f"http://127.0.0.1:{answers.master_port}/web/private/", "-u", "web", "-p", answers.team_password("web"),
         wheel], env=env)


def test_an_upload_to_the_master_is_listed_at_the_edge_at_once(site_up, tmp_path):
    site, env, port = site_up
    upload_to_master(site, env, tmp_path, "1.0")
    path = f"/web/private/+simple/{PROJECT}/"
    # Cached with 1.0 listed (a purge for the upload may still land first: read until a HIT).
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        cache, text = page(port, path)
        if cache == "HIT" and PROJECT.replace("-", "_") + "-1.0" in text:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the page never came from the edge's cache")
    for version in ("1.1", "1.2", "1.3"):
        upload_to_master(site, env, tmp_path, version)
        wanted = f"{PROJECT.replace('-', '_')}-{version}-py3-none-any.whl"
        deadline = time.monotonic() + 5
        while wanted not in page(port, path)[1] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert wanted in page(port, path)[1], f"{version} not listed at the edge: the purge did not arrive"


def test_a_purge_without_the_site_secret_is_refused(site_up):
    site, env, port = site_up
    request = urllib.request.Request(f"http://127.0.0.1:{port}/+edge/purge", method="POST",
                                     data=b'{"keys": ["web/private/*"], "serial": 1}',
                                     headers={"Authorization": "Bearer " + "0" * 64})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request)
    assert info.value.code == 403
