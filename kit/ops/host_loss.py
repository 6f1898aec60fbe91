"""``kit drill host-loss``: one host of a site spread over hosts lost while installs run.

Real installs run back to back through the site's client URL (``answers.base_url``:
the floating address, or the name the teams use) as the first team, as in
:mod:`kit.ops.drill`. The drill takes host NAME away, keeps it away for the
outage, then brings it back, and reports:

* failed installs, and the worst and median install time before, during and after;
* the longest stretch during which the client URL did not answer (a look at
  ``/+edge/health`` every 50 ms from this machine): how long the floating address
  took to move when the host lost is the balancer holding it;
* after the restore, how long until every host's services answer again and the
  mirror is in sync (``kit status SITE``'s view: every mirror 0 changes behind).

How the host is taken away: with ``--cut CMD --restore CMD``, the drill runs those
shell commands (``sh -c``, each bounded in time), e.g. one that takes the host's
link down; that is a network loss. Without them, on a site whose hosts are all on
this machine (loopback addresses, the tutorial's laptop), the host's services are
stopped and started again: a process loss, which the report says. Whatever was cut
is restored before the drill returns, interrupted or not.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from kit.cluster.hosts import HostRow, SiteHosts, host_cluster
from kit.cluster.lifecycle import MIRROR_CATCH_UP_SECONDS
from kit.core import http
from kit.core.errors import DrillError
from kit.core.report import plural
from kit.core.tables import Column, table_lines
from kit.core.wait import wait_until
from kit.ops.drill import Counted, Installer, Installs, _Background, _index_url, _rounded, choose_project, team_reader
from kit.site.folder import SITE_TLS, Site

__all__ = ["HostLossReport", "Window", "unanswered_windows", "drill_host_loss", "report_lines",
           "check_arguments", "POLL_INTERVAL"]

Say = Callable[[str], None]

#: Seconds between two looks at the client URL.
POLL_INTERVAL = 0.05
#: Seconds one look at the client URL may take: longer counts as not answering.
PROBE_TIMEOUT = 0.5
#: Seconds a --cut or --restore command may run.
COMMAND_TIMEOUT = 60.0
#: Seconds the drill waits, after the restore, for every host healthy and the mirror in sync.
CATCH_UP_TIMEOUT = 90.0
#: What the report says of a process loss (the default on a site all on this machine).
PROCESS_LOSS = ("a process loss, not a network loss: the host's services were stopped and started "
                "again on this machine; its address stayed up")


# -- the client URL's answers -------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A stretch during which the client URL did not answer: from the start of the first
    look that failed to the start of the next look that answered (or the end of the watch)."""

    start: float
    length: float
    #: Whether it still did not answer when the watch ended.
    open: bool = False


def unanswered_windows(looks: list[tuple[float, bool]], end: float) -> list[Window]:
    """The stretches without an answer in ``looks`` ((when a look started, whether it was
    answered), in order); one still open at ``end`` ends there."""
    windows: list[Window] = []
    since: float | None = None
    for at, answered in looks:
        if not answered and since is None:
            since = at
        elif answered and since is not None:
            windows.append(Window(since, at - since))
            since = None
    if since is not None:
        windows.append(Window(since, max(0.0, end - since), open=True))
    return windows


class _ClientWatch:
    """Looks at ``url`` every :data:`POLL_INTERVAL` in a thread, until :meth:`finish`."""

    def __init__(self, url: str, probe: Callable[[str], bool]):
        self.url = url
        self.looks: list[tuple[float, bool]] = []
        self._probe = probe
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drill-client-url", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.looks.append((started, self._probe(self.url)))
            self._stop.wait(max(0.0, POLL_INTERVAL - (time.monotonic() - started)))

    def finish(self) -> list[Window]:
        self._stop.set()
        self._thread.join(PROBE_TIMEOUT + 5)
        return unanswered_windows(list(self.looks), time.monotonic())


def _prober(site: Site) -> Callable[[str], bool]:
    """A look at the client URL as a team's client makes it: the site's CA on an https site."""
    if site.answers.site_ca:
        http.trust(str(site.path / SITE_TLS["ca"]))
    return lambda url: http.get(url, timeout=PROBE_TIMEOUT).ok


