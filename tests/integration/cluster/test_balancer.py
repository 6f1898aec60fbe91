"""The balancers, for real: every configuration kit writes passes haproxy's and
keepalived's own checks; two haproxies on one machine share the floating address;
and in hosts that really are separate (network namespaces), a client reading
through the floating address sees no failure while an edge's link, then the
address holder's link, go down and up.

The edges here are stand-ins (a small threading HTTP server answering
``/+edge/health`` and a file): the lead's end-to-end test runs kit's real edges.
Numbers are printed (run with ``-s``), never asserted as speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kit.cluster.balancer import check_haproxy, check_keepalived, interface_of, prepare_balancer
from kit.cluster.lifecycle import free_ports
from kit.core.errors import ClusterError
from kit.site.answers import answers_from_raw
from kit.site.balancer import (
    BALANCER_HEADER, HAPROXY_CFG, HAPROXY_PEM, HEALTH_PATH, KEEPALIVED_CONF, haproxy_argv, haproxy_cfg,
    keepalived_argv, needs_keepalived, program,
)
from kit.site.tls import make_ca, make_server
from tests.support.netns import Network, unavailable

PASSWORD = "correct-horse-battery"
#: Inside a namespace every port is free.
EDGE_PORT = 8143
FLOATING = "198.18.0.100"


def site(floating: str, addresses: dict[str, str], *, scheme: str = "http", edge_port: int = EDGE_PORT,
         mirror_edge: bool = False, one_balancer: bool = False, http_port: int = 8146):
    """A site with balancers lb1, lb2, edges edge1, edge2 and the master and mirror on host "client"
    (nothing of theirs runs here: the hosts table needs them)."""
    roles = {"lb1": ["balancer"], "lb2": ["balancer"], "edge1": ["edge"], "edge2": ["edge"],
             "client": ["master", "mirror"]}
    if one_balancer:
        del roles["lb2"]
    if mirror_edge:
        roles["edge2"] = ["edge", "mirror"]
        roles["client"] = ["master"]
    raw = {"setups": ["mirror", "private", "clients", "cluster"], "mirror_projects": ["requests"],
           "host": floating, "floating_address": floating, "admin_password": PASSWORD, "scheme": scheme,
           "edge_port": edge_port, **({"http_port": http_port} if scheme == "https" else {}),
           "hosts": {name: {"address": addresses[name], "roles": roles[name]} for name in roles}}
    return answers_from_raw(raw)


def _engine(name: str) -> str:
    found = program(name)
    if not Path(found).is_absolute():
        pytest.skip(f"{name} is not installed (Debian package {name}; .ci/run installs it)")
    return found


def bundle(tmp_path: Path, answers, name: str) -> Path:
    """Balancer ``name``'s cluster folder with its haproxy.cfg (and the site's TLS files on https)."""
    host = next(h for h in answers.hosts if h.name == name)
    cluster = tmp_path / name / "cluster"
    (cluster / "run").mkdir(parents=True)
    (cluster / HAPROXY_CFG).write_text(haproxy_cfg(answers, host, "run"))
    if answers.tls:
        ca = make_ca("balancers")
        server = make_server(ca, answers.host)
        (tmp_path / name / "tls").mkdir()
        (tmp_path / name / "tls" / "ca.pem").write_text(ca.cert)
        (tmp_path / name / "tls" / "server.pem").write_text(server.cert)
        (tmp_path / name / "tls" / "server-key.pem").write_text(server.key)
    return cluster


def addresses(base: str) -> dict[str, str]:
    return {name: f"{base}{index}" for index, name in enumerate(("lb1", "lb2", "edge1", "edge2", "client"), 1)}


CASES = {
    "http": dict(floating=FLOATING, base="198.18.0."),
    "https": dict(floating=FLOATING, base="198.18.0.", scheme="https"),
    "ipv6-https": dict(floating="fd00::100", base="fd00::", scheme="https"),
    "loopback": dict(floating="127.0.0.10", base="127.0.0."),
    "mirror-edge-backup": dict(floating=FLOATING, base="198.18.0.", mirror_edge=True),
    "one-balancer": dict(floating=FLOATING, base="198.18.0.", one_balancer=True),
}


def case_site(case: str):
    spec = dict(CASES[case])
    return site(spec.pop("floating"), addresses(spec.pop("base")), **spec)


@pytest.mark.parametrize("case", CASES)
def test_haproxy_accepts_every_configuration_kit_writes(tmp_path, case):
    _engine("haproxy")
    answers = case_site(case)
    for name in [host.name for host in answers.hosts_with("balancer")]:
        cluster = bundle(tmp_path, answers, name)
        host = next(h for h in answers.hosts if h.name == name)
        tls = tmp_path / name / "tls"
        written = prepare_balancer(answers, host, cluster, cert=tls / "server.pem", key=tls / "server-key.pem",
                                   interface="eth0")
        assert (cluster / "run" / HAPROXY_PEM in written) == answers.tls
        assert (cluster / "run" / KEEPALIVED_CONF in written) == needs_keepalived(answers)
        check_haproxy(cluster / HAPROXY_CFG)


def test_haproxy_check_names_the_problem(tmp_path):
    _engine("haproxy")
    answers = site(FLOATING, addresses("198.18.0."), scheme="https")
    cluster = bundle(tmp_path, answers, "lb1")  # no haproxy.pem written: the certificate is missing
    with pytest.raises(ClusterError, match=r"haproxy refuses .*haproxy.cfg: .*haproxy.pem.*run kit init again"):
        check_haproxy(cluster / HAPROXY_CFG)


needs_hosts = pytest.mark.skipif(unavailable() is not None, reason=unavailable() or "")


@needs_hosts
@pytest.mark.parametrize("case", ["http", "https", "ipv6-https", "one-balancer"])
def test_keepalived_accepts_the_configuration_on_the_balancers_machine(tmp_path, case):
    _engine("keepalived")
    answers = case_site(case)
    with Network(["lb1", "lb2"]) as net:
        for host in answers.hosts_with("balancer"):
            name = host.name
            cluster = bundle(tmp_path, answers, name)
            if host.address != net[name].address:
                net[name].add_address(f"{host.address}/64")
            interface = interface_of(host.address, net[name].run(["ip", "-j", "addr"]).stdout)
            assert interface == "eth0"
            tls = tmp_path / name / "tls"
            prepare_balancer(answers, host, cluster, cert=tls / "server.pem", key=tls / "server-key.pem",
                             interface=interface)
            check_keepalived(cluster / "run" / KEEPALIVED_CONF, prefix=net[name].prefix)
            check_haproxy(cluster / HAPROXY_CFG, prefix=net[name].prefix)


def test_interface_of_names_the_fix_when_no_interface_has_the_address():
    listing = json.dumps([{"ifname": "lo", "addr_info": [{"local": "127.0.0.1"}]},
                          {"ifname": "eth0", "addr_info": [{"local": "198.18.0.1"}, {"local": "fd00::1"}]}])
    assert interface_of("198.18.0.1", listing) == "eth0"
    assert interface_of("fd00:0::1", listing) == "eth0"
    with pytest.raises(ClusterError, match="no interface of this machine has the address 198.18.0.9; run"):
        interface_of("198.18.0.9", listing)


# -- running them ------------------------------------------------------------------------

#: A stand-in edge: HTTP/1.1 with keep-alive (as kit's edge), /+edge/health and a 64 KiB file.
STANDIN = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
BODY = b"x" * 65536
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"ok\n" if self.path == "/+edge/health" else BODY if self.path == "/file" else None
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Edge", sys.argv[3])
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
ThreadingHTTPServer.daemon_threads = True
server = ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Handler)
if len(sys.argv) > 4:  # TLS, as an https site's edges: certificate and key files
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[4], sys.argv[5])
    server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""

#: The client's loop: GET the file through the floating address every PAUSE s for DURATION s,
#: each on a new connection with a 3 s timeout, and once more at once when that fails (pip
#: retries too: a request whose balancer lost its link while answering waits for nothing, and
#: only the client's timeout ends it); one JSON line per request.
LOOP = r"""
import json, sys, time, urllib.request
url, duration, pause = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
end = time.monotonic() + duration
for _ in range(100000):
    if time.monotonic() >= end:
        break
    start = time.monotonic()
    errors = []
    for attempt in range(2):
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                body = response.read()
                ok = response.status == 200 and len(body) == 65536
                who = response.headers.get("X-Kit-Balancer", "?") + "/" + response.headers.get("X-Edge", "?")
        except Exception as e:
            ok, who = False, f"{type(e).__name__}: {e}"
        if ok:
            break
        errors.append(who)
    print(json.dumps({"t": start, "took": time.monotonic() - start, "ok": ok, "who": who, "errors": errors}),
          flush=True)
    time.sleep(pause)
