"""What a site's cluster runs (kit.site.plan), read from its answers without
starting anything: the services kit up starts, in order, with their ports and
command lines, and the settings of kit's edge (edge.json)."""

from __future__ import annotations

import sys
from pathlib import Path

from kit.site.answers import answers_from_raw
from kit.site.plan import edge_config, services_of


def test_a_python_edge_site_runs_master_mirror_and_kit_s_edge_in_that_order():
    answers = answers_from_raw({"setups": "private,cluster"})
    services = services_of(answers, Path("/srv/site"))
    assert [(s.name, s.port, s.url) for s in services] == [
        ("master", answers.master_port, f"http://127.0.0.1:{answers.master_port}"),
        ("mirror", answers.mirror_port, f"http://127.0.0.1:{answers.mirror_port}"),
        ("edge", answers.edge_port, answers.base_url),
    ]
    master, mirror, edge = services
    # Through kit's launcher, which loads devpi-web only when the site's answer web asks (kit.plugin.launch).
    launcher = (sys.executable, "-m", "kit.plugin.launch", "devpi-server")
    assert master.argv == (*launcher, "-c", "master.yml") and mirror.argv == (*launcher, "-c", "mirror.yml")
    assert edge.argv == (sys.executable, "-m", "kit.edge", "edge.json")
    assert edge.health_url == f"http://127.0.0.1:{answers.edge_port}/+edge/health"


def test_a_folder_upstream_is_served_first_by_the_local_upstream(tmp_path):
    answers = answers_from_raw({"setups": "private,cluster", "upstream": str(tmp_path)})
    first = services_of(answers, tmp_path / "site")[0]
    assert first.name == "upstream" and first.url == f"http://127.0.0.1:{answers.upstream_port}/simple/"
    assert first.argv == (sys.executable, "-m", "kit.upstream", str(tmp_path), "--host", "127.0.0.1",
                          "--port", str(answers.upstream_port))


def test_a_varnish_edge_site_runs_kit_s_edge_as_the_shield_behind_varnishd():
    answers = answers_from_raw({"setups": "private,cluster", "edge": "varnish"})
    services = services_of(answers, Path("/srv/site"))
    assert [(s.name, s.port) for s in services if s.name != "varnish-exporter"] == [
        ("master", answers.master_port), ("mirror", answers.mirror_port),
        ("shield", answers.shield_port), ("edge", answers.edge_port),
    ]
    shield, edge = services[2:4]
    assert shield.url == f"http://127.0.0.1:{answers.shield_port}" and shield.bind == "127.0.0.1"
    assert shield.argv == (sys.executable, "-m", "kit.edge", "edge.json")
    assert edge.url == answers.base_url and Path(edge.argv[0]).name == "varnishd"
    # every path absolute, in the foreground, as the user who runs kit
    assert list(edge.argv[1:]) == [
        "-F", "-j", "none", "-n", "/srv/site/cluster/run/varnish", "-a", f"127.0.0.1:{answers.edge_port}",
        "-T", "127.0.0.1:0", "-f", "/srv/site/cluster/edge.vcl", "-s", "malloc,256m",
        "-p", "http_req_hdr_len=32k", "-p", "http_req_size=64k",
    ]


def test_on_a_lan_host_only_what_clients_use_listens_on_every_interface():
    """A site for a room (host = a LAN name): kit's edge, or Varnish in front of the
    shield, listens on every interface; the shield stays on 127.0.0.1."""
    python = answers_from_raw({"setups": "private,cluster", "host": "pkgs.lan.test", "scheme": "http"})
    edge = services_of(python, Path("/srv/site"))[-1]
    assert (edge.bind, edge.url) == ("0.0.0.0", f"http://pkgs.lan.test:{python.edge_port}")
    assert edge.health_url == f"http://127.0.0.1:{python.edge_port}/+edge/health"  # kit checks it locally
    assert (edge_config(python).host, edge_config(python).port) == ("0.0.0.0", python.edge_port)
    varnish = answers_from_raw({"setups": "private,cluster", "host": "pkgs.lan.test", "edge": "varnish", "scheme": "http"})
    shield, edge = services_of(varnish, Path("/srv/site"))[2:4]
    assert shield.bind == "127.0.0.1" and edge.argv[edge.argv.index("-a") + 1] == f"0.0.0.0:{varnish.edge_port}"
    assert (edge_config(varnish).host, edge_config(varnish).port) == ("127.0.0.1", varnish.shield_port)


