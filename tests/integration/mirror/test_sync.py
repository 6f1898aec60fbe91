"""kit mirror sync, really run against a local upstream with the real bandersnatch:
what kit init writes for it (bandersnatch's settings, systemd units, a cron line),
what a sync mirrors, and the faults around it (a second sync, a missing setup,
bad answers, an upstream that does not answer)."""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import shutil
import subprocess
import time

import pytest

from tests.conftest import BIN, clean_env, kit_cmd, run
from tests.support.upstream import static_server
from tests.support.mirror import init_site, kit, make_upstream, mirrored, one_error_line


# -- what kit init writes ----------------------------------------------------------


def test_the_rendered_settings_load_in_bandersnatch_itself(synced):
    site, _env, _out = synced
    from bandersnatch.configuration import BandersnatchConfig

    config = BandersnatchConfig(site / "mirror" / "bandersnatch.conf")
    assert config.get("mirror", "directory") == str(site / "mirror" / "data")
    assert config.get("mirror", "api-method") == "simple"
    assert config.getboolean("mirror", "json") and config.get("mirror", "simple-format") == "ALL"
    assert config.get("plugins", "enabled").split() == ["allowlist_project"]
    assert config.get("allowlist", "packages").split() == ["kmt-app"]


def test_run_by_hand_bandersnatch_mirrors_exactly_what_is_listed(tmp_path):
    """The file is ready to run as the comment at its top says: with the cluster's local upstream up."""
    from kit.upstream.server import LocalUpstream

    env = clean_env(tmp_path / "home")
    with LocalUpstream(make_upstream(tmp_path / "wheels")) as upstream:
        site = init_site(tmp_path, env, tmp_path / "wheels", "mirror_projects=kmt-lib",
                         f"upstream_port={upstream.port}")
        env = {k: v for k, v in env.items() if not k.lower().endswith("_proxy")}
        run([BIN / "bandersnatch", "-c", site / "mirror" / "bandersnatch.conf", "mirror"], env=env,
            cwd=site / "mirror")
    assert mirrored(site) == {"kmt-lib"}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_service_and_timer(synced, tmp_path):
    site, _env, _out = synced
    units = tmp_path / "units"
    units.mkdir()
    for name in ("kit-mirror-sync.service", "kit-mirror-sync.timer"):
        shutil.copy(site / "mirror" / name, units / name)
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(units / "kit-mirror-sync.timer"),
                           str(units / "kit-mirror-sync.service")], capture_output=True, text=True,
                          env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    # verify only warns about a bad value and still exits 0: it must print nothing about our units
    ours = [line for line in (proc.stdout + proc.stderr).splitlines() if "kit-mirror-sync" in line]
    assert proc.returncode == 0 and not ours, proc.stdout + proc.stderr


def test_the_cron_line_runs_a_sync_as_cron_would(synced):
    """cron hands the command field to sh: run that field with sh and the mirror syncs, quietly."""
    site, env, _out = synced
    [line] = [ln for ln in (site / "mirror" / "crontab").read_text().splitlines() if ln and not ln.startswith("#")]
    fields = line.split(None, 5)
    assert fields[:5] == ["17", "*", "*", "*", "*"]
    before = json.loads((site / "mirror" / "run" / "last-sync.json").read_text())["started"]
    proc = run(["sh", "-c", fields[5]], env=env)
    assert proc.stdout == "" and proc.stderr == ""
    assert json.loads((site / "mirror" / "run" / "last-sync.json").read_text())["started"] > before


# -- kit mirror sync -----------------------------------------------------------------


def test_a_sync_mirrors_the_listed_project_and_its_dependencies_only(synced):
    site, _env, out = synced
    assert mirrored(site) == {"kmt-app", "kmt-lib"}  # not kmt-other; not kmt-opt (an extra nobody asked for)
    assert "to mirror: 2 projects, 3 files" in out
    assert "[2/2]" in out and "synced: serial" in out
    files = sorted(p.name for p in (site / "mirror" / "data" / "web" / "packages").rglob("*.whl"))
    assert files == ["kmt_app-1.0-py3-none-any.whl", "kmt_lib-1.0-py3-none-any.whl", "kmt_lib-1.1-py3-none-any.whl"]


def test_pip_installs_from_the_synced_tree(synced, tmp_path):
    site, _env, _out = synced
    env = clean_env(tmp_path / "home")
    target = tmp_path / "target"
    with static_server(site / "mirror" / "data" / "web") as url:
        run([BIN / "python", "-m", "pip", "install", "--target", target, "--index-url", f"{url}/simple/", "kmt-app"],
            env=env)
    proc = run([BIN / "python", "-c", "import kmt_lib; print(kmt_lib.WHO)"], env={**env, "PYTHONPATH": str(target)})
    assert proc.stdout.strip() == "lib-1.1"


# -- bad input and faults ------------------------------------------------------------


