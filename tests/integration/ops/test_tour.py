"""kit tour (kit.ops.tour), really run: offline, every step, and no process left behind."""

from __future__ import annotations

from tests.conftest import clean_env, kit_cmd, processes_under, run
from tests.support.cluster import alive, pids


def test_tour_runs_offline_and_leaves_no_process(tmp_path):
    env = clean_env(tmp_path / "home")
    proc = run(kit_cmd("tour", "--keep", str(tmp_path / "tour")), env=env)
    out = proc.stdout
    for n in range(1, 8):
        assert f"[{n}/7]" in out
    assert "tour-private (the team's own), tour-upstream (from the upstream)" in out
    assert "is dead and pip still installed" in out
    assert "Tour finished in" in out
    site = tmp_path / "tour" / "site"
    # A new site's default: the tour's installs read the team index as the team (its netrc).
    assert 'read_access = "team"' in (site / "kit.toml").read_text()
    assert "pip install with the generated pip.conf and netrc, through the edge" in out
    leftover = [pid for pid in pids(site).values() if alive(pid)]
    assert leftover == [] and pids(site) == {}
    assert processes_under(tmp_path / "tour") == []
