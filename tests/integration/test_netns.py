"""The multi-host harness (tests/support/netns.py): hosts that really are
separate, on a switch never linked to this machine's own network.

Every probe runs inside a host and is bounded in time; nothing here ever
addresses a host from the root namespace.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.support.netns import Network, unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=unavailable() or "")

#: A file server inside a host: any port is free there.
PORT = 8000


def root_links() -> set[str]:
    """The root namespace's interface names (``ip -o link``: "N: NAME: <...> ...", NAME may end in @PEER)."""
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(": ")[1].split("@")[0] for line in out.splitlines()}


def live_namespaces() -> set[int]:
    """The inodes of the network namespaces any process of this machine is in."""
    out = subprocess.run(["lsns", "-n", "-t", "net", "-o", "NS"], capture_output=True, text=True, check=True).stdout
    return {int(inode) for inode in out.split()}


def serve(host, tmp_path, bind: str):
    """python's http.server inside ``host`` on ``bind``:PORT, serving a file "hello"; waits until it answers there."""
    (tmp_path / "hello").write_text("hello\n")
    server = host.popen([sys.executable, "-m", "http.server", "--bind", bind, str(PORT)], cwd=tmp_path,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert host.wait_for(f"http://{bind}:{PORT}/hello", timeout=10) == "200"
    return server


def test_two_hosts_reach_each_other_by_their_addresses(tmp_path):
    with Network(["a", "b"]) as net:
        a, b = net["a"], net["b"]
        assert (a.address, b.address) == ("198.18.0.1", "198.18.0.2")
        serve(a, tmp_path, a.address)
        assert b.probe(f"http://{a.address}:{PORT}/hello") == "200"
        assert b.probe(f"http://{a.address}:{PORT}/missing") == "404"
        # b's own address is b's: nothing of a's listens there.
        assert "Connection refused" in b.probe(f"http://{b.address}:{PORT}/hello")


def test_the_root_namespace_has_no_way_to_the_hosts():
    """The harness adds no interface and no route here: a packet for 198.18 would go
    wherever it went before (``ip route get`` sends nothing)."""
    def route_to_hosts() -> str:
        done = subprocess.run(["ip", "route", "get", "198.18.0.1"], capture_output=True, text=True)
        return (done.stdout + done.stderr).strip()

    links, route = root_links(), route_to_hosts()
    with Network(["a", "b"]):
        assert root_links() == links
        assert route_to_hosts() == route
        routes = subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True, text=True).stdout
        assert "198.18." not in routes
        addresses = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
        assert "198.18." not in addresses


def test_a_link_down_cuts_the_host_off_both_ways_until_it_is_up(tmp_path):
    with Network(["a", "b"]) as net:
        a, b = net["a"], net["b"]
        serve(a, tmp_path, a.address)
        serve(b, tmp_path, b.address)
        url_a, url_b = f"http://{a.address}:{PORT}/hello", f"http://{b.address}:{PORT}/hello"
        assert b.probe(url_a) == "200" and a.probe(url_b) == "200"

        a.link_down()
        assert b.probe(url_a, timeout=1) != "200"
        assert a.probe(url_b, timeout=1) != "200"
        assert a.probe(url_a, timeout=1) == "200"  # a itself runs on: only its cable is gone

        a.link_up()
        assert b.wait_for(url_a, timeout=10) == "200"
        assert a.wait_for(url_b, timeout=10) == "200"


def test_a_hosts_loopback_services_are_its_own(tmp_path):
    with Network(["a", "b"]) as net:
        a, b = net["a"], net["b"]
        serve(a, tmp_path, "127.0.0.1")
        assert "Connection refused" in b.probe(f"http://127.0.0.1:{PORT}/hello")
        assert "Connection refused" in b.probe(f"http://{a.address}:{PORT}/hello")


def test_an_extra_address_is_reached_like_the_first(tmp_path):
    with Network(["a", "b"]) as net:
        a, b = net["a"], net["b"]
        serve(a, tmp_path, "0.0.0.0")
        a.add_address("198.18.0.100/24")
        assert b.wait_for(f"http://198.18.0.100:{PORT}/hello", timeout=5) == "200"
        a.remove_address("198.18.0.100/24")
        assert b.probe(f"http://198.18.0.100:{PORT}/hello", timeout=1) != "200"


def test_nothing_is_left_after_close_even_when_the_body_raised(tmp_path):
    links = root_links()
    with pytest.raises(RuntimeError, match="the test failed"):
        with Network(["a", "b", "c"]) as net:
            server = serve(net["a"], tmp_path, net["a"].address)
            # A daemon the harness never saw start: detached, in its own session, ignoring SIGTERM.
            net["b"].run(["sh", "-c", "setsid sh -c 'trap \"\" TERM; exec sleep 300' >/dev/null 2>&1 &"], timeout=10)
            assert len(net.pids()) >= 2
            namespaces = set(net.namespaces().values())
            assert len(namespaces) == 4 and namespaces <= live_namespaces()
            raise RuntimeError("the test failed")
    assert server.poll() is not None
    assert net.pids() == []
    assert not namespaces & live_namespaces()  # no process holds any of them: they are gone, links and all
    assert root_links() == links


# -- the balancers' engines, checked by their own test modes, inside a host --------------

HAPROXY = """\
global
    log stdout format raw local0
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend site
    bind 198.18.0.100:80
    default_backend edges
backend edges
    balance roundrobin
    option httpchk GET /+kit/health
    retries 2
    option redispatch
    server edge1 198.18.0.3:3143 check inter 500ms fall 2 rise 2
    server edge2 198.18.0.4:3143 check inter 500ms fall 2 rise 2
    server mirror-edge 198.18.0.6:3143 check backup
"""

KEEPALIVED = """\
global_defs {
    enable_script_security
}
vrrp_instance site {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {
        198.18.0.100/24
    }
}
"""


def _engine(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not found:
        pytest.skip(f"{name} is not installed (Debian package {name}; .ci/run installs it)")
    return found


def test_haproxy_checks_a_balancer_configuration_inside_a_host(tmp_path):
    haproxy = _engine("haproxy")
    good, bad = tmp_path / "good.cfg", tmp_path / "bad.cfg"
    good.write_text(HAPROXY)
    bad.write_text(HAPROXY.replace("balance roundrobin", "balance sideways"))
    with Network(["balancer"]) as net:
        checked = net["balancer"].run([haproxy, "-c", "-f", good], timeout=20)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        refused = net["balancer"].run([haproxy, "-c", "-f", bad], timeout=20)
        assert refused.returncode != 0 and "balance only supports" in refused.stderr, refused.stderr


def test_keepalived_checks_a_floating_address_configuration_inside_a_host(tmp_path):
    keepalived = _engine("keepalived")
    good, bad = tmp_path / "good.conf", tmp_path / "bad.conf"
    good.write_text(KEEPALIVED)
    bad.write_text(KEEPALIVED.replace("virtual_router_id 51", "virtual_router_id 999"))
    with Network(["balancer"]) as net:
        checked = net["balancer"].run([keepalived, "-t", "-f", good], timeout=20)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        refused = net["balancer"].run([keepalived, "-t", "-f", bad], timeout=20)
        assert refused.returncode != 0 and "VRID '999' not valid" in refused.stdout + refused.stderr