def test_a_second_sync_at_the_same_time_is_refused(synced):
    site, env, _out = synced
    import fcntl

    lock = site / "mirror" / "run" / "sync.lock"
    with open(lock, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        (lock.parent / "sync.pid").write_text("4242\n")  # the holder's pid, beside the lock (kit.core.locks)
        proc = kit("mirror", "sync", str(site), env=env, check=False)
    assert proc.returncode == 1
    assert "another kit mirror sync is running for this site (pid 4242)" in one_error_line(proc)


def test_a_site_without_the_setup_says_how_to_add_it(tmp_path):
    env = clean_env(tmp_path / "home")
    site = tmp_path / "site"
    kit("init", str(site), "--no-input", "--set", "setups=private", env=env)
    proc = kit("mirror", "sync", str(site), env=env, check=False)
    assert proc.returncode == 1
    assert "has no public mirror; add it with: kit init" in one_error_line(proc)
    assert "setups=private,public-mirror" in proc.stderr
    proc = kit("mirror", "verify", str(site), env=env, check=False)
    assert "holds no mirror yet; run kit mirror sync first" in one_error_line(proc)


def test_each_file_is_where_its_page_says_and_the_sync_settings_list_the_resolved_projects(synced):
    """Each mirrored file is where its page says, and its bytes are the upstream's."""
    site, _env, _out = synced
    web = site / "mirror" / "data" / "web"
    page = json.loads((web / "simple" / "kmt-lib" / "index.v1_json").read_text())
    for file in page["files"]:
        path = (web / "simple" / "kmt-lib" / file["url"]).resolve()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == file["hashes"]["sha256"]
    config = configparser.RawConfigParser()
    config.read(site / "mirror" / "run" / "sync.conf")
    assert config.get("allowlist", "packages").split() == ["kmt-app", "kmt-lib"]
    assert time.time() - json.loads((site / "mirror" / "run" / "last-sync.json").read_text())["finished"] < 600


# -- the answers ---------------------------------------------------------------------


@pytest.mark.parametrize("sets, expected", [
    (["mirror_projects=./nope.txt"], "mirror_projects: 'nope.txt' does not exist; give an existing requirement file"),
    (["mirror_projects=kmt app"], "mirror_projects: 'kmt app' is not a valid project name"),
    (["devpi_upstream=public-mirror"], "devpi_upstream: public-mirror needs the public-mirror and cluster setups"),
    (["setups=cluster,public-mirror", "devpi_upstream=elsewhere"], "devpi_upstream: unknown choice 'elsewhere'"),
    (["setups=public-mirror", "upstream=http://127.0.0.1:9/root/pypi/+simple/"],
     "upstream: 'http://127.0.0.1:9/root/pypi/+simple/': the public mirror's bandersnatch needs a PyPI-like upstream"),
])
def test_bad_mirror_answers_are_one_line_and_write_nothing(tmp_path, sets, expected):
    env = clean_env(tmp_path / "home")
    site = tmp_path / "site"
    args = ["init", str(site), "--no-input"]
    if not any(s.startswith("setups=") for s in sets):
        args += ["--set", "setups=public-mirror"]
    proc = run(kit_cmd(*args, *[arg for value in sets for arg in ("--set", value)]), env=env, cwd=tmp_path,
               check=False)
    assert proc.returncode == 2
    assert expected in one_error_line(proc)
    assert not site.exists()


def test_an_empty_project_list_from_pypi_warns_about_the_size(tmp_path):
    env = clean_env(tmp_path / "home")
    proc = kit("init", str(tmp_path / "site"), "--no-input", "--set", "setups=public-mirror", env=env)
    assert "mirror_projects is empty: the public mirror copies the whole upstream" in proc.stderr
    conf = (tmp_path / "site" / "mirror" / "bandersnatch.conf").read_text()
    assert "master =" not in conf and "[plugins]" not in conf  # bandersnatch's own default upstream, everything


def test_an_upstream_that_does_not_answer_is_named(tmp_path):
    from kit.cluster.lifecycle import free_ports

    env = clean_env(tmp_path / "home")
    dead = f"http://127.0.0.1:{free_ports(1)[0]}"
    site = init_site(tmp_path, env, make_upstream(tmp_path / "wheels"), "mirror_projects=kmt-app",
                     f"upstream={dead}/simple/")
    proc = kit("mirror", "sync", str(site), env=env, check=False)
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert f"cannot reach the upstream at {dead} (" in line and "check the network" in line
    assert mirrored(site) == set()


@pytest.mark.parametrize("folder, expected", [
    ("at%home", "into a crontab: cron reads '%' as a line break; move the site to a path without '%'"),
    ("cost$5", "into an nginx file: nginx reads '$' and '{' as variables; move the site to a path without them"),
])
def test_a_site_path_the_schedule_or_nginx_cannot_hold_is_refused_before_writing(tmp_path, folder, expected):
    env = clean_env(tmp_path / "home")
    proc = run(kit_cmd("init", str(tmp_path / folder), "--no-input", "--set", "setups=public-mirror",
                       "--set", f"upstream={make_upstream(tmp_path / 'wheels')}"), env=env, check=False)
    assert proc.returncode == 2 and expected in one_error_line(proc)
    assert not (tmp_path / folder).exists()
