"""A balancer's part that needs the machine: which interface holds its address, the
final keepalived.conf and haproxy's certificate file, and haproxy's and keepalived's
own checks of their configurations (``haproxy -c``, ``keepalived -t``).

The text of the configurations is :mod:`kit.site.balancer`'s.
"""

from __future__ import annotations

import ipaddress
import re
import json
import subprocess
from pathlib import Path
from typing import Sequence

from kit.core.errors import ClusterError
from kit.site.answers import Answers
from kit.site.balancer import HAPROXY_PEM, KEEPALIVED_CONF, keepalived_conf, needs_keepalived, program
from kit.site.hosts import Host
from kit.site.templating import write_private

__all__ = ["interface_of", "prepare_balancer", "write_haproxy_pem", "check_haproxy", "check_keepalived"]

#: haproxy and keepalived read a configuration in well under a second; a slow machine gets more.
_CHECK_TIMEOUT = 30


def interface_of(address: str, addresses_json: str | None = None) -> str:
    """The interface that holds ``address`` (as ``ip -j addr`` lists it, or as given in
    ``addresses_json``); a ClusterError naming the fix when none does."""
    if addresses_json is None:
        try:
            done = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ClusterError(f"cannot list this machine's addresses with `ip -j addr` ({e}); install "
                               "iproute2") from None
        addresses_json = done.stdout
    wanted = ipaddress.ip_address(address)
    try:
        links = json.loads(addresses_json or "[]")
    except ValueError:
        links = []
    for link in links:
        for info in link.get("addr_info", ()):
            try:
                if ipaddress.ip_address(info.get("local", "")) == wanted:
                    return link["ifname"]
            except ValueError:
                continue
    raise ClusterError(f"no interface of this machine has the address {address}; run this host's part on the "
                       "machine with that address, or correct its address in kit.toml and run kit init again")


def write_haproxy_pem(cert_path: Path, key_path: Path, dest: Path) -> None:
    """haproxy's ``crt``: the certificate chain and its key in one file, readable by its owner only."""
    try:
        text = Path(cert_path).read_text(encoding="ascii").rstrip("\n") + "\n" + \
            Path(key_path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as e:
        raise ClusterError(f"cannot read the TLS certificate or key for haproxy ({e}); run kit init again, or "
                           "give tls_cert and tls_key files this user can read") from None
    write_private(Path(dest), text, 0o600)


def prepare_balancer(answers: Answers, host: Host, cluster_dir: Path, *, cert: Path | None = None,
                     key: Path | None = None, interface: str | None = None) -> list[Path]:
    """Before balancer ``host`` starts: write, into ``cluster_dir``/run, keepalived.conf (with
    the interface holding the host's address, or ``interface``) when the site needs it, and
    haproxy's certificate file (from ``cert`` and ``key``) on an https site; the files written."""
    run_dir = Path(cluster_dir).absolute() / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if answers.tls:
        if cert is None or key is None:
            raise ClusterError("haproxy ends TLS on an https site and needs the certificate and its key; give "
                               "them (the site's tls/server.pem and tls/server-key.pem)")
        write_haproxy_pem(cert, key, run_dir / HAPROXY_PEM)
        written.append(run_dir / HAPROXY_PEM)
    if needs_keepalived(answers):
        interface = interface or interface_of(host.address)
        conf = keepalived_conf(answers, host, interface, str(run_dir))
        write_private(run_dir / KEEPALIVED_CONF, conf, 0o644)
        written.append(run_dir / KEEPALIVED_CONF)
    return written


def _check(argv: Sequence[str], what: str, path: Path, prefix: Sequence[str]) -> None:
    try:
        done = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=_CHECK_TIMEOUT)
    except FileNotFoundError:
        raise ClusterError(f"{argv[0]} is not installed; install Debian's {Path(argv[0]).name} package "
                           "(apt install haproxy keepalived) on the balancers") from None
    except subprocess.TimeoutExpired:
        raise ClusterError(f"{what} took over {_CHECK_TIMEOUT} s to check {path}; is the machine overloaded?") \
            from None
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr + "\n" + done.stdout).splitlines() if line.strip()]
        # haproxy says "[ALERT]    (PID) : config : parsing [FILE:LINE] : WHAT"; keepalived names the line.
        alerts = [line for line in lines if line.startswith("[ALERT]")] or lines or ["no reason given"]
        first = re.sub(r"^\[ALERT\]\s*\(\d+\)\s*:\s*", "", alerts[0])
        raise ClusterError(f"{what} refuses {path}: {first}; run kit init again to rewrite it")


def check_haproxy(cfg_path: Path, prefix: Sequence[str] = ()) -> None:
    """``haproxy -c``: the configuration is valid (a ClusterError with haproxy's first complaint if not).
    ``prefix`` runs it elsewhere (inside a network namespace, in tests)."""
    cfg_path = Path(cfg_path).absolute()
    _check([program("haproxy"), "-c", "-C", str(cfg_path.parent), "-f", str(cfg_path)], "haproxy",
           cfg_path, prefix)


def check_keepalived(conf_path: Path, prefix: Sequence[str] = ()) -> None:
    """``keepalived -t``: the configuration is valid on this machine (its interface exists)."""
    conf_path = Path(conf_path).absolute()
    _check([program("keepalived"), "-t", "-f", str(conf_path)], "keepalived", conf_path, prefix)
