"""kit bench, really run: a real cluster (kit's edge, and Varnish's when installed),
the real wrk and nginx when installed; the shape of what it reports and that
nothing failed, never how fast."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree

import pytest

from kit.core.errors import AnswerError
from kit.ops.bench import (
    FAILURE_ROWS, MASTER, NGINX, PYTHON, ROWS, VARNISH, BenchResult, Row, Settings, Target, chart_svg, table_lines,
)
from kit.ops.bench.resolvers import (
    NO_RANGE, RESOLVER_ROWS, Outcome, Resolvers, count_no_range, fill_floor_rows, fill_resolve_rows, fill_rows,
    parse_set, pip_report_files, read_set,
)

SVG = "{http://www.w3.org/2000/svg}"


# -- refused, one line -------------------------------------------------------------------------


@pytest.mark.parametrize("text, problem", [
    ("rich\n-r other.txt\n", "line 2 ('-r other.txt') is an option"),
    ("--index-url http://127.0.0.1:1/simple/\n", "line 1 ('--index-url http://127.0.0.1:1/simple/') is an option"),
    ("rich @ https://example.invalid/rich-13.0-py3-none-any.whl\n", "names a URL"),
    ("rich\n\nnot a requirement!\n", "line 3 ('not a requirement!') is not a requirement"),
    ("# only a comment\n\n", "lists no requirement"),
])
def test_a_resolver_set_with_anything_but_requirements_is_refused_naming_the_line(text, problem):
    with pytest.raises(AnswerError) as refused:
        parse_set(text, "set.txt")
    message = str(refused.value)
    assert message.startswith("--resolver-set: set.txt") and problem in message and "\n" not in message


def test_a_missing_resolver_set_file_is_refused_in_one_line(tmp_path):
    with pytest.raises(AnswerError) as refused:
        read_set(str(tmp_path / "nowhere.txt"))
    assert "cannot read" in str(refused.value) and "requirements file" in str(refused.value)


def test_a_resolver_set_keeps_requirements_and_drops_comments_and_blank_lines(tmp_path):
    path = tmp_path / "set.txt"
    path.write_text("# what the room installs\nflask\n\nrequests>=2.31  # pinned low\nrich[jupyter]\n")
    assert read_set(str(path)) == ("flask", "requests>=2.31", "rich[jupyter]")
    assert Settings.of(quick=True).runs == 1 and Settings().runs == 5
    assert Settings().resolver_set == ("flask", "requests", "pytest", "rich", "python-dateutil")
    assert Settings.of(quick=True, runs=0, resolver_set=("flask",)).resolver_set == ("flask",)


# -- what the clients said -----------------------------------------------------------------------

#: Lines of uv 0.13's debug log (uv pip install -v) against a target that answers no Range.
UV_LOG = """DEBUG Selecting: flask==3.1.3 [compatible] (flask-3.1.3-py3-none-any.whl)
DEBUG Range requests not supported for flask-3.1.3-py3-none-any.whl; streaming wheel
DEBUG Adding direct dependency: blinker>=1.9.0
DEBUG Range requests not supported for blinker-1.9.0-py3-none-any.whl; streaming wheel
"""


def test_uvs_range_complaints_are_counted():
    assert count_no_range(UV_LOG) == 2 and count_no_range("DEBUG Searching for a compatible version") == 0
    assert NO_RANGE in UV_LOG


def test_pips_report_names_the_installed_files():
    report = {"version": "1", "install": [
        {"download_info": {"url": "http://127.0.0.1:1/root/pypi/+f/abc/rich-13.0-py3-none-any.whl",
                           "archive_info": {"hash": "sha256=00"}}, "metadata": {"name": "rich"}},
        {"metadata": {"name": "odd"}},  # no download_info: not a file pip fetched
    ]}
    assert pip_report_files(report) == ["http://127.0.0.1:1/root/pypi/+f/abc/rich-13.0-py3-none-any.whl"]
    assert pip_report_files({}) == []


def three_targets() -> list[Target]:
    return [Target(PYTHON, "http://127.0.0.1:1", "edge"), Target(VARNISH, "http://127.0.0.1:2", "varnish"),
            Target(MASTER, "http://127.0.0.1:3", "devpi")]


def test_resolver_rows_give_each_target_its_ratio_to_the_master_and_say_why_others_have_none():
    targets = three_targets()
    rows = {key: Row(key, key, "s", {t.name: "failed: see errors" for t in targets}) for key in RESOLVER_ROWS}
    outcomes = {PYTHON: Outcome(times=[0.5, 0.6, 0.7], no_range=0, sent=3_000_000),
                VARNISH: Outcome(errors=["uv exited 1: no route"]), MASTER: Outcome(times=[1.5], no_range=27)}
    fill_rows("uv", targets, outcomes, rows)
    assert rows["uv_s"].values == {PYTHON: 0.6, VARNISH: "failed: see errors", MASTER: 1.5}
    assert rows["uv_ratio"].values == {PYTHON: 0.4, VARNISH: "failed: see errors", MASTER: 1.0}
    assert rows["uv_mb"].values[PYTHON] == 1.0  # 3 MB over 3 installs
    assert rows["uv_mb"].values[MASTER].startswith("n/a")  # estimated later, from pip's report, or not at all
    assert rows["uv_no_range"].values == {PYTHON: 0, VARNISH: "failed: see errors", MASTER: 27}
    rows["pip_s"].values.update({t.name: "n/a: the site writes no pip.conf (clients)" for t in targets})
    fill_rows("pip", targets, {}, rows)
    assert set(rows["pip_ratio"].values.values()) == {"n/a: the site writes no pip.conf (clients)"}
    assert Outcome(times=[3.0, 1.0, 2.0]).median == 2.0 and Outcome().median is None


def test_resolve_rows_give_the_ratio_to_the_masters_resolve_and_the_bytes_kits_edge_counted():
    targets = three_targets()
    rows = {key: Row(key, key, "s", {t.name: "failed: see errors" for t in targets}) for key in RESOLVER_ROWS}
    resolves = {PYTHON: Outcome(times=[0.2, 0.1, 0.3], sent=150_000), VARNISH: Outcome(times=[0.3]),
                MASTER: Outcome(times=[0.4])}
    fill_resolve_rows("pip", targets, resolves, rows)
    assert rows["pip_resolve_s"].values == {PYTHON: 0.2, VARNISH: 0.3, MASTER: 0.4}
    assert rows["pip_resolve_ratio"].values == {PYTHON: 0.5, VARNISH: 0.75, MASTER: 1.0}
    assert rows["pip_resolve_mb"].values[PYTHON] == 0.05  # 150 kB over 3 resolves
    assert rows["pip_resolve_mb"].values[MASTER] == "n/a: no count kit reads"
    fill_resolve_rows("uv", targets, {PYTHON: Outcome(times=[0.1], sent=1), MASTER: Outcome(errors=["x"])}, rows)
    assert rows["uv_resolve_ratio"].values[PYTHON] == "n/a: the master's resolves failed"
    assert rows["uv_resolve_s"].values[MASTER] == rows["uv_resolve_mb"].values[MASTER] == "failed: see errors"


def test_the_floor_is_subtracted_from_each_install_and_index_times_compared_to_the_masters():
    targets = three_targets()
    rows = {key: Row(key, key, "s", {t.name: "failed: see errors" for t in targets}) for key in RESOLVER_ROWS}
    rows["uv_s"].values.update({PYTHON: 1.55, VARNISH: 1.4, MASTER: 2.0})
    fill_floor_rows("uv", targets, Outcome(times=[1.5, 1.6, 1.5]), rows)
    assert rows["uv_floor"].values == {PYTHON: 1.5, VARNISH: 1.5, MASTER: 1.5}
    assert rows["uv_index_s"].values == {PYTHON: 0.05, VARNISH: -0.1, MASTER: 0.5}
    # below the floor is no index time at all, not a negative share of the master's
    assert rows["uv_index_ratio"].values == {PYTHON: 0.1, VARNISH: 0.0, MASTER: 1.0}
    rows["uv_s"].values[MASTER] = 1.45
    fill_floor_rows("uv", targets, Outcome(times=[1.5]), rows)
    assert rows["uv_index_ratio"].values[PYTHON] == "n/a: the master's install is within its floor"
    fill_floor_rows("pip", targets, "n/a: pip's install through the master named no wheels", rows)
    assert {rows[k].values[MASTER] for k in ("pip_floor", "pip_index_s", "pip_index_ratio")} == {
        "n/a: pip's install through the master named no wheels"}


def test_resolve_is_a_dry_run_and_the_floor_reads_no_index(tmp_path):
    resolvers = Resolvers.__new__(Resolvers)  # argv alone: no site needed
    resolvers.uv, resolvers.requirements, resolvers.wheels = "uv", tmp_path / "r.txt", tmp_path / "wheels"
    python, report = tmp_path / "venv" / "bin" / "python", tmp_path / "report.json"
    uv = {mode: resolvers.argv("uv", python, report, mode) for mode in ("resolve", "install", "floor")}
    assert "--dry-run" in uv["resolve"] and "--dry-run" not in uv["install"] and "--no-cache" in uv["resolve"]
    assert uv["floor"][-4:] == ["--offline", "--no-index", "--find-links", str(tmp_path / "wheels")]
    pip = resolvers.argv("pip", python, report, "resolve")
    assert pip[-2:] == ["--dry-run", "--ignore-installed"] and "--no-cache-dir" in pip and "--report" in pip
    assert resolvers.argv("pip", python, report, "floor")[-3:] == ["--no-index", "--find-links",
                                                                   str(tmp_path / "wheels")]


# -- rendering, no servers ----------------------------------------------------------------------


def fixed_result() -> BenchResult:
    targets = [Target(PYTHON, "http://127.0.0.1:1", "the site's edge", purged=True, fails_over=True),
               Target(VARNISH, None, "not installed: apt-get install varnish varnish-modules"),
               Target(MASTER, "http://127.0.0.1:2", "devpi directly"),
               Target(NGINX, "http://127.0.0.1:3", "same bytes as static files")]
    numbers = {"page_p50": 0.12, "page_p99": 0.5, "file_p50": 0.2, "file_p99": 0.9, "warm_page_rps": 25000.0,
               "warm_page_auth_rps": 20000.0,
               "fetch_23": 0.01, "uv_s": 0.85, "uv_ratio": 0.55, "uv_mb": 3.25, "uv_no_range": 0,
               "uv_resolve_s": 0.15, "uv_resolve_ratio": 0.5, "uv_resolve_mb": 0.12, "uv_floor": 0.8,
               "uv_index_s": 0.05, "uv_index_ratio": 0.2,
               "pip_resolve_s": 1.2, "pip_resolve_ratio": 0.7, "pip_resolve_mb": 0.3, "pip_floor": 2.1,
               "pip_index_s": 0.4, "pip_index_ratio": 0.5,
               "pip_s": 2.5, "pip_ratio": 0.6, "pip_mb": 9.5, "listed_p50": 0.006, "listed_p99": 0.02, "listed_max": 0.03,
               "kill_installs": 40, "kill_worst": 0.15, "failed_installs": 0, "failed_requests": 0}
    rows = []
    for key, label, unit in ROWS:
        values = {PYTHON: numbers[key], VARNISH: targets[1].note}
        scaled = {"warm_page_rps": (800.0, 100000.0)}.get(key, (numbers[key] * 10, numbers[key] / 2))
        for name, value in zip((MASTER, NGINX), scaled):
            values[name] = ("n/a: not purged" if key.startswith(("listed", "kill", "warm_page_auth"))
                            or key == "failed_installs" or (key in RESOLVER_ROWS and name == NGINX)
                            else 0 if key in FAILURE_ROWS else value)
        rows.append(Row(key, label, unit, values))
    tools = {"req/s": "wrk", "installs": "uv",
             "resolvers": "real resolvers: flask, requests, pytest, rich, python-dateutil and their dependencies, "
                          "--no-cache, a fresh venv each, after one warming install; median of 5",
             "floor": "install floor: the same install from a local folder of the same wheels (--no-index "
                      "--find-links), no index at all: uv 0.800 s, pip 2.100 s",
             "no range": "uv's log, 'Range requests not supported': master 27×, python edge 0×"}
    return BenchResult("/site", "python", targets, rows, tools, 2, 21.5, Settings())


def test_table_is_aligned_and_fits_76_columns():
    lines = table_lines(fixed_result())
    header, *body = lines[:len(ROWS) + 1]
    assert header.split() == ["python", "edge", "varnish", "edge", "master", "nginx", "static"]
    assert all(len(line) <= 76 for line in lines[:len(ROWS) + 1])
    assert len({len(line) for line in lines[:len(ROWS) + 1]}) == 1  # every column right-aligned to one width
    table = {line[:24].strip(): line[24:].split() for line in body}
    assert table["page latency p50 (ms)"] == ["0.12", "-", "1.20", "0.06"]
    assert table["warm page (req/s)"] == ["25,000", "-", "800", "100,000"]
    assert table["upload→listed p50 (s)"] == ["0.006", "-", "n/a", "n/a"]
    assert table["failed requests"] == ["0", "-", "0", "0"]
    assert table["uv install median (s)"] == ["0.850", "-", "8.500", "n/a"]
    assert table["uv install ÷ master (×)"] == ["0.55×", "-", "5.50×", "n/a"]
    assert table["pip resolve ÷ master (×)"] == ["0.70×", "-", "7.00×", "n/a"]
    assert table["uv resolve sent (MB)"] == ["0.12", "-", "1.20", "n/a"]
    assert table["pip install floor (s)"] == ["2.100", "-", "21.000", "n/a"]
    assert table["uv index time (s)"] == ["0.050", "-", "0.500", "n/a"]
    assert table["pip sent/install (MB)"] == ["9.50", "-", "95.00", "n/a"]
    assert table["uv: no Range, logged"] == ["0", "-", "0", "n/a"]
    assert all(len(line) <= 76 for line in lines)  # the notes too, wrapped
    assert table["master killed: worst (s)"] == ["0.150", "-", "n/a", "n/a"]
    text = "\n".join(lines)
    assert "varnish edge: not installed: apt-get install varnish varnish-modules" in text
    assert "req/s vs nginx (wrk): python edge 0.25×, master 0.01×" in text
    assert "2 cores, 21.5 s; installs by uv" in text
    assert "real resolvers: flask, requests, pytest, rich, python-dateutil and their" in text
    assert "uv's log, 'Range requests not supported': master 27×, python edge 0×" in text
    assert "no index at all: uv 0.800 s, pip 2.100 s" in text
    assert table["authorised page (req/s)"] == ["20,000", "-", "n/a", "n/a"]
    assert "python edge, authorised warm page vs anonymous: 0.80×" in text


def test_chart_labels_each_bar_with_its_value_and_says_why_others_are_missing():
    result = fixed_result()
    svg = ElementTree.fromstring(chart_svg(result))
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "page latency p50 (ms)" in texts and "failed requests" not in " ".join(texts)
    assert texts.count("-") == len(ROWS) - len(FAILURE_ROWS)  # varnish, not installed, in every chart row
    assert "25,000" in texts and "100,000" in texts and "n/a" in texts
    bars = {float(r.get("width")) for r in svg.iter(f"{SVG}rect") if r.get("height") == "16"}
    assert max(bars) == 520.0  # the longest bar of a row spans the chart


def test_result_counts_failures_and_ratios():
    result = fixed_result()
    assert result.failed == 0 and result.ratios() == {PYTHON: 0.25, MASTER: 0.008}
    result.row("failed_requests").values[MASTER] = 3
    assert result.failed == 3 and result.as_dict()["failed"] == 3
    assert json.loads(json.dumps(result.as_dict()))["rows"][0]["values"][VARNISH].startswith("not installed")


