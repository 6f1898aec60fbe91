"""Hosts as network namespaces, for tests of a site spread over machines.

A :class:`Network` is a private switch and some hosts. The switch is a network
namespace holding one Linux bridge; each host is a network namespace of its
own (same filesystem, same processes' view, its own interfaces, addresses,
routes and ports) joined to the bridge by a veth pair: ``eth0`` inside the
host, its peer (the host's "port") inside the switch namespace. Nothing is
ever created in the root namespace — no interface, no address, no route — so
nothing a test sends can leave the machine, and the hosts' addresses come
from 198.18.0.0/15, the benchmarking range, where a stray packet is obvious.
Every probe runs inside a host (:meth:`Host.run`, :meth:`Host.probe`); never
address a host from the root namespace.

Each namespace is held open by a small process started with ``unshare
--net`` (as the tutorial's private network does): nothing is mounted, and a
namespace disappears, with its interfaces, when its last process ends. The
holders die with the process that made them (PR_SET_PDEATHSIG), so a killed
test run leaves behind at most the processes it started in the hosts (their
namespaces go when they end); :meth:`Network.close` ends every process found
in a host's namespace, whoever started it, then the holders.

Needs root with ``ip`` (iproute2), ``unshare`` and ``nsenter`` (CI has all
three); :func:`unavailable` says why not, for a skip.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, Sequence

#: The hosts' subnet: in the benchmarking range 198.18.0.0/15, never routed anywhere.
SUBNET = "198.18.0.0/24"

#: Run by ``unshare --net``: die with the test process (checked after arming, in
#: case it died first), say so, then hold the new namespace open until killed.
_HOLDER = """
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)
print("up", flush=True)
signal.pause()
"""

#: Run inside a host by :meth:`Host.probe`: one bounded HTTP GET; prints the status, or the error.
_PROBE = """
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])) as response:
        print(response.status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception as e:
    print(type(e).__name__, e)
    sys.exit(1)
"""


def unavailable() -> str | None:
    """Why hosts cannot be made here (for a test's skip), or None when they can."""
    if os.geteuid() != 0:
        return "hosts as network namespaces need root (CI runs as root)"
    missing = [tool for tool in ("ip", "unshare", "nsenter") if not shutil.which(tool)]
    if missing:
        return f"hosts as network namespaces need {', '.join(missing)} (iproute2, util-linux)"
    return None


class _Namespace:
    """A network namespace held open by a holder process."""

    def __init__(self) -> None:
        self._holder = subprocess.Popen(
            ["unshare", "--net", "--", sys.executable, "-c", _HOLDER, str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if self._holder.stdout.readline().strip() != "up":
            self._holder.kill()
            _, err = self._holder.communicate()
            raise RuntimeError(f"cannot make a network namespace: {err.strip()}")
        self.path = f"/proc/{self._holder.pid}/ns/net"
        stat = os.stat(self.path)
        self.identity = (stat.st_dev, stat.st_ino)
        self.prefix = ["nsenter", f"--net={self.path}", "--"]

    @property
    def holder_pid(self) -> int:
        return self._holder.pid

    def ip(self, *args: str) -> None:
        """Run ``ip ARGS`` inside this namespace; a failure raises with ip's message."""
        done = subprocess.run([*self.prefix, "ip", *args], capture_output=True, text=True, timeout=10)
        if done.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")

    def pids(self) -> list[int]:
        """Every process in this namespace but the holder."""
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == self._holder.pid:
                continue
            try:
                stat = os.stat(proc / "ns" / "net")
            except OSError:
                continue  # gone, or a kernel thread
            if (stat.st_dev, stat.st_ino) == self.identity:
                found.append(int(proc.name))
        return found

    def close(self) -> None:
        self._holder.kill()
        self._holder.communicate()


class Host:
    """One machine: a network namespace with ``lo`` and ``eth0`` (its address on the switch)."""

    def __init__(self, network: Network, name: str, index: int, address: str) -> None:
        self.network = network
        self.name = name
        #: The address on the switch, without the prefix length: "198.18.0.1".
        self.address = address
        self.port = f"port{index}"  # its cable's end in the switch namespace (names there are private)
        self._ns = _Namespace()
        self._popens: list[subprocess.Popen] = []

    @property
    def prefix(self) -> list[str]:
        """What runs a command inside this host: ``[*host.prefix, *argv]``."""
        return self._ns.prefix

    def run(self, argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 30,
            cwd: Path | str | None = None, input: str | None = None) -> subprocess.CompletedProcess:
        """Run ``argv`` inside this host and wait (at most ``timeout`` s); output captured as text."""
        return subprocess.run([*self.prefix, *map(str, argv)], env=env, cwd=cwd, input=input,
                              capture_output=True, text=True, timeout=timeout)

    def popen(self, argv: Sequence[str], **kwargs) -> subprocess.Popen:
        """Start ``argv`` inside this host, in a session of its own; ended by :meth:`Network.close`."""
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen([*self.prefix, *map(str, argv)], start_new_session=True, **kwargs)
        self._popens.append(proc)
        return proc

    def probe(self, url: str, timeout: float = 2.0) -> str:
        """One HTTP GET of ``url`` from inside this host, bounded by ``timeout`` s:
        the status code ("200", "404") or the error ("URLError <urlopen error [Errno 111] ...>")."""
        done = self.run([sys.executable, "-c", _PROBE, url, str(timeout)], timeout=timeout + 10)
        return (done.stdout.strip() or done.stderr.strip()).splitlines()[-1]

    def wait_for(self, url: str, status: str = "200", timeout: float = 10.0) -> str:
        """Probe ``url`` from this host until it answers ``status`` or ``timeout`` s have passed; the last answer."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.probe(url, timeout=min(2.0, max(0.2, deadline - time.monotonic())))
            if answer == status or time.monotonic() >= deadline:
                return answer
            time.sleep(0.05)

    def add_address(self, address: str) -> None:
        """Give ``eth0`` one more address ("198.18.0.100/24"): a floating address, say."""
        self._ns.ip("addr", "add", address, "dev", "eth0")

    def remove_address(self, address: str) -> None:
        self._ns.ip("addr", "del", address, "dev", "eth0")

    def link_down(self) -> None:
        """Unplug this host's cable: its port on the switch goes down, so nothing
        passes either way, and the host itself sees only its carrier lost (as
        when a machine's network is taken away); its own settings stay."""
        self.network._switch.ip("link", "set", self.port, "down")

    def link_up(self) -> None:
        """Plug the cable back in."""
        self.network._switch.ip("link", "set", self.port, "up")

    def _end_processes(self, grace: float) -> None:
        for proc in self._popens:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for proc in self._popens:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        # Whatever is still in the namespace (a daemon a command started, a
        # process that ignored SIGTERM) is killed: the namespace must go.
        for _ in range(50):
            pids = self._ns.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        for proc in self._popens:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self._ns.close()


class Network:
    """A switch and hosts, each host on the switch with an address from :data:`SUBNET`.

    ``Network(["a", "b"])``: host "a" is 198.18.0.1/24, "b" 198.18.0.2/24.
    Use it as a context manager (or call :meth:`close`): everything it made
    goes, also when the body raised. Make it in the test's main thread: the
    namespaces' holders die with the thread that started them.
    """

    def __init__(self, names: Iterable[str], subnet: str = SUBNET, grace: float = 3.0) -> None:
        names = list(names)
        if len(set(names)) != len(names):
            raise ValueError(f"host names must differ: {names}")
        self.subnet = ipaddress.ip_network(subnet)
        if not self.subnet.subnet_of(ipaddress.ip_network("198.18.0.0/15")):
            raise ValueError(f"{subnet} is outside the benchmarking range 198.18.0.0/15")
        self._grace = grace
        self.hosts: dict[str, Host] = {}
        self._switch = _Namespace()
        try:
            self._switch.ip("link", "add", "switch", "type", "bridge")
            self._switch.ip("link", "set", "switch", "up")
            addresses = self.subnet.hosts()
            for index, name in enumerate(names):
                self._add_host(name, index, str(next(addresses)))
        except BaseException:
            self.close()
            raise

    def _add_host(self, name: str, index: int, address: str) -> None:
        host = self.hosts[name] = Host(self, name, index, address)
        # Made inside the switch, the pair's host end moved straight into the host:
        # neither end is ever in the root namespace.
        self._switch.ip("link", "add", host.port, "type", "veth", "peer", "name", "eth0",
                        "netns", str(host._ns.holder_pid))
        self._switch.ip("link", "set", host.port, "master", "switch")
        self._switch.ip("link", "set", host.port, "up")
        host._ns.ip("link", "set", "lo", "up")
        host._ns.ip("addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0")
        host._ns.ip("link", "set", "eth0", "up")

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def namespaces(self) -> dict[str, int]:
        """Each namespace's inode (as ``lsns`` shows it), by host name, and the switch's."""
        found = {name: host._ns.identity[1] for name, host in self.hosts.items()}
        return {**found, "switch": self._switch.identity[1]}

    def pids(self) -> list[int]:
        """Every process in any host, holders aside."""
        return [pid for host in self.hosts.values() for pid in host._ns.pids()]

    def close(self) -> None:
        """End every process in every host, then every namespace (their links go with them)."""
        for host in self.hosts.values():
            host._end_processes(self._grace)
        self._switch.close()
