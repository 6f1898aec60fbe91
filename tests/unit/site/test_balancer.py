"""kit.site.balancer: the text of haproxy's and keepalived's configurations for the
balancers of a site spread over hosts, and their command lines. (haproxy -c and
keepalived -t read every one of them in tests/integration/cluster/test_balancer.py.)"""

from __future__ import annotations

import pytest

from kit.site.answers import answers_from_raw
from kit.site.plan import balancer_services
from kit.site.balancer import (
    ADVERT_INTERVAL, BALANCER_HEADER, CONNECT_TIMEOUT, HAPROXY_CFG, HEALTH_PATH, READ_TIMEOUT,
    ends_tls, haproxy_argv, haproxy_cfg, keepalived_argv, keepalived_conf, needs_keepalived, priority,
    virtual_router_id, write_balancer_files,
)
from kit.site.tls import make_ca, make_server

PASSWORD = "correct-horse-battery"


def site(*, scheme: str = "http", floating: str = "198.18.0.10", base: str = "198.18.0.", balancers: int = 2,
         mirror_edge: bool = False, **more):
    hosts = {f"lb{i}": {"address": f"{base}{i + 1}", "roles": ["balancer"]} for i in range(1, balancers + 1)}
    hosts |= {"edge1": {"address": f"{base}4", "roles": ["edge"]},
              "edge2": {"address": f"{base}5", "roles": ["edge", "mirror"] if mirror_edge else ["edge"]},
              "main": {"address": f"{base}6", "roles": ["master"] if mirror_edge else ["master", "mirror"]}}
    raw = {"setups": ["mirror", "private", "clients", "cluster"], "mirror_projects": ["requests"],
           "host": floating, "floating_address": floating, "admin_password": PASSWORD, "scheme": scheme,
           "hosts": hosts, **more}
    return answers_from_raw(raw)


def host(answers, name):
    return next(h for h in answers.hosts if h.name == name)


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def section(text: str, header: str) -> list[str]:
    """The stripped lines of one haproxy section, up to the next blank line."""
    found = lines(text)
    start = found.index(header)
    end = found.index("", start) if "" in found[start:] else len(found)
    return found[start + 1:end]


def test_http_site_the_floating_address_in_front_of_both_edges_round_robin():
    answers = site()
    cfg = haproxy_cfg(answers, host(answers, "lb1"), "run")
    front = section(cfg, "frontend site")
    # Bound even where keepalived has not (yet) put the address: transparent (IP_FREEBIND without privilege).
    assert "bind 198.18.0.10:3143 transparent" in front
    assert f"http-response set-header {BALANCER_HEADER} lb1" in front
    back = section(cfg, "backend edges")
    assert "balance roundrobin" in back
    assert "option httpchk GET /+edge/health" in back
    assert "server edge1 198.18.0.4:3143 check" in back
    assert "server edge2 198.18.0.5:3143 check" in back
    # A failed read goes to another edge; an upload is never sent twice.
    assert "option redispatch 1" in back
    assert "retry-on conn-failure empty-response response-timeout 502 503 504" in back
    assert "http-request disable-l7-retry unless METH_GET || METH_HEAD" in back
    assert f"http-request set-timeout server {READ_TIMEOUT} if METH_GET || METH_HEAD" in back
    assert f"timeout connect {CONNECT_TIMEOUT}" in lines(cfg)
    assert "mode http" in lines(cfg)
    # The balancer's own health, on its own address; no TLS, no redirect listener on an http site.
    assert section(cfg, "frontend balancer-health") == ["# kit up and kit status ask the balancer itself, on its "
                                                        "own address.", "bind 198.18.0.2:3143",
                                                        f"monitor-uri {HEALTH_PATH}"]
    assert "ssl" not in cfg and "frontend plain-http" not in cfg
    assert not ends_tls(answers)


