"""What ``kit init`` writes in ``SITE/monitoring/`` for a site with a cluster: Prometheus's
scrape configuration of the site's targets (``prometheus.yml``), its alert rules
(``alerts.yml``) and a Grafana dashboard (``grafana-dashboard.json``).

Everything is built from Python data: the YAML by :func:`to_yaml` (block style, every
string a JSON string, which YAML reads as the same string), the dashboard by
:func:`json.dumps`. The paths inside ``prometheus.yml`` are relative, and Prometheus
resolves them against the file's own folder: the folder works wherever it is copied.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kit.site.answers import Answers, netloc
from kit.site.folder import SITE_TLS

__all__ = ["MONITORING_DIR", "FILES", "EDGE_METRICS_PATH", "scrape_targets", "prometheus_config", "alert_rules",
           "dashboard", "dashboard_exprs", "to_yaml", "write_monitoring"]

#: The site's monitoring folder, relative to the site folder.
MONITORING_DIR = "monitoring"
#: What it holds.
FILES = ("prometheus.yml", "alerts.yml", "grafana-dashboard.json")
#: Where kit's edge answers in Prometheus's text format.
EDGE_METRICS_PATH = "/+edge/metrics"
#: How often the site's targets are scraped (Prometheus's own default is a minute).
SCRAPE_INTERVAL = "15s"


# -- YAML --------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def to_yaml(value: Any, indent: int = 0) -> str:
    """``value`` (dicts, lists, strings, numbers, booleans) as block-style YAML."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        out = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{key}:\n{to_yaml(item, indent + 2)}")
            else:
                out.append(f"{pad}{key}: {to_yaml(item).strip()}\n")
        return "".join(out)
    if isinstance(value, list):
        if not value:
            return pad + "[]\n"
        out = []
        for item in value:
            text = to_yaml(item, indent + 2)
            out.append(f"{pad}- {text[indent + 2:]}")
        return "".join(out)
    return pad + _scalar(value) + "\n"


# -- prometheus.yml ----------------------------------------------------------------


def scrape_targets(answers: Answers) -> list[str]:
    """Where Prometheus reads kit's edge: each edge host's address on a site spread over hosts
    (never the balancers' floating address: it reaches one edge, whichever), the shield on
    127.0.0.1 behind Varnish (kit's edge there), else the edge as this machine reaches it."""
    if answers.is_multi_host:
        return [netloc(host.address, answers.edge_port) for host in answers.hosts_with("edge")]
    if answers.edge == "varnish":
        return [netloc("127.0.0.1", answers.shield_port)]
    return [netloc(answers.edge_host, answers.edge_port)]


def _edge_speaks_tls(answers: Answers) -> bool:
    """The shield behind Varnish speaks plain http (hitch holds TLS); any other edge of an https site TLS."""
    return answers.tls and (answers.is_multi_host or answers.edge != "varnish")


def prometheus_config(answers: Answers) -> dict:
    """Prometheus's configuration of the site's targets, as data."""
    edge_job: dict[str, Any] = {"job_name": "kit-edge", "metrics_path": EDGE_METRICS_PATH}
    if _edge_speaks_tls(answers):
        tls: dict[str, Any] = {"server_name": answers.host}
        if answers.site_ca:
            # Relative: Prometheus takes it from the folder of prometheus.yml, SITE/monitoring.
            tls["ca_file"] = f"../{SITE_TLS['ca']}"
        edge_job.update(scheme="https", tls_config=tls)
    edge_job["static_configs"] = [{"targets": scrape_targets(answers), "labels": {"site": answers.host}}]
    jobs = [edge_job]
    if answers.edge == "varnish" and not answers.is_multi_host:
        jobs.append({"job_name": "varnish",
                     "static_configs": [{"targets": [netloc("127.0.0.1", answers.varnish_exporter_port)],
                                         "labels": {"site": answers.host}}]})
    return {"global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
            "rule_files": ["alerts.yml"], "scrape_configs": jobs}


def _one_line(path: Path) -> str:
    """A path as a comment line shows it (a newline in a folder's name would end the comment)."""
    return str(path).replace("\n", " ").replace("\r", " ")


def _prometheus_yml(answers: Answers, site_dir: Path) -> str:
    where = "" if answers.is_multi_host else " on the site's machine (its targets are on this machine)"
    return (f"# Prometheus for the kit site in {_one_line(site_dir)}: written by kit init.\n"
            f"# Run it from the site folder{where}:\n"
            "#   prometheus --config.file=monitoring/prometheus.yml\n"
            "# or merge its scrape_configs and rule_files into an existing Prometheus's\n"
            "# configuration (copy alerts.yml beside it; relative paths are read from the\n"
            "# folder of the configuration file). Check it with:\n"
            "#   promtool check config monitoring/prometheus.yml\n"
            + to_yaml(prometheus_config(answers)))


