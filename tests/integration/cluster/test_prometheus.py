"""Debian's real Prometheus, run with the site's own monitoring/prometheus.yml against a
running cluster (kit's edge, then Varnish with its exporter): every target up, the edge's
metrics read back through Prometheus's HTTP API, the alert rules loaded, and every query
of the Grafana dashboard accepted."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from kit.core.wait import wait_until
from tests.conftest import BIN, free_port, run
from tests.support.cluster import origins_all_up

#: Every wait on Prometheus is bounded by this.
WAIT = 60


class Prometheus:
    """``prometheus`` on a free port of 127.0.0.1, its storage in a temporary folder."""

    def __init__(self, config: Path, folder: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "prometheus.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def api(self, path: str, **params) -> dict:
        url = f"{self.url}/api/v1/{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:  # a refused query answers 400 with its error
            return json.loads(error.read())

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
        try:
            return self.api("status/buildinfo")["status"] == "success"
        except OSError:  # not listening yet
            return False

    def query(self, expr: str) -> list[dict]:
        answer = self.api("query", query=expr)
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def targets(self) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        for target in self.api("targets")["data"]["activeTargets"]:
            found.setdefault(target["labels"]["job"], []).append(target)
        return found

    def wait(self, what: str, check) -> None:
        wait_until(check, WAIT, 0.25, accept=bool, fail=lambda: AssertionError(
            f"{what} within {WAIT} s; Prometheus's targets: {json.dumps(self.targets(), indent=1)[:3000]}"))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def prometheus(edge_site, tmp_path_factory):
    """Prometheus with a copy of the site's monitoring folder, scraping every second instead of
    every 15 s: each step below waits for a scrape or two, and 15 s each would make the test
    minutes long. Everything else (targets, paths, rule files) is the site's own."""
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed (Debian: apt-get install prometheus)")
    folder = tmp_path_factory.mktemp("prometheus")
    copy = folder / "monitoring"
    shutil.copytree(edge_site.site / "monitoring", copy)
    config = copy / "prometheus.yml"
    text = config.read_text()
    assert 'scrape_interval: "15s"' in text
    config.write_text(text.replace('"15s"', '"1s"'))
    server = Prometheus(config, folder)
    try:
        wait_until(server.ready, WAIT, 0.25,
                   fail=lambda: AssertionError(f"prometheus did not answer: {server.log.read_text()[-2000:]}"))
        yield server
    finally:
        server.stop()


def up(targets: list[dict]) -> bool:
    return bool(targets) and all(target["health"] == "up" for target in targets)


def test_the_edge_target_is_up_and_reports_both_origins_up(prometheus, edge_site):
    origins_all_up(edge_site.site)
    prometheus.wait("the kit-edge target was not up", lambda: up(prometheus.targets().get("kit-edge", [])))
    prometheus.wait("kit_edge_origin_up did not show master and mirror up", lambda: {
        (r["metric"]["role"], r["value"][1]) for r in prometheus.query("kit_edge_origin_up")
    } >= {("master", "1"), ("mirror", "1")})


def test_a_download_through_the_edge_is_counted(prometheus, edge_site, tmp_path):
    expr = 'sum(kit_edge_requests_total{kind="file"})'

    def files() -> float:
        found = prometheus.query(expr)
        return float(found[0]["value"][1]) if found else 0.0

    prometheus.wait("the kit-edge target was not up", lambda: up(prometheus.targets().get("kit-edge", [])))
    before = files()
    run([BIN / "python", "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-d", tmp_path / "got",
         "kitdemo-upstream"], env=edge_site.pip_env())
    assert [p.name for p in (tmp_path / "got").iterdir()] == ["kitdemo_upstream-1.0-py3-none-any.whl"]
    prometheus.wait(f"{expr} did not grow past {before}", lambda: files() > before)


def test_the_alert_rules_are_loaded(prometheus, edge_site):
    loaded = {rule["name"] for group in prometheus.api("rules")["data"]["groups"] for rule in group["rules"]
              if rule["type"] == "alerting"}
    assert {"KitEdgeDown", "KitOriginDown", "KitMirrorLagging", "KitIntegrityFailures", "KitDiskNearlyFull"} <= loaded
    assert ("KitVarnishDown" in loaded) == (edge_site.kind == "varnish")


def test_every_dashboard_query_is_accepted(prometheus, edge_site):
    board = json.loads((edge_site.site / "monitoring" / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in board["panels"] for target in panel["targets"]]
    assert len(exprs) >= 11
    refused = {expr: answer for expr in exprs if (answer := prometheus.api("query", query=expr))["status"] != "success"}
    assert not refused


def test_varnish_is_scraped_through_its_exporter(prometheus, edge_site, tmp_path):
    if edge_site.kind != "varnish":
        pytest.skip("kit's own edge: no Varnish to scrape")
    if shutil.which("prometheus-varnish-exporter") is None:
        pytest.skip("prometheus-varnish-exporter is not installed (Debian: apt-get install "
                    "prometheus-varnish-exporter)")
    prometheus.wait("the varnish target was not up", lambda: up(prometheus.targets().get("varnish", [])))
    with urllib.request.urlopen(edge_site.url + "/+edge/health", timeout=10):
        pass  # a request Varnish answers itself: counted as a client request

    def client_requests() -> float:
        found = prometheus.query("varnish_main_client_req")
        return float(found[0]["value"][1]) if found else 0.0

    prometheus.wait("varnish_main_client_req stayed 0", lambda: client_requests() > 0)
    assert prometheus.query("varnish_up")[0]["value"][1] == "1"
