"""``kit check`` on sites the tutorial makes, on broken files, with a shell
whose variables would override the team's files, and on a real cluster with
services killed: findings naming the real cause and its fix, never a traceback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kit.ops.check import check_site
from tests.conftest import UPSTREAM_ONLY, clean_env, kit_cmd, run
from tests.support.cluster import alive, pids, running_site


def kit_run(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "kit", *args], capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def mirror_only(tmp_path) -> Path:
    """Chapter 5's site: a mirror and clients, no private index."""
    site = tmp_path / "seed"
    proc = kit_run("init", str(site), "--no-input", "--set", "setups=mirror,clients,cluster", "--set", "teams=alpha")
    assert proc.returncode == 0, proc.stderr
    return site


def test_a_site_without_private_indexes_writes_no_upload_settings(mirror_only):
    """Once such a site got a .pypirc with an empty repository and username, and
    ``kit check`` ended in ``ValueError: unknown url type: ':///+login'``."""
    team = mirror_only / "teams" / "alpha"
    assert not (team / ".pypirc").exists()
    assert "TWINE_" not in (team / "ci.env").read_text()
    assert ".pypirc" not in (team / "README.md").read_text()


def test_check_on_a_mirror_only_site_has_no_traceback(mirror_only):
    proc = kit_run("check", str(mirror_only), "--package", "x")  # nothing runs: the live checks fail cleanly
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr and proc.stderr == ""
    assert "upload accepted" not in proc.stdout


def test_a_stopped_cluster_is_one_finding_not_a_cascade(mirror_only):
    """Nothing running made every team's "index answers" and "package resolves"
    fail, each with its own fix; one line says what is wrong."""
    proc = kit_run("check", str(mirror_only), "--package", "x")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    failed = [line for line in lines if " FAIL " in line]
    assert failed == ["cluster    cluster running              FAIL   nothing is running "
                      "(master, mirror and edge stopped)"], proc.stdout
    assert lines[lines.index(failed[0]) + 1].strip() == f"fix: start the cluster: kit up {mirror_only}"
    assert "index answers" not in proc.stdout and "package resolves" not in proc.stdout
    assert "alpha      one index only               pass" in proc.stdout  # the files are still read
    assert proc.stdout.rstrip().endswith(" passed, 1 failed")


def test_a_pypirc_without_repository_is_a_finding(mirror_only):
    (mirror_only / "teams" / "alpha" / ".pypirc").write_text(
        "[distutils]\nindex-servers =\n    alpha\n\n[alpha]\nrepository =\nusername =\n"
    )
    findings = check_site(mirror_only, package="x")
    upload = next(f for f in findings if f.check == "upload accepted")
    assert not upload.ok and "has no repository URL or username" in upload.detail


@pytest.mark.parametrize("name, content", [
    ("pip.conf", "[global\nindex-url = x\n"),
    ("uv.toml", "index = [\n"),
    ("pdm.toml", b"\xff\xfe not text"),
])
def test_an_unreadable_file_is_a_finding(mirror_only, name, content):
    path = mirror_only / "teams" / "alpha" / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    proc = kit_run("check", str(mirror_only), "--lint-only")
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    assert f"files readable               FAIL   {name} cannot be read" in proc.stdout


def test_overriding_variables_are_warned_about(mirror_only):
    """PIP_FIND_LINKS in the shell silently beat the team's pip.conf."""
    proc = kit_run("check", str(mirror_only), "--lint-only",
                   env_extra={"PIP_FIND_LINKS": "/srv/wheels", "UV_INDEX_URL": "http://x/simple/"})
    assert proc.returncode == 0, proc.stdout  # a warning, not a failure
    assert "shell      no overriding variables      warn   PIP_FIND_LINKS, UV_INDEX_URL set in this shell" in proc.stdout
    assert "fix: unset PIP_FIND_LINKS UV_INDEX_URL" in proc.stdout
    assert proc.stdout.rstrip().endswith("0 failed, 1 warning")
    quiet = kit_run("check", str(mirror_only), "--lint-only")
    assert "no overriding variables" not in quiet.stdout


@pytest.mark.parametrize("variable, value", [
    ("PIP_EXTRA_INDEX_URL", "http://attacker.test/simple/"), ("PIP_FIND_LINKS", "/tmp/wheels"),
    ("UV_EXTRA_INDEX_URL", "http://attacker.test/simple/"), ("UV_INDEX", "http://attacker.test/simple/"),
    ("UV_FIND_LINKS", "/tmp/wheels"), ("UV_INDEX_STRATEGY", "unsafe-best-match"),
])
def test_strict_fails_on_a_variable_that_lets_another_index_in(mirror_only, variable, value):
    """Each of these installed an attacker's 100.0 while kit check exited 0, so a CI step running it passed."""
    warned = kit_run("check", str(mirror_only), "--lint-only", env_extra={variable: value})
    assert warned.returncode == 0 and " warn " in warned.stdout
    strict = kit_run("check", str(mirror_only), "--lint-only", "--strict", env_extra={variable: value})
    assert strict.returncode == 1, strict.stdout
    assert f"shell      no overriding variables      FAIL   {variable} set in this shell" in strict.stdout
    assert strict.stdout.rstrip().endswith("1 failed")
    assert kit_run("check", str(mirror_only), "--lint-only", "--strict").returncode == 0