def test_https_site_haproxy_ends_tls_and_checks_the_edges_certificates():
    answers = site(scheme="https")
    assert ends_tls(answers)
    cfg = haproxy_cfg(answers, host(answers, "lb2"), "run")
    assert "bind 198.18.0.10:3143 transparent ssl crt run/haproxy.pem alpn http/1.1" in section(cfg, "frontend site")
    for edge, address in (("edge1", "198.18.0.4"), ("edge2", "198.18.0.5")):
        assert (f"server {edge} {address}:3143 check ssl verify required ca-file ../tls/ca.pem "
                "verifyhost 198.18.0.10") in section(cfg, "backend edges")
    # Plain http answers with the https URL (the edges' redirect port, on the floating address).
    assert section(cfg, "frontend plain-http")[1:] == ["bind 198.18.0.10:3146 transparent",
                                                       "http-request redirect prefix https://198.18.0.10:3143 code 308"]
    assert "bind 198.18.0.3:3143" in section(cfg, "frontend balancer-health")
    custom = haproxy_cfg(answers, host(answers, "lb2"), "/r", ca_file="/etc/ca.pem", crt="/etc/both.pem")
    assert "crt /etc/both.pem" in custom and "ca-file /etc/ca.pem" in custom


def test_the_operators_own_certificate_is_checked_against_the_systems_cas(tmp_path):
    ca = make_ca("theirs")
    pair = make_server(ca, "pkgs.example.org")
    (tmp_path / "cert.pem").write_text(pair.cert)
    (tmp_path / "key.pem").write_text(pair.key)
    answers = site(scheme="https", floating="198.18.0.10", host="pkgs.example.org",
                   tls_cert=str(tmp_path / "cert.pem"), tls_key=str(tmp_path / "key.pem"))
    cfg = haproxy_cfg(answers, host(answers, "lb1"), "run")
    assert "ssl verify required ca-file @system-ca verifyhost pkgs.example.org" in cfg
    assert "http-request redirect prefix https://pkgs.example.org:3143 code 308" in cfg


def test_the_mirrors_edges_are_backup_servers():
    answers = site(mirror_edge=True)
    back = section(haproxy_cfg(answers, host(answers, "lb1"), "run"), "backend edges")
    assert "server edge1 198.18.0.4:3143 check" in back
    assert "server edge2 198.18.0.5:3143 check backup" in back


def test_keepalived_moves_the_address_between_the_two_balancers_by_unicast():
    answers = site()
    first = lines(keepalived_conf(answers, host(answers, "lb1"), "eth0", "/srv/site/cluster/run"))
    second = lines(keepalived_conf(answers, host(answers, "lb2"), "ens3", "/srv/site/cluster/run"))
    vrid = f"virtual_router_id {virtual_router_id(answers)}"
    for conf, own, peer, interface, prio in ((first, "198.18.0.2", "198.18.0.3", "eth0", 250),
                                             (second, "198.18.0.3", "198.18.0.2", "ens3", 249)):
        # Both BACKUP and nopreempt: a balancer that comes back does not take the address back.
        assert {"state BACKUP", "nopreempt", "vrrp_version 3", vrid, f"advert_int {ADVERT_INTERVAL}"} <= set(conf)
        assert f"interface {interface}" in conf and f"priority {prio}" in conf
        assert conf[conf.index("unicast_peer {") + 1] == peer
        assert f"unicast_src_ip {own}" in conf and "check_unicast_src" in conf
        assert f"198.18.0.10/32 dev {interface}" in conf
        # The address leaves a balancer whose haproxy no longer takes connections on its own address.
        assert f"script \"/bin/bash -c 'exec 3<>/dev/tcp/{own}/3143'\"" in conf
        assert conf[conf.index("track_script {") + 1] == "kit_haproxy"
        assert "garp_master_delay 1" in conf
    assert priority(answers, host(answers, "lb1")) > priority(answers, host(answers, "lb2"))


def test_a_lone_balancer_still_holds_the_address_with_keepalived_and_no_peer():
    answers = site(balancers=1)
    assert needs_keepalived(answers)
    conf = keepalived_conf(answers, host(answers, "lb1"), "eth0", "/srv/run")
    assert "unicast_peer" not in conf and "unicast_src_ip" not in conf
    assert "198.18.0.10/32 dev eth0" in conf