# -- the report ------------------------------------------------------------------------


@dataclass
class HostLossReport(Counted):
    host: str
    address: str
    roles: list[str]
    #: How the host was taken away: :data:`PROCESS_LOSS`, or "cut with: CMD; restored with: CMD".
    how: str
    client_url: str
    project: str
    client: str
    before: Installs
    during: Installs
    after: Installs
    #: Seconds from the cut until the restore began.
    lost_for: float
    #: The stretches during which the client URL did not answer (``start``: seconds after the cut began).
    unanswered: list[Window] = field(default_factory=list)
    #: Seconds from the restore until every host's services answered; None: not within the timeout.
    healthy_after: float | None = None
    #: Seconds from the restore until, besides, every mirror was in sync; None: not within the timeout.
    caught_up_after: float | None = None

    @property
    def longest_unanswered(self) -> float:
        return max((w.length for w in self.unanswered), default=0.0)

    @property
    def ok(self) -> bool:
        """No install failed."""
        return self.failed == 0

    def as_dict(self) -> dict:
        """Plain data for JSON; seconds to the millisecond, windows from the cut."""
        data = _rounded(asdict(self))
        data.update(ok=self.ok, installs=self.count, failed=self.failed,
                    longest_unanswered=round(self.longest_unanswered, 3))
        return data


_LOOP_COLUMNS = [Column("", 8), Column("installs", 8, right=True), Column("failed", 6, right=True),
                 Column("worst", 8, right=True), Column("median", 8, right=True)]


def _seconds(value: float | None, what: str) -> str:
    return f"{what} after {value:.1f} s" if value is not None else f"not {what} within {CATCH_UP_TIMEOUT:g} s"


def report_lines(report: HostLossReport) -> list[str]:
    """The report as text: what was lost and how, the installs, the client URL, the recovery, the verdict."""
    lines = [f"drill host-loss: host {report.host} ({report.address}: {', '.join(report.roles)}) lost for "
             f"{report.lost_for:.1f} s; {report.project} installed with {report.client or 'a client'} "
             f"from {report.client_url}",
             f"  {report.how}", ""]
    loops = (("before", report.before), ("during", report.during), ("after", report.after))
    lines += table_lines(_LOOP_COLUMNS, ([label, loop.count, loop.failed, f"{loop.worst:.2f} s", f"{loop.median:.2f} s"]
                                         for label, loop in loops), indent="  ")
    for _label, loop in loops:
        lines += [f"  failed: {error}" for error in loop.errors]
    lines.append("")
    if not report.unanswered:
        lines.append("client URL: answered all along")
    else:
        still = " (still not answering when the drill ended)" if report.unanswered[-1].open else ""
        lines.append(f"client URL: did not answer for at most {report.longest_unanswered:.2f} s "
                     f"({plural(len(report.unanswered), 'stretch', 'stretches')}){still}")
    lines.append(f"after the restore: every host {_seconds(report.healthy_after, 'healthy')}, "
                 f"the mirror {_seconds(report.caught_up_after, 'in sync')}")
    lines.append("")
    if report.ok:
        lines.append(f"drill passed: {plural(report.count, 'install')}, none failed")
    else:
        lines.append(f"drill failed: {report.failed} of {plural(report.count, 'install')} failed")
    return lines


# -- before anything runs ----------------------------------------------------------------


