"""How ``kit up`` starts what is not running: the checks made before anything
starts, devpi's first-start steps (its data folders, then the master's users
and indexes), and the services started in order, each once the services it
reads from answer.

:mod:`kit.cluster.lifecycle` strings these steps together; the processes
themselves are :mod:`kit.cluster.supervisor`'s.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
import time
from typing import Callable

from kit.cluster.devpi import DevpiAPI, DevpiError, IndexPlan, configure_indexes, init_argv, init_env
from kit.cluster.supervisor import Supervisor
from kit.core.errors import ClusterError
from kit.core.processes import port_busy, port_holder
from kit.site.folder import SITE_TLS, Site, find_site_root, site_command
from kit.site.plan import Service, program

__all__ = ["Starting", "check_running", "check_before_start", "busy_message", "init_data", "configure_master",
           "service_env"]

Say = Callable[[str], None]

#: What a service reads from as it starts: started together with one of these, it starts once
#: that one answers. devpi's replica waits 5 s after a fetch its master refused (kit up took
#: 5 s longer one run in four when both started at once); the edge copies the team indexes
#: off the mirror when it starts (off the master only when no mirror answers).
_STARTS_AFTER = {"mirror": ("master",), "shield": ("mirror",), "edge": ("mirror", "shield"),
                 # hitch hands its connections to Varnish's socket, made as Varnish starts.
                 "tls": ("edge",),
                 # varnishstat reads the working folder Varnish makes as it starts.
                 "varnish-exporter": ("edge",)}


# -- before anything starts --------------------------------------------------------------


def check_running(supervisor: Supervisor, services: list[Service], running: dict[str, int | None]) -> None:
    """Raise :class:`ClusterError` for a running service that is not healthy:
    one that hangs would make every step of kit up wait on it."""
    for service in services:
        pid = running[service.name]
        if pid is not None:
            probe = supervisor.probe(service)
            if not probe.healthy:
                raise ClusterError(str(supervisor.trouble(service, pid, probe)))


def check_before_start(site: Site, to_start: list[Service]) -> None:
    """What would make a service die as it starts, as one line each, before any starts:
    no varnishd (or a VCL it cannot load), a broken devpi install, a busy port."""
    if site.answers.edge == "varnish" and any(s.name == "edge" for s in to_start):
        from kit.cluster.varnish import VCL_FILE, check_vcl

        check_vcl(site.path / "cluster" / VCL_FILE, fix=site.command("init", "--no-input"))
    if any(s.name == "tls" for s in to_start):
        from kit.cluster.varnish import check_hitch

        check_hitch(site.path / "cluster" / "hitch.conf", fix=site.command("init", "--no-input"))
        from kit.site.plan import hitch_socket

        try:  # the socket's folder, for root: /run/kit (the site's run folder is made by kit up)
            if hitch_socket(site.path).parent.parent != site.path / "cluster":
                hitch_socket(site.path).parent.mkdir(mode=0o755, exist_ok=True)
        except OSError as exc:
            raise ClusterError(f"cannot make {hitch_socket(site.path).parent} ({exc.strerror or exc}) for hitch's "
                               "socket to Varnish; run kit up as the site's user instead of root") from None
    if any(s.name in ("haproxy", "keepalived") for s in to_start):
        prepare_balancer_files(site)
    if any(s.name in ("master", "mirror") for s in to_start):
        # A neighbour's pip install (setuptools 82 has no pkg_resources) would
        # otherwise surface as devpi-init's traceback line.
        from kit.core.environment import devpi_problem

        problem = devpi_problem()
        if problem:
            raise ClusterError(problem)
    busy = [s for s in to_start if port_busy(s.bind, s.port)]
    if busy:
        raise ClusterError(busy_message(site, busy[0]))


def prepare_balancer_files(site: Site) -> None:
    """What a balancer's haproxy and keepalived read that only this machine can write (the
    interface holding its address, the certificate and key in one file), then both
    configurations checked by the programs themselves."""
    from kit.cluster.balancer import check_haproxy, check_keepalived, prepare_balancer
    from kit.site.balancer import HAPROXY_CFG, KEEPALIVED_CONF, needs_keepalived

    answers = site.answers
    cluster = site.path / "cluster"
    tls = {"cert": site.path / SITE_TLS["cert"], "key": site.path / SITE_TLS["key"]} if answers.site_ca else \
        {"cert": Path(answers.tls_cert), "key": Path(answers.tls_key)} if answers.tls else {}
    prepare_balancer(answers, answers.this, cluster, **tls)
    check_haproxy(cluster / HAPROXY_CFG)
    if needs_keepalived(answers):
        check_keepalived(cluster / "run" / KEEPALIVED_CONF)


def busy_message(site: Site, service: Service) -> str:
    """Who holds a service's port, and the fix: kit down for a kit site, else another port."""
    key = "upstream_port" if service.name == "upstream" else f"{service.name.replace('-', '_')}_port"
    other_port = site.command("init", "--set", f"{key}=N")
    holder = port_holder(service.port)
    if holder is None:
        who = "another program listens there"
    else:
        who = f"{holder.program} (pid {holder.pid}) listens there"
        # kit's services run in SITE/cluster: name the site, whose kit down frees it.
        site_root = find_site_root(holder.cwd) if holder.cwd is not None and holder.cwd.name == "cluster" else None
        if site_root is not None and site_root != site.path:
            return (f"port {service.port} ({service.name}) is busy: {who}, started by the kit site "
                    f"{site_root}; stop that cluster with: {site_command(site_root, 'down')}; nothing was started")
    return (f"port {service.port} ({service.name}) is busy: {who}; stop it, or pick another port with: "
            f"{other_port}; nothing was started")


