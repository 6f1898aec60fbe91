"""The static copy of the team indexes (kit/static_copy.py), made from a real
devpi-server, and the edge serving from it when master and mirror are both dead.

The team ``data`` is used here (its index data/private), so what the edge tests
upload to web/private does not change these counts."""

from __future__ import annotations

import configparser
import hashlib
import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kit.cluster.lifecycle import edge_summary, free_ports
from kit.edge.cache import JSON
from kit.core.report import plural
from kit.ops.sample import make_wheel
from kit.edge.static_copy import read_status, refresh
from tests.conftest import BIN, clean_env, free_port, run
from tests.support.edge import Relay, edge_process, get

INDEX = "data/private"


def upload(server, team: str, *files: Path) -> None:
    pypirc = configparser.ConfigParser(interpolation=None)
    pypirc.read(server.team_dir(team) / ".pypirc")
    user, password = pypirc[team]["username"], pypirc[team]["password"]
    run([BIN / "twine", "upload", "--repository-url", f"{server.url}/{INDEX}/", "-u", user, "-p", password,
         "--disable-progress-bar", "--non-interactive", *files], env=server.env)


@pytest.fixture(scope="module")
def team(devpi_site, tmp_path_factory):
    """data/private with kitdemo-static 1.0 and kitdemo-never 1.0 (which no test fetches through an edge first)."""
    folder = tmp_path_factory.mktemp("static-dists")
    devpi_site.wheels = {
        "kitdemo-static": make_wheel(folder, "kitdemo-static", "1.0", marker="static"),
        "kitdemo-never": make_wheel(folder, "kitdemo-never", "1.0", marker="never-fetched"),
    }
    upload(devpi_site, "data", *devpi_site.wheels.values())
    devpi_site.dist_folder = folder
    return devpi_site


@pytest.fixture(scope="module")
def copied(team, tmp_path_factory):
    """A copy of data/private made once for the module (tests that change it make their own)."""
    folder = tmp_path_factory.mktemp("static-copy")
    result = refresh([team.url], [INDEX], folder)
    assert result.ok, result.errors
    return folder


def devpi_page(url: str, accept: str) -> bytes:
    return get(url, {"Accept": accept})[2]


def page_files(folder: Path, project: str) -> dict[str, Path]:
    base = folder / INDEX / "+simple" / project
    return {"text/html": base / "index.html", JSON: base / "index.v1_json"}


# -- the copy ---------------------------------------------------------------------------


def test_a_refresh_copies_pages_in_both_representations_and_files_byte_identical(team, copied):
    for project, wheel in team.wheels.items():
        for accept, stored in page_files(copied, project).items():
            assert stored.read_bytes() == devpi_page(f"{team.url}/{INDEX}/+simple/{project}/", accept)
        served = json.loads(stored.read_bytes())  # the JSON page names the file and its sha256
        [entry] = served["files"]
        path = urllib.request.urljoin(f"/{INDEX}/+simple/{project}/", entry["url"]).split("#")[0]
        copy = copied / path.lstrip("/")
        assert copy.read_bytes() == wheel.read_bytes()
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == entry["hashes"]["sha256"]
    root = json.loads((copied / INDEX / "+simple" / "index.v1_json").read_bytes())
    # The session's devpi is shared: other tests may have published on data/private too.
    listed = sorted(p["name"] for p in root["projects"])
    assert {"kitdemo-never", "kitdemo-static"} <= set(listed)
    assert b'href="kitdemo-never/"' in (copied / INDEX / "+simple" / "index.html").read_bytes()
    status = read_status(copied)
    assert status.projects == len(listed) and status.files >= 2 and status.source == team.url and status.serial > 0
    assert status.bytes >= sum(w.stat().st_size for w in team.wheels.values())
    assert abs(status.refreshed_at - time.time()) < 60


def test_a_refresh_with_nothing_new_downloads_nothing(team, copied):
    again = refresh([team.url], [INDEX], copied)
    files = read_status(copied).files
    assert again.ok and again.unchanged and again.downloaded == 0 and again.files == files
    forced = refresh([team.url], [INDEX], copied, force=True)  # every page read again: still no file
    assert forced.ok and not forced.unchanged and forced.downloaded == 0 and forced.files == files
    print(f"no-change refresh: {again.seconds * 1000:.1f} ms (serial unchanged), "
          f"{forced.seconds * 1000:.1f} ms (every page read again)")


