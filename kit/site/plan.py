"""The plan of a site: what runs in its cluster — the services (local upstream,
master, mirror, edge) built from its answers, the edge's settings, Varnish's
command line and the public mirror's folders.

Nothing here starts anything: :mod:`kit.cluster.supervisor` runs the services,
:mod:`kit.cluster.lifecycle` says in which order.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from kit.site.answers import DEFAULT_UPSTREAM, Answers, netloc, upstream_is_folder
from kit.edge.config import EdgeConfig
from kit.core.errors import ClusterError
from kit.core.processes import system_program

__all__ = ["Service", "services_of", "edge_config", "program", "REINSTALL", "MirrorPaths", "bandersnatch_master",
           "VCL_FILE", "MODULES", "STORAGE", "work_dir", "varnishd_argv"]


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

    @property
    def health_url(self) -> str:
        host = "127.0.0.1" if self.bind == "0.0.0.0" else self.bind
        return f"http://{host}:{self.port}{self.health_path}"

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


def services_of(answers: Answers, site_dir: Path) -> list[Service]:
    """The site's services, in the order they start (each needs the ones before).

    ``site_dir``: the site's folder; varnishd takes absolute paths only.
    """
    a = answers
    py = sys.executable
    found = []
    if upstream_is_folder(a.upstream):
        found.append(Service(
            "upstream", "local upstream: the upstream folder as a simple index", a.upstream_port,
            f"http://127.0.0.1:{a.upstream_port}/simple/", "/simple/",
            (py, "-m", "kit.upstream", a.upstream, "--host", "127.0.0.1", "--port", str(a.upstream_port)),
            "kit.upstream",
        ))
    found += [
        Service("master", "devpi primary: indexes, uploads", a.master_port, f"http://127.0.0.1:{a.master_port}",
                "/+api", (program("devpi-server"), "-c", "master.yml"), "master.yml"),
        Service("mirror", "devpi replica of the master", a.mirror_port, f"http://127.0.0.1:{a.mirror_port}",
                "/+api", (program("devpi-server"), "-c", "mirror.yml"), "mirror.yml"),
    ]
    if a.edge == "varnish":
        found += [
            Service("shield", "kit's edge behind Varnish: checked files, static copy, public mirror", a.shield_port,
                    f"http://127.0.0.1:{a.shield_port}", "/+edge/health", (py, "-m", "kit.edge", "edge.json"),
                    "kit.edge"),
            Service("edge", "CDN edge: Varnish, the caching proxy clients use", a.edge_port, a.base_url,
                    "/+edge/health", tuple(varnishd_argv(a, Path(site_dir).absolute())), "edge.vcl", a.bind_host),
        ]
    else:
        found.append(Service("edge", "CDN edge: caching proxy clients use", a.edge_port, a.base_url,
                             "/+edge/health", (py, "-m", "kit.edge", "edge.json"), "kit.edge", a.bind_host))
    return found


#: The edge's reader credentials ("kit-edge:PASSWORD"), relative to SITE/cluster.
READ_CREDENTIALS_FILE = "edge-read-credentials"


def edge_config(answers: Answers) -> EdgeConfig:
    """kit's edge of the site's cluster: ``kit init`` writes it as ``SITE/cluster/edge.json``.

    With ``edge = "varnish"`` it is the shield: Varnish's backend on 127.0.0.1,
    never reached by clients.
    """
    shield = answers.edge == "varnish"
    return EdgeConfig(
        host="127.0.0.1" if shield else answers.bind_host,
        port=answers.shield_port if shield else answers.edge_port,
        public_url=answers.base_url,
        master=f"http://127.0.0.1:{answers.master_port}",
        mirrors=[f"http://127.0.0.1:{answers.mirror_port}"],
        cache_dir="run/edge-cache",
        # The team indexes copied for the edge to serve when master and mirror are both down.
        **({"static_copy_dir": "run/static-copy",
            "static_copy_indexes": [f"{team}/private" for team in answers.teams]}
           if "private" in answers.setups else {}),
        # bandersnatch's tree, written by kit mirror sync: served at /mirror/simple/
        # (relative to the edge's folder, SITE/cluster).
        **({"public_mirror_dir": str(MirrorPaths.of(Path("..")).web)} if "public-mirror" in answers.setups else {}),
        # Private reads: every read under /USER/INDEX/ is authorised by the origins'
        # /+authcheck, and the edge reads as kit-edge (cluster/edge-read-credentials, 0600).
        read_access=answers.read_access,
        **({"read_credentials_file": READ_CREDENTIALS_FILE} if answers.read_access != "anonymous" else {}),
    )


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
        return f"http://127.0.0.1:{answers.upstream_port}"
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


def varnishd_argv(answers: Answers, site_dir: Path) -> list[str]:
    """How ``kit up`` runs Varnish: in the foreground as the user who runs kit (``-j none``;
    no privileges to drop, and it can read a 0700 site), every path absolute
    (varnishd would take a relative one from its own folders)."""
    site_dir = Path(site_dir).absolute()
    return [
        system_program("varnishd") or "varnishd",
        "-F", "-j", "none",
        "-n", str(work_dir(site_dir)),
        "-a", netloc(answers.bind_host, answers.edge_port),
        "-T", "127.0.0.1:0",  # varnishadm -n finds the port and secret in the working folder
        "-f", str(site_dir / "cluster" / VCL_FILE),
        "-s", STORAGE,
        # A purge carries its keys in a header: room for a few hundred of them.
        "-p", "http_req_hdr_len=32k", "-p", "http_req_size=64k",
    ]