def test_edge_json_names_the_origins_the_team_copies_and_the_public_mirror():
    python = edge_config(answers_from_raw({"setups": "private,cluster", "teams": "web,data"}))
    assert python.static_copy_indexes == ["web/private", "data/private"] and python.public_mirror_dir == ""
    varnish = answers_from_raw({"setups": "private,cluster,public-mirror", "edge": "varnish"})
    shield = edge_config(varnish)
    assert shield.public_url == varnish.base_url and shield.master == f"http://127.0.0.1:{varnish.master_port}"
    assert shield.mirrors == [f"http://127.0.0.1:{varnish.mirror_port}"]
    assert shield.public_mirror_dir == "../mirror/data/web"  # relative to SITE/cluster, where the edge runs


def test_edge_json_authorises_reads_as_the_site_answers_who_may_read():
    team = edge_config(answers_from_raw({"setups": "private,cluster", "teams": "web,data"}))
    assert (team.read_access, team.read_credentials_file, team.auth_ttl) == ("team", "edge-read-credentials", 5.0)
    anonymous = edge_config(answers_from_raw({"setups": "private,cluster", "read_access": "anonymous"}))
    assert (anonymous.read_access, anonymous.private_reads, anonymous.read_credentials_file) == ("anonymous", False, "")


def test_the_edge_reports_the_disks_of_the_parts_its_host_runs():
    single = edge_config(answers_from_raw({"setups": "private,cluster,public-mirror", "teams": "web"}))
    assert single.disk_paths == {"edge_cache": "run/edge-cache", "logs": "run/logs", "master": "run/master",
                                 "mirror": "run/mirror", "public_mirror": "../mirror/data/web"}
    hosts = {"master": {"address": "198.18.0.6", "roles": ["master"]},
             "edge1": {"address": "198.18.0.4", "roles": ["edge", "mirror"]}}
    raw = {"setups": "private,cluster", "teams": "web", "host": "index.example", "hosts": hosts}
    edge_host = edge_config(answers_from_raw(raw).for_host("edge1"))
    assert edge_host.disk_paths == {"edge_cache": "run/edge-cache", "logs": "run/logs", "mirror": "run/mirror"}


def test_a_varnish_site_runs_varnish_s_exporter_last_where_it_is_installed(monkeypatch):
    """prometheus-varnish-exporter on 127.0.0.1 at varnish_exporter_port, reading the working
    folder varnishd was given; left out (and kit up says so) where Debian's package is not installed."""
    installed = {"prometheus-varnish-exporter": "/usr/bin/prometheus-varnish-exporter",
                 "varnishstat": "/usr/bin/varnishstat", "varnishd": "/usr/sbin/varnishd"}
    monkeypatch.setattr("kit.site.plan.system_program", installed.get)
    answers = answers_from_raw({"setups": "private,cluster", "edge": "varnish", "varnish_exporter_port": 9200})
    exporter = services_of(answers, Path("/srv/site"))[-1]
    assert (exporter.name, exporter.port, exporter.bind) == ("varnish-exporter", 9200, "127.0.0.1")
    assert exporter.health_url == "http://127.0.0.1:9200/health"
    assert exporter.argv == ("/usr/bin/prometheus-varnish-exporter", "-n", "/srv/site/cluster/run/varnish",
                             "-varnishstat-path", "/usr/bin/varnishstat",
                             "-web.listen-address", "127.0.0.1:9200", "-web.health-path", "/health")
    monkeypatch.setattr("kit.site.plan.system_program", {"varnishd": "/usr/sbin/varnishd"}.get)
    assert [s.name for s in services_of(answers, Path("/srv/site"))] == ["master", "mirror", "shield", "edge"]
    python = answers_from_raw({"setups": "private,cluster"})
    monkeypatch.setattr("kit.site.plan.system_program", installed.get)
    assert "varnish-exporter" not in [s.name for s in services_of(python, Path("/srv/site"))]


def test_the_certificate_whose_expiry_the_edge_reports_is_the_one_clients_see():
    """On an https site kit's edge serves the certificate and reports its expiry; behind Varnish,
    hitch serves it and the shield (plain http) watches the same file, so the alert on an expiring
    certificate works with either edge."""
    python = edge_config(answers_from_raw({"setups": "private,cluster", "host": "pkgs.lan.test"}))
    assert python.tls_cert == "../tls/server.pem" and python.watched_certificate == ""
    shield = edge_config(answers_from_raw({"setups": "private,cluster", "host": "pkgs.lan.test", "edge": "varnish"}))
    assert shield.tls_cert == "" and shield.watched_certificate == "../tls/server.pem"
    plain = edge_config(answers_from_raw({"setups": "private,cluster", "edge": "varnish"}))
    assert plain.watched_certificate == ""