# -- a second index, however it got there ------------------------------------

EVIL = "http://127.0.0.1:3144/simple/"
SECOND_INDEXES = [
    ("pip.conf", "[install]\nextra-index-url = " + EVIL + "\n"),  # the injection once written by kit clients
    ("pip.conf", "[download]\nextra_index_url = " + EVIL + "\n"),
    ("pip.conf", "[wheel]\nfind-links = " + EVIL + "\n"),
    ("pip.conf", "[install]\nindex-url = " + EVIL + "\n"),
    ("ci.env", "UV_INDEX=" + EVIL + "\n"),
    ("ci.env", "PIP_FIND_LINKS=" + EVIL + "\n"),
    ("ci.env", "UV_EXTRA_INDEX_URL=" + EVIL + "\n"),
    ("uv.toml", "^extra-index-url = [\"" + EVIL + "\"]\n"),
    ("uv.toml", "^find-links = [\"" + EVIL + "\"]\n"),
    ("uv.toml", "[pip]\nextra-index-url = [\"" + EVIL + "\"]\n"),
    ("uv.toml", "[[index]]\nname = \"evil\"\nurl = \"" + EVIL + "\"\n"),
    ("pdm.toml", "[pypi.evil]\nurl = \"" + EVIL + "\"\n"),
    ("buildout.cfg", "find-links = " + EVIL + "\n"),
    ("setup.cfg", "find_links = " + EVIL + "\n"),
]


@pytest.mark.parametrize("name, added", SECOND_INDEXES)
def test_lint_flags_a_second_index_however_it_got_there(mirror_only, name, added):
    path = mirror_only / "teams" / "alpha" / name
    text = path.read_text()
    if added.startswith("^"):  # a top-level TOML key goes before the first table
        path.write_text(added[1:] + text)
    else:  # into the file's last section, or a new one it opens
        path.write_text(text.rstrip("\n") + "\n" + added)
    findings = check_site(mirror_only, live=False, environ={})
    one_index = next(f for f in findings if f.check == "one index only")
    assert not one_index.ok and name in one_index.detail


def test_lint_passes_the_generated_files(mirror_only):
    findings = check_site(mirror_only, live=False, environ={})
    assert [f for f in findings if not f.ok] == []


@pytest.mark.parametrize("line", [
    "PIP_INDEX_URL=http://h/$(touch /tmp/x)/+simple/",
    "PIP_INDEX_URL=`id`",
    "touch /tmp/x",
    "PIP_INDEX_URL=a b",
    'PIP_INDEX_URL="http://h/$HOME/"',
])
def test_a_ci_env_line_that_would_run_something_is_unreadable(mirror_only, line):
    path = mirror_only / "teams" / "alpha" / "ci.env"
    path.write_text(path.read_text() + line + "\n")
    findings = check_site(mirror_only, live=False, environ={})
    readable = next(f for f in findings if f.check == "files readable")
    assert not readable.ok and "ci.env" in readable.detail and "not a plain KEY=value" in readable.detail


def test_world_readable_secrets_and_databases_are_flagged(mirror_only):
    (mirror_only / "kit.toml").chmod(0o644)
    database = mirror_only / "cluster" / "run" / "master"
    database.mkdir(parents=True)
    (database / ".sqlite").write_text("password hashes")
    (database / ".sqlite").chmod(0o644)
    findings = {f.check: f for f in check_site(mirror_only, live=False, environ={}) if f.team == "site"}
    assert not findings["secrets not world-readable"].ok
    assert "kit.toml is mode 0644" in findings["secrets not world-readable"].detail
    assert not findings["databases not world-readable"].ok
    assert "readable by others (e.g. cluster/run/master" in findings["databases not world-readable"].detail
    assert findings["databases not world-readable"].fix == f"chmod -R go= {database}"
    (mirror_only / "kit.toml").chmod(0o600)
    database.chmod(0o700)
    (database / ".sqlite").chmod(0o600)
    assert all(f.ok for f in check_site(mirror_only, live=False, environ={}) if f.team == "site")


# -- the cluster, really run ---------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, dists):
    """A site with master, mirror, edge and a local upstream running: (site, env).
    A test that kills a service brings it back with ``kit up`` before it ends."""
    root = tmp_path_factory.mktemp("check-cluster")
    env = clean_env(root / "home")
    with running_site(root, env, dists.upstream_folder) as (site, _):
        yield site, env