def check_arguments(site: Site, host: str, *, outage: float, cut: str | None, restore: str | None) -> SiteHosts:
    """The refusals that need no server, each one line naming the fix; the site's hosts."""
    answers = site.answers
    if not outage > 0:
        raise DrillError(f"--outage {outage:g}: the host must stay lost for more than 0 seconds; pass e.g. --outage 5")
    if (cut is None) != (restore is None):
        given, missing = ("--cut", "--restore") if restore is None else ("--restore", "--cut")
        raise DrillError(f"{given} without {missing}: pass both (the command that takes the host away and the one "
                         f"that brings it back), or neither on a site whose hosts are all on this machine")
    if any(command is not None and not command.strip() for command in (cut, restore)):
        raise DrillError("--cut and --restore must each be a command; pass e.g. --cut 'ssh HOST sudo ip link set "
                         "eth0 down' --restore 'ssh HOST sudo ip link set eth0 up'")
    if site.is_bundle:
        raise DrillError(f"{site} is the bundle of host {answers.this_host!r}; run the drill on the whole site's "
                         f"folder (the one holding {answers.this_host}'s bundle in hosts/)")
    if not answers.is_multi_host or len(answers.hosts) < 2:
        raise DrillError(f"{site} runs on one host, so there is no other to lose; on it, run: "
                         f"{site.command('drill', 'failover')}")
    if host not in {h.name for h in answers.hosts}:
        known = ", ".join(h.name for h in answers.hosts)
        raise DrillError(f"{site} has no host {host!r}; pass --host with one of: {known}")
    hosts = SiteHosts(site)
    if cut is None and not hosts.on_this_machine:
        raise DrillError(f"{site}'s hosts are other machines: pass --cut CMD --restore CMD that take host {host}'s "
                         f"network away and bring it back (e.g. --cut 'ssh {host} sudo ip link set eth0 down')")
    _index_url(site)  # a site without a team index is refused here too
    return hosts


def _check_healthy(hosts: SiteHosts) -> None:
    rows = hosts.status()
    trouble = [r for r in rows if not r.healthy]
    if trouble:
        shown = ", ".join(f"{r.host}/{r.name} {'not healthy' if r.running else 'not answering'}" for r in trouble)
        fix = (hosts.site.command("up") if hosts.on_this_machine
               else f"kit up BUNDLE on each host, see {hosts.site.command('status')}")
        raise DrillError(f"the site is not fully up ({shown}); the drill needs every host healthy: start it "
                         f"with: {fix}")
    if not _settled(rows)[1]:
        rows = wait_until(hosts.status, MIRROR_CATCH_UP_SECONDS, 0.2, accept=lambda rows: _settled(rows)[1])
    behind = [r for r in rows if r.name == "mirror" and not r.in_sync]
    if behind:
        raise DrillError(f"the mirror on {behind[0].host} is not in sync with the master ({behind[0].detail}); "
                         f"wait, or see {hosts.site.command('status')}")


def _settled(rows: list[HostRow]) -> tuple[bool, bool]:
    """(every service healthy, and besides every mirror in sync)."""
    healthy = all(r.healthy for r in rows)
    return healthy, healthy and all(r.in_sync for r in rows if r.name == "mirror")


# -- taking the host away and back ---------------------------------------------------------