def test_the_mirror_is_read_first_and_a_dead_one_is_skipped(team, copied, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    result = refresh([dead, team.url], [INDEX], tmp_path / "copy")
    assert result.ok and result.source == team.url and result.files == read_status(copied).files
    assert "ConnectError" in result.skipped[0]


def test_a_new_upload_appears_after_the_next_refresh_and_a_half_copy_never_shows(team, copied, tmp_path):
    """A file that cannot be had (wrong bytes, or a source that stalls half way):
    the project's old page stays as it was, and STATUS.json says why."""
    folder = tmp_path / "copy"
    with Relay(team.url) as relay:
        first = refresh([relay.url], [INDEX], folder)
        assert first.ok
        before = {kind: path.read_bytes() for kind, path in page_files(folder, "kitdemo-static").items()}
        upload(team, "data", make_wheel(tmp_path / "dist", "kitdemo-static", "1.1", marker="static-two"))
        for mode, error in (("corrupt", "do not match the page's sha256: not kept"), ("stall", "ReadTimeout")):
            relay.mode = mode
            failed = refresh([relay.url], [INDEX], folder, timeout=0.5)
            assert not failed.ok and error in failed.errors[0], failed.errors
            assert {kind: path.read_bytes() for kind, path in page_files(folder, "kitdemo-static").items()} == before
            assert not [p for p in folder.rglob("*") if p.name.endswith(".part")]
            assert read_status(folder).errors == failed.errors
        relay.mode = "ok"
        fixed = refresh([relay.url], [INDEX], folder)
    assert fixed.ok and fixed.downloaded == 1 and fixed.files == first.files + 1
    assert b"kitdemo_static-1.1-py3-none-any.whl" in page_files(folder, "kitdemo-static")["text/html"].read_bytes()


def test_a_team_s_copy_lists_what_it_inherits_from_a_sibling_team(team, tmp_path):
    """web/private inherits data/private (devpi's bases): its copy has data's packages,
    their pages linking data's files, as devpi serves them."""
    folder = tmp_path / "copy"
    result = refresh([team.url], ["web/private", INDEX], folder)
    assert result.ok, result.errors
    inherited = folder / "web/private/+simple/kitdemo-never/index.html"
    assert inherited.read_bytes() == devpi_page(f"{team.url}/web/private/+simple/kitdemo-never/", "text/html")
    [href] = [h for h in inherited.read_text().split('href="')[1:]]
    path = urllib.request.urljoin("/web/private/+simple/kitdemo-never/", href.split("#")[0])
    assert path.startswith(f"/{INDEX}/+f/")
    assert (folder / path.lstrip("/")).read_bytes() == team.wheels["kitdemo-never"].read_bytes()
    root = json.loads((folder / "web/private/+simple/index.v1_json").read_bytes())
    assert {"kitdemo-never", "kitdemo-static"} <= {p["name"] for p in root["projects"]}


def test_bad_input_is_one_line():
    with pytest.raises(ValueError, match="not an index name like TEAM/private"):
        refresh(["http://127.0.0.1:1"], ["../etc"], Path("/nonexistent"))


# -- the edge's last origin ------------------------------------------------------------


def dead_origins() -> tuple[str, list[str]]:
    """A master and a mirror nobody listens on: both dead."""
    master, mirror = free_ports(2)
    return f"http://127.0.0.1:{master}", [f"http://127.0.0.1:{mirror}"]


def copy_of(copied: Path, folder: Path) -> Path:
    """The module's copy, for an edge that may change it (its own refresh writes STATUS.json)."""
    shutil.copytree(copied, folder)
    return folder


def pip_install(edge_url: str, target: Path, home: Path, project: str, *, check: bool = True):
    return run([BIN / "python", "-m", "pip", "install", "--no-deps", "--no-cache-dir", "--retries", "0",
                "--target", target, "--index-url", f"{edge_url}/{INDEX}/+simple/", project],
               env=clean_env(home), check=check)


def test_the_drill_master_and_mirror_dead_a_package_nobody_fetched_installs_from_the_copy(team, copied, tmp_path):
    master, mirrors = dead_origins()
    folder = copy_of(copied, tmp_path / "copy")
    with edge_process(tmp_path / "edge", master, mirrors, static_copy_dir=str(folder),
                      static_copy_indexes=[INDEX]) as edge:
        pip_install(edge.url, tmp_path / "target", tmp_path / "home", "kitdemo-never==1.0")
        assert (tmp_path / "target" / "kitdemo_never" / "__init__.py").read_text().startswith("WHO = 'never-fetched'")
        status, headers, body = get(f"{edge.url}/{INDEX}/+simple/kitdemo-never/", {"Accept": JSON})
        assert (headers["X-Served-By"], headers["X-Cache"]) == ("static-copy", "STALE")
        assert body == page_files(folder, "kitdemo-never")[JSON].read_bytes()
        assert 0 <= int(headers["Age"]) < 600
        [entry] = json.loads(body)["files"]
        path = urllib.request.urljoin(f"/{INDEX}/+simple/kitdemo-never/", entry["url"]).split("#")[0]
        status, headers, wheel = get(edge.url + path)
        assert wheel == team.wheels["kitdemo-never"].read_bytes() and headers["X-Served-By"] == "static-copy"
        health = json.loads(get(f"{edge.url}/+edge/health")[2])
        copy = health["static_copy"]
        made = read_status(copied)
        assert (copy["projects"], copy["files"], copy["serial"]) == (made.projects, made.files, made.serial)
        assert copy["errors"] >= 1 and "ConnectError" in copy["last_error"]  # the edge's own refresh: nobody answered
        assert health["static_copy_served"] >= 3 and health["integrity_failures"] == 0
        summary = edge_summary(health)
        shown = f"static copy: refreshed {copy['age']:.0f} s ago (serial {copy['serial']}, {plural(made.projects, 'project')}, {plural(made.files, 'file')})"
        assert shown in summary, summary


def test_a_corrupted_file_in_the_copy_is_never_served(team, copied, tmp_path):
    master, mirrors = dead_origins()
    folder = copy_of(copied, tmp_path / "copy")
    [stored] = [p for p in folder.rglob("kitdemo_static-1.0-py3-none-any.whl")]
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 1  # same size, one bit off
    stored.write_bytes(bytes(data))
    with edge_process(tmp_path / "edge", master, mirrors, static_copy_dir=str(folder),
                      static_copy_indexes=[INDEX]) as edge:
        failed = pip_install(edge.url, tmp_path / "target", tmp_path / "home", "kitdemo-static==1.0", check=False)
        assert failed.returncode != 0 and "503" in failed.stdout + failed.stderr
        assert "Traceback" not in failed.stderr
        assert not (tmp_path / "target" / "kitdemo_static").exists()
        assert edge.stats()["integrity_failures"] == 1
        assert not stored.exists()  # removed: the next refresh fetches it again
        relative = "/" + stored.relative_to(folder).as_posix()
        with pytest.raises(urllib.error.HTTPError) as error:
            get(edge.url + relative)
        assert error.value.code == 503
    repaired = refresh([team.url], [INDEX], folder)  # the same serial, yet the removed file is fetched again
    assert repaired.ok and repaired.downloaded >= 1  # (more when an earlier test uploaded kitdemo-static 1.1)
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == hashlib.sha256(
        team.wheels["kitdemo-static"].read_bytes()).hexdigest()


def test_the_edge_prefers_whichever_page_is_newer(team, tmp_path):
    """Its own cached page when it fetched it after the copy was made; the copy's once that is newer."""
    folder = tmp_path / "copy"
    page = f"/{INDEX}/+simple/kitdemo-static/"
    with Relay(team.url) as master, edge_process(tmp_path / "edge", master.url, [], page_ttl=0,
                                                 static_copy_dir=str(folder), static_copy_indexes=[INDEX]) as edge:
        deadline = time.monotonic() + 30
        while read_status(folder) is None and time.monotonic() < deadline:  # the edge refreshes it when it starts
            time.sleep(0.05)
        assert read_status(folder).ok and read_status(folder).source == master.url
        time.sleep(1.1)  # ages are whole seconds apart
        assert get(edge.url + page)[1]["X-Served-By"] == "master"
        master.mode = "close"
        assert get(edge.url + page)[1]["X-Served-By"] == "edge"  # fetched after the copy: newer
        time.sleep(1.1)
        assert refresh([team.url], [INDEX], folder, force=True).ok
        headers = get(edge.url + page)[1]
        assert (headers["X-Served-By"], headers["X-Cache"], headers["Age"]) == ("static-copy", "STALE", "0")
