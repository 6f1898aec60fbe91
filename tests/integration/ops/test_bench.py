"""kit bench, really run: a real cluster (kit's edge, and Varnish's when installed),
the real wrk and nginx when installed, real uv and pip installing real wheels
(rebuilt from this environment's, the site's upstream); the shape of what it
reports and that nothing failed, never how fast."""

from __future__ import annotations

import json
import tomllib
import urllib.error
import urllib.request
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from kit.ops.bench import (
    BENCH_INDEX, FAILURE_ROWS, MASTER, NGINX, PYTHON, ROWS, TARGETS, VARNISH, Settings,
)
from kit.ops.bench.resolvers import RESOLVER_ROWS
from kit.ops.bench.result import SIGNED_ROWS, ZERO_ROWS
from kit.cluster.varnish import varnishd_path
from tests.conftest import clean_env, free_port, interrupted_at, kit_cmd, run
from tests.support.cluster import make_site, running_site, status
from tests.support.real_wheels import RESOLVER_SET, real_wheel_folder

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def real_upstream(tmp_path_factory):
    """The site's upstream: 27 real wheels (httpx, rich, typer, pytest, python-dateutil, requests and
    their dependencies, rebuilt from this environment's), and the requirement file that names them."""
    root = tmp_path_factory.mktemp("real-wheels")
    wheels = real_wheel_folder(root / "upstream")
    assert len(wheels) >= 25, wheels
    requirements = root / "resolver-set.txt"
    requirements.write_text("# what kit bench's real resolvers install here\n" + "\n".join(RESOLVER_SET) + "\n")
    return root / "upstream", requirements


@pytest.fixture(scope="module", params=["python", "varnish"])
def benched(request, tmp_path_factory, real_upstream):
    """A running site with the edge of the param, its team's index read with its password
    (read_access team), and one `kit bench --json --quick` of it (one install per real resolver)."""
    if request.param == "varnish" and varnishd_path() is None:
        pytest.skip("varnishd not installed: apt-get install varnish varnish-modules")
    upstream, requirements = real_upstream
    root = tmp_path_factory.mktemp(f"bench-{request.param}")
    env = clean_env(root / "home")
    with running_site(root, env, upstream, "--set", f"edge={request.param}", "--set", "read_access=team",
                      "--set", f"shield_port={free_port()}") as (site, _):
        chart = root / "bench.svg"
        proc = run(kit_cmd("bench", str(site), "--json", "--quick", "--chart", str(chart),
                           "--resolver-set", str(requirements)), env=env, check=False, timeout=900)
        yield site, env, proc, chart


TEMPORARY = "a temporary Varnish with the site's rules, the site's edge as its shield"


def rows_of(result: dict) -> dict:
    return {r["key"]: r["values"] for r in result["rows"]}


def test_bench_json_has_every_target_and_row_and_nothing_failed(benched):
    site, env, proc, _ = benched
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)  # the progress lines went to standard error
    assert "bench: killing the master" in proc.stderr and "Traceback" not in proc.stderr
    assert result["failed"] == 0 and result["errors"] == []
    assert result["cores"] >= 1 and result["duration"] > 0 and result["tools"]["req/s"]
    targets = {t["name"]: t for t in result["targets"]}
    assert list(targets) == list(TARGETS)
    edge = tomllib.loads((site / "kit.toml").read_text())["edge"]
    running = {PYTHON, MASTER} | ({VARNISH} if edge == "varnish" or varnishd_path() else set()) | (
        {NGINX} if targets[NGINX]["running"] else set())
    assert {name for name, t in targets.items() if t["running"]} == running
    if edge == "python" and varnishd_path():
        # a temporary Varnish in front of the same master and mirror; devpi does not purge it
        assert targets[VARNISH]["note"].startswith("a temporary Varnish with the site's rules")
        assert "not a temporary Varnish" in rows_of(result)["listed_p50"][VARNISH]
        assert rows_of(result)["kill_installs"][VARNISH] > 0 and rows_of(result)["failed_installs"][VARNISH] == 0
    elif edge == "python":
        assert targets[VARNISH]["note"].startswith("not installed")
    if not targets[NGINX]["running"]:
        assert targets[NGINX]["note"].startswith("not installed")  # said in the JSON, not a skip
    assert [r["key"] for r in result["rows"]] == [key for key, _, _ in ROWS]
    for row in result["rows"]:
        assert list(row["values"]) == list(TARGETS), row
        for name, value in row["values"].items():
            if not targets[name]["running"]:
                assert value == targets[name]["note"]
            elif row["key"] in FAILURE_ROWS:
                assert value == 0 or value.startswith("n/a"), row
            elif row["key"] in SIGNED_ROWS:  # an install's median less its floor
                assert isinstance(value, (int, float)) or value.startswith("n/a: "), row
            elif row["key"] in ZERO_ROWS:
                assert (isinstance(value, (int, float)) and value >= 0) or value.startswith("n/a: "), row
            else:
                assert (isinstance(value, (int, float)) and value > 0) or value.startswith("n/a: "), row
    rows = rows_of(result)
    edges = [name for name in (PYTHON, VARNISH) if name in running and targets[name]["note"] != TEMPORARY]
    for name in edges:  # what the site's edges must have measured
        assert rows["listed_p50"][name] > 0 and rows["kill_installs"][name] > 0 and rows["failed_installs"][name] == 0
    assert rows["listed_p50"][MASTER].startswith("n/a") and rows["kill_installs"][MASTER].startswith("n/a")
    if targets[NGINX]["running"]:
        assert set(result["ratios_to_nginx"]) == running - {NGINX}