# -- devpi's first start ------------------------------------------------------------------


def init_data(site: Site, supervisor: Supervisor, names: list[str], env: dict, say: Say) -> None:
    """devpi-init the data folders that do not exist yet (master and mirror in parallel)."""
    jobs = []
    for name, config in (("master", "master.yml"), ("mirror", "mirror.yml")):
        if name not in names or (supervisor.run_dir / name).exists():
            continue
        primary = name == "master"
        argv = init_argv(program("devpi-init"), config, primary=primary,
                         own_root_pypi=site.answers.mirror_url is not None)
        # The admin password travels in the environment, never on a command line.
        job_env = init_env(env, site.answers.admin_password if primary else None)
        jobs.append((name, supervisor.spawn(name, argv, job_env, detached=False)))
        say(f"{name:8} creating its data folder run/{name}")
    for name, proc in jobs:
        code = proc.wait()
        if code != 0:
            raise ClusterError(f"{name}: devpi-init failed (exit {code}): {supervisor.last_line(name)}; "
                               f"see {site.command('logs', name)}")


def configure_master(site: Site, service: Service) -> None:
    """root/pypi, root/names and one private index per team, as the answers say; safe to repeat."""
    api = DevpiAPI(service.url)
    try:
        api.login("root", site.answers.admin_password)
    except DevpiError as exc:
        if "HTTP 401" not in str(exc):
            raise ClusterError(f"master: {exc}; see {site.command('logs', 'master')}") from None
        raise ClusterError(
            "master: the admin password in kit.toml is not the master's; put the old one back "
            f"({site.command('init', '--set', 'admin_password=OLD')}) or, with the cluster down, change the "
            f"master's: cd {site.path / 'cluster'} && devpi-passwd -c master.yml root"
        ) from None
    try:
        configure_indexes(api, IndexPlan.from_answers(site.answers))
    except DevpiError as exc:
        raise ClusterError(f"master: setting up the indexes failed: {exc}; see {site.command('logs', 'master')}") from None


# -- starting in order --------------------------------------------------------------------


class Starting:
    """Services started together, each once the services it reads from (those
    starting with it) answer. :attr:`procs`: those started so far, for the
    caller to stop when a step fails."""

    def __init__(self, supervisor: Supervisor, to_start: list[Service], env: dict, say: Say):
        self.supervisor = supervisor
        self.to_start = to_start
        self.env = env
        self.say = say
        starting = {s.name for s in to_start}
        self.waits_for = {s.name: [d for d in _STARTS_AFTER.get(s.name, ()) if d in starting] for s in to_start}
        self.procs: dict[str, subprocess.Popen] = {}
        self.answering: set[str] = set()

    def _start_ready(self) -> None:
        """Start each service whose origins (those starting with it) answer by now."""
        for service in self.to_start:
            if service.name not in self.procs and all(d in self.answering for d in self.waits_for[service.name]):
                self.procs[service.name] = self.supervisor.start(service, self.env)
                self.say(f"{service.name:8} starting on {service.url} ({service.role})")

    def run(self, started_at: float, configure_master: Callable[[Service], None]) -> None:
        """Start them all and wait until each is healthy; ``configure_master`` runs
        once the master answers (while the mirror starts)."""
        self._start_ready()
        for service in self.to_start:  # an origin comes before the services that wait for it
            self.supervisor.wait_healthy(service, self.procs[service.name])
            self.answering.add(service.name)
            if service.name == "master":
                self._start_ready()  # the mirror starts while the master is configured
                configure_master(service)
            self.say(f"{service.name:8} healthy after {time.monotonic() - started_at:.1f} s")
            self._start_ready()


#: Loopback names, for NO_PROXY: the services reach each other there.
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def service_env(environ) -> dict[str, str]:
    """The services' environment: the user's, without devpi settings (the
    config files say everything), and with loopback exempt from any proxy.

    A proxy may be how the master reaches the upstream, so it is kept; but the
    mirror must reach the master on 127.0.0.1 directly.
    """
    env = {k: v for k, v in environ.items() if not k.startswith("DEVPISERVER_")}
    for key in ("NO_PROXY", "no_proxy"):
        present = [name.strip() for name in env.get(key, "").split(",") if name.strip()]
        env[key] = ",".join(present + [name for name in _LOOPBACK if name not in present])
    return env
