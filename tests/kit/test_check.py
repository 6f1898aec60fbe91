"""``kit check`` on sites the tutorial makes, on broken files, and with a
shell whose variables would override the team's files: findings, never a
traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kit.check import OVERRIDING_VARIABLES, check_site, environment_findings


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
    assert "index answers                FAIL" in proc.stdout


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


def test_every_index_variable_of_every_client_is_known():
    assert environment_findings({}) == []
    for name in OVERRIDING_VARIABLES:
        (finding,) = environment_findings({name: "x"})
        assert finding.warning and name in finding.detail
    assert environment_findings({"PIP_CONFIG_FILE": "/x/pip.conf", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}) == []


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
