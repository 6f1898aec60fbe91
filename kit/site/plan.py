"""The plan of a site: what runs in its cluster — the services (local upstream,
master, mirror, edge) built from its answers, the edge's settings, Varnish's
command line and the public mirror's folders.

Nothing here starts anything: :mod:`kit.cluster.supervisor` runs the services,
:mod:`kit.cluster.lifecycle` says in which order.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from kit.site.answers import DEFAULT_UPSTREAM, Answers, netloc, upstream_is_folder
from kit.site.balancer import HAPROXY_CFG, HEALTH_PATH, KEEPALIVED_CONF, haproxy_argv, keepalived_argv, \
    needs_keepalived
from kit.site.folder import SITE_TLS
from kit.site.hosts import Host
from kit.edge.config import EdgeConfig
from kit.plugin.launch import launch_argv
from kit.core.errors import ClusterError
from kit.core.processes import system_program

__all__ = ["Service", "services_of", "edge_config", "disk_parts", "program", "REINSTALL", "MirrorPaths", "bandersnatch_master",
           "VCL_FILE", "MODULES", "host_services", "balancer_services", "PUBLIC_MIRROR", "STORAGE", "work_dir", "varnishd_argv", "HITCH_FILE", "hitch_conf", "hitch_socket",
           "VARNISH_EXPORTER", "VARNISH_EXPORTER_PROGRAM", "varnish_exporter"]


@dataclass(frozen=True)
class Service:
    name: str
    role: str
    port: int
    url: str  # what users see
    health_path: str
    argv: tuple[str, ...]
    marker: str  # a word of its command line, to tell our process from a reused pid
    bind: str = "127.0.0.1"
    #: Where its health is asked over plain http when ``port`` speaks TLS (0: ``port``).
    health_port: int = 0

    @property
    def health_url(self) -> str:
        host = "127.0.0.1" if self.bind == "0.0.0.0" else self.bind
        return f"http://{host}:{self.health_port or self.port}{self.health_path}"

    @property
    def local_url(self) -> str:
        """The service's root as kit reaches it on this machine."""
        return self.health_url[: -len(self.health_path)] if self.health_path else self.health_url


#: How kit and what it runs are installed (README, "Install for a room"; chapter 0).
REINSTALL = "pip install --no-index --find-links ~/kit-wheelhouse 'pkgindex-kit[tutorial]' (or the release wheel)"


