"""The edge contract: what a client sees through either edge a site can have in
front, kit's own (``edge = "python"``) or Varnish with kit's edge as its shield
(``edge = "varnish"``), each in a real cluster brought up by ``kit up``.

Every test runs once per edge kind (the ``edge_site`` fixture). They share the
kind's cluster and pass in any order: each makes the upload it checks (or asks
for the team's, ``edge_site_uploaded``), and a test that stops a service brings
the cluster back in ``finally``. What only one edge has (kit's edge's cache
files and full disk; Varnish's VCL, shield chain) is in test_app.py and
test_varnish.py."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import time
from datetime import datetime, timezone
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import httpx
import pytest

from kit.core.wait import wait_until
from kit.edge.cache import GZIP_MIN, HTML, JSON, representation
from kit.edge.simple_api import acceptable
from kit.edge.config import EdgeConfig
from kit.edge.static_copy import refresh
from kit.ops.sample import make_wheel
from kit.plugin.sender import purge_request
from tests.conftest import BIN, PRIVATE, UPSTREAM_ONLY, run
from tests.support.clients import new_venv, who
from tests.support.cluster import origins_all_up, origins_up, pids, restored, status, team_upload, wait_mirror_in_sync
from tests.support.edge import Trap, answer, cached, raw
from tests.support.edge_requests import PASSED, REFUSED

#: Installs through the edge while the master is down: the same number for both edges.
INSTALLS = 4
#: Uploads, each with its project page cached first, each listed at once: the same for both.
UPLOADS = 8
#: The methods an index client uses: what both edges name in Allow when they refuse one.
ALLOW = "DELETE, GET, HEAD, PATCH, POST, PUSH, PUT"


def varies_on(headers: dict) -> list[str]:
    """The Vary header's names. A page varies on Accept-Encoding when it may be sent compressed:
    from kit's edge when it is 4 KiB or more, from Varnish whenever devpi did not say its size."""
    return [name.strip() for name in headers.get("Vary", "").split(",") if name.strip()]


def page_url(base: str, project: str) -> str:
    return f"{base}/web/private/+simple/{project}/"


def file_of(base: str, project: str) -> tuple[str, str]:
    """The URL of ``project``'s first file on web/private, and its sha256, as the edge's JSON page says."""
    page = json.loads(answer(page_url(base, project), {"Accept": JSON})[2])
    return urllib.request.urljoin(page_url(base, project), page["files"][0]["url"]), page["files"][0]["hashes"]["sha256"]


# -- pages ----------------------------------------------------------------------------------


ACCEPTS = [
    None, "", "text/html", "*/*", "text/*",
    JSON,
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01",  # pip
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01",  # uv
    "application/vnd.pypi.simple.v1+html",
    f"{JSON}, text/html",  # a tie: HTML
    f"{JSON};q=0.9, text/html;q=0.5",
    f"{JSON};q=0.5, text/html;q=0.9",
    f"{JSON};q=0",
    f"{JSON};q=0.3",
    f"text/html;q=0.5, {JSON}",
    "APPLICATION/VND.PYPI.SIMPLE.V1+JSON ; Q=0.8 , */*;q=0.7",
    "application/vnd.pypi.simple.latest+json",  # PEP 691's alias of the newest version: v1
    "application/vnd.pypi.simple.latest+json, application/vnd.pypi.simple.latest+html;q=0.5",
    "application/vnd.pypi.simple.latest+html",
    "application/*",
    "text/html; charset=utf-8",
    # Nothing a page is served as (406, as from PyPI and CodeArtifact): a quality
    # of 0 refuses a type, and a quality that is no number counts as 0.
    f"{JSON};q=0",
    f"{JSON};q=bogus",
    "application/xml",
    "application/json",
    "text/html;q=0, */*;q=0",
]


