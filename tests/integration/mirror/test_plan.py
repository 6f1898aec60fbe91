"""What a sync is planned from (kit.mirror.plan): the projects listed or a
requirement file (its includes, hashes and options read as pip reads them),
resolved with their dependencies on the upstream; what cannot be read or
found is named in one line, never quoted."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import clean_env, kit_cmd, run
from tests.support.mirror import init_site, kit, make_upstream, mirrored, one_error_line


def test_a_requirement_file_is_resolved_with_its_dependencies(tmp_path):
    env = clean_env(tmp_path / "home")
    upstream = make_upstream(tmp_path / "wheels")
    extra = tmp_path / "extra.txt"
    extra.write_text("kmt-other  # pinned elsewhere\n")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# the app\n--index-url http://ignored.invalid/simple/\nkmt-app[x]>=1.0\n-r extra.txt\n")
    site = init_site(tmp_path, env, upstream, f"mirror_projects={requirements}")
    out = kit("mirror", "sync", str(site), "--dry-run", env=env).stdout
    assert "to mirror: 4 projects, 5 files" in out and "dry run: nothing downloaded" in out
    assert mirrored(site) == set()
    kit("mirror", "sync", str(site), env=env)
    # the extra [x] asked for kmt-opt; -r brought kmt-other
    assert mirrored(site) == {"kmt-app", "kmt-lib", "kmt-opt", "kmt-other"}


def test_a_project_the_upstream_does_not_have_is_named_and_nothing_is_mirrored(tmp_path):
    env = clean_env(tmp_path / "home")
    site = init_site(tmp_path, env, make_upstream(tmp_path / "wheels"), "mirror_projects=kmt-app,kmt-nope")
    proc = kit("mirror", "sync", str(site), env=env, check=False)
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert "kmt-nope (from mirror_projects) is not on the upstream" in line and "kit init --set mirror_projects=" in line
    assert mirrored(site) == set()


def test_a_bad_line_in_a_requirement_file_is_named(tmp_path):
    env = clean_env(tmp_path / "home")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("kmt-app\n./some/local/path\n")
    site = init_site(tmp_path, env, make_upstream(tmp_path / "wheels"), f"mirror_projects={requirements}")
    proc = kit("mirror", "sync", str(site), env=env, check=False)
    assert proc.returncode == 1
    assert f"{requirements}:2: not a project requirement" in one_error_line(proc)
    assert "some/local/path" not in proc.stdout + proc.stderr  # the line is named, never quoted


def _dry_run(site: Path, env: dict) -> subprocess.CompletedProcess:
    # A guard, not a timing: once, -r /dev/zero made this read for ever.
    return run(kit_cmd("mirror", "sync", str(site), "--dry-run"), env=env, check=False, timeout=60)


@pytest.mark.parametrize("include", ["/etc/shadow", "/dev/zero", "../secret.txt", "link.txt", "/proc/self/environ"])
def test_an_include_outside_the_requirement_file_s_folder_is_refused_and_never_quoted(tmp_path, include):
    """Once: -r /etc/shadow printed that file's first line in the error (under systemd: into the
    journal), and -r /dev/zero hung kit mirror sync --dry-run."""
    env = clean_env(tmp_path / "home")
    (tmp_path / "secret.txt").write_text("SECRET-LINE-4711\n")
    folder = tmp_path / "reqs"
    folder.mkdir()
    (folder / "link.txt").symlink_to(tmp_path / "secret.txt")
    (folder / "requirements.txt").write_text(f"kmt-app\n-r {include}\n")
    site = init_site(tmp_path, env, make_upstream(tmp_path / "wheels"), f"mirror_projects={folder / 'requirements.txt'}")
    proc = _dry_run(site, env)
    assert proc.returncode == 1
    assert f"{folder / 'requirements.txt'}:2: an -r include outside {folder} is not read" in one_error_line(proc)
    assert "SECRET-LINE" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr


def test_includes_inside_the_folder_hashes_and_options_are_read(tmp_path):
    """pip-compile's output: per-requirement --hash options, continuation lines, -r of a file
    beside it and below it, -c constraints (not a project) all read as pip reads them."""
    env = clean_env(tmp_path / "home")
    folder = tmp_path / "reqs"
    (folder / "more").mkdir(parents=True)
    digest = "sha256:" + "a" * 64
    (folder / "requirements.txt").write_text(
        f"kmt-app==1.0 --hash={digest}\n"
        f"kmt-lib>=1 \\\n    --hash={digest} \\\n    --hash={digest}\n"
        "-r base.txt\n--requirement=more/extra.txt\n-c constraints.txt\n")
    (folder / "base.txt").write_text("kmt-other  # a comment\n")
    (folder / "more" / "extra.txt").write_text("kmt-opt --config-settings=x=1\n")
    site = init_site(tmp_path, env, make_upstream(tmp_path / "wheels"), f"mirror_projects={folder / 'requirements.txt'}")
    proc = _dry_run(site, env)
    assert proc.returncode == 0, proc.stderr
    for name in ("kmt-app", "kmt-lib", "kmt-other", "kmt-opt"):
        assert name in proc.stdout


def test_a_pipe_in_the_folder_is_refused_not_waited_for(tmp_path):
    env = clean_env(tmp_path / "home")
    folder = tmp_path / "reqs"
    folder.mkdir()
    (folder / "requirements.txt").write_text("kmt-app\n-r pipe.txt\n")
    os.mkfifo(folder / "pipe.txt")
    site = init_site(tmp_path, env, make_upstream(tmp_path / "wheels"), f"mirror_projects={folder / 'requirements.txt'}")
    proc = _dry_run(site, env)
    assert proc.returncode == 1 and "it is a device, a pipe or a socket, not a regular file" in one_error_line(proc)
