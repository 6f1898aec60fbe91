"""kit prune against a real cluster (kit up: devpi master and replica, kit's edge)
whose root/pypi mirrors a local upstream: only the root/pypi project nobody read
for the days given goes, through devpi's API, so the replica drops its copy too;
the other project and a team's file stay, every file still installs with the right
bytes, and --dry-run removes nothing."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from kit.core.wait import wait_until
from kit.ops.sample import make_wheel
from tests.conftest import BIN, clean_env, kit_cmd, run
from tests.support.cluster import edge_url, running_site, team_upload, wait_mirror_in_sync

READS = Path("cluster/run/edge-root-pypi-reads.log")


def _download(site: Path, env: dict, index: str, project: str, into: Path) -> Path:
    run([BIN / "pip", "download", "--no-deps", "--no-cache-dir", "-d", str(into),
         "--index-url", f"{edge_url(site)}/{index}/+simple/", project], env=env)
    [wheel] = into.glob(f"{project.replace('-', '_')}-*.whl")
    return wheel


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _held(site: Path, part: str, project: str) -> list[Path]:
    """The files of ``project`` devpi's ``part`` (master or mirror) holds for root/pypi."""
    return list((site / "cluster" / "run" / part / "+files" / "root" / "pypi").rglob(f"{project.replace('-', '_')}-*"))


def _age(site: Path, project: str, days: float) -> None:
    """Make the edge's record say ``project``'s files were last read ``days`` ago, and the record
    itself began 10 days ago (as if the site had run that long)."""
    record = site / READS
    then = time.time() - days * 86400
    lines = []
    for line in record.read_text().splitlines():
        stamp, _, path = line.partition(" ")
        if stamp == "#":
            line = f"# since {time.time() - 10 * 86400:.0f}"
        elif f"/{project.replace('-', '_')}-" in path:
            line = f"{then:.0f} {path}"
        lines.append(line)
    record.write_text("\n".join(lines) + "\n")


def test_prune_removes_only_the_root_pypi_project_nobody_read_and_the_replica_follows(tmp_path):
    upstream = tmp_path / "upstream"
    old = make_wheel(upstream, "kitdemo-old", "1.0", marker="upstream")
    new = make_wheel(upstream, "kitdemo-new", "1.0", marker="upstream")
    team = make_wheel(tmp_path / "team", "kitdemo-team", "1.0", marker="team")
    env = clean_env(tmp_path / "home")
    with running_site(tmp_path, env, upstream) as (site, _):
        team_upload(site, env, team)
        for wheel in (old, new):
            assert _sha256(_download(site, env, "root/pypi", wheel.name.split("-")[0], tmp_path / "first")) \
                == _sha256(wheel)
        assert _sha256(_download(site, env, "web/private", "kitdemo-team", tmp_path / "first")) == _sha256(team)
        record = (site / READS).read_text()
        assert "kitdemo_old-1.0" in record and "kitdemo_new-1.0" in record and "kitdemo_team" not in record
        wait_mirror_in_sync(site, env)
        assert _held(site, "master", "kitdemo-old") and _held(site, "mirror", "kitdemo-old")
        _age(site, "kitdemo-old", days=3)
        team_file = next((site / "cluster" / "run" / "master" / "+files" / "web").rglob("kitdemo_team-*"))

        dry = run(kit_cmd("prune", str(site), "--older-than", "1", "--dry-run"), env=env)
        assert "would remove kitdemo-old: 1 file" in dry.stdout and "kitdemo-new" not in dry.stdout
        assert dry.stdout.splitlines()[-1].startswith("would free 1 file, ")
        assert _held(site, "master", "kitdemo-old") and _held(site, "mirror", "kitdemo-old")

        pruned = run(kit_cmd("prune", str(site), "--older-than", "1"), env=env)
        assert "removed kitdemo-old: 1 file" in pruned.stdout and "kitdemo-new" not in pruned.stdout
        assert pruned.stdout.splitlines()[-1].startswith("freed 1 file, ")
        assert pruned.stdout.splitlines()[-1].endswith("(1 project of root/pypi)")
        assert not _held(site, "master", "kitdemo-old")
        wait_until(lambda: not _held(site, "mirror", "kitdemo-old"), 30,
                   fail=lambda: AssertionError("the replica kept the pruned file"))
        assert _held(site, "master", "kitdemo-new") and _held(site, "mirror", "kitdemo-new")
        assert team_file.exists() and _sha256(team_file) == _sha256(team)

        # Everything installs as before, with the same bytes: the pruned project from PyPI again.
        for project, wheel in (("kitdemo-old", old), ("kitdemo-new", new)):
            assert _sha256(_download(site, env, "root/pypi", project, tmp_path / "again")) == _sha256(wheel)
        assert _sha256(_download(site, env, "web/private", "kitdemo-team", tmp_path / "again")) == _sha256(team)


def test_prune_says_what_to_give_and_refuses_a_bad_size_in_one_line(tmp_path):
    env = clean_env(tmp_path / "home")
    from tests.support.cluster import make_site

    site = make_site(tmp_path, env, tmp_path)
    for args, words in (((), "give --older-than DAYS, --max-size SIZE or both"),
                        (("--max-size", "lots"), "expected a size like 10G"),
                        (("--older-than", "1"), "no record of reads of root/pypi's files yet")):
        proc = run(kit_cmd("prune", str(site), *args), env=env, check=False)
        assert proc.returncode != 0 and words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