# -- alerts.yml --------------------------------------------------------------------


def _rule(name: str, expr: str, wait: str, severity: str, summary: str, description: str) -> dict:
    return {"alert": name, "expr": expr, "for": wait, "labels": {"severity": severity},
            "annotations": {"summary": summary, "description": description}}


def alert_rules(answers: Answers, static_copy_every: float = 60.0) -> dict:
    """The site's alert rules, as data; ``static_copy_every``: the edge's refresh period in seconds."""
    edge = [
        _rule("KitEdgeDown", 'up{job="kit-edge"} == 0', "1m", "critical", "kit's edge {{ $labels.instance }} is down",
              "Prometheus cannot read {{ $labels.instance }}/+edge/metrics: the edge is stopped or unreachable. "
              "Start it with kit up; see kit status and kit logs edge."),
        _rule("KitOriginDown", "kit_edge_origin_up == 0", "1m", "warning",
              "the {{ $labels.role }} {{ $labels.origin }} does not answer the edge",
              "kit's edge has found {{ $labels.origin }} ({{ $labels.role }}) down for a minute; it serves from "
              "the other origins (or stale pages and the static copy). See kit status."),
        _rule("KitMirrorLagging", "kit_devpi_replica_lag_serials > 0", "5m", "warning",
              "the mirror {{ $labels.origin }} is {{ $value }} changes behind the master",
              "devpi's replica has not caught up with the master for five minutes; clients reading from it see "
              "old pages. See kit status and the how-to on mirror lag."),
        _rule("KitIntegrityFailures", "increase(kit_edge_integrity_failures_total[10m]) > 0", "0m", "critical",
              "the edge refused files whose sha256 did not match",
              "kit's edge found {{ $value }} files in the last 10 minutes whose bytes do not match their digest "
              "({{ $labels.where }}): a corrupt cache, origin or disk. See kit logs edge."),
        _rule("KitDiskNearlyFull", "kit_disk_used_ratio > 0.8", "5m", "warning",
              "the disk of {{ $labels.part }} is {{ $value | humanizePercentage }} full",
              "The file system holding {{ $labels.part }} is over 80 % full; see kit status and the how-to on "
              "keeping the disk in check."),
    ]
    if "private" in answers.setups:
        stale_after = max(3 * static_copy_every, 300)
        edge.append(_rule(
            "KitStaticCopyStale", f"kit_edge_static_copy_age_seconds > {stale_after:g}", "5m", "warning",
            "the edge's static copy is {{ $value | humanizeDuration }} old",
            f"The copy of the team indexes the edge serves when master and mirror are down is refreshed every "
            f"{static_copy_every:g} s, but has not been for a while: no origin answers its reads."))
    if "public-mirror" in answers.setups:
        edge.append(_rule(
            "KitPublicMirrorStale", "time() - kit_public_mirror_last_sync_timestamp_seconds > 2 * 86400", "1h",
            "warning", "the public mirror has not synced for two days",
            "kit mirror sync has not finished for over two days; check its timer or crontab and mirror/run/sync.log."))
    if answers.tls:
        edge.append(_rule(
            "KitCertificateExpiring", "kit_tls_certificate_expiry_timestamp_seconds - time() < 14 * 86400", "1h",
            "warning", "the site's TLS certificate expires in under 14 days",
            "Renew it: see the how-to on rotating certificates."))
    groups = [{"name": "kit-edge", "rules": edge}]
    if answers.edge == "varnish" and not answers.is_multi_host:
        groups.append({"name": "varnish", "rules": [_rule(
            "KitVarnishDown", 'up{job="varnish"} == 0 or varnish_up == 0', "1m", "critical",
            "Varnish's metrics exporter or Varnish itself is down",
            "prometheus-varnish-exporter does not answer, or cannot read varnishstat. See kit status.")]})
    return {"groups": groups}


# -- grafana-dashboard.json ----------------------------------------------------------

_DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}


def _panel(number: int, title: str, kind: str, targets: list[tuple[str, str]], unit: str = "short") -> dict:
    width = 12 if kind == "timeseries" else 6
    return {
        "id": number, "type": kind, "title": title, "datasource": _DATASOURCE,
        "gridPos": {"h": 8, "w": width, "x": 0, "y": 0},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(ord("A") + n), "datasource": _DATASOURCE, "expr": expr, "legendFormat": legend}
                    for n, (expr, legend) in enumerate(targets)],
    }