def _shell(option: str, command: str, say: Say) -> None:
    """Run ``command`` with ``sh -c``, bounded in time; :class:`DrillError` when it fails."""
    say(f"drill: {option}: {command}")
    try:
        done = subprocess.run(["sh", "-c", command], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise DrillError(f"{option} did not finish within {COMMAND_TIMEOUT:g} s: {command}; give a command that "
                         f"returns (put a long wait in the background)") from None
    if done.returncode != 0:
        said = " | ".join(line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip())[-300:]
        raise DrillError(f"{option} exited {done.returncode}: {command}: {said or 'no output'}; fix the command "
                         f"and check the host with: kit status")


class _Loss:
    """How host ``name`` is taken away and brought back."""

    def __init__(self, site: Site, name: str, cut: str | None, restore: str | None, say: Say):
        self.site, self.name, self.say = site, name, say
        self.cut_command, self.restore_command = cut, restore
        self.how = PROCESS_LOSS if cut is None else f"cut with: {cut}; restored with: {restore}"

    def cut(self) -> None:
        if self.cut_command is not None:
            _shell("--cut", self.cut_command, self.say)
        else:
            self.say(f"drill: stopping host {self.name}'s services…")
            host_cluster(self.site, self.name).down(say=lambda line: self.say(f"drill:   {line}"))

    def restore(self) -> None:
        if self.restore_command is not None:
            _shell("--restore", self.restore_command, self.say)
        else:
            self.say(f"drill: starting host {self.name}'s services again (kit up --host {self.name})…")
            host_cluster(self.site, self.name).up(say=lambda line: self.say(f"drill:   {line}"))


def _recover(hosts: SiteHosts, since: float) -> tuple[float | None, float | None]:
    """Seconds from ``since`` until every host was healthy, and until every mirror was in sync too."""
    healthy_at = synced_at = None
    deadline = since + CATCH_UP_TIMEOUT
    while time.monotonic() < deadline:
        looked = time.monotonic()
        healthy, synced = _settled(hosts.status())
        if healthy and healthy_at is None:
            healthy_at = looked - since
        if synced:
            return healthy_at, looked - since
        time.sleep(0.1)
    return healthy_at, synced_at


# -- the drill -------------------------------------------------------------------------------


def drill_host_loss(site: Site, host: str, say: Say = print, *, project: str | None = None, outage: float = 5.0,
                    cut: str | None = None, restore: str | None = None, settle: float = 1.0) -> HostLossReport:
    """Lose ``host`` for ``outage`` seconds while installs run through the site's client URL; bring
    it back even when interrupted. ``settle``: seconds of installs before the cut and after the
    site is whole again."""
    hosts = check_arguments(site, host, outage=outage, cut=cut, restore=restore)
    _check_healthy(hosts)
    project = choose_project(site, project)
    installer = Installer(_index_url(site), project, team_reader(site))
    ca = site.path / SITE_TLS["ca"] if site.answers.site_ca else None
    if ca is not None:
        installer = _TrustingInstaller(installer, ca)
    the_host = next(h for h in site.answers.hosts if h.name == host)
    loss = _Loss(site, host, cut, restore, say)
    client_url = site.answers.base_url
    say(f"drill: installing {project} with {installer.client} from {installer.index_url}; losing host {host} "
        f"({the_host.address}: {', '.join(the_host.roles)})")
    before = installer.loop(settle)
    say(f"drill: before: {before.summary()}")
    watch = _ClientWatch(f"{client_url}/+edge/health", _prober(site))
    background: _Background | None = None
    lost = True  # from here on, whatever the cut did is undone, even if it failed half-way
    try:
        cut_at = time.monotonic()
        loss.cut()
        # In the background, so that the host comes back after the outage even when an
        # install hangs on it: the installs of the loss are those until the restore is done.
        background = _Background(installer)
        time.sleep(outage)
        restored_at = time.monotonic()
        try:
            loss.restore()
        except DrillError:
            lost = False  # the restore itself failed: running it again would fail the same way
            raise
        lost = False
        during = background.finish()
        say(f"drill: during the loss and the restore: {during.summary()}")
        background = _Background(installer)
        healthy_after, caught_up_after = _recover(hosts, restored_at)
        if caught_up_after is None:
            say(f"drill: warning: the site was not whole again within {CATCH_UP_TIMEOUT:g} s; see "
                f"{site.command('status')}")
        time.sleep(settle)
        after = background.finish()
        background = None
        say(f"drill: after the restore: {after.summary()}")
    finally:
        windows = watch.finish()
        if background is not None:
            background.stop.set()
        if lost:
            say(f"drill: stopped early; bringing host {host} back…")
            loss.restore()
    return HostLossReport(host, the_host.address, list(the_host.roles), loss.how, client_url, project,
                          installer.client, before, during, after, restored_at - cut_at,
                          [Window(w.start - cut_at, w.length, w.open) for w in windows],
                          healthy_after, caught_up_after)


class _TrustingInstaller(Installer):
    """An installer whose clients trust the site's CA (an https site with kit's own CA), as the
    team's ``ca.pem`` makes theirs do."""

    def __init__(self, plain: Installer, ca: Path):
        super().__init__(plain.index_url, plain.project, plain.reader)
        self.ca = ca

    def argv(self, target: Path) -> list[str]:
        argv = super().argv(target)
        # pip --isolated reads no variable, so its CA is an option; uv reads SSL_CERT_FILE.
        return argv if self._uv else [*argv[:-1], "--cert", str(self.ca), argv[-1]]

    def env(self, tmp: Path) -> dict[str, str]:
        return {**super().env(tmp), "SSL_CERT_FILE": str(self.ca)}
