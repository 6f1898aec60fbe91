"""SITE/monitoring/, as kit init writes it, checked by Prometheus's own promtool: the scrape
configuration of each kind of site, its alert rules, and two alerts proven to fire on
synthetic series (and to stay quiet on healthy ones) with ``promtool test rules``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml  # cookiecutter's dependency: read back what kit wrote, as a YAML reader sees it

from tests.conftest import clean_env, free_port, kit_cmd, run

SPREAD = """setups = ["private", "clients", "cluster"]
upstream = "http://127.0.0.1:9/simple/"
host = "pkgs.example.test"
scheme = "https"
floating_address = "198.18.0.10"

[hosts.lb1]
address = "198.18.0.2"
roles = ["balancer"]

[hosts.edge1]
address = "198.18.0.4"
roles = ["edge"]

[hosts.db]
address = "198.18.0.6"
roles = ["master", "mirror", "edge"]
"""

KINDS = ("plain", "https", "varnish", "multi-host")


def promtool(*args) -> subprocess.CompletedProcess:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    return subprocess.run(["promtool", *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> dict[str, Path]:
    """One site of each kind, made by kit init only (nothing runs)."""
    root = tmp_path_factory.mktemp("monitoring")
    upstream = root / "wheels"
    upstream.mkdir()
    env = clean_env(root / "home")
    common = ("--no-input", "--set", f"upstream={upstream}", "--set", "teams=web")
    made = {}
    for kind, extra in (("plain", ()),
                        ("https", ("--set", "scheme=https", "--set", f"http_port={free_port()}")),
                        ("varnish", ("--set", "edge=varnish", "--set", "varnish_exporter_port=9200"))):
        run(kit_cmd("init", str(root / kind), *common, *extra), env=env)
        made[kind] = root / kind
    answers = root / "spread.toml"
    answers.write_text(SPREAD)
    run(kit_cmd("init", str(root / "multi-host"), "--no-input", "--answers", str(answers)), env=env)
    made["multi-host"] = root / "multi-host"
    return made


def config(site: Path) -> dict:
    return yaml.safe_load((site / "monitoring" / "prometheus.yml").read_text())


def alert_names(site: Path) -> set[str]:
    rules = yaml.safe_load((site / "monitoring" / "alerts.yml").read_text())
    return {rule["alert"] for group in rules["groups"] for rule in group["rules"]}


@pytest.mark.parametrize("kind", KINDS)
def test_promtool_accepts_the_config_and_the_rules(sites, kind):
    site = sites[kind]
    checked = promtool("check", "config", site / "monitoring" / "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 rule files found" in checked.stdout  # rule_files: alerts.yml, found beside it
    rules = promtool("check", "rules", site / "monitoring" / "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    board = json.loads((site / "monitoring" / "grafana-dashboard.json").read_text())
    assert board["schemaVersion"] >= 36 and board["__inputs"][0]["name"] == "DS_PROMETHEUS"
    assert all(panel["datasource"]["uid"] == "${DS_PROMETHEUS}" for panel in board["panels"])


def test_a_plain_site_scrapes_its_edge_over_http(sites):
    jobs = {job["job_name"]: job for job in config(sites["plain"])["scrape_configs"]}
    assert set(jobs) == {"kit-edge"}
    edge = jobs["kit-edge"]
    assert edge["metrics_path"] == "/+edge/metrics" and edge.get("scheme", "http") == "http"
    port = (sites["plain"] / "kit.toml").read_text().split("edge_port = ")[1].split()[0]
    assert edge["static_configs"][0]["targets"] == [f"127.0.0.1:{port}"]
    assert {"KitEdgeDown", "KitOriginDown", "KitMirrorLagging", "KitIntegrityFailures", "KitStaticCopyStale",
            "KitDiskNearlyFull"} == alert_names(sites["plain"])


def test_an_https_site_checks_its_edge_against_the_site_ca(sites):
    edge = config(sites["https"])["scrape_configs"][0]
    assert edge["scheme"] == "https"
    # Relative to prometheus.yml's folder, as Prometheus resolves it: the site's own CA.
    ca = sites["https"] / "monitoring" / edge["tls_config"]["ca_file"]
    assert ca.resolve() == (sites["https"] / "tls" / "ca.pem").resolve() and ca.is_file()
    assert "KitCertificateExpiring" in alert_names(sites["https"])
    assert "KitCertificateExpiring" not in alert_names(sites["plain"])


def test_a_varnish_site_scrapes_the_shield_and_the_exporter(sites):
    jobs = {job["job_name"]: job for job in config(sites["varnish"])["scrape_configs"]}
    assert jobs["varnish"]["static_configs"][0]["targets"] == ["127.0.0.1:9200"]
    shield = json.loads((sites["varnish"] / "cluster" / "edge.json").read_text())["port"]
    assert jobs["kit-edge"]["static_configs"][0]["targets"] == [f"127.0.0.1:{shield}"]  # kit's edge behind Varnish
    assert "KitVarnishDown" in alert_names(sites["varnish"])
    assert "varnish_exporter_port = 9200" in (sites["varnish"] / "kit.toml").read_text()


def test_a_site_spread_over_hosts_scrapes_every_edge_host_not_the_floating_address(sites):
    site = sites["multi-host"]
    edge = config(site)["scrape_configs"][0]
    targets = edge["static_configs"][0]["targets"]
    assert sorted(t.rsplit(":", 1)[0] for t in targets) == ["198.18.0.4", "198.18.0.6"]
    assert not any(t.startswith("198.18.0.10:") for t in targets)
    # The edges' certificate names the site's host, not their addresses.
    assert edge["scheme"] == "https" and edge["tls_config"]["server_name"] == "pkgs.example.test"
    assert (site / "monitoring" / edge["tls_config"]["ca_file"]).resolve() == (site / "tls" / "ca.pem").resolve()
    # The site folder's own: no host's bundle carries it.
    assert not any((bundle / "monitoring").exists() for bundle in (site / "hosts").iterdir())


RULE_TESTS = """rule_files:
  - alerts.yml
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'kit_edge_origin_up{origin="http://127.0.0.1:1", role="master"}'
        values: '0x10'
      - series: 'kit_edge_origin_up{origin="http://127.0.0.1:2", role="mirror"}'
        values: '1x10'
      - series: 'kit_disk_used_ratio{part="edge-cache"}'
        values: '0.93x20'
      - series: 'kit_disk_used_ratio{part="master"}'
        values: '0.5x20'
    alert_rule_test:
      - eval_time: 30s
        alertname: KitOriginDown
        exp_alerts: []
      - eval_time: 2m
        alertname: KitOriginDown
        exp_alerts:
          - exp_labels: {severity: warning, origin: "http://127.0.0.1:1", role: master}
            exp_annotations: ORIGIN_ANNOTATIONS
      - eval_time: 3m
        alertname: KitDiskNearlyFull
        exp_alerts: []
      - eval_time: 10m
        alertname: KitDiskNearlyFull
        exp_alerts:
          - exp_labels: {severity: warning, part: edge-cache}
            exp_annotations: DISK_ANNOTATIONS
  - interval: 1m
    input_series:
      - series: 'kit_edge_origin_up{origin="http://127.0.0.1:1", role="master"}'
        values: '1x30'
      - series: 'kit_disk_used_ratio{part="edge-cache"}'
        values: '0.79x30'
    alert_rule_test:
      - eval_time: 20m
        alertname: KitOriginDown
        exp_alerts: []
      - eval_time: 20m
        alertname: KitDiskNearlyFull
        exp_alerts: []
"""


def test_an_origin_down_and_a_nearly_full_disk_fire_their_alerts_and_healthy_series_do_not(sites, tmp_path):
    folder = tmp_path / "monitoring"
    shutil.copytree(sites["plain"] / "monitoring", folder)
    tests = RULE_TESTS.replace("ORIGIN_ANNOTATIONS", json.dumps({
        "summary": "the master http://127.0.0.1:1 does not answer the edge",
        "description": "kit's edge has found http://127.0.0.1:1 (master) down for a minute; it serves from the "
                       "other origins (or stale pages and the static copy). See kit status."}))
    tests = tests.replace("DISK_ANNOTATIONS", json.dumps({
        "summary": "the disk of edge-cache is 93% full",
        "description": "The file system holding edge-cache is over 80 % full; see kit status and the how-to on "
                       "keeping the disk in check."}))
    (folder / "tests.yml").write_text(tests)
    result = promtool("test", "rules", folder / "tests.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