def _panels(answers: Answers) -> list[dict]:
    quantile = "histogram_quantile({q}, sum by (le) (rate(kit_edge_request_duration_seconds_bucket[5m])))"
    specs = [
        ("Requests/s by cache state", "timeseries",
         [("sum by (state) (rate(kit_edge_requests_total[5m]))", "{{state}}")], "reqps"),
        ("Hit ratio", "stat",
         [('sum(rate(kit_edge_requests_total{state=~"hit|revalidated"}[5m])) / '
           'sum(rate(kit_edge_requests_total{state=~"hit|revalidated|miss|stale|static_copy"}[5m]))', "hits")],
         "percentunit"),
        ("Latency p50 / p99", "timeseries", [(quantile.format(q="0.5"), "p50"), (quantile.format(q="0.99"), "p99")],
         "s"),
        ("Bytes/s sent by kind", "timeseries", [("sum by (kind) (rate(kit_edge_sent_bytes_total[5m]))", "{{kind}}")],
         "Bps"),
        ("Origins up", "stat", [("kit_edge_origin_up", "{{role}} {{origin}}")], "bool_yes_no"),
        ("Mirror lag (serials)", "timeseries", [("kit_devpi_replica_lag_serials", "{{origin}}")], "short"),
        ("Edge cache size vs bound", "timeseries",
         [("kit_edge_cache_bytes", "cached"), ("kit_edge_cache_max_bytes", "bound")], "bytes"),
        ("Disk used per part", "gauge", [("kit_disk_used_ratio", "{{part}}")], "percentunit"),
        ("Integrity failures (1 h)", "stat", [("sum(increase(kit_edge_integrity_failures_total[1h]))", "failures")],
         "short"),
        ("Static copy age", "stat", [("kit_edge_static_copy_age_seconds", "age")], "s"),
        ("TLS certificate days left", "stat",
         [("(kit_tls_certificate_expiry_timestamp_seconds - time()) / 86400", "days")], "d"),
    ]
    if answers.edge == "varnish" and not answers.is_multi_host:
        specs.append(("Varnish client requests/s", "timeseries",
                      [("rate(varnish_main_client_req[5m])", "requests")], "reqps"))
    panels = [_panel(n + 1, *spec) for n, spec in enumerate(specs)]
    x = y = 0
    for panel in panels:  # laid out left to right, rows of 24 columns
        width = panel["gridPos"]["w"]
        if x + width > 24:
            x, y = 0, y + 8
        panel["gridPos"].update(x=x, y=y)
        x += width
    return panels


def dashboard(answers: Answers) -> dict:
    """A Grafana dashboard of the site's metrics; its datasource is an input, chosen as it is imported."""
    return {
        "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "description": "The Prometheus that "
                      "scrapes the site (monitoring/prometheus.yml)", "type": "datasource",
                      "pluginId": "prometheus", "pluginName": "Prometheus"}],
        "__requires": [{"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
                       {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "9.0.0"}],
        "title": f"kit site {answers.host}", "uid": None, "tags": ["kit"], "timezone": "browser",
        "schemaVersion": 39, "version": 1, "refresh": "30s", "editable": True,
        "time": {"from": "now-6h", "to": "now"}, "templating": {"list": []}, "annotations": {"list": []},
        "panels": _panels(answers),
    }


def dashboard_exprs(board: dict) -> list[str]:
    """Every query of a dashboard's panels."""
    return [target["expr"] for panel in board["panels"] for target in panel["targets"]]


# -- the folder --------------------------------------------------------------------


def write_monitoring(answers: Answers, dest: Path, site_dir: Path, static_copy_every: float) -> None:
    """Write ``dest/monitoring/`` for the site ``answers`` that will live in ``site_dir``."""
    folder = Path(dest) / MONITORING_DIR
    folder.mkdir(exist_ok=True)
    header = f"# Prometheus's alert rules for the kit site in {_one_line(Path(site_dir).absolute())}: written by kit init.\n" \
             "# Check them with: promtool check rules monitoring/alerts.yml\n"
    texts = {
        "prometheus.yml": _prometheus_yml(answers, Path(site_dir).absolute()),
        "alerts.yml": header + to_yaml(alert_rules(answers, static_copy_every)),
        "grafana-dashboard.json": json.dumps(dashboard(answers), indent=1) + "\n",
    }
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
