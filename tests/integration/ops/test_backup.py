"""kit backup and kit restore, really run: a team-read site with an upload and a read token is
backed up while its cluster serves, its data folders destroyed, restored (into a new folder,
and onto the same site with --replace) and started again; pip installs the team's file with
the same sha256 through the edge, the old password and token still work, uploads too."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tarfile
from pathlib import Path

import httpx
import pytest

from kit.ops.sample import make_wheel
from tests.conftest import BIN, PRIVATE, clean_env, kit_cmd, run
from tests.support.cluster import front_url, pids, running_site, stop_cluster, team_upload, wait_mirror_in_sync

PROJECT, WHEEL_NAME = PRIVATE, PRIVATE.replace("-", "_")


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory, dists):
    """A team-read site (cluster stopped again) with web's kitdemo-private 1.0, a read token,
    and the backup taken while it ran: (root, env, site, archive, token)."""
    root = tmp_path_factory.mktemp("backup")
    env = clean_env(root / "home")
    archive = root / "site.tar.gz"
    with running_site(root, env, dists.upstream_folder, "--set", "read_access=team") as (site, _):
        team_upload(site, env, dists.private)
        token = run(kit_cmd("token", "create", str(site), "--team", "web", "--expires", "1h"), env=env).stdout.strip()
        backup = run(kit_cmd("backup", str(site), "--to", str(archive)), env=env)
        # the cluster kept serving: the team installs through the edge right after
        got = pip_download(site, env, root / "during")
        assert got.read_bytes() == dists.private.read_bytes()
    yield root, env, site, archive, token, backup.stdout


def pip_download(site: Path, env: dict, dest: Path, version: str = "1.0") -> Path:
    """pip download of the team's project through the edge with the team's pip.conf and netrc."""
    team = site / "teams" / "web"
    client = dict(env, PIP_CONFIG_FILE=str(team / "pip.conf"), NETRC=str(team / "netrc"))
    run([BIN / "python", "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-d", dest,
         f"{PROJECT}=={version}"], env=client)
    (found,) = dest.glob(f"{WHEEL_NAME}-{version}-*.whl")
    return found


def destroy(site: Path) -> None:
    """The disk loss: the master's and the mirror's data folders gone (moved away, each time
    under a new name: the tests restore the one site more than once)."""
    for name in ("master", "mirror"):
        data = site / "cluster" / "run" / name
        if data.exists():
            data.rename(data.with_name(f"{name}.lost-{len(list(data.parent.glob(name + '.lost-*')))}"))


def served(site: Path, env: dict, root: Path, dists, tag: str) -> None:
    """The restored site, up: same bytes through the edge, same users, a token made before
    the backup, the mirror caught up, and a new upload accepted."""
    got = pip_download(site, env, root / f"{tag}-1.0")
    assert hashlib.sha256(got.read_bytes()).hexdigest() == hashlib.sha256(dists.private.read_bytes()).hexdigest()
    master = "http://127.0.0.1:" + re.search(r"master_port = (\d+)", (site / "kit.toml").read_text()).group(1)
    password = re.search(r"^password = (.+)$", (site / "teams" / "web" / ".pypirc").read_text(), re.M).group(1)
    assert httpx.post(f"{master}/+login", json={"user": "web", "password": password}).status_code == 200
    wait_mirror_in_sync(site, env)
    new = make_wheel(root / f"{tag}-new", PRIVATE, "1.1", marker="after-restore")
    team_upload(site, env, new)
    assert pip_download(site, env, root / f"{tag}-1.1", "1.1").read_bytes() == new.read_bytes()


def test_the_backup_holds_what_cannot_be_fetched_again(backed_up):
    root, _env, site, archive, _token, out = backed_up
    assert archive.stat().st_mode & 0o777 == 0o600
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(rf"backup written: {re.escape(str(archive))} \(\d+\.\d KB, mode 0600: .*\): kit.toml, the site's "
                        r"secrets, and the master's data at serial \d+ — \d+ users, \d+ indexes, 1 uploaded file", last), last
    assert "left out" in out and "cluster/run/mirror" in out
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
    assert names[0] == "manifest.json"
    assert {"site/kit.toml", "site/cluster/devpi-secret", "site/cluster/edge-purge-secret",
            "devpi-export/dataindex.json", f"devpi-export/web/private/{PROJECT}/1.0/{WHEEL_NAME}-1.0-py3-none-any.whl"} \
        <= set(names)
    assert not any(name.startswith(("site/cluster/run", "site/teams")) for name in names)
    assert set(manifest["members"]) == set(names[1:])
    assert manifest["devpi_server"].startswith("6.") and isinstance(manifest["master_serial"], int)


def test_restore_into_a_new_folder_serves_the_same_files_users_and_tokens(backed_up, dists, tmp_path):
    root, env, site, archive, token, _ = backed_up
    destroy(site)
    new = tmp_path / "elsewhere" / "restored"
    out = run(kit_cmd("restore", str(archive), str(new)), env=env).stdout
    assert out.strip().splitlines()[-1] == f"next: kit up {new}, then kit check {new}"
    for same in ("cluster/devpi-secret", "cluster/edge-purge-secret", "cluster/edge-read-credentials",
                 "teams/web/.pypirc", "teams/web/netrc"):
        assert (new / same).read_bytes() == (site / same).read_bytes(), same
    assert str(new / "cluster") in (new / "cluster" / "systemd" / "kit-master.service").read_text()
    assert not (new / "cluster" / "run" / "mirror").exists()
    run(kit_cmd("up", str(new)), env=env)
    started = pids(new)
    try:
        served(new, env, tmp_path, dists, "new")
        page = f"{front_url(new)}/web/private/+simple/{PROJECT}/"
        assert httpx.get(page, auth=("web", token)).status_code == 200  # made before the backup
        assert httpx.get(page).status_code == 401
    finally:
        stop_cluster(new, env, started)


def test_restore_replace_after_the_data_folders_are_lost(backed_up, dists, tmp_path):
    root, env, site, archive, _token, _ = backed_up
    lost = site
    destroy(lost)
    (lost / "cluster" / "run" / "master").mkdir()
    (lost / "cluster" / "run" / "master" / ".sqlite").write_bytes(b"")
    refused = run(kit_cmd("restore", str(archive), str(lost), "--replace"), env=env, check=False)
    assert_one_line(refused, "still has data in cluster/run/master; --replace restores a site whose data folders are lost")
    destroy(lost)
    run(kit_cmd("restore", str(archive), str(lost), "--replace"), env=env)
    run(kit_cmd("up", str(lost)), env=env)
    started = pids(lost)
    try:
        served(lost, env, tmp_path, dists, "replace")
    finally:
        stop_cluster(lost, env, started)
    # a backup of the stopped site: its database read directly, the new upload in it
    again = run(kit_cmd("backup", str(lost), "--to", str(tmp_path / "again.tar.gz")), env=env).stdout
    assert "; the master is not running)" in again and again.rstrip().endswith(", 2 uploaded files"), again


def assert_one_line(proc: subprocess.CompletedProcess, words: str) -> None:
    assert proc.returncode != 0, proc.stdout
    assert proc.stderr.startswith("kit: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert words in proc.stderr and "Traceback" not in proc.stdout + proc.stderr, proc.stderr


def test_bad_input_is_one_line_and_writes_nothing(backed_up, tmp_path):
    root, env, site, archive, _token, _ = backed_up
    before = archive.read_bytes()
    assert_one_line(run(kit_cmd("backup", str(site), "--to", str(archive)), env=env, check=False),
                    f"{archive} exists; choose another name, or replace it with --force")
    assert archive.read_bytes() == before
    damaged = tmp_path / "damaged.tar.gz"
    data = bytearray(before)
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    assert_one_line(run(kit_cmd("restore", str(damaged), str(tmp_path / "a")), env=env, check=False), "damaged")
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine\n")
    assert_one_line(run(kit_cmd("restore", str(archive), str(full)), env=env, check=False),
                    f"{full} is not empty; restore into a new or empty folder")
    nosite = tmp_path / "nosite"
    nosite.mkdir()
    assert_one_line(run(kit_cmd("restore", str(archive), str(nosite), "--replace"), env=env, check=False),
                    "is not a kit site, so --replace has nothing to restore onto")
    assert_one_line(run(kit_cmd("restore", str(tmp_path / "none.tar.gz"), str(tmp_path / "b")), env=env, check=False),
                    "does not exist")
    assert_one_line(run(kit_cmd("backup", str(tmp_path / "nosite"), "--to", str(tmp_path / "x.tar.gz")), env=env,
                        check=False), "is not a kit site")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["damaged.tar.gz", "full", "nosite"]
    assert [p.name for p in full.iterdir()] == ["notes.txt"] and not any(nosite.iterdir())
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".kit")) == []
