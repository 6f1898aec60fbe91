"""kit bench, really run: a real cluster (kit's edge, and Varnish's when installed),
the real wrk and nginx when installed; the shape of what it reports and that
nothing failed, never how fast."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree


from kit.ops.bench import (
    FAILURE_ROWS, MASTER, NGINX, PYTHON, ROWS, VARNISH, BenchResult, Row, Settings, Target, chart_svg, table_lines,
)

SVG = "{http://www.w3.org/2000/svg}"


# -- refused, one line -------------------------------------------------------------------------


# -- rendering, no servers ----------------------------------------------------------------------


def fixed_result() -> BenchResult:
    targets = [Target(PYTHON, "http://127.0.0.1:1", "the site's edge", purged=True, fails_over=True),
               Target(VARNISH, None, "not installed: apt-get install varnish varnish-modules"),
               Target(MASTER, "http://127.0.0.1:2", "devpi directly"),
               Target(NGINX, "http://127.0.0.1:3", "same bytes as static files")]
    numbers = {"page_p50": 0.12, "page_p99": 0.5, "file_p50": 0.2, "file_p99": 0.9, "warm_page_rps": 25000.0,
               "warm_page_auth_rps": 20000.0,
               "fetch_23": 0.01, "listed_p50": 0.006, "listed_p99": 0.02, "listed_max": 0.03,
               "kill_installs": 40, "kill_worst": 0.15, "failed_installs": 0, "failed_requests": 0}
    rows = []
    for key, label, unit in ROWS:
        values = {PYTHON: numbers[key], VARNISH: targets[1].note}
        scaled = {"warm_page_rps": (800.0, 100000.0)}.get(key, (numbers[key] * 10, numbers[key] / 2))
        for name, value in zip((MASTER, NGINX), scaled):
            values[name] = ("n/a: not purged" if key.startswith(("listed", "kill", "warm_page_auth"))
                            or key == "failed_installs"
                            else 0 if key in FAILURE_ROWS else value)
        rows.append(Row(key, label, unit, values))
    return BenchResult("/site", "python", targets, rows, {"req/s": "wrk", "installs": "uv"}, 2, 21.5, Settings())


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
    assert table["master killed: worst (s)"] == ["0.150", "-", "n/a", "n/a"]
    text = "\n".join(lines)
    assert "varnish edge: not installed: apt-get install varnish varnish-modules" in text
    assert "req/s vs nginx (wrk): python edge 0.25×, master 0.01×" in text
    assert "2 cores, 21.5 s; installs by uv" in text
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


