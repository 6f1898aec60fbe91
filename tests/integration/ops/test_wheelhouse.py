"""kit wheelhouse: a room installs kit and every client from a folder, with no network.

The registry is played by a local index holding the test environment's
distributions (tests/tutorial/wheelhouse.py); the attendee's install runs
with no network at all (its own network namespace, as root) and into a
fresh virtual environment, as chapter 0 says.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kit.cluster.lifecycle import free_ports
from kit.ops.sample import make_wheel
from kit.upstream.server import LocalUpstream
from tests.conftest import BIN, clean_env, kit_cmd, processes_under, run
from tests.tutorial.harness import CLIENTS
from tests.tutorial.wheelhouse import build_wheelhouse

INSTALL = ["--no-index", "--find-links"]


def _offline(argv: list[str]) -> list[str]:
    """``argv`` with no network: a network namespace of its own, with only a loopback, where the
    system allows it (root); elsewhere as it is (``--no-index`` keeps pip off the network anyway)."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip") or "/usr/sbin/ip"
    if os.geteuid() == 0 and unshare and Path(ip).exists() and subprocess.run([unshare, "-n", "true"]).returncode == 0:
        return [unshare, "-n", "sh", "-c", f'{ip} link set lo up && exec "$@"', "offline", *argv]
    return argv


def _attendee_env(home: Path) -> dict[str, str]:
    """A laptop's shell: none of the test environment on PATH."""
    env = clean_env(home)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p and Path(p) != BIN)
    return env


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """The stand-in registry: kit's wheel built from this checkout and every wheel kit[tutorial] needs."""
    folder = tmp_path_factory.mktemp("registry")
    build_wheelhouse(folder)
    with LocalUpstream(folder) as index:
        yield index


def test_a_room_installs_kit_and_every_client_offline_and_no_later_install_breaks_kit(registry, tmp_path):
    house = tmp_path / "kit-wheelhouse"
    made = run(kit_cmd("wheelhouse", str(house), "--index-url", registry.url, "--no-input"),
               env=clean_env(tmp_path / "instructor"))
    assert "checked: Python" in made.stderr and "installs kit and every client" in made.stderr
    assert "  pip: Collecting uv" in made.stderr  # progress: one line per project pip collects
    readme = (house / "README").read_text()
    assert "pip install --no-index --find-links ~/kit-wheelhouse 'pkgindex-kit[tutorial]'" in readme
    assert f"{house}: " in made.stdout and " wheels, " in made.stdout

    # The attendee: a fresh venv, the one line from the README, no network.
    home = tmp_path / "you"
    env = _attendee_env(home)
    venv = home / "kit-venv"
    run([sys.executable, "-m", "venv", str(venv)], env=env)
    pip, kit = str(venv / "bin" / "pip"), str(venv / "bin" / "kit")
    run(_offline([pip, "install", *INSTALL, str(house), "pkgindex-kit[tutorial]"]), env=env, timeout=600)
    assert run([pip, "check"], env=env).stdout.strip() == "No broken requirements found."
    for client in ("uv", "buildout", "poetry", "pdm", "twine", "devpi-server"):
        assert (venv / "bin" / client).exists(), f"{client} is not in the attendee's environment"

    tour = run(_offline([kit, "tour"]), env=env, timeout=300)
    assert "Tour finished" in tour.stdout

    # What chapter 0 once said to do after kit: the clients on their own, on top. Nothing moves.
    run(_offline([pip, "install", *INSTALL, str(house), *CLIENTS]), env=env, timeout=600)
    assert run([pip, "check"], env=env).stdout.strip() == "No broken requirements found."
    site = _site(kit, home, env)
    up = run(_offline([kit, "up", str(site)]), env=env, timeout=120)
    assert "cluster up in" in up.stdout
    run([kit, "down", str(site)], env=env)

    # A neighbour's install that does break it (setuptools 82 has no pkg_resources):
    # kit up says so in one line with the fix, and starts nothing.
    neighbour = make_wheel(tmp_path / "neighbour", "setuptools", "82.0.0", marker="a setuptools without pkg_resources")
    run([pip, "install", *INSTALL, str(neighbour.parent), "setuptools==82.0.0"], env=env)
    refused = run(_offline([kit, "up", str(site)]), env=env, check=False)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert "setuptools 82.0.0 is installed but devpi-server" in lines[0]
    fix = lines[0].split("fix: ", 1)[1]
    assert fix.endswith("pip install 'setuptools<=81,>=75.8.2'"), fix  # devpi-server's and zc.buildout's, together
    assert processes_under(site) == []
    toured = run(_offline([kit, "tour"]), env=env, check=False)
    assert toured.returncode == 1 and toured.stdout == "" and toured.stderr.strip() == lines[0], toured

    # The fix, as the message says it, with the wheelhouse as the index: kit starts again.
    run(_offline([*fix.replace("'", "").split(), *INSTALL, str(house)]), env=env)
    assert "cluster up in" in run(_offline([kit, "up", str(site)]), env=env, timeout=120).stdout
    run([kit, "down", str(site)], env=env)


def _site(kit: str, home: Path, env: dict) -> Path:
    upstream = home / "wheels"
    make_wheel(upstream, "course-lib", "1.0", marker="course material")
    master, mirror, edge, local = free_ports(4)
    site = home / "site"
    run([kit, "init", str(site), "--no-input", "--set", f"upstream={upstream}", "--set", f"master_port={master}",
         "--set", f"mirror_port={mirror}", "--set", f"edge_port={edge}", "--set", f"upstream_port={local}"], env=env)
    return site


@pytest.mark.parametrize("args, says", [
    (["--python", "2.7"], "--python: kit needs Python 3.11 or newer, not 2.7; give 3.11 or a later version"),
    (["--python", "three"], "--python: 'three' is not a Python version; give it as 3.12"),
    (["--platform", "amiga"], "--platform: 'amiga' is not a platform tag; give one as pip spells it"),
    (["--index-url", "ftp://x/"], "--index-url: "),
    (["--find-links", "/nowhere/at/all"], "--find-links: '/nowhere/at/all' does not exist"),
])
def test_bad_targets_are_one_line_and_write_nothing(tmp_path, args, says):
    house = tmp_path / "house"
    proc = run(kit_cmd("wheelhouse", str(house), "--no-input", *args), env=clean_env(tmp_path / "home"), check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"kit: error: {says}"), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not house.exists()


def test_kit_not_on_the_index_names_the_fix(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with LocalUpstream(empty) as index:
        proc = run(kit_cmd("wheelhouse", str(tmp_path / "house"), "--index-url", index.url, "--no-input"),
                   env=clean_env(tmp_path / "home"), check=False)
    assert proc.returncode == 1
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("kit: error: collecting wheels for Python")
    assert "pip found no pkgindex-kit" in error and "--find-links FOLDER" in error