"""


def holds(host, address: str) -> bool:
    listing = json.loads(host.run(["ip", "-j", "addr"]).stdout)
    return any(info.get("local") == address for link in listing for info in link.get("addr_info", ()))


def wait_until(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def start_balancer(net, answers, tmp_path: Path, name: str) -> dict:
    host = next(h for h in answers.hosts if h.name == name)
    cluster = bundle(tmp_path, answers, name)
    run_dir = cluster / "run"
    interface = interface_of(host.address, net[name].run(["ip", "-j", "addr"]).stdout)
    prepare_balancer(answers, host, cluster, interface=interface)
    logs = {}
    for what, argv in (("haproxy", haproxy_argv(str(cluster / HAPROXY_CFG), str(run_dir))),
                       ("keepalived", keepalived_argv(str(run_dir / KEEPALIVED_CONF), str(run_dir)))):
        log = (tmp_path / f"{name}-{what}.log").open("w")
        logs[what] = net[name].popen(argv, cwd=cluster, stdout=log, stderr=subprocess.STDOUT)
        if what == "haproxy":
            assert net["client"].wait_for(f"http://{host.address}:{EDGE_PORT}{HEALTH_PATH}", timeout=10) == "200"
    return logs


def summary(results: list[dict], start: float, end: float) -> dict:
    part = [r for r in results if start <= r["t"] < end]
    return {"requests": len(part), "failed": sum(not r["ok"] for r in part),
            "retried": sum(bool(r["errors"]) for r in part),
            "worst_s": round(max((r["took"] for r in part), default=0), 3)}


@needs_hosts
def test_reads_through_the_floating_address_never_fail_while_links_go_down(tmp_path):
    for name in ("haproxy", "keepalived"):
        _engine(name)
    answers = site(FLOATING, addresses("198.18.0."))
    with Network(["lb1", "lb2", "edge1", "edge2", "client"]) as net:
        assert {name: net[name].address for name in net.hosts} == addresses("198.18.0.")
        for name in ("edge1", "edge2"):
            net[name].popen([sys.executable, "-c", STANDIN, net[name].address, str(EDGE_PORT), name],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            assert net["client"].wait_for(f"http://{net[name].address}:{EDGE_PORT}/file", timeout=10) == "200"
        started = {name: start_balancer(net, answers, tmp_path, name) for name in ("lb1", "lb2")}
        # The first by name takes the address at a cold start; the other waits.
        assert wait_until(lambda: holds(net["lb1"], FLOATING), 10), (tmp_path / "lb1-keepalived.log").read_text()
        assert not holds(net["lb2"], FLOATING)
        url = f"http://{FLOATING}:{EDGE_PORT}/file"
        assert net["client"].wait_for(url, timeout=10) == "200"

        duration = 24.0
        loop = net["client"].popen([sys.executable, "-c", LOOP, url, str(duration), "0.02"],
                                   stdout=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        time.sleep(2)
        edge_down = time.monotonic()
        net["edge1"].link_down()
        time.sleep(4)
        net["edge1"].link_up()
        edge_up = time.monotonic()
        time.sleep(4)
        lb_down = time.monotonic()
        net["lb1"].link_down()
        lb_cut = time.monotonic()  # the link went down somewhere in [lb_down, lb_cut]
        took_over = wait_until(lambda: holds(net["lb2"], FLOATING), 5)
        lb2_holds_after = time.monotonic() - lb_down
        time.sleep(max(0.0, 5 - lb2_holds_after))
        net["lb1"].link_up()
        lb_up = time.monotonic()
        out, _ = loop.communicate(timeout=duration + 30)
        results = [json.loads(line) for line in out.splitlines()]
        lb1_after, lb2_after = holds(net["lb1"], FLOATING), holds(net["lb2"], FLOATING)
        alive = {f"{name}-{what}": proc.poll() is None for name, procs in started.items()
                 for what, proc in procs.items()}
        # The holder's haproxy ends: keepalived's check sees it, and the address goes back to lb1.
        started["lb2"]["haproxy"].terminate()
        haproxy_gone = time.monotonic()
        back = wait_until(lambda: holds(net["lb1"], FLOATING) and not holds(net["lb2"], FLOATING), 10)
        back_after = time.monotonic() - haproxy_gone
        served_again = net["client"].wait_for(url, timeout=10)

    moved = [r for r in results if r["t"] >= lb_down and r["ok"] and r["who"].startswith("lb2/")]
    numbers = {
        "before": summary(results, t0, edge_down),
        "edge1 link down and up": summary(results, edge_down, edge_up + 2),
        "lb1 (holder) link down and up": summary(results, lb_down, lb_up + 10),
        "address on lb2 after (s)": round(lb2_holds_after, 3),
        "first answer through lb2 after (s)": round(moved[0]["t"] + moved[0]["took"] - lb_down, 3) if moved else None,
        "address left a balancer whose haproxy ended after (s)": round(back_after, 3),
    }
    print(json.dumps(numbers, indent=1))
    failures = [r for r in results if not r["ok"]]
    assert failures == [], failures[:5]
    # Only a request in flight on lb1 when its link went down needed its retry: one that
    # started before the cut had surely happened and ended after it had begun (a request
    # may start in the few milliseconds `ip link set down` takes).
    retried = [r for r in results if r["errors"]]
    assert all(r["t"] < lb_cut and lb_down < r["t"] + r["took"] for r in retried), retried
    assert len(results) > 200
    assert took_over and moved, "no answer came through lb2 after lb1's link went down"
    # lb1 came back: one balancer holds the address, never both. (Which one is VRRP's choice
    # when the partition heals: both were masters meanwhile; with nopreempt it is usually lb2,
    # but CI once saw lb1 win, with no read failed either way.)
    assert lb1_after != lb2_after, (lb1_after, lb2_after)
    assert all(alive.values()), alive
    assert back and served_again == "200", (tmp_path / "lb2-keepalived.log").read_text()
    # While edge1 was away, edge2 answered alone; edge1 answered again once back.
    during = [r["who"] for r in results if edge_down + 1 <= r["t"] < edge_up]
    assert during and all(who.endswith("/edge2") for who in during)
    assert any(r["who"].endswith("/edge1") for r in results if r["t"] > edge_up + 2)


def test_two_haproxies_on_one_machine_both_bind_the_floating_address(tmp_path):
    """The tutorial's loopback site: no keepalived; haproxy sets SO_REUSEPORT, so the second
    balancer's haproxy binds the same floating address and port as the first."""
    _engine("haproxy")
    port, = free_ports(1)
    loopback = {name: f"127.0.0.{index}" for index, name in enumerate(("lb1", "lb2", "edge1", "edge2", "client"), 2)}
    answers = site("127.0.0.10", loopback, edge_port=port)
    assert not needs_keepalived(answers)
    servers, balancers = [], []
    try:
        for name in ("edge1", "edge2"):
            servers.append(subprocess.Popen([sys.executable, "-c", STANDIN, loopback[name], str(port), name],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for name in ("lb1", "lb2"):
            cluster = bundle(tmp_path, answers, name)
            host = next(h for h in answers.hosts if h.name == name)
            assert prepare_balancer(answers, host, cluster) == []
            log = (tmp_path / f"{name}.log").open("w")
            balancers.append(subprocess.Popen(haproxy_argv(str(cluster / HAPROXY_CFG), str(cluster / "run")),
                                              cwd=cluster, stdout=log, stderr=subprocess.STDOUT))
        seen = set()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not {"lb1", "lb2"} <= {who.split("/")[0] for who in seen}:
            seen.add(_get(f"http://127.0.0.10:{port}/file"))
            for name in ("lb1", "lb2"):
                _get(f"http://{loopback[name]}:{port}{HEALTH_PATH}")
        assert all(proc.poll() is None for proc in balancers), [p.read_text() for p in tmp_path.glob("lb*.log")]
        # Both listen: the kernel spreads the connections between them.
        assert {"lb1", "lb2"} <= {who.split("/")[0] for who in seen}, seen
    finally:
        for proc in servers + balancers:
            proc.terminate()
        for proc in servers + balancers:
            proc.wait(10)


def _get(url: str) -> str:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return f"{response.headers.get(BALANCER_HEADER, '?')}/{response.headers.get('X-Edge', '?')}"
    except OSError as e:
        time.sleep(0.05)
        return f"error: {e}"


def test_on_an_https_site_haproxy_ends_tls_and_sends_reads_only_to_edges_it_can_verify(tmp_path):
    """One machine, loopback: haproxy serves the site's certificate on the floating address and
    reads from the edges over TLS, checking their certificates against the site CA: an edge
    with a certificate of another CA gets nothing."""
    import ssl
    import urllib.request

    _engine("haproxy")
    port, http_port = free_ports(2)
    loopback = {name: f"127.0.0.{index}" for index, name in enumerate(("lb1", "lb2", "edge1", "edge2", "client"), 2)}
    answers = site("127.0.0.10", loopback, edge_port=port, http_port=http_port, scheme="https", one_balancer=True)
    cluster = bundle(tmp_path, answers, "lb1")
    tls = tmp_path / "lb1" / "tls"
    prepare_balancer(answers, answers.hosts_with("balancer")[0], cluster, cert=tls / "server.pem",
                     key=tls / "server-key.pem")
    stranger = make_server(make_ca("another"), answers.host)
    (tmp_path / "stranger.pem").write_text(stranger.cert)
    (tmp_path / "stranger-key.pem").write_text(stranger.key)
    certs = {"edge1": (tls / "server.pem", tls / "server-key.pem"),
             "edge2": (tmp_path / "stranger.pem", tmp_path / "stranger-key.pem")}
    context = ssl.create_default_context(cafile=str(tls / "ca.pem"))
    procs = []
    try:
        for name, (cert, key) in certs.items():
            procs.append(subprocess.Popen([sys.executable, "-c", STANDIN, loopback[name], str(port), name, cert, key],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        log = (tmp_path / "lb1.log").open("w")
        procs.append(subprocess.Popen(haproxy_argv(str(cluster / HAPROXY_CFG), str(cluster / "run")), cwd=cluster,
                                      stdout=log, stderr=subprocess.STDOUT))
        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(seen) < 20:
            try:
                with urllib.request.urlopen(f"https://127.0.0.10:{port}/file", timeout=3, context=context) as response:
                    assert len(response.read()) == 65536
                    seen.append(response.headers["X-Edge"])
            except OSError:
                time.sleep(0.1)  # haproxy still starting, or its first checks not done
        assert seen and set(seen) == {"edge1"}, (seen, (tmp_path / "lb1.log").read_text())
        assert "edge2 is DOWN" in (tmp_path / "lb1.log").read_text()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
