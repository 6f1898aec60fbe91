"""The balancers of a site spread over hosts: the text of haproxy's and keepalived's
configurations, and the command lines ``kit up --host`` runs them with.

Pure: text in, text out; nothing here starts a process or looks at the machine
(:mod:`kit.cluster.balancer` finds the interface, writes the files and checks them
with ``haproxy -c`` and ``keepalived -t``).

How the parts fit:

* **keepalived** (VRRP version 3, unicast to the other balancers, so it works where
  multicast does not) holds :attr:`~kit.site.answers.Answers.floating_address` on
  one balancer and moves it to another when that one's link, machine or haproxy is
  gone. Every balancer starts ``BACKUP`` with ``nopreempt``: a balancer that comes
  back never takes the address back (that would be a second move, and a second
  blip for the clients); while the link is down keepalived sees its carrier lost
  and drops the address (state FAULT), so two balancers never both keep it.
  Priorities follow the names' order (the first balancer takes the address at a
  cold start). :func:`virtual_router_id` is derived from the floating address.
* **haproxy** binds ``floating_address:edge_port`` on every balancer, also on those
  that do not hold the address yet: the ``transparent`` bind option. With
  CAP_NET_ADMIN it sets IP_TRANSPARENT; without, haproxy falls back to IP_FREEBIND,
  which needs no privilege at all and no sysctl (``net.ipv4.ip_nonlocal_bind``
  would be machine-wide). haproxy 2.6 has no ``freebind`` keyword of its own.
  Two haproxies on one machine (the tutorial's loopback "hosts") both bind the same
  floating address and port: haproxy sets SO_REUSEPORT on its listeners.
* haproxy runs in **HTTP mode**, so that a read that failed on one edge (refused,
  no answer to the connect within :data:`CONNECT_TIMEOUT`, connection closed or no
  answer within :data:`READ_TIMEOUT`, or a 502/503/504) is sent again to another
  edge, and the client never sees it: TCP mode could only move a connection whose
  connect failed, and a client's kept-alive connection to an edge that lost its
  link would hang. The price: on an https site haproxy ends TLS (it needs the
  certificate and its key, :func:`ends_tls`) and makes a new TLS connection to the
  edge, checking the edge's certificate against the site's CA (``verify
  required``) and its name. Uploads (anything but GET and HEAD) are never sent
  twice and get :data:`UPLOAD_TIMEOUT`.
* Edges on a host that also runs a ``mirror`` are ``backup`` servers: used only
  when every other edge is down.

On a loopback site (the tutorial: every host is 127.0.0.x on one machine) there is
no keepalived: the floating address is a loopback address, local already, and
haproxy alone serves it (:func:`needs_keepalived`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from pathlib import Path

from kit.core.processes import system_program
from kit.site.answers import Answers, netloc
from kit.site.folder import SITE_TLS
from kit.site.hosts import Host

__all__ = ["HAPROXY_CFG", "KEEPALIVED_CONF", "HAPROXY_PEM", "HEALTH_PATH", "BALANCER_HEADER", "CONNECT_TIMEOUT",
           "READ_TIMEOUT", "UPLOAD_TIMEOUT", "ADVERT_INTERVAL", "SCRIPT_INTERVAL", "haproxy_cfg", "keepalived_conf",
           "haproxy_argv", "keepalived_argv", "needs_keepalived", "ends_tls", "virtual_router_id", "priority",
           "program", "write_balancer_files"]

#: The files of a balancer, in its ``cluster/`` folder (keepalived's is made by ``kit up``, in
#: the run folder: only the machine knows which interface holds its address).
HAPROXY_CFG = "haproxy.cfg"
KEEPALIVED_CONF = "keepalived.conf"
#: The certificate and key in one file, as haproxy's ``crt`` wants them (written by ``kit up``
#: into the run folder, mode 0600).
HAPROXY_PEM = "haproxy.pem"
#: The response header naming the balancer that answered.
BALANCER_HEADER = "X-Kit-Balancer"
#: What haproxy answers itself, on the balancer's own address: the balancer's health.
HEALTH_PATH = "/+balancer/health"
#: The edges are on the same network: a connect takes well under a millisecond, so one
#: unanswered for this long is an edge gone, and the request goes to another.
CONNECT_TIMEOUT = "250ms"
#: How long a read (GET, HEAD) waits for an edge's first answer before it is sent to another
#: edge: a read in flight on an edge whose link went down costs this much. Not less: an edge
#: whose master has just gone waits its own connect timeout (1 s, kit.edge.config) before it
#: reads the mirror, and that read must not be thrown away and tried again everywhere.
READ_TIMEOUT = "2s"
#: How long an upload may stay silent: a big file to a busy master.
UPLOAD_TIMEOUT = "600s"
#: keepalived's advert interval (VRRP v3 allows hundredths of a second): the address moves
#: about 3.2 intervals after the holder's last advert.
ADVERT_INTERVAL = "0.2"
#: How often keepalived checks that this balancer's haproxy runs (whole seconds: keepalived 2.2).
SCRIPT_INTERVAL = 1
#: How often haproxy asks each edge for its health, and how many answers change its state.
_CHECK = "inter 250ms fastinter 100ms downinter 500ms fall 2 rise 2"


def program(name: str) -> str:
    """Where a system program is (haproxy, keepalived live in /usr/sbin on Debian, off a
    user's PATH); its bare name when it is not installed (the check then says so)."""
    return system_program(name) or name


def needs_keepalived(answers: Answers) -> bool:
    """Whether the balancers need keepalived: not on a loopback site (one machine: the
    floating address is local already, and haproxy alone binds it)."""
    floating = answers.floating_address
    return bool(floating) and not ipaddress.ip_address(floating).is_loopback


def ends_tls(answers: Answers) -> bool:
    """Whether haproxy ends TLS (then it needs the certificate and its key): on an https site,
    since it reads HTTP to retry a failed read on another edge."""
    return answers.tls


def virtual_router_id(answers: Answers) -> int:
    """The VRRP router id (1-255), from the floating address: the same on every balancer of
    the site, and two sites on one network (which have different floating addresses)
    most likely differ. Unicast VRRP only hears its own peers (``check_unicast_src``), so a
    clash would only matter to multicast neighbours."""
    digest = hashlib.sha256(f"kit-vrrp:{answers.floating_address}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 255 + 1


def priority(answers: Answers, host: Host) -> int:
    """The balancer's VRRP priority: higher for the first by name (ties would go to the
    highest address, which nobody reads in the configuration)."""
    names = [balancer.name for balancer in _balancers(answers, host)]
    return 250 - names.index(host.name)


def _balancers(answers: Answers, host: Host) -> tuple[Host, ...]:
    found = answers.hosts_with("balancer")
    if host not in found:
        raise ValueError(f"host {host.name!r} is not a balancer of this site")
    return found


def _addr(address: str, port: int) -> str:
    # haproxy reads the last colon as the port's: an IPv6 address needs its family prefix.
    return f"ipv6@{address}:{port}" if ":" in address else f"{address}:{port}"


def _default_ca(answers: Answers) -> str:
    # The site CA made by kit, relative to the balancer's cluster/ folder (haproxy runs with
    # -C there); with the operator's own certificate, the system's CAs signed it.
    return f"../{SITE_TLS['ca']}" if answers.site_ca else "@system-ca"


def haproxy_cfg(answers: Answers, host: Host, run_dir: str, *, ca_file: str = "", crt: str = "") -> str:
    """haproxy.cfg of balancer ``host``: the floating address in front of the site's edges.

    ``run_dir``: where haproxy's socket and (https) ``crt`` live, relative to the folder
    haproxy runs in (``-C``) or absolute. ``ca_file``: the CA the edges' certificates are
    checked against (default: the site CA, ``../tls/ca.pem``, or the system's CAs for the
    operator's own certificate). ``crt``: the certificate and key in one PEM file (default
    ``RUN_DIR/haproxy.pem``)."""
    a = answers
    _balancers(a, host)
    floating, port = a.floating_address, a.edge_port
    tls = ends_tls(a)
    crt = crt or f"{run_dir}/{HAPROXY_PEM}"
    ca_file = ca_file or _default_ca(a)
    ssl_bind = f" ssl crt {crt} alpn http/1.1" if tls else ""
    # Server-side TLS: a new connection to the edge, its certificate checked (chain and name).
    ssl_server = f" ssl verify required ca-file {ca_file} verifyhost {a.host}" if tls else ""
    lines = [
        f"# haproxy of balancer {host.name} ({host.address}): the floating address {netloc(floating, port)}",
        "# in front of the edges. Written by kit init; kit up runs it (haproxy -db -C CLUSTER -f haproxy.cfg).",
        "global",
        "    log stdout format raw daemon",
        f"    stats socket unix@{run_dir}/haproxy.sock mode 600 level user",
        "    ssl-default-bind-options ssl-min-ver TLSv1.2" if tls else None,
        "",
        "defaults",
        "    mode http",
        "    log global",
        # Only what went wrong is logged: a retry, a redispatch, an error.
        "    option httplog",
        "    option dontlognull",
        "    option dontlog-normal",
        "    option forwardfor",
        f"    timeout connect {CONNECT_TIMEOUT}",
        "    timeout client 60s",
        "    timeout http-request 10s",
        "    timeout http-keep-alive 10s",
        "    timeout queue 5s",
        f"    timeout server {UPLOAD_TIMEOUT}",
        "    timeout check 1s",
        "",
        "frontend site",
        "    # transparent: bind the floating address also while keepalived has it on another",
        "    # balancer (IP_TRANSPARENT with CAP_NET_ADMIN, else IP_FREEBIND: no privilege, no sysctl).",
        f"    bind {_addr(floating, port)} transparent{ssl_bind}",
        # Which balancer answered: what kit drill host-loss (and a puzzled operator) reads.
        f"    http-response set-header {BALANCER_HEADER} {host.name}",
        "    default_backend edges",
    ]
    if a.redirects:
        lines += [
            "",
            "frontend plain-http",
            "    # Plain http answers with the https URL, as an edge's own redirect listener does.",
            f"    bind {_addr(floating, a.http_port)} transparent",
            f"    http-request redirect prefix {a.base_url} code 308",
        ]
    lines += [
        "",
        "frontend balancer-health",
        "    # kit up and kit status ask the balancer itself, on its own address.",
        f"    bind {_addr(host.address, port)}",
        f"    monitor-uri {HEALTH_PATH}",
        "",
        "backend edges",
        "    balance roundrobin",
        "    option httpchk GET /+edge/health",
        "    http-check expect status 200",
        # A failed read goes again, each time to another edge; uploads never go twice.
        "    retries 3",
        "    option redispatch 1",
        "    retry-on conn-failure empty-response response-timeout 502 503 504",
        "    http-request disable-l7-retry unless METH_GET || METH_HEAD",
        f"    http-request set-timeout server {READ_TIMEOUT} if METH_GET || METH_HEAD",
        # An edge that refuses a client's connection is marked down at once, not at the next checks.
        f"    default-server {_CHECK} observe layer4 error-limit 1 on-error mark-down",
    ]
    for edge in answers.hosts_with("edge"):
        backup = " backup" if "mirror" in edge.roles else ""
        lines.append(f"    server {edge.name} {_addr(edge.address, port)} check{backup}{ssl_server}")
    return "\n".join(line for line in lines if line is not None) + "\n"


def _quoted(word: str) -> str:
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def keepalived_conf(answers: Answers, host: Host, interface: str, run_dir: str) -> str:
    """keepalived.conf of balancer ``host``: the VRRP instance moving the floating address
    between the balancers, on ``interface`` (the one holding the host's address).

    keepalived checks that this balancer's haproxy takes connections (on the host's own
    address, where it answers :data:`HEALTH_PATH`): when it does not, the address leaves this
    balancer. Not ``track_process``: the kernel's process events it needs reach the first
    network namespace only, so a balancer in a container (or in the tests' namespaces)
    would never see its haproxy. ``run_dir`` is unused: keepalived's pid files are named on
    its command line (:func:`keepalived_argv`)."""
    floating = answers.floating_address
    peers = [other.address for other in _balancers(answers, host) if other.name != host.name]
    prefix = 128 if ":" in floating else 32
    lines = [
        f"# keepalived of balancer {host.name} ({host.address}): holds the floating address {floating}",
        "# on one balancer and moves it when that one's link, machine or haproxy is gone.",
        "# Written by kit up (it knows the interface).",
        "global_defs {",
        f"    router_id kit-{host.name}",
        "    vrrp_version 3",
        # The check runs /bin/bash as root: only programs no other user can change.
        "    enable_script_security",
        "    script_user root",
        "}",
        "",
        "# This balancer's own haproxy takes connections (on this host's address: another haproxy",
        "# on the machine is not it); bash's /dev/tcp connects, and needs nothing installed.",
        "vrrp_script kit_haproxy {",
        f"    script \"/bin/bash -c 'exec 3<>/dev/tcp/{host.address}/{answers.edge_port}'\"",
        f"    interval {SCRIPT_INTERVAL}",
        "    timeout 1",
        "    fall 1",
        "    rise 1",
        "}",
        "",
        "vrrp_instance kit {",
        "    # Both BACKUP, nopreempt: the first to miss the holder's adverts takes the address, and a",
        "    # balancer that comes back does not take it back.",
        "    state BACKUP",
        "    nopreempt",
        f"    interface {interface}",
        f"    virtual_router_id {virtual_router_id(answers)}",
        f"    priority {priority(answers, host)}",
        f"    advert_int {ADVERT_INTERVAL}",
    ]
    if peers:
        lines += [f"    unicast_src_ip {host.address}", "    unicast_peer {", *(f"        {peer}" for peer in peers),
                  "    }", "    check_unicast_src"]
    else:
        # A lone balancer: keepalived still puts the address on the interface (and takes it off
        # when haproxy is gone); with no peer, its adverts go to VRRP's multicast group, unheard.
        lines.append("    # no other balancer: no unicast peers")
    lines += [
        # Gratuitous ARP (neighbour adverts for IPv6) on taking the address, again a second
        # later: Linux ignores a neighbour's new address for a second after the last change.
        "    garp_master_delay 1",
        "    garp_master_repeat 3",
        "    virtual_ipaddress {",
        f"        {floating}/{prefix} dev {interface}",
        "    }",
        "    track_script {",
        "        kit_haproxy",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def haproxy_argv(cfg_path: str, run_dir: str) -> list[str]:
    """haproxy in the foreground (``-db``: one process, no daemon, no pid file: ``run_dir``
    is unused), in the folder of its configuration (``-C``: the relative paths in it, like
    ``run/haproxy.sock``, are from there)."""
    return [program("haproxy"), "-db", "-C", str(Path(cfg_path).parent), "-f", str(cfg_path)]


def keepalived_argv(conf_path: str, run_dir: str) -> list[str]:
    """keepalived in the foreground, VRRP only, logging to its output, its pid files in
    ``run_dir`` (two keepalived on one machine, in two namespaces, must not share
    /run/keepalived.pid)."""
    return [program("keepalived"), "--dont-fork", "--log-console", "--log-detail", "--no-syslog", "--vrrp",
            "-f", str(conf_path), "-p", os.path.join(run_dir, "keepalived.pid"),
            "-r", os.path.join(run_dir, "keepalived-vrrp.pid"), "-c", os.path.join(run_dir, "keepalived-checkers.pid")]


def write_balancer_files(answers: Answers, host: Host, dest: Path, cluster_dir: Path) -> None:
    """Write balancer ``host``'s haproxy.cfg into ``dest`` (its bundle's cluster/ folder;
    ``cluster_dir`` is the site's, unused: every path in it is relative). keepalived.conf
    is written by ``kit up`` on the machine (:mod:`kit.cluster.balancer`)."""
    from kit.site.templating import write_private

    write_private(Path(dest) / HAPROXY_CFG, haproxy_cfg(answers, host, "run"), 0o644)

