"""The hosts of a site spread over machines: the answers ``hosts`` and
``floating_address``, their rules, and the model the per-host bundles are made from.

In ``kit.toml``::

    floating_address = "198.18.0.10"   # the one address clients use

    [hosts.lb1]
    address = "198.18.0.2"
    roles = ["balancer"]

A site without a ``hosts`` table is today's single-host site, unchanged: its
``kit.toml`` holds neither key. ``host`` stays the name clients type; it may
be the floating address itself.

The rules, each refused in one line naming the fix (an
:class:`~kit.core.errors.AnswerError` like every other answer):

* ``hosts`` is a table of at most :data:`MAX_HOSTS` hosts, each a table with
  exactly ``address`` and ``roles``; the wizard and ``--set hosts=`` take the
  same in one line, ``lb1=198.18.0.2:balancer, db=198.18.0.6:master+mirror``
  (:data:`TEXT_FORM`; nothing is no hosts). A host's name follows the team-name
  rule (lowercase letters, digits and ``-``, starting with a letter, at most
  32 characters): it names the folder ``hosts/NAME/``.
* ``address``: one IP address, IPv4 or IPv6 (:func:`kit.site.validate.address`),
  no two hosts the same. Either every address (the floating one too) is a
  loopback address (one machine, as in the tutorial) or none is: another
  machine cannot reach a loopback address.
* ``roles``: at least one of :data:`ROLES`, each listed once (a repeat is
  dropped), kept in :data:`ROLES`' order.
* Exactly one host has the role ``master``.
* The edges of a site spread over hosts are kit's own (``edge = "python"``).
* No host is both ``balancer`` and ``edge``: both listen on ``edge_port`` at its address.
* ``balancer``, ``edge`` and ``mirror`` need the ``cluster`` setup, and the
  cluster setup needs at least one ``edge`` and one ``mirror`` host;
  ``public-mirror`` needs the ``public-mirror`` setup, which then needs
  exactly one ``public-mirror`` host (its one copy, served by every edge).
* ``floating_address`` is answered after the hosts and checked against them:
  a ``balancer`` needs ``floating_address``, and ``floating_address`` needs a
  balancer; it is no host's own address (the balancers move it between
  them), of the balancers' IP version, and when ``host`` is an IP address it
  is the floating address (else clients would go round the balancers).

Several edges without a balancer are allowed (clients may be spread by DNS);
so are several roles on one host.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Iterable

from kit.core.errors import AnswerError
from kit.site import validate

__all__ = ["Host", "ROLES", "MAX_HOSTS", "parse_hosts", "parse_floating_address", "hosts_with", "host_of",
           "hosts_table", "hosts_toml", "hosts_text", "TEXT_FORM"]

#: What a host may run, in the order a host's roles are written.
ROLES = {
    "balancer": "haproxy in front of the edges, and keepalived moving the floating address between balancers",
    "edge": "a CDN edge the balancers send clients to",
    "master": "the devpi primary: the indexes and every upload",
    "mirror": "a devpi replica following the master, read when the master is down",
    "public-mirror": "bandersnatch's static public mirror, served by every edge",
}
#: A site's hosts; past this, one site is too many machines to start and check in one go: make several.
MAX_HOSTS = 32
#: The keys of one ``[hosts.NAME]`` table.
HOST_KEYS = ("address", "roles")
#: Which setup each role needs.
_ROLE_SETUP = {"balancer": "cluster", "edge": "cluster", "mirror": "cluster", "public-mirror": "public-mirror"}
_TABLE_FIX = 'write [hosts.NAME] tables with address = "198.18.0.2" and roles = ["master"] in a kit.toml'


@dataclass(frozen=True)
class Host:
    """One machine of the site: its name (``hosts/NAME/``), its address and what it runs."""

    name: str
    address: str
    roles: tuple[str, ...]


def parse_floating_address(raw: Any, answers: dict | None = None) -> str:
    """The address clients use, moved between the balancers; "" (none) for a site without balancers.
    Checked against the hosts (answered before it) and ``host``."""
    answers = answers or {}
    floating = "" if raw is None or (isinstance(raw, str) and not raw.strip()) else \
        validate.address("floating_address", raw)
    hosts = tuple(answers.get("hosts", ()))
    if not hosts:
        if floating:
            raise AnswerError("floating_address", "floating_address is set but the site has no hosts table; "
                              "leave it empty, or add hosts with the role balancer")
        return ""
    _check_floating(hosts, floating, answers.get("host", ""))
    return floating


def parse_hosts(raw: Any, answers: dict | None = None) -> tuple[Host, ...]:
    """The ``hosts`` table, sorted by name, checked against the rest of the answers
    (``setups``, ``host``, ``floating_address``; see the module's rules)."""
    answers = answers or {}
    if isinstance(raw, str):
        raw = _from_text(raw)
    if raw is None or raw == ():
        raw = {}
    if not isinstance(raw, dict):
        raise AnswerError("hosts", f"expected a table of hosts, got {validate.show(raw)}; {_TABLE_FIX}")
    if len(raw) > MAX_HOSTS:
        raise AnswerError("hosts", f"{len(raw)} hosts; a site takes at most {MAX_HOSTS}: split them into "
                          "several sites")
    hosts = tuple(sorted((_parse_host(name, value) for name, value in raw.items()), key=lambda h: h.name))
    _check_addresses(hosts)
    if not hosts:
        return ()
    _check_roles(hosts, tuple(answers.get("setups", ())))
    if answers.get("edge") == "varnish" and "cluster" in answers.get("setups", ()):
        raise AnswerError("edge", "edge = varnish is not yet built for a site spread over hosts; answer "
                          "edge = python (kit's edge) for now")
    return hosts


#: The one-line form of the hosts (the wizard's, and ``--set hosts=``).
TEXT_FORM = "NAME=ADDRESS:ROLE+ROLE, ..."
_TEXT_EXAMPLE = "lb1=198.18.0.2:balancer, edge1=198.18.0.4:edge, db=198.18.0.6:master+mirror"


def _from_text(text: str) -> dict[str, dict[str, Any]]:
    """``lb1=198.18.0.2:balancer, m=[2001:db8::6]:master+mirror`` → the table kit.toml holds;
    "" is no hosts. Each entry's refusal names the entry and shows the form."""
    table: dict[str, dict[str, Any]] = {}
    for entry in (part.strip() for part in text.replace("\n", ",").split(",")):
        if not entry:
            continue
        name, equals, rest = entry.partition("=")
        address, colon, roles = rest.rpartition(":")
        if not equals or not colon or not address or not roles:
            raise AnswerError("hosts", f"{validate.show(entry)} is not NAME=ADDRESS:ROLE; write the hosts like "
                              f"{_TEXT_EXAMPLE}")
        name = name.strip()
        if name in table:
            raise AnswerError("hosts", f"host {validate.show(name)} is given twice; give each host once")
        address = address.strip()
        if address.startswith("[") and address.endswith("]"):
            address = address[1:-1]
        table[name] = {"address": address, "roles": [role.strip() for role in roles.split("+")]}
    return table


def hosts_text(hosts: Iterable[Host]) -> str:
    """The hosts in their one-line form (what :func:`parse_hosts` reads back)."""
    return ", ".join(f"{host.name}={f'[{host.address}]' if ':' in host.address else host.address}:"
                     f"{'+'.join(host.roles)}" for host in hosts)


def _parse_host(name: Any, value: Any) -> Host:
    if not isinstance(name, str) or not validate.TEAM_RE.fullmatch(name):
        suggestion = validate.suggest_team_name(name) if isinstance(name, str) and name.isprintable() else None
        raise AnswerError("hosts", f"invalid host name {validate.show(name)}; {validate.TEAM_RULE}"
                          + (f" (try {suggestion!r})" if suggestion else ""))
    if not isinstance(value, dict):
        raise AnswerError("hosts", f"host {name!r} is {validate.show(value)}, not a table; write [hosts.{name}] "
                          'with address = "198.18.0.2" and roles = ["master"]')
    for key in value:
        if key not in HOST_KEYS:
            raise AnswerError("hosts", f"unknown key {validate.show(key)} in [hosts.{name}]"
                              f"{validate.did_you_mean(key, HOST_KEYS)}; a host has address and roles")
    for key in HOST_KEYS:
        if key not in value:
            raise AnswerError("hosts", f"[hosts.{name}] has no {key}; add it, like "
                              + ('address = "198.18.0.2"' if key == "address" else 'roles = ["edge"]'))
    address = validate.address(f"hosts.{name}.address", value["address"])
    return Host(name, address, _parse_roles(name, value["roles"]))


def _parse_roles(name: str, raw: Any) -> tuple[str, ...]:
    key = f"hosts.{name}.roles"
    if not isinstance(raw, (list, tuple)) or not all(isinstance(role, str) for role in raw):
        raise AnswerError(key, f"expected a list of roles, got {validate.show(raw)}; write it like "
                          f'["edge"], from {", ".join(ROLES)}')
    for role in raw:
        if role not in ROLES:
            validate.choice(key, role, ROLES, refusal="unknown role", fix=f"choose from {', '.join(ROLES)}",
                            exact=True)
    if not raw:
        raise AnswerError(key, f"host {name!r} has no role; give it at least one of {', '.join(ROLES)}, "
                          "or remove the host")
    return tuple(role for role in ROLES if role in raw)


def _check_addresses(hosts: tuple[Host, ...]) -> None:
    owners: dict[str, str] = {}
    for host in hosts:
        if host.address in owners:
            raise AnswerError("hosts", f"address {host.address} is used by hosts {owners[host.address]!r} and "
                              f"{host.name!r}; give each host its own address")
        owners[host.address] = host.name
    loopback = [host for host in hosts if ipaddress.ip_address(host.address).is_loopback]
    if loopback and len(loopback) != len(hosts):
        other = next(host for host in hosts if host not in loopback)
        raise AnswerError("hosts", f"host {loopback[0].name!r} has the loopback address {loopback[0].address} but "
                          f"{other.name!r} does not, and other machines cannot reach a loopback address; give "
                          "every host a loopback address (all on one machine) or none")


def _check_roles(hosts: tuple[Host, ...], setups: tuple[str, ...]) -> None:
    masters = hosts_with(hosts, "master")
    if not masters:
        raise AnswerError("hosts", "no host has the role master; give it to exactly one host (the devpi primary)")
    if len(masters) > 1:
        raise AnswerError("hosts", f"hosts {masters[0].name!r} and {masters[1].name!r} both have the role master; "
                          "a site has one master: give the other the role mirror")
    for host in hosts:
        for role in host.roles:
            setup = _ROLE_SETUP.get(role)
            if setup is not None and setup not in setups:
                raise AnswerError("hosts", f"host {host.name!r} has the role {role}, which needs the {setup} setup; "
                                  f"add {setup} to setups or remove the role")
    needed = [("cluster", "edge"), ("cluster", "mirror"), ("public-mirror", "public-mirror")]
    for setup, role in needed:
        if setup in setups and not hosts_with(hosts, role):
            raise AnswerError("hosts", f"the {setup} setup needs a host with the role {role}, and no host has it; "
                              "add the role to a host")
    for host in hosts:
        if {"balancer", "edge"} <= set(host.roles):
            raise AnswerError("hosts", f"host {host.name!r} is both balancer and edge, which both take edge_port on "
                              "its address; give the balancers hosts of their own")
    public = hosts_with(hosts, "public-mirror")
    if len(public) > 1:
        raise AnswerError("hosts", f"hosts {public[0].name!r} and {public[1].name!r} both have the role "
                          "public-mirror; the site keeps one public mirror (every edge serves it): keep one")


def _check_floating(hosts: tuple[Host, ...], floating: str, client_host: str) -> None:
    balancers = hosts_with(hosts, "balancer")
    if balancers and not floating:
        raise AnswerError("floating_address", f"host {balancers[0].name!r} is a balancer but floating_address is "
                          "empty; give the address clients use, one no host has")
    if not floating:
        return
    if not balancers:
        raise AnswerError("floating_address", "floating_address is set but no host has the role balancer; "
                          "give the role balancer to one or two hosts, or leave floating_address empty")
    for host in hosts:
        if host.address == floating:
            raise AnswerError("floating_address", f"{floating} is the address of host {host.name!r}; give an "
                              "address no host has: the balancers move it between them")
    ip = ipaddress.ip_address(floating)
    for host in balancers:
        if ipaddress.ip_address(host.address).version != ip.version:
            raise AnswerError("floating_address", f"{floating} is IPv{ip.version} but balancer {host.name!r} has "
                              f"an IPv{6 if ip.version == 4 else 4} address; give both the same IP version")
    if ip.is_loopback != ipaddress.ip_address(hosts[0].address).is_loopback:
        raise AnswerError("floating_address", f"{floating} is {'a' if ip.is_loopback else 'not a'} loopback "
                          f"address but the hosts' are {'not' if ip.is_loopback else 'loopback addresses'}; give "
                          "the floating address the same kind as the hosts'")
    if validate.is_ip(client_host) and ipaddress.ip_address(client_host) != ip:
        raise AnswerError("host", f"host is the address {client_host}, not floating_address {floating}; clients "
                          "would go round the balancers: answer the floating address or a name for it")


def hosts_with(hosts: Iterable[Host], role: str) -> tuple[Host, ...]:
    """The hosts that have ``role``, by name."""
    return tuple(host for host in hosts if role in host.roles)


def host_of(hosts: Iterable[Host], role: str) -> Host | None:
    """The one host with ``role`` (the master, the public mirror); None when no host has it
    (a single-host site has none). ValueError when several do: ask :func:`hosts_with`."""
    found = hosts_with(hosts, role)
    if len(found) > 1:
        raise ValueError(f"{len(found)} hosts have the role {role}")
    return found[0] if found else None


def hosts_table(hosts: Iterable[Host]) -> dict[str, dict[str, Any]]:
    """The hosts as ``kit.toml`` holds them: name → {address, roles}."""
    return {host.name: {"address": host.address, "roles": list(host.roles)} for host in hosts}


def hosts_toml(hosts: Iterable[Host], toml_value) -> list[str]:
    """The ``[hosts.NAME]`` tables of ``kit.toml`` (its last lines: a table ends only
    at the next one), each value written by ``toml_value``."""
    lines: list[str] = []
    for host in hosts:
        lines += ["", f"[hosts.{host.name}]", f"address = {toml_value(host.address)}",
                  f"roles = {toml_value(host.roles)}"]
    return lines


describe = hosts_text