def program(name: str) -> str:
    """A console script of kit's own environment (where devpi-server was installed with kit)."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        raise ClusterError(f"{name} is not installed; install kit again with its dependencies: {REINSTALL}")
    return found


def devpi_server_argv() -> list[str]:
    """devpi-server run through kit's launcher, which loads devpi-web only when the config file's
    kit-web (the answer web) asks for it (:mod:`kit.plugin.launch`)."""
    program("devpi-server")  # installed beside kit, or the fix in one line
    return launch_argv("devpi-server")


def services_of(answers: Answers, site_dir: Path) -> list[Service]:
    """The site's services, in the order they start (each needs the ones before).

    ``site_dir``: the site's folder; varnishd takes absolute paths only.
    """
    a = answers
    if a.is_multi_host:
        return host_services(a, site_dir)
    py = sys.executable
    found = []
    if upstream_is_folder(a.upstream):
        found.append(_upstream(a))
    found += [_master(a, "127.0.0.1"), _mirror(a, "127.0.0.1")]
    if a.edge == "varnish":
        found += [
            Service("shield", "kit's edge behind Varnish: checked files, static copy, public mirror", a.shield_port,
                    f"http://127.0.0.1:{a.shield_port}", "/+edge/health", (py, "-m", "kit.edge", "edge.json"),
                    "kit.edge"),
            # With TLS, Varnish's own port is the plain-http one (redirects; health and purges from this
            # machine), and hitch, next, holds the client port.
            Service("edge", "CDN edge: Varnish, the caching proxy clients use", a.http_port if a.tls else a.edge_port,
                    a.base_url, "/+edge/health", tuple(varnishd_argv(a, Path(site_dir).absolute())), "edge.vcl",
                    a.bind_host),
        ]
        if a.tls:
            found.append(Service(
                "tls", "hitch: TLS for Varnish, on the client port", a.edge_port, a.base_url, "/+edge/health",
                (system_program("hitch") or "hitch", "--config", str(Path(site_dir).absolute() / "cluster" / HITCH_FILE)),
                HITCH_FILE, a.bind_host, health_port=a.http_port))
        if system_program(VARNISH_EXPORTER_PROGRAM):
            # Optional: without it the site runs, its Varnish unseen by Prometheus (kit up and
            # kit status say so: kit.cluster.varnish.EXPORTER_OFF).
            found.append(varnish_exporter(a, site_dir))
    else:
        found.append(Service("edge", "CDN edge: caching proxy clients use", a.edge_port, a.base_url,
                             "/+edge/health", (py, "-m", "kit.edge", "edge.json"), "kit.edge", a.bind_host,
                             **tls_health(a)))
    return found


#: The service that shows Varnish's counters to Prometheus (Debian's prometheus-varnish-exporter).
VARNISH_EXPORTER = "varnish-exporter"
#: Its program, as Debian names it.
VARNISH_EXPORTER_PROGRAM = "prometheus-varnish-exporter"


def varnish_exporter(a: Answers, site_dir: Path) -> Service:
    """prometheus-varnish-exporter on 127.0.0.1: ``varnishstat -n`` of the site's Varnish, read on each scrape
    (it keeps running while Varnish is down, saying varnish_up 0); its health on a path of its own."""
    return Service(
        VARNISH_EXPORTER, "Varnish's metrics for Prometheus", a.varnish_exporter_port,
        f"http://127.0.0.1:{a.varnish_exporter_port}/metrics", "/health",
        (system_program(VARNISH_EXPORTER_PROGRAM) or VARNISH_EXPORTER_PROGRAM,
         "-n", str(work_dir(Path(site_dir).absolute())),
         "-varnishstat-path", system_program("varnishstat") or "varnishstat",
         "-web.listen-address", f"127.0.0.1:{a.varnish_exporter_port}", "-web.health-path", "/health"),
        VARNISH_EXPORTER_PROGRAM)


def _upstream(a: Answers) -> Service:
    where = a.upstream_address
    return Service("upstream", "local upstream: the upstream folder as a simple index", a.upstream_port,
                   f"http://{netloc(where, a.upstream_port)}/simple/", "/simple/",
                   (sys.executable, "-m", "kit.upstream", a.upstream, "--host", where, "--port", str(a.upstream_port)),
                   "kit.upstream", where)


def _master(a: Answers, where: str) -> Service:
    return Service("master", "devpi primary: indexes, uploads", a.master_port, f"http://{netloc(where, a.master_port)}",
                   "/+api", (*devpi_server_argv(), "-c", "master.yml"), "master.yml", where)


def _mirror(a: Answers, where: str) -> Service:
    return Service("mirror", "devpi replica of the master", a.mirror_port, f"http://{netloc(where, a.mirror_port)}",
                   "/+api", (*devpi_server_argv(), "-c", "mirror.yml"), "mirror.yml", where)


#: The name of the public mirror host's service (and of its log and pid files).
PUBLIC_MIRROR = "public-mirror"


def host_services(answers: Answers, site_dir: Path) -> list[Service]:
    """The services of one host of a site spread over hosts (none for the site folder itself:
    each host's bundle, SITE/hosts/NAME/, runs its part), each bound to the host's address,
    in the order they start: the master first, then what reads from it, the balancers last."""
    a = answers
    this = a.this
    if this is None:
        return []
    where = this.address
    found = []
    if "master" in this.roles:
        if upstream_is_folder(a.upstream):
            found.append(_upstream(a))
        found.append(_master(a, where))
    if "mirror" in this.roles:
        found.append(_mirror(a, where))
    if "public-mirror" in this.roles:
        # bandersnatch's folder over plain http, for the edges and the master (standard library:
        # a threading server; the edges cache and check what it serves).
        web = MirrorPaths.of(Path(site_dir).absolute()).web
        found.append(Service(
            PUBLIC_MIRROR, "the public mirror's folder, served to the edges", a.public_mirror_port,
            f"http://{netloc(where, a.public_mirror_port)}/simple/", "/",
            (sys.executable, "-m", "http.server", str(a.public_mirror_port), "--bind", where, "--directory", str(web)),
            "http.server", where))
    if "edge" in this.roles:
        found.append(Service("edge", "CDN edge: caching proxy the balancers send clients to", a.edge_port,
                             f"{a.scheme}://{netloc(where, a.edge_port)}", "/+edge/health",
                             (sys.executable, "-m", "kit.edge", "edge.json"), "kit.edge", where, **tls_health(a)))
    if "balancer" in this.roles:
        found += balancer_services(a, this, Path(site_dir).absolute())
    return found


def balancer_services(answers: Answers, host: Host, site_dir: Path) -> list[Service]:
    """The services of balancer ``host``, its bundle in ``site_dir``: haproxy, then keepalived
    when the site needs it (:mod:`kit.site.balancer` writes what they read)."""
    cluster = Path(site_dir) / "cluster"
    run_dir = str(cluster / "run")
    found = [Service("haproxy", "balancer: the floating address in front of the edges", answers.edge_port,
                     answers.base_url, HEALTH_PATH, tuple(haproxy_argv(str(cluster / HAPROXY_CFG), run_dir)),
                     "haproxy", host.address)]
    if needs_keepalived(answers):
        found.append(Service("keepalived", "floating address: moved between the balancers (VRRP)", 0,
                             answers.floating_address, "",
                             tuple(keepalived_argv(os.path.join(run_dir, KEEPALIVED_CONF), run_dir)),
                             "keepalived", host.address))
    return found


def tls_health(answers: Answers) -> dict:
    """Where kit checks an https edge's health: its plain-http listener, which answers the edge's
    own paths to this machine (a certificate for the public name need not name 127.0.0.1)."""
    return {"health_port": answers.http_port} if answers.redirects else {}


def tls_files(answers: Answers) -> tuple[str, str]:
    """The certificate chain and key an https site serves (the operator's, else the site CA's
    server certificate), as the services in SITE/cluster name them; ("", "") for http."""
    if not answers.tls:
        return "", ""
    if answers.tls_cert:
        return answers.tls_cert, answers.tls_key
    return f"../{SITE_TLS['cert']}", f"../{SITE_TLS['key']}"
#: An edge's connect timeout to its origins on a site spread over hosts (see edge_config).
MULTI_HOST_CONNECT_TIMEOUT = 0.25
#: The edge's reader credentials ("kit-edge:PASSWORD"), relative to SITE/cluster.
READ_CREDENTIALS_FILE = "edge-read-credentials"


def edge_config(answers: Answers) -> EdgeConfig:
    """kit's edge of the site's cluster: ``kit init`` writes it as ``SITE/cluster/edge.json``.

    With ``edge = "varnish"`` it is the shield: Varnish's backend on 127.0.0.1,
    never reached by clients.
    """
    shield = answers.edge == "varnish"
    mirrors = answers.hosts_with("mirror") if answers.is_multi_host else ()
    return EdgeConfig(
        host="127.0.0.1" if shield else answers.bind_host,
        port=answers.shield_port if shield else answers.edge_port,
        public_url=answers.base_url,
        master=f"http://{netloc(answers.address_of('master'), answers.master_port)}",
        mirrors=[f"http://{netloc(host.address, answers.mirror_port)}" for host in mirrors]
        or [f"http://127.0.0.1:{answers.mirror_port}"],
        cache_dir="run/edge-cache",
        max_cache_bytes=answers.edge_cache_bytes,
        # Across hosts, origins are on the site's own network, where a connect takes well under a
        # millisecond: one unanswered for a quarter of a second is a host gone (its link down, no
        # refusal ever comes), and the read goes to the next origin.
        **({"connect_timeout": MULTI_HOST_CONNECT_TIMEOUT} if answers.is_multi_host else {}),
        # The team indexes copied for the edge to serve when master and mirror are both down.
        **({"static_copy_dir": "run/static-copy",
            "static_copy_indexes": [f"{team}/private" for team in answers.teams]}
           if "private" in answers.setups else {}),
        # bandersnatch's tree, written by kit mirror sync: served at /mirror/simple/
        # (relative to the edge's folder, SITE/cluster).
        # On a site spread over hosts, the public mirror's host serves it to every edge.
        **({"public_mirror_origin": answers.public_mirror_origin} if answers.public_mirror_origin else
           {"public_mirror_dir": str(MirrorPaths.of(Path("..")).web)} if "public-mirror" in answers.setups else {}),
        # An https site: the edge itself speaks TLS to the clients (the shield behind Varnish
        # stays plain http on 127.0.0.1: hitch speaks TLS there), and plain http is redirected.
        **({"tls_cert": tls_files(answers)[0], "tls_key": tls_files(answers)[1]} if answers.tls and not shield
           else {"watched_certificate": tls_files(answers)[0]} if answers.tls else {}),
        **({"redirect_host": answers.bind_host, "redirect_port": answers.http_port}
           if answers.redirects and not shield else {}),
        # Private reads: every read under /USER/INDEX/ is authorised by the origins'
        # /+authcheck, and the edge reads as kit-edge (cluster/edge-read-credentials, 0600).
        read_access=answers.read_access,
        **({"read_credentials_file": READ_CREDENTIALS_FILE} if answers.read_access != "anonymous" else {}),
        disk_paths=disk_parts(answers),
    )


def disk_parts(answers: Answers) -> dict[str, str]:
    """The folders of the parts this host runs (relative to SITE/cluster): the devpi servers'
    folders (as master.yml and mirror.yml name them), the edge's cache, bandersnatch's tree and
    kit up's logs. The edge reports their disks in /+edge/metrics; kit status and kit check show them."""
    paths = {}
    if answers.runs("master"):
        paths["master"] = "run/master"
    if answers.runs("mirror"):
        paths["mirror"] = "run/mirror"
    if answers.runs("edge"):
        paths["edge_cache"] = "run/edge-cache"
    if "public-mirror" in answers.setups and answers.runs("public-mirror") and not answers.public_mirror_origin:
        paths["public_mirror"] = str(MirrorPaths.of(Path("..")).web)
    paths["logs"] = "run/logs"
    return paths


# -- the public mirror's folders and upstream ----------------------------------------


@dataclass(frozen=True)
class MirrorPaths:
    """Where a site's public mirror keeps what (see the module's docstring)."""

    root: Path

    @classmethod
    def of(cls, site_dir: Path) -> "MirrorPaths":
        """The paths of the mirror of the site in ``site_dir`` (relative stays relative)."""
        return cls(Path(site_dir) / "mirror")

    conf = property(lambda self: self.root / "bandersnatch.conf")
    data = property(lambda self: self.root / "data")
    web = property(lambda self: self.root / "data" / "web")
    run = property(lambda self: self.root / "run")
    sync_conf = property(lambda self: self.root / "run" / "sync.conf")
    record = property(lambda self: self.root / "run" / "last-sync.json")
    log = property(lambda self: self.root / "run" / "sync.log")
    lock = property(lambda self: self.root / "run" / "sync.lock")


def bandersnatch_master(answers: Answers) -> str | None:
    """The ``master`` of the rendered bandersnatch.conf; None for PyPI (bandersnatch's own default).

    A folder upstream is mirrored through the cluster's local upstream; a URL
    upstream must be PyPI-like: ``…/simple/`` beside ``…/pypi/NAME/json``.
    """
    if answers.upstream == DEFAULT_UPSTREAM:
        return None
    if upstream_is_folder(answers.upstream):
        return f"http://{netloc(answers.upstream_address, answers.upstream_port)}"
    return answers.upstream.rstrip("/").removesuffix("/simple")


# -- Varnish -----------------------------------------------------------------------

#: The site's VCL, in SITE/cluster.
VCL_FILE = "edge.vcl"
#: The varnish-modules the VCL imports.
MODULES = ("xkey", "var")
#: Memory for cached pages and files: least recently used go first.
STORAGE = "malloc,256m"


def work_dir(site_dir: Path) -> Path:
    """varnishd's working folder (shared memory log, compiled VCL): ``varnishadm -n`` and ``varnishstat -n`` take it."""
    return Path(site_dir).absolute() / "cluster" / "run" / "varnish"


#: hitch's settings, in SITE/cluster: TLS on the client port, Varnish behind it.
HITCH_FILE = "hitch.conf"


def hitch_socket(site_dir: Path) -> Path:
    """Where Varnish takes hitch's connections (PROXY protocol): a socket only hitch's user
    may open, so nothing else on the machine can claim any client address. In the site's
    run folder; for root, whose hitch runs as nobody (who cannot enter a 0700 site), in
    /run/kit (root's, 0755), named after the site."""
    site_dir = Path(site_dir).absolute()
    if hitch_user():
        import hashlib

        return Path("/run/kit") / f"hitch-{hashlib.sha256(str(site_dir).encode()).hexdigest()[:16]}.sock"
    return site_dir / "cluster" / "run" / "hitch.sock"


def hitch_user() -> str:
    """Who hitch's workers run as: the user who runs kit, but for root, which hitch refuses
    ("nobody" then, and Varnish's socket is made theirs: only they may open it)."""
    return "nobody" if os.geteuid() == 0 else ""


def hitch_conf(answers: Answers, site_dir: Path) -> str:
    """hitch.conf for an https site with the Varnish edge (``hitch --test --config`` checks it).

    TLS 1.2 and 1.3 on the client port; each connection handed to Varnish over a Unix socket
    with the PROXY protocol (v2), so Varnish sees the client's address (its purge ACL too);
    in the foreground, run by kit up as the user who runs kit."""
    site_dir = Path(site_dir).absolute()
    cert, key = tls_files(answers)
    cert, key = ((site_dir / "cluster" / path).resolve() for path in (cert, key))
    quoted = lambda text: '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "\n".join([
        f"# hitch for the kit site in {site_dir}: written by kit init, run by kit up.",
        f"frontend = {quoted('[' + answers.bind_host + ']:' + str(answers.edge_port))}",
        f"backend = {quoted(hitch_socket(site_dir))}",
        "write-proxy-v2 = on",
        f"pem-file = {{\n    cert = {quoted(cert)}\n    private-key = {quoted(key)}\n}}",
        'tls-protos = TLSv1.2 TLSv1.3',
        'alpn-protos = "http/1.1"',
        "daemon = off",
        "workers = 2",
        f"ocsp-dir = {quoted(site_dir / 'cluster' / 'run')}",
        *([f"user = {quoted(hitch_user())}"] if hitch_user() else []),
        "",
    ])


def varnishd_argv(answers: Answers, site_dir: Path) -> list[str]:
    """How ``kit up`` runs Varnish: in the foreground as the user who runs kit (``-j none``;
    no privileges to drop, and it can read a 0700 site), every path absolute
    (varnishd would take a relative one from its own folders)."""
    site_dir = Path(site_dir).absolute()
    return [
        system_program("varnishd") or "varnishd",
        "-F", "-j", "none",
        "-n", str(work_dir(site_dir)),
        # https: plain http (redirected) on http_port, and hitch's connections on its socket.
        *(("-a", f"http={netloc(answers.bind_host, answers.http_port)}",
           "-a", f"tls={hitch_socket(site_dir)},PROXY,"
                 + (f"user={hitch_user()}," if hitch_user() else "") + "mode=600") if answers.tls
          else ("-a", netloc(answers.bind_host, answers.edge_port))),
        "-T", "127.0.0.1:0",  # varnishadm -n finds the port and secret in the working folder
        "-f", str(site_dir / "cluster" / VCL_FILE),
        "-s", STORAGE,
        # A purge carries its keys in a header: room for a few hundred of them.
        "-p", "http_req_hdr_len=32k", "-p", "http_req_size=64k",
    ]