def test_real_resolvers_installed_the_real_set_through_every_target_as_the_team_does(benched):
    """uv and pip, with the team's uv.toml / pip.conf and netrc pointed at each target, resolved
    and installed the 27 real wheels (a failed run would be counted in failed requests), and
    installed them from a local folder (the floor); numbers printed."""
    site, env, proc, _ = benched
    result = json.loads(proc.stdout)
    assert result["failed"] == 0, result["errors"]
    targets = [t["name"] for t in result["targets"] if t["running"] and t["name"] != NGINX]
    rows = rows_of(result)
    for client in ("uv", "pip"):
        for name in targets:
            for measure in ("resolve_s", "resolve_ratio", "s", "ratio", "floor"):
                assert rows[f"{client}_{measure}"][name] > 0, (client, measure, name)
            assert rows[f"{client}_mb"][name] > 1  # MB: the wheels alone are ~20 MB, stored uncompressed
            assert isinstance(rows[f"{client}_index_s"][name], float)
        assert rows[f"{client}_ratio"][MASTER] == rows[f"{client}_resolve_ratio"][MASTER] == 1.0
        assert len({rows[f"{client}_floor"][name] for name in targets}) == 1  # one floor, measured once
        # kit's edge serves each wheel's core metadata: a resolve reads kilobytes, not the wheels
        assert 0 < rows[f"{client}_resolve_mb"][PYTHON] < rows[f"{client}_mb"][PYTHON] / 4, client
        assert rows[f"{client}_resolve_mb"][MASTER] == "n/a: no count kit reads"
        running_nginx = next(t for t in result["targets"] if t["name"] == NGINX)["running"]
        assert rows[f"{client}_s"][NGINX].startswith("n/a: static copies") or not running_nginx
        print(f"{client}: floor {rows[f'{client}_floor'][MASTER]:.2f} s; " + "; ".join(
            f"{name}: resolve {rows[f'{client}_resolve_s'][name]:.2f} s "
            f"({rows[f'{client}_resolve_ratio'][name]:.2f}×, {_mb(rows[f'{client}_resolve_mb'][name])}), "
            f"install {rows[f'{client}_s'][name]:.2f} s ({rows[f'{client}_ratio'][name]:.2f}×, "
            f"{_mb(rows[f'{client}_mb'][name])}), index time {rows[f'{client}_index_s'][name]:.2f} s"
            for name in targets))
    # kit's edge answers Range (206): uv reads the wheels' metadata without streaming them whole
    assert rows["uv_no_range"][PYTHON] == 0
    print("uv 'Range requests not supported': " + ", ".join(f"{n} {rows['uv_no_range'][n]}" for n in targets))
    for line in ("bench: python edge: uv install: median", "bench: master: pip resolve: median",
                 "bench: floor: uv floor: median"):
        assert line in proc.stderr, proc.stderr
    assert result["tools"]["resolvers"].startswith("real resolvers: httpx, rich, typer, pytest")
    assert "no index at all, right after the master's: uv " in result["tools"]["floor"]
    assert set(RESOLVER_ROWS) <= set(rows)


def _mb(value) -> str:
    return f"{value:.2f} MB" if isinstance(value, (int, float)) else "MB n/a"


def test_bench_chart_is_svg_with_a_bar_per_measured_value(benched):
    _, _, proc, chart = benched
    result = json.loads(proc.stdout)
    svg = ElementTree.parse(chart).getroot()
    assert svg.tag == f"{SVG}svg"
    numbers = sum(isinstance(v, (int, float)) for r in result["rows"] if r["key"] not in FAILURE_ROWS
                  for v in r["values"].values())
    assert len(svg.findall(f"{SVG}rect")) == numbers + 1  # and the background