@pytest.mark.parametrize("accept", ACCEPTS)
def test_each_accept_gets_the_representation_kit_s_edge_picks(edge_site, accept):
    headers = {} if accept is None else {"Accept": accept}
    code, answered, body = answer(page_url(edge_site.url, UPSTREAM_ONLY), headers)
    if not acceptable(accept):
        assert code == 406 and answered["Vary"] == "Accept", (code, answered)
        assert body.count(b"\n") == 1 and b"application/vnd.pypi.simple.v1+json or text/html" in body
        return
    assert code == 200 and varies_on(answered) in (["Accept"], ["Accept", "Accept-Encoding"])
    expected = representation(accept)
    assert answered["Content-Type"].split(";")[0] == (JSON if expected == JSON else HTML)
    if expected == JSON:
        assert json.loads(body)["name"] == UPSTREAM_ONLY
    else:
        assert UPSTREAM_ONLY.replace("-", "_") in body.decode()


@pytest.mark.parametrize("accept", [None, JSON, "application/vnd.pypi.simple.latest+json"])
def test_a_refused_accept_leaves_the_cached_representations_as_they_were(edge_site, accept):
    """A 406 is never cached in a page's place: the next client with a good Accept gets the page."""
    url = page_url(edge_site.url, UPSTREAM_ONLY)
    assert answer(url, {"Accept": "application/xml"})[0] == 406
    code, headers, _ = answer(url, {} if accept is None else {"Accept": accept})
    assert code == 200 and headers["Content-Type"].startswith(HTML if accept is None else JSON)


def test_pages_are_cached_per_representation_not_per_user_agent(edge_site):
    url = f"{edge_site.url}/web/private/+simple/"
    cached(url, {"Accept": JSON, "User-Agent": "pip/24.0"})
    code, headers, _ = answer(url, {"Accept": JSON, "User-Agent": "uv/0.13"})
    assert code == 200 and headers["X-Cache"] == "HIT" and headers["Content-Type"].startswith(JSON)
    cached(url, {"Accept": "text/html", "User-Agent": "curl/8"})
    code, headers, _ = answer(url, {"Accept": "text/html", "User-Agent": "uv/0.13"})
    assert code == 200 and headers["X-Cache"] == "HIT" and headers["Content-Type"].startswith("text/html")


def test_a_query_string_never_fills_the_cache(edge_site):
    url = f"{edge_site.url}/web/private/+simple/?x=1"
    assert [answer(url)[1]["X-Cache"] for _ in range(2)] == ["PASS", "PASS"]


# -- purges and uploads ---------------------------------------------------------------------------