def test_ipv6_addresses():
    answers = site(floating="fd00::10", base="fd00::")
    cfg = haproxy_cfg(answers, host(answers, "lb1"), "run")
    # haproxy reads the last colon as the port's: the family prefix keeps an IPv6 address whole.
    assert "bind ipv6@fd00::10:3143 transparent" in cfg
    assert "server edge1 ipv6@fd00::4:3143 check" in cfg
    assert "bind ipv6@fd00::2:3143" in cfg
    conf = keepalived_conf(answers, host(answers, "lb1"), "eth0", "/srv/run")
    assert "fd00::10/128 dev eth0" in conf and "unicast_src_ip fd00::2" in conf
    assert "/dev/tcp/fd00::2/3143" in conf


def test_a_loopback_site_needs_no_keepalived():
    answers = site(floating="127.0.0.10", base="127.0.0.")
    assert not needs_keepalived(answers)
    assert [s.name for s in balancer_services(answers, host(answers, "lb1"), "/srv/site/hosts/lb1")] == ["haproxy"]
    assert "bind 127.0.0.10:3143 transparent" in haproxy_cfg(answers, host(answers, "lb1"), "run")


def test_the_output_is_deterministic_and_the_router_id_comes_from_the_floating_address():
    one, again = site(), site()
    assert haproxy_cfg(one, host(one, "lb1"), "run") == haproxy_cfg(again, host(again, "lb1"), "run")
    assert keepalived_conf(one, host(one, "lb2"), "eth0", "/r") == keepalived_conf(again, host(again, "lb2"), "eth0",
                                                                                   "/r")
    assert 1 <= virtual_router_id(one) <= 255
    other = site(floating="198.18.0.11")
    assert virtual_router_id(other) != virtual_router_id(one)
    assert virtual_router_id(site(floating="198.18.0.11", scheme="https")) == virtual_router_id(other)


def test_a_host_that_is_no_balancer_has_no_balancer_configuration():
    answers = site()
    with pytest.raises(ValueError, match="'edge1' is not a balancer"):
        haproxy_cfg(answers, host(answers, "edge1"), "run")
    with pytest.raises(ValueError, match="'edge1' is not a balancer"):
        keepalived_conf(answers, host(answers, "edge1"), "eth0", "/r")


def test_command_lines_run_in_the_foreground_with_their_own_pid_files():
    haproxy = haproxy_argv("/srv/site/cluster/haproxy.cfg", "/srv/site/cluster/run")
    assert haproxy[0].endswith("haproxy")
    assert haproxy[1:] == ["-db", "-C", "/srv/site/cluster", "-f", "/srv/site/cluster/haproxy.cfg"]
    keepalived = keepalived_argv("/srv/site/cluster/run/keepalived.conf", "/srv/site/cluster/run")
    assert keepalived[0].endswith("keepalived")
    assert {"--dont-fork", "--log-console", "--vrrp"} <= set(keepalived)
    # Two keepalived on one machine (in two namespaces) must not share /run/keepalived.pid.
    for flag, name in (("-p", "keepalived.pid"), ("-r", "keepalived-vrrp.pid"), ("-c", "keepalived-checkers.pid")):
        assert keepalived[keepalived.index(flag) + 1] == f"/srv/site/cluster/run/{name}"


def test_balancer_services_and_files(tmp_path):
    answers = site()
    lb1 = host(answers, "lb1")
    haproxy, keepalived = balancer_services(answers, lb1, tmp_path)
    assert (haproxy.name, haproxy.bind, haproxy.port, haproxy.health_path) == ("haproxy", "198.18.0.2", 3143,
                                                                                HEALTH_PATH)
    assert haproxy.health_url == f"http://198.18.0.2:3143{HEALTH_PATH}"
    cluster = tmp_path / "cluster"
    assert list(haproxy.argv) == haproxy_argv(str(cluster / HAPROXY_CFG), str(cluster / "run"))
    assert keepalived.name == "keepalived" and "--vrrp" in keepalived.argv
    (tmp_path / "cluster").mkdir()
    write_balancer_files(answers, lb1, tmp_path / "cluster", tmp_path / "site-cluster")
    assert (tmp_path / "cluster" / HAPROXY_CFG).read_text() == haproxy_cfg(answers, lb1, "run")