def test_bench_leaves_no_index_and_a_healthy_cluster(benched):
    site, env, proc, _ = benched
    master = next(r for r in status(site, env) if r["name"] == "master")["url"]
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(f"{master}/{BENCH_INDEX}")
    assert gone.value.code == 404
    rows = status(site, env)
    assert all(r["healthy"] for r in rows), rows
    assert next(r for r in rows if r["name"] == "mirror")["behind"] == 0


def test_python_rate_fallback_measures_without_wrk(benched):
    """Where wrk is missing the bench counts requests itself: a rate, no failures."""
    from kit.ops.bench.measure import python_rate

    site, env, _, _ = benched
    edge = next(r for r in status(site, env) if r["name"] == "edge")["url"]
    rate, failed, problem = python_rate(edge, "/+edge/health", Settings(rate_seconds=1, connections=4))
    assert rate > 0 and failed == 0 and problem == ""


def test_progress_goes_to_standard_error_and_the_table_alone_to_standard_output(benched, tmp_path):
    """`kit bench … > bench.txt` once sat silent for the whole run: its progress went into the file."""
    site, env, _, _ = benched
    if tomllib.loads((site / "kit.toml").read_text())["edge"] != "python":
        pytest.skip("the same command line on either edge: once is enough")
    proc = run(kit_cmd("bench", str(site), "--quick"), env=env, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "bench: killing the master" in proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(" ") and all(name in lines[0] for name in TARGETS)  # the table's head first
    assert "bench:" not in proc.stdout  # and no progress line anywhere
    assert any(line.startswith("failed requests") for line in lines)
    # The default set (flask, ...) is not on this upstream: the rows say so, nothing counted as failed.
    assert "bench: real resolvers: flask not on web/private; name what its upstream has with --resolver-set" \
        in proc.stderr
    shown = next(line for line in lines if line.startswith("uv install median")).split()[-4:]
    assert shown[0] == shown[2] == "n/a" and set(shown) <= {"n/a", "-"}  # python edge, master; the others


def test_ctrl_c_while_the_master_is_killed_brings_it_back_and_removes_the_index(benched):
    """The one moment kit bench breaks the site on purpose: interrupted there, it repairs it."""
    site, env, _, _ = benched
    code, out = interrupted_at(kit_cmd("bench", str(site), "--quick", "--runs", "0"), env, "killing the master")
    assert code == 130 and "kit: interrupted" in out and "Traceback" not in out, out
    assert "the master is back" in out
    rows = status(site, env)
    assert all(r["healthy"] for r in rows), rows
    master = next(r for r in rows if r["name"] == "master")["url"]
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(f"{master}/{BENCH_INDEX}")
    assert gone.value.code == 404


# -- refused, one line -------------------------------------------------------------------------


def test_bench_on_a_stopped_cluster_names_kit_up(tmp_path, dists):
    env = clean_env(tmp_path / "home")
    site = make_site(tmp_path, env, dists.upstream_folder)
    proc = run(kit_cmd("bench", str(site), "--chart", str(tmp_path / "b.svg")), env=env, check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "is not running; start it with: kit up" in proc.stderr
    assert not (tmp_path / "b.svg").exists() and proc.stdout == ""


@pytest.mark.parametrize("chart, problem", [("bench.png", "does not end in .svg"),
                                            ("nowhere/bench.svg", "is not a folder you can write to")])
def test_bench_refuses_a_bad_chart_path_before_anything_runs(tmp_path, dists, chart, problem):
    env = clean_env(tmp_path / "home")
    site = make_site(tmp_path, env, dists.upstream_folder)
    proc = run(kit_cmd("bench", str(site), "--chart", chart), env=env, cwd=tmp_path, check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and problem in proc.stderr, proc.stderr
    assert "--chart" in proc.stderr and not list(tmp_path.glob("**/bench.*"))


def test_bench_refuses_a_resolver_set_with_an_option_before_anything_runs(tmp_path, dists):
    env = clean_env(tmp_path / "home")
    site = make_site(tmp_path, env, dists.upstream_folder)
    requirements = tmp_path / "set.txt"
    requirements.write_text("rich\n--extra-index-url http://127.0.0.1:9/simple/\n")
    proc = run(kit_cmd("bench", str(site), "--resolver-set", str(requirements), "--chart", str(tmp_path / "b.svg")),
               env=env, check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "--resolver-set" in proc.stderr and "line 2" in proc.stderr and "is an option" in proc.stderr
    assert not (tmp_path / "b.svg").exists() and proc.stdout == ""


# -- rendering, no servers ----------------------------------------------------------------------


def test_the_docs_show_a_chart_from_a_real_run():
    root = Path(__file__).resolve().parents[3]
    svg = ElementTree.parse(root / "docs" / "_static" / "bench.svg").getroot()
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert all(name in texts for name in TARGETS) and "n/a" in texts
    assert "/_static/bench.svg" in (root / "docs" / "explanation" / "architecture.rst").read_text()
