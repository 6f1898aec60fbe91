"""A site is found like git finds a repository, and every fix hint names the
site folder the way the user must type it from where they are."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from kit.core.processes import free_ports
from kit.site.folder import Site, find_site_root, site_command


def kit_in(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """kit as a user runs it from ``cwd`` (the environment is isolated by the autouse fixture)."""
    return subprocess.run([sys.executable, "-m", "kit", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.fixture
def room(tmp_path) -> Path:
    site = tmp_path / "room"
    # Free ports: another kit site may well be running on this machine's defaults (3141-3145).
    ports = [f"{key}={port}" for key, port in zip(("master_port", "mirror_port", "edge_port"), free_ports(3))]
    proc = kit_in(tmp_path, "init", "room", "--no-input", "--set", "teams=web", *(a for p in ports for a in ("--set", p)))
    assert proc.returncode == 0, proc.stderr
    return site


@pytest.mark.parametrize("where", [".", "teams", "teams/web", "cluster"])
def test_commands_find_the_site_from_inside_it(room, where):
    """Once, ``cd my-site; kit status`` looked for ./kit-site."""
    proc = kit_in(room / where, "status")
    assert proc.returncode == 3, proc.stderr  # found, and nothing runs
    assert "nothing is running; start it with: kit up\n" in proc.stdout
    assert "kit-site" not in proc.stdout + proc.stderr


def test_fix_hints_name_the_site_folder_when_outside_it(room):
    proc = kit_in(room.parent, "status", "room")
    assert proc.returncode == 3
    assert proc.stdout.endswith("nothing is running; start it with: kit up room\n")
    lint = kit_in(room.parent, "check", "room", "--package", "x")
    assert "fix: start the cluster: kit up room" in lint.stdout


def test_no_site_here_or_above_says_how_to_get_one(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = kit_in(tmp_path / "empty", "up")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "no kit site in" in proc.stderr and "kit init my-site" in proc.stderr and "kit-site" not in proc.stderr


def test_kit_init_without_a_folder_updates_the_site_it_is_in(room):
    proc = kit_in(room / "teams", "init", "--no-input", "--set", "teams=web,data")
    assert proc.returncode == 0, proc.stderr
    assert tomllib.loads((room / "kit.toml").read_text())["teams"] == ["web", "data"]
    assert (room / "teams" / "data" / "pip.conf").is_file()
    assert not (room / "teams" / "kit-site").exists()


def test_kit_init_prints_a_tree_and_the_next_command(tmp_path):
    proc = kit_in(tmp_path, "init", "room", "--no-input", "--set", "teams=web")
    lines = proc.stdout.splitlines()
    assert lines[0] == "created 33 files:"
    assert "room/" in lines and "├── teams/" in lines and "│   └── web/" in lines
    assert "│       ├── pip.conf" in lines
    # A new site's team index is read by the team alone: its credentials for the
    # clients (netrc) and the edge's own, to fetch what it authorised (kit-edge).
    assert "│       ├── netrc" in lines and "│   ├── edge-read-credentials" in lines
    assert lines[-1] == "Site ready. Next: kit up room   (then read room/README.md)"
    again = kit_in(tmp_path, "init", "room", "--no-input", "--set", "teams=web,ops")
    assert "├── teams/" in again.stdout and "ops/" in again.stdout and "pip.conf  (new)" in again.stdout


def test_site_readme_says_how_to_start(room):
    readme = (room / "README.md").read_text()
    assert "kit up" in readme and "kit status" in readme and "kit down" in readme


def test_site_command_and_find(room, monkeypatch):
    monkeypatch.chdir(room.parent)
    assert site_command(room, "up") == "kit up room"
    assert site_command(room, "logs", "master") == "kit logs room master"
    monkeypatch.chdir(room / "teams")
    assert site_command(room, "up") == "kit up"
    assert find_site_root(room / "teams" / "web") == room
    assert Site.find().path == room
    monkeypatch.chdir(room.parent.parent)
    assert site_command(room, "down") == f"kit down {room.parent.name}/room"


def test_logs_of_one_service_from_inside_the_site(room):
    proc = kit_in(room, "logs", "master")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "(no log yet: master has not been started)\n"