def check(site: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    proc = run(kit_cmd("check", str(site), *args), env=env, check=False)
    assert "Traceback" not in proc.stdout + proc.stderr and proc.stderr == "", proc.stdout + proc.stderr
    return proc


def row(out: str, team: str, name: str) -> tuple[str, str, str]:
    """A finding's result, detail and fix ("" when it passed), as kit check prints them."""
    lines = out.splitlines()
    for number, line in enumerate(lines):
        if line.startswith(f"{team:10} {name:28} "):
            result, _, detail = line[40:].partition(" ")
            following = lines[number + 1].strip() if number + 1 < len(lines) else ""
            fix = following.removeprefix("fix: ") if following.startswith("fix: ") else ""
            return result, detail.strip(), fix
    raise AssertionError(f"no {team}/{name} row in:\n{out}")


def kill(site: Path, *names: str) -> None:
    """SIGKILL, as an attendee's `kill -9` or a crash: the pid files stay behind."""
    running = pids(site)
    for name in names:
        os.kill(running[name], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(alive(running[name]) for name in names):
        assert time.monotonic() < deadline, f"{names} still alive"
        time.sleep(0.05)


def test_a_healthy_cluster_shows_each_service_the_lag_the_origins_and_the_static_copy(cluster):
    site, env = cluster
    proc = check(site, env)
    assert proc.returncode == 0, proc.stdout
    running = pids(site)
    for name in ("upstream", "master", "mirror", "edge"):
        result, detail, _ = row(proc.stdout, "cluster", f"{name} healthy")
        assert result == "pass" and detail.endswith(f" answers (pid {running[name]})"), detail
    result, detail, _ = row(proc.stdout, "cluster", "mirror in sync")
    assert result == "pass" and re.fullmatch(r"0 changes behind the master \(both at serial \d+\)", detail), detail
    assert row(proc.stdout, "cluster", "edge sees its origins")[:2] == ("pass", "master in use, mirror in use")
    result, detail, _ = row(proc.stdout, "cluster", "static copy fresh")
    assert result == "pass" and re.match(r"refreshed \d+ s ago \(serial \d+, \d+ projects?, \d+ files?\)", detail), detail
    # Open reads are what this site's answers ask for: said, not a failure.
    assert row(proc.stdout, "web", "anonymous reads") == (
        "pass", "web/private is open to anyone (read_access = anonymous)", "")
    assert "anonymous refused" not in proc.stdout and not (site / "teams" / "web" / "netrc").exists()
    assert re.search(r"^\d+ passed, 0 failed$", proc.stdout, re.M)


def test_a_killed_mirror_fails_and_names_kit_up(cluster):
    """With the mirror killed, kit check said "16 passed, 0 failed" and exited 0."""
    site, env = cluster
    kill(site, "mirror")
    try:
        proc = check(site, env)
        assert proc.returncode == 1, proc.stdout
        assert row(proc.stdout, "cluster", "mirror healthy") == (
            "FAIL", "mirror is not running; its process is gone (killed, or it crashed)", f"start it again: kit up {site}")
        assert row(proc.stdout, "cluster", "master healthy")[0] == "pass"
        assert "mirror in sync" not in proc.stdout  # no lag to tell: the row above says why
        # Reads go on through the master: the team's checks still pass.
        for name in ("index answers", "package resolves", "upload accepted"):
            assert row(proc.stdout, "web", name)[0] == "pass", name
        assert re.search(r"^\d+ passed, 1 failed$", proc.stdout, re.M), proc.stdout
    finally:
        run(kit_cmd("up", str(site)), env=env)
    assert check(site, env).returncode == 0  # the fix it named fixed it


def test_master_and_mirror_killed_names_them_not_the_upstream(cluster):
    """With master and mirror killed, kit check told the reader to "check the
    upstream serves acme-utils", which it did: the services were down."""
    site, env = cluster
    kill(site, "master", "mirror")
    try:
        # A project the edge has never served: no stale page of it to fall back on.
        proc = check(site, env, "--package", UPSTREAM_ONLY)
        assert proc.returncode == 1, proc.stdout
        assert "upstream serves" not in proc.stdout, proc.stdout
        for name in ("master", "mirror"):
            assert row(proc.stdout, "cluster", f"{name} healthy")[::2] == ("FAIL", f"start it again: kit up {site}")
        assert row(proc.stdout, "cluster", "upstream healthy")[0] == "pass"
        result, _, fix = row(proc.stdout, "web", "package resolves")
        assert (result, fix) == ("FAIL", f"master and mirror are not running; start them: kit up {site}")
        assert row(proc.stdout, "web", "upload accepted")[::2] == (
            "FAIL", f"master is not running; start it: kit up {site}")
        # What still serves: the edge, from its static copy of the team indexes.
        result, detail, _ = row(proc.stdout, "cluster", "static copy fresh")
        assert result == "pass" and detail.endswith("serving team pages while master and mirror are down"), detail
    finally:
        run(kit_cmd("up", str(site)), env=env)
    assert check(site, env).returncode == 0
