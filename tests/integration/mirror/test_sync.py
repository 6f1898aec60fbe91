"""The public mirror, really run: kit init renders bandersnatch's settings,
systemd units and a cron line; kit mirror sync runs the real bandersnatch
against a local upstream; kit mirror verify and status read what it wrote."""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from kit.ops.sample import make_wheel
from tests.conftest import BIN, clean_env, kit_cmd, run
from tests.support.upstream import static_server
from tests.support.mirror import init_site, make_upstream, mirrored


def kit(*args: str, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    return run(kit_cmd(*args), env=env, check=check)


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """A site mirroring kmt-app from a folder upstream, synced once."""
    root = tmp_path_factory.mktemp("mirror")
    env = clean_env(root / "home")
    site = init_site(root, env, make_upstream(root / "wheels"), "mirror_projects=kmt-app")
    out = kit("mirror", "sync", str(site), env=env).stdout
    return site, env, out


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


def test_status_and_verify_after_a_sync(synced):
    site, env, _out = synced
    out = kit("mirror", "status", str(site), env=env).stdout
    assert out.startswith("public mirror: synced ") and "2 projects, 3 files" in out
    data = json.loads(kit("mirror", "status", str(site), "--json", env=env).stdout)
    assert data["projects"] == 2 and data["files"] == 3 and data["last_sync"]["result"] == "ok"
    assert data["serial"] == int((site / "mirror" / "data" / "status").read_text())
    assert kit("mirror", "verify", str(site), env=env).stdout.startswith("ok: 3 files of 2 projects")


def test_verify_names_a_corrupt_and_a_missing_file(tmp_path):
    env = clean_env(tmp_path / "home")
    site = init_site(tmp_path, env, make_upstream(tmp_path / "wheels"), "mirror_projects=kmt-app")
    kit("mirror", "sync", str(site), env=env)
    wheels = {p.name: p for p in (site / "mirror" / "data" / "web" / "packages").rglob("*.whl")}
    corrupt = wheels["kmt_lib-1.1-py3-none-any.whl"]
    corrupt.write_bytes(corrupt.read_bytes()[:-1] + b"!")
    wheels["kmt_app-1.0-py3-none-any.whl"].unlink()
    proc = kit("mirror", "verify", str(site), env=env, check=False)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert any(ln.startswith("corrupt: packages/") and ln.endswith(")") and "kmt_lib-1.1" in ln for ln in lines)
    assert any(ln.startswith("missing: packages/") and "kmt_app-1.0" in ln for ln in lines)
    assert "2 problems in 3 files of 2 projects" in proc.stdout and "fix: kit mirror sync " in proc.stdout
    # a plain sync only fetches what changed upstream; the repair the message names puts them right
    kit("mirror", "sync", str(site), env=env)
    assert kit("mirror", "verify", str(site), env=env, check=False).returncode == 1
    assert "repair: every project" in kit("mirror", "sync", str(site), "--repair", env=env).stdout
    assert kit("mirror", "verify", str(site), env=env).stdout.startswith("ok: 3 files of 2 projects")


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


# -- bad input and faults ------------------------------------------------------------


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kit: error: ") and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


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


def test_an_unwritable_storage_folder_is_said_before_anything_is_fetched(tmp_path):
    env = clean_env(tmp_path / "home")
    site = init_site(tmp_path, env, make_upstream(tmp_path / "wheels"), "mirror_projects=kmt-app")
    (site / "mirror" / "data").write_text("a file where the storage folder should be")
    proc = kit("mirror", "sync", str(site), env=env, check=False)
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert f"cannot write to the mirror's storage {site / 'mirror' / 'data'}" in line and "make it writable" in line


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="mounting a small file system needs root and unshare")
def test_a_storage_folder_too_small_for_the_estimate_is_refused(tmp_path):
    """A real 1 MB file system for data/, and an upstream project of 3 MB."""
    env = clean_env(tmp_path / "home")
    upstream = tmp_path / "wheels"
    big = make_wheel(upstream, "kmt-big", "1.0")
    import zipfile

    with zipfile.ZipFile(big, "a") as zf:
        zf.writestr("kmt_big/blob.bin", os.urandom(3 * 1024 * 1024))
    site = init_site(tmp_path, env, upstream, "mirror_projects=kmt-big")
    data = site / "mirror" / "data"
    data.mkdir()
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=1m kit-probe {data}"],
                           capture_output=True, text=True)
    if probe.returncode != 0:  # a container without CAP_SYS_ADMIN
        pytest.skip(f"cannot mount a small file system here: {probe.stderr.strip()}")
    command = " ".join(str(c) for c in kit_cmd("mirror", "sync", str(site)))
    proc = run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=1m kit-test {data} && {command}"],
               env=env, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = one_error_line(proc)
    assert "the mirror needs about 3.1 MB more in" in line and "free some space there, or list fewer projects" in line


def test_an_interrupted_sync_keeps_whole_pages_and_the_next_one_resumes(tmp_path):
    env = clean_env(tmp_path / "home")
    upstream = tmp_path / "wheels"
    names = [f"kmt-many-{i:02d}" for i in range(40)]
    for name in names:
        make_wheel(upstream, name, "1.0")
    site = init_site(tmp_path, env, upstream, "mirror_projects=" + ",".join(names))
    # bandersnatch one project at a time, so there is a middle to interrupt
    conf = site / "mirror" / "bandersnatch.conf"
    conf.write_text(conf.read_text().replace("workers = 3", "workers = 1"))
    proc = subprocess.Popen(kit_cmd("mirror", "sync", str(site)), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("[3/40]"):
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "sync interrupted after" in err and "resumes where it stopped" in err
    done = mirrored(site)
    assert 3 <= len(done) < 40
    for page in (site / "mirror" / "data" / "web" / "simple").rglob("index.v1_json"):
        json.loads(page.read_text())  # never half a page
    status = kit("mirror", "status", str(site), env=env).stdout
    assert "last sync interrupted" in status
    assert (site / "mirror" / "data" / "todo").is_file()  # bandersnatch's list of what is left

    out = kit("mirror", "sync", str(site), env=env).stdout
    assert "resuming the sync that was interrupted" in out
    assert mirrored(site) == set(names)
    assert kit("mirror", "verify", str(site), env=env).stdout.startswith("ok: 40 files of 40 projects")


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


def test_a_failing_bandersnatch_is_reported_recorded_and_shown_in_status(tmp_path):
    """bandersnatch cannot store the files (a file where its packages folder goes): the sync fails
    with bandersnatch's own reason and the log to read, and status says so."""
    env = clean_env(tmp_path / "home")
    site = init_site(tmp_path, env, make_upstream(tmp_path / "wheels"), "mirror_projects=kmt-lib")
    web = site / "mirror" / "data" / "web"
    web.mkdir(parents=True)
    (web / "packages").write_text("not a folder")
    proc = kit("mirror", "sync", str(site), env=env, check=False)
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert line.startswith("kit: error: bandersnatch failed: Error syncing package: kmt-lib@")
    assert "NotADirectoryError: [Errno 20] Not a directory" in line and f"see {site / 'mirror' / 'run' / 'sync.log'}" in line
    assert "kit mirror sync" in (site / "mirror" / "run" / "sync.log").read_text()
    status = kit("mirror", "status", str(site), env=env).stdout
    assert status.startswith("public mirror: last sync failed ") and "\nlast sync: " in status


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