def test_a_purge_as_devpi_sends_it_needs_the_secret_and_drops_only_what_it_names(edge_site):
    """The request of kit's devpi plugin (JSON keys for kit's edge, Xkey-Purge for Varnish)."""
    site = edge_site.site
    secret = (site / "cluster" / "edge-purge-secret").read_text().strip()
    project, index = page_url(edge_site.url, UPSTREAM_ONLY), f"{edge_site.url}/web/private/+simple/"

    def purge(keys: list[str], token: str | None) -> int:
        body, headers = purge_request(keys, 1, token or "")
        if token is None:
            del headers["Authorization"]
        request = urllib.request.Request(f"{edge_site.url}/+edge/purge", data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as answered:
                return answered.status
        except urllib.error.HTTPError as error:
            return error.code

    cached(project, {"Accept": JSON})
    assert purge([f"web/private/{UPSTREAM_ONLY}"], None) == 401
    assert purge([f"web/private/{UPSTREAM_ONLY}"], "0" * 64) == 403
    assert answer(project, {"Accept": JSON})[1]["X-Cache"] == "HIT"  # a refused purge drops nothing
    cached(index, {"Accept": JSON})
    assert purge([f"web/private/{UPSTREAM_ONLY}"], secret) == 200
    assert answer(project, {"Accept": JSON})[1]["X-Cache"] == "MISS"
    assert answer(index, {"Accept": JSON})[1]["X-Cache"] == "HIT"  # another page, not named
    assert purge(["web/private/*"], secret) == 200
    assert answer(index, {"Accept": JSON})[1]["X-Cache"] == "MISS"


def assert_each_upload_listed_at_once(edge_site, project: str, wheels) -> None:
    """Upload each wheel with its project page cached; the purge, not the page's 5 s expiry, lists it."""
    url = page_url(edge_site.url, project)
    for n, wheel in enumerate(wheels):
        if n:
            cached(url, {"Accept": JSON})
        team_upload(edge_site.site, edge_site.env, wheel)
        wait_until(lambda: wheel.name in answer(url, {"Accept": JSON})[2].decode(), 3, 0.01,
                   fail=lambda: AssertionError(f"upload {n} not listed: the page waited for its expiry, no purge"))


def test_every_upload_is_listed_at_once_while_pages_are_cached(edge_site, tmp_path):
    assert_each_upload_listed_at_once(
        edge_site, "kitdemo-fresh", (make_wheel(tmp_path, "kitdemo-fresh", f"1.{n}") for n in range(UPLOADS)))


def test_a_large_upload_is_listed_at_once_too(edge_site, tmp_path):
    """8 MB wheels: devpi's notifier holds a commit while its file is not on
    disk yet, then sleeps 5 s. Purging from it, two of these four uploads were
    listed only after 4.5 s; the plugin now follows the commits itself."""
    def big(n: int) -> Path:
        wheel = make_wheel(tmp_path, "kitdemo-big", f"1.{n}")
        with zipfile.ZipFile(wheel, "a", zipfile.ZIP_STORED) as whl:
            whl.writestr("kitdemo_big/blob.bin", os.urandom(8 * 1024 * 1024))
        return wheel

    assert_each_upload_listed_at_once(edge_site, "kitdemo-big", (big(n) for n in range(4)))


def test_a_write_through_the_edge_reaches_the_master(edge_site, tmp_path):
    wheel = make_wheel(tmp_path, "kitdemo-written", "1.0")
    team_upload(edge_site.site, edge_site.env, wheel)
    master = {r["name"]: r for r in status(edge_site.site, edge_site.env)}["master"]["url"]
    with urllib.request.urlopen(page_url(master, "kitdemo-written"), timeout=10) as response:
        assert f"{wheel.name}#sha256={hashlib.sha256(wheel.read_bytes()).hexdigest()}" in response.read().decode()


# -- installs and files -------------------------------------------------------------------------


def test_pip_and_uv_install_through_the_edge_and_files_are_cached_and_verified(edge_site_uploaded, tmp_path):
    env = edge_site_uploaded.pip_env()
    python = new_venv(tmp_path / "venv")
    run([BIN / "python", "-m", "pip", "--python", python, "install", "--no-cache-dir", PRIVATE, UPSTREAM_ONLY], env=env)
    assert who(python, env) == ("team", "1.0", "upstream")
    uv_python = new_venv(tmp_path / "uv-venv")
    run([BIN / "uv", "pip", "install", "--no-cache", "--python", uv_python, PRIVATE, UPSTREAM_ONLY], env=env)
    assert who(uv_python, env) == ("team", "1.0", "upstream")
    url, digest = file_of(edge_site_uploaded.url, PRIVATE)
    cached(url)
    # pip spells /+f/ as /%2Bf/: both are the one cached file
    for spelling in (url, url.replace("/+f/", "/%2Bf/")):
        code, headers, body = answer(spelling)
        assert code == 200 and headers["X-Cache"] == "HIT", (spelling, headers)
        assert headers["Cache-Control"] == "max-age=31536000, immutable"
        assert hashlib.sha256(body).hexdigest() == digest


def upload_all(edge_site, wheels: list[Path]) -> None:
    """One twine upload of every wheel, with the web team's generated .pypirc (to the site's edge)."""
    run([BIN / "twine", "upload", "--config-file", edge_site.site / "teams" / "web" / ".pypirc", "-r", "web",
         "--disable-progress-bar", "--non-interactive", *wheels], env=edge_site.env)


def version_in(python: Path, project: str, env: dict) -> str:
    return run([python, "-c", f"import importlib.metadata as m; print(m.version({project!r}))"], env=env).stdout.strip()


#: Releases enough for a project page above the edges' gzip threshold, in either representation.
RELEASES = 32


def test_large_pages_are_sent_gzip_encoded_to_clients_that_take_it_and_decompress_to_the_page(edge_site, tmp_path):
    """pip and uv send Accept-Encoding: gzip; a page of 4 KiB and more comes compressed
    (compressed once, as it is cached), the same bytes once decompressed, its own ETag."""
    project = "kitdemo-gzipped"
    upload_all(edge_site, [make_wheel(tmp_path, project, f"1.{n}") for n in range(RELEASES)])
    url = page_url(edge_site.url, project)
    for accept in (JSON, "text/html"):
        wait_until(lambda: f"1.{RELEASES - 1}" in answer(url, {"Accept": accept})[2].decode(), 10, 0.1)
        cached(url, {"Accept": accept, "Accept-Encoding": "gzip"})
        code, plain_headers, plain = answer(url, {"Accept": accept})
        assert code == 200 and len(plain) >= GZIP_MIN and "Content-Encoding" not in plain_headers
        code, headers, body = answer(url, {"Accept": accept, "Accept-Encoding": "gzip, deflate"})  # what pip sends
        assert code == 200 and headers["Content-Encoding"] == "gzip" and gzip.decompress(body) == plain
        assert len(body) < len(plain) // 2
        for answered in (headers, plain_headers):
            assert varies_on(answered) == ["Accept", "Accept-Encoding"], answered
        request = urllib.request.Request(url, method="HEAD", headers={"Accept": accept, "Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Content-Encoding"] == "gzip" and response.read() == b""
            assert response.headers.get("ETag") == headers.get("ETag")
        plain_tag = plain_headers["ETag"]
        if edge_site.kind == "varnish":
            # Varnish decompresses the stored gzip bytes for this client: a transformed
            # representation, whose tag it makes weak (RFC 9110 8.8.1).
            assert plain_tag.startswith("W/"), plain_headers
            plain_tag = plain_tag.removeprefix("W/")
        assert headers["ETag"] == plain_tag[:-1] + '-gzip"', (headers, plain_headers)
        for tag in (headers["ETag"], plain_headers["ETag"]):
            for encoding in ({"Accept-Encoding": "gzip"}, {}):
                code, answered, nothing = answer(url, {"Accept": accept, "If-None-Match": tag, **encoding})
                assert (code, nothing) == (304, b""), (tag, encoding, answered)
    # httpx decompresses as a resolver does: the page it reads is the one sent whole
    with httpx.Client() as client:
        got = client.get(url, headers={"Accept": JSON})
        assert got.headers["Content-Encoding"] == "gzip" and got.content == answer(url, {"Accept": JSON})[2]
    env = edge_site.pip_env()
    python = new_venv(tmp_path / "venv")
    run([BIN / "python", "-m", "pip", "--python", python, "install", "--no-cache-dir", project], env=env)
    assert version_in(python, project, env) == f"1.{RELEASES - 1}"
    uv_python = new_venv(tmp_path / "uv-venv")
    run([BIN / "uv", "pip", "install", "--no-cache", "--python", uv_python, f"{project}<1.{RELEASES - 1}"], env=env)
    assert version_in(uv_python, project, env) == f"1.{RELEASES - 2}"


def test_uv_exclude_newer_through_the_edge_installs_the_release_that_existed_then(edge_site, tmp_path):
    """PEP 700's upload-time, as devpi recorded each upload: 1.0, then (2 s on) the time
    noted, then (2 s on) 1.1; ``--exclude-newer`` that time must give 1.0. (Varnish takes
    team pages from its shield, which serves them as kit's edge does.)"""
    project = "kitdemo-when"
    team_upload(edge_site.site, edge_site.env, make_wheel(tmp_path, project, "1.0"))
    time.sleep(2)
    noted = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    time.sleep(2)
    team_upload(edge_site.site, edge_site.env, make_wheel(tmp_path, project, "1.1"))
    url = page_url(edge_site.url, project)
    wait_until(lambda: "1.1" in json.loads(answer(url, {"Accept": JSON})[2])["versions"], 10, 0.1,
               fail=lambda: AssertionError(answer(url, {"Accept": JSON})[2]))
    page = json.loads(answer(url, {"Accept": "application/vnd.pypi.simple.latest+json"})[2])
    assert page["meta"]["api-version"] == "1.1" and page["versions"] == ["1.0", "1.1"], page
    times = {entry["filename"]: entry["upload-time"] for entry in page["files"]}
    assert sorted(times.values())[0] < noted < sorted(times.values())[1], (times, noted)
    env = edge_site.pip_env()
    python = new_venv(tmp_path / "venv")
    run([BIN / "uv", "pip", "install", "--no-cache", "--python", python, "--exclude-newer", noted, project], env=env)
    assert version_in(python, project, env) == "1.0"
    run([BIN / "uv", "pip", "install", "--no-cache", "--python", python, project, "--upgrade"], env=env)
    assert version_in(python, project, env) == "1.1"


def kit_edge_stats(edge_site) -> dict:
    """The counters of kit's edge: the edge itself, or Varnish's shield (its own port, on 127.0.0.1)."""
    port = EdgeConfig.load(edge_site.site / "cluster" / "edge.json").port
    return json.loads(answer(f"http://127.0.0.1:{port}/+edge/stats")[2])


def wheel_metadata(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA")))


def test_uv_reads_every_wheels_core_metadata_through_the_edge_from_kit_s_edge(edge_site, tmp_path):
    """The pages advertise core metadata (PEP 658/714) for the team's wheel and for the one
    it inherits from root/pypi (devpi's own pages: the team's only); real uv reads both
    ``.metadata`` files from the edge, which has kit's edge extract them from checked wheels
    (through Varnish: the shield's counter), then keeps them as it keeps files."""
    project = "kitdemo-described"
    wheel = make_wheel(tmp_path, project, "1.0", marker="described", requires=(UPSTREAM_ONLY,))
    team_upload(edge_site.site, edge_site.env, wheel)
    url = page_url(edge_site.url, project)
    wait_until(lambda: answer(url, {"Accept": JSON})[0] == 200, 10, 0.1)
    dependency = json.loads(answer(page_url(edge_site.url, UPSTREAM_ONLY), {"Accept": JSON})[2])["files"]
    assert all(entry.get("core-metadata") for entry in dependency if entry["filename"].endswith(".whl")), dependency
    before = kit_edge_stats(edge_site)["metadata"]
    python = new_venv(tmp_path / "uv-venv")
    run([BIN / "uv", "pip", "install", "--no-cache", "--python", python, project], env=edge_site.pip_env())
    assert version_in(python, project, edge_site.pip_env()) == "1.0"
    # kitdemo-described's and kitdemo-upstream's (unless an earlier test had the edge keep that one)
    assert kit_edge_stats(edge_site)["metadata"] > before
    entry = json.loads(answer(url, {"Accept": JSON})[2])["files"][0]
    assert entry["core-metadata"], entry
    metadata_url = urllib.request.urljoin(url, entry["url"]) + ".metadata"
    code, headers, body = answer(metadata_url)
    assert code == 200 and headers["X-Cache"] == "HIT" and body == wheel_metadata(wheel), headers
    assert headers["Cache-Control"] == "max-age=31536000, immutable"
    if isinstance(entry["core-metadata"], dict):
        assert entry["core-metadata"] == {"sha256": hashlib.sha256(body).hexdigest()}
    code, headers, part = answer(metadata_url, {"Range": "bytes=-8"})
    assert code == 206 and part == body[-8:]
    assert headers["Content-Range"] == f"bytes {len(body) - 8}-{len(body) - 1}/{len(body)}"


def test_wrong_bytes_from_the_master_are_never_served(edge_site, tmp_path):
    """The master's copy of a file is damaged on disk: it is refused and the mirror's bytes are served."""
    site, env = edge_site.site, edge_site.env
    wheel = make_wheel(tmp_path, "kitdemo-bytes", "1.0")
    team_upload(site, env, wheel)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    wait_mirror_in_sync(site, env)  # the mirror has the file too
    stored = next((site / "cluster" / "run" / "master").rglob(wheel.name))
    good = stored.read_bytes()
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0x01
    stored.write_bytes(bytes(damaged))
    try:
        url, listed = file_of(edge_site.url, "kitdemo-bytes")
        code, headers, body = answer(url)
        assert listed == digest and code == 200 and hashlib.sha256(body).hexdigest() == digest
        # through Varnish, files come by the shield (kit's edge), which checks them
        assert headers["X-Served-By"] == {"python": "mirror", "varnish": "shield/mirror"}[edge_site.kind], headers
    finally:
        stored.write_bytes(good)


# -- origins down -----------------------------------------------------------------------------------


def test_master_killed_installs_keep_working_and_uploads_get_a_clear_503(edge_site_uploaded, tmp_path):
    site, env = edge_site_uploaded.site, edge_site_uploaded.env
    pip_env = edge_site_uploaded.pip_env()
    os.kill(pids(site)["master"], signal.SIGKILL)
    try:
        python = new_venv(tmp_path / "venv")
        for n in range(INSTALLS):  # pip and uv in turn, each installing again
            if n % 2:
                command = [BIN / "uv", "pip", "install", "--no-cache", "--reinstall", "--python", python]
            else:
                command = [BIN / "python", "-m", "pip", "--python", python, "install", "--no-cache-dir",
                           "--force-reinstall"]
            run([*command, PRIVATE, UPSTREAM_ONLY], env=pip_env)
        assert who(python, pip_env) == ("team", "1.0", "upstream")
        refused = team_upload(site, env, make_wheel(tmp_path, "kitdemo-while-master-down", "1.0"), check=False)
        assert refused.returncode != 0 and "503" in refused.stdout and "Master down, uploads paused" in refused.stdout
        health = lambda: answer(f"{edge_site_uploaded.url}/+edge/health")[2]  # noqa: E731
        wait_until(lambda: not origins_up(json.loads(health())), 10, fail=lambda: AssertionError(health()))
        mirror = {r["name"]: r for r in status(site, env)}["mirror"]
        assert mirror["healthy"] and answer(page_url(mirror["url"], "kitdemo-while-master-down"))[0] == 404
    finally:
        restored(site, env)
    # (Once, through Varnish: 503 "Master down" right after kit up, Varnish's probe still
    # calling the master sick and never trying it.) restored() waits for the edge to see
    # the master, as a user who reads kit status would.
    team_upload(site, env, make_wheel(tmp_path, "kitdemo-after-restart", "1.0"))


def test_master_and_mirror_gone_pages_are_served_stale_and_unseen_ones_from_the_static_copy(
        edge_site_uploaded, tmp_path):
    site, env, base = edge_site_uploaded.site, edge_site_uploaded.env, edge_site_uploaded.url
    # root/pypi's own list: the static copy (team indexes only) has no copy of it, so only the
    # edge's cache can serve it (through Varnish: Varnish's grace; the shield never fetched it).
    seen = f"{base}/root/pypi/+simple/"
    # A page older than the newest purge is never kept (the serial guard): right after another
    # test's kit up, a lagging mirror could answer such a page and there would be nothing stale.
    origins_all_up(site)
    wait_mirror_in_sync(site, env)
    cached(seen, {"Accept": JSON}, timeout=15)
    file_url, digest = file_of(base, PRIVATE)
    cached(file_url)
    # A version the edge never listed, uploaded and copied by the static copy.
    unseen = make_wheel(tmp_path, "kitdemo-unseen", "1.0")
    team_upload(site, env, unseen)
    wait_mirror_in_sync(site, env)
    config = EdgeConfig.load(site / "cluster" / "edge.json")
    copied = refresh(config.static_copy_sources, config.static_copy_indexes,
                     site / "cluster" / config.static_copy_dir, outside_url=config.public_url)
    assert not copied.errors, copied.errors
    ids = pids(site)
    os.kill(ids["master"], signal.SIGKILL)
    os.kill(ids["mirror"], signal.SIGKILL)
    try:
        # The page's 5 s (both edges) must pass on the real clock, which a real Varnish
        # cannot be given in place of its own: wait until the edge calls it stale.
        code, headers, body = wait_until(lambda: answer(seen, {"Accept": JSON}), 15, 0.2,
                                         accept=lambda got: got[1].get("X-Cache") != "HIT")
        assert code == 200 and headers["X-Cache"] == "STALE" and headers["Warning"] == '111 - "Revalidation Failed"', headers
        assert UPSTREAM_ONLY in body.decode()
        code, headers, body = answer(file_url)  # a file once cached outlives every origin
        assert code == 200 and hashlib.sha256(body).hexdigest() == digest
        code, headers, _ = answer(page_url(base, "kitdemo-unseen"), {"Accept": JSON})
        assert code == 200 and headers["X-Served-By"].endswith("static-copy"), headers
        got = tmp_path / "got"
        run([BIN / "python", "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-d", got, "kitdemo-unseen"],
            env=edge_site_uploaded.pip_env())
        assert (got / unseen.name).read_bytes() == unseen.read_bytes()
    finally:
        restored(site, env)
    # and fresh again once the origins are back
    code, headers, _ = answer(seen, {"Accept": JSON})
    assert code == 200 and headers["X-Cache"] != "STALE"


# -- an index, never a proxy -------------------------------------------------------------------


def test_no_request_target_makes_the_edge_connect_elsewhere(edge_site):
    port = int(edge_site.url.rsplit(":", 1)[1])
    origins_all_up(edge_site.site)  # a refused request must not be mistaken for an origin down
    trap = Trap()
    try:
        for line in REFUSED:
            code, answered = raw(port, line.replace(":T", f":{trap.port}"))
            assert b"trapped" not in answered
            if edge_site.kind == "varnish" and line.startswith("PUSH"):
                continue  # devpi's own method: Varnish passes it to the master, kit's edge's parser refuses it
            if edge_site.kind == "varnish" and line.split(" ", 1)[1].startswith(("http://", "https://")):
                # Varnish reads an absolute URL as its path plus a Host header (RFC 9112
                # 3.2.2 says a server must): a page of this index, from its own origins.
                continue
            assert code in (400, 405), (line, answered[:300])
        for line in PASSED:
            code, answered = raw(port, line.replace(":T", f":{trap.port}").replace("%3AT", f"%3A{trap.port}"))
            assert b"trapped" not in answered and 200 <= code < 600, (line, answered[:300])
        assert trap.connections == 0
        _, answered = raw(trap.port, "GET /")  # the trap itself counts (else 0 would prove nothing)
        assert b"trapped" in answered and trap.connections == 1
    finally:
        trap.close()
    origins_all_up(edge_site.site, timeout=5)  # and no origin was marked down by any of it


@pytest.mark.parametrize("line", ["OPTIONS /web/private/+simple/", "TRACE /", "PROPFIND /web/private/", "MKCOL /web/"])
def test_a_method_no_index_client_uses_gets_405_with_the_methods_it_takes(edge_site, line):
    code, answered = raw(int(edge_site.url.rsplit(":", 1)[1]), line)
    assert code == 405 and f"\r\nAllow: {ALLOW}\r\n".encode() in answered, answered[:300]
