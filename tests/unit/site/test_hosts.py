"""kit.site.hosts: the hosts of a site spread over machines, in kit.toml
(``[hosts.NAME]`` with address and roles, and ``floating_address``): a valid
site reads back unchanged, a single-host site is as before, and each bad
combination is refused in one line naming the fix."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest

from kit.cli.app import main
from kit.core.errors import AnswerError
from kit.site import validate
from kit.site.answers import (
    QUESTIONS, answers_from_raw, collect_answers, dump_answers, load_answers_file, parse_set_options,
)
from kit.site.hosts import MAX_HOSTS, Host

PASSWORD = "correct-horse-battery"

#: The issue's site: 2 balancers, 2 edges, master, mirror and public mirror on 7 hosts.
SEVEN = {
    "setups": ["mirror", "private", "clients", "cluster", "public-mirror"],
    "mirror_projects": ["requests"],
    "host": "198.18.0.10",
    "floating_address": "198.18.0.10",
    "admin_password": PASSWORD,
    "hosts": {
        "lb1": {"address": "198.18.0.2", "roles": ["balancer"]},
        "lb2": {"address": "198.18.0.3", "roles": ["balancer"]},
        "edge1": {"address": "198.18.0.4", "roles": ["edge"]},
        "edge2": {"address": "198.18.0.5", "roles": ["edge"]},
        "master": {"address": "198.18.0.6", "roles": ["master"]},
        "mirror": {"address": "198.18.0.7", "roles": ["mirror"]},
        "pub": {"address": "198.18.0.8", "roles": ["public-mirror"]},
    },
}


def seven(**changes) -> dict:
    raw = copy.deepcopy(SEVEN)
    raw.update(changes)
    return raw


def with_hosts(**hosts) -> dict:
    """The seven-host site with some hosts replaced (None: removed)."""
    raw = seven()
    for name, value in hosts.items():
        if value is None:
            del raw["hosts"][name]
        else:
            raw["hosts"][name] = value
    return raw


def test_a_seven_host_site_reads_back_unchanged_through_kit_toml(tmp_path):
    answers = answers_from_raw(seven())
    path = tmp_path / "kit.toml"
    path.write_text(dump_answers(answers), encoding="utf-8")
    assert answers_from_raw(load_answers_file(path)) == answers
    assert answers_from_raw(answers.as_dict()) == answers
    # The tables are the file's end; every other answer stays one key = value line before them.
    text = path.read_text()
    assert text.index('floating_address = "198.18.0.10"') < text.index("[hosts.")
    assert text.rstrip().endswith('roles = ["public-mirror"]')
    assert tomllib.loads(text)["hosts"]["lb1"] == {"address": "198.18.0.2", "roles": ["balancer"]}


def test_the_model_and_its_helpers():
    answers = answers_from_raw(seven())
    assert answers.is_multi_host and answers.floating_address == "198.18.0.10"
    assert [h.name for h in answers.hosts] == ["edge1", "edge2", "lb1", "lb2", "master", "mirror", "pub"]
    assert answers.host_of("master") == Host("master", "198.18.0.6", ("master",))
    assert answers.host_of("public-mirror").address == "198.18.0.8"
    assert [h.name for h in answers.hosts_with("balancer")] == ["lb1", "lb2"]
    assert [h.name for h in answers.hosts_with("edge")] == ["edge1", "edge2"]
    with pytest.raises(ValueError):
        answers.host_of("edge")  # two edges: there is no "the" edge


def test_roles_keep_one_order_and_ipv6_one_spelling():
    raw = with_hosts(master={"address": "2001:DB8:0::6", "roles": ["mirror", "master", "mirror"]}, mirror=None)
    raw["hosts"] = {name: host for name, host in raw["hosts"].items() if name not in ("lb1", "lb2")}
    del raw["floating_address"]
    raw["host"] = "pkgs.example.test"
    answers = answers_from_raw(raw)
    assert answers.host_of("master") == Host("master", "2001:db8::6", ("master", "mirror"))
    assert answers.floating_address == "" and not answers.hosts_with("balancer")


def test_a_site_without_hosts_is_a_single_host_site_as_before():
    answers = answers_from_raw({"admin_password": PASSWORD})
    assert answers.hosts == () and answers.floating_address == "" and not answers.is_multi_host
    assert answers.host_of("master") is None and answers.hosts_with("edge") == ()
    text = dump_answers(answers)
    assert "hosts" not in text.replace("localhost", "") and "floating_address" not in text
    # kit.toml holds exactly one key = value line per other question, as before.
    keys = [line.partition(" = ")[0] for line in text.splitlines() if line and not line.startswith("#")]
    # (varnish_exporter_port only with edge = "varnish", whose exporter it is.)
    assert keys == [q.key for q in QUESTIONS if q.key not in ("hosts", "floating_address", "public_mirror_port",
                                                            "varnish_exporter_port")]
    assert answers_from_raw(tomllib.loads(text)) == answers
    # An empty table, or --set hosts= with nothing, is no hosts too.
    assert answers_from_raw({"admin_password": PASSWORD, "hosts": {}}) == answers
    assert answers_from_raw({"admin_password": PASSWORD, **parse_set_options(["hosts="])}) == answers


REFUSALS = [
    # (id, raw answers, what the message starts with, parts it holds)
    ("no-master", with_hosts(master=None), "hosts: ", ["no host has the role master", "exactly one host"]),
    ("two-masters", with_hosts(mirror={"address": "198.18.0.7", "roles": ["master"]}), "hosts: ",
     ["'master' and 'mirror' both have the role master", "give the other the role mirror"]),
    ("balancer-without-floating", seven(floating_address="", host="pkgs.example.test"), "floating_address: ",
     ["'lb1' is a balancer", "give the address clients use"]),
    ("floating-without-balancer", with_hosts(lb1=None, lb2=None), "floating_address: ",
     ["no host has the role balancer", "or leave floating_address empty"]),
    ("floating-without-hosts", {"admin_password": PASSWORD, "floating_address": "198.18.0.10",
                                "host": "198.18.0.10"}, "floating_address: ", ["no hosts table", "leave it empty"]),
    ("floating-is-a-host", seven(floating_address="198.18.0.4", host="198.18.0.4"), "floating_address: ",
     ["198.18.0.4 is the address of host 'edge1'", "an address no host has"]),
    ("floating-other-version", seven(floating_address="2001:db8::10", host="pkgs.example.test"),
     "floating_address: ", ["is IPv6 but balancer 'lb1' has an IPv4 address", "the same IP version"]),
    ("host-is-not-floating", seven(host="198.18.0.4"), "host: ",
     ["not floating_address 198.18.0.10", "answer the floating address or a name"]),
    ("address-twice", with_hosts(edge2={"address": "198.18.0.4", "roles": ["edge"]}), "hosts: ",
     ["address 198.18.0.4 is used by hosts 'edge1' and 'edge2'", "give each host its own address"]),
    ("address-twice-spelt-two-ways", with_hosts(edge1={"address": "2001:db8::4", "roles": ["edge"]},
                                                edge2={"address": "2001:DB8:0:0::4", "roles": ["edge"]}),
     "hosts: ", ["address 2001:db8::4 is used by hosts 'edge1' and 'edge2'"]),
    ("loopback-and-not", with_hosts(edge1={"address": "127.0.0.2", "roles": ["edge"]}), "hosts: ",
     ["'edge1' has the loopback address 127.0.0.2", "a loopback address (all on one machine) or none"]),
    ("no-edge", with_hosts(edge1=None, edge2=None), "hosts: ",
     ["the cluster setup needs a host with the role edge", "add the role to a host"]),
    ("no-mirror", with_hosts(mirror=None), "hosts: ", ["the cluster setup needs a host with the role mirror"]),
    ("no-public-mirror", with_hosts(pub=None), "hosts: ",
     ["the public-mirror setup needs a host with the role public-mirror"]),
    ("two-public-mirrors", with_hosts(pub2={"address": "198.18.0.9", "roles": ["public-mirror"]}), "hosts: ",
     ["'pub' and 'pub2' both have the role public-mirror", "keep one"]),
    ("edge-without-cluster", seven(setups=["mirror", "private", "clients", "public-mirror"]), "hosts: ",
     ["'edge1' has the role edge, which needs the cluster setup", "add cluster to setups or remove the role"]),
    ("public-mirror-without-its-setup", seven(setups=["mirror", "private", "clients", "cluster"]), "hosts: ",
     ["'pub' has the role public-mirror, which needs the public-mirror setup"]),
    ("bad-name", with_hosts(**{"Edge 3": {"address": "198.18.0.9", "roles": ["edge"]}}), "hosts: ",
     ["invalid host name 'Edge 3'", "lowercase letters", "(try 'edge-3')"]),
    ("unknown-role", with_hosts(edge1={"address": "198.18.0.4", "roles": ["egde"]}), "hosts.edge1.roles: ",
     ["unknown role 'egde' (did you mean 'edge'?)", "choose from balancer, edge, master, mirror, public-mirror"]),
    ("balancer-and-edge", with_hosts(lb1={"address": "198.18.0.2", "roles": ["balancer", "edge"]}), "hosts: ",
     ["'lb1' is both balancer and edge", "give the balancers hosts of their own"]),
    ("varnish-edges", seven(edge="varnish"), "edge: ", ["edge = varnish is not yet built for a site spread over hosts",
                                                        "answer edge = python"]),
    ("roles-empty", with_hosts(edge1={"address": "198.18.0.4", "roles": []}), "hosts.edge1.roles: ",
     ["host 'edge1' has no role", "or remove the host"]),
    ("roles-not-a-list", with_hosts(edge1={"address": "198.18.0.4", "roles": "edge"}), "hosts.edge1.roles: ",
     ["expected a list of roles", '["edge"]']),
    ("hosts-not-a-table", seven(hosts=["lb1", "lb2"]), "hosts: ", ["expected a table of hosts", "[hosts.NAME]"]),
    ("host-not-a-table", with_hosts(edge1="198.18.0.4"), "hosts: ",
     ["host 'edge1' is '198.18.0.4', not a table", "write [hosts.edge1]"]),
    ("unknown-host-key", with_hosts(edge1={"adress": "198.18.0.4", "roles": ["edge"]}), "hosts: ",
     ["unknown key 'adress' in [hosts.edge1] (did you mean 'address'?)", "a host has address and roles"]),
    ("no-address", with_hosts(edge1={"roles": ["edge"]}), "hosts: ", ["[hosts.edge1] has no address", "add it"]),
    ("address-a-name", with_hosts(edge1={"address": "edge1.example.test", "roles": ["edge"]}),
     "hosts.edge1.address: ", ["is not an IP address", "like 198.18.0.2"]),
    ("address-short-form", with_hosts(edge1={"address": "0306.18.0.4", "roles": ["edge"]}),
     "hosts.edge1.address: ", ["write it as 198.18.0.4"]),
    ("address-unspecified", with_hosts(edge1={"address": "0.0.0.0", "roles": ["edge"]}), "hosts.edge1.address: ",
     ["wildcard or broadcast address, which no one connects to"]),
    ("address-newline", with_hosts(edge1={"address": "198.18.0.4\n[x]", "roles": ["edge"]}),
     "hosts.edge1.address: ", ["control character U+000A"]),
    ("floating-not-an-address", seven(floating_address="lb.example.test"), "floating_address: ",
     ["is not an IP address"]),
    ("too-many-hosts", seven(hosts={f"h{n}": {"address": f"198.18.1.{n}", "roles": ["master"]}
                                    for n in range(MAX_HOSTS + 1)}), "hosts: ",
     [f"{MAX_HOSTS + 1} hosts; a site takes at most {MAX_HOSTS}", "several sites"]),
]


@pytest.mark.parametrize("raw, start, parts", [pytest.param(*case[1:], id=case[0]) for case in REFUSALS])
def test_each_bad_combination_is_refused_in_one_line_naming_the_fix(raw, start, parts):
    with pytest.raises(AnswerError) as info:
        answers_from_raw(raw)
    message = str(info.value)
    assert message.startswith(start) and "\n" not in message, message
    for part in parts:
        assert part in message, message


def test_set_and_the_wizard_give_the_hosts_in_one_line_that_reads_back_the_same():
    text = ("lb1=198.18.0.2:balancer, lb2=198.18.0.3:balancer, edge1=198.18.0.4:edge, edge2=198.18.0.5:edge,"
            "master=198.18.0.6:master,mirror=198.18.0.7:mirror\n pub=198.18.0.8:public-mirror")
    raw = {k: v for k, v in seven().items() if k != "hosts"}
    from_text = answers_from_raw({**raw, **parse_set_options([f"hosts={text}"])})
    assert from_text == answers_from_raw(seven())
    from kit.site.hosts import hosts_text

    assert answers_from_raw({**raw, "hosts": hosts_text(from_text.hosts)}) == from_text
    v6 = answers_from_raw({"admin_password": PASSWORD, "hosts": "db=[2001:db8::6]:master+mirror, e=2001:db8::4:edge"})
    assert [(h.name, h.address, h.roles) for h in v6.hosts] == [("db", "2001:db8::6", ("master", "mirror")),
                                                               ("e", "2001:db8::4", ("edge",))]
    assert hosts_text(v6.hosts) == "db=[2001:db8::6]:master+mirror, e=[2001:db8::4]:edge"


@pytest.mark.parametrize("text, part", [
    ("lb1=198.18.0.2", "'lb1=198.18.0.2' is not NAME=ADDRESS:ROLE; write the hosts like lb1=198.18.0.2:balancer"),
    ("198.18.0.2:edge", "'198.18.0.2:edge' is not NAME=ADDRESS:ROLE"),
    ("a=198.18.0.2:master, a=198.18.0.3:edge", "host 'a' is given twice; give each host once"),
    ("a=198.18.0.2:master+egde", "unknown role 'egde' (did you mean 'edge'?)"),
])
def test_a_bad_line_of_hosts_is_refused_naming_the_entry(text, part):
    with pytest.raises(AnswerError) as info:
        answers_from_raw({"admin_password": PASSWORD, "hosts": text})
    assert part in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_the_address_rule():
    assert validate.address("a", " 198.18.0.2 ") == "198.18.0.2"
    assert validate.address("a", "2001:0DB8::0:1") == "2001:db8::1"
    assert validate.address("a", "127.0.0.2") == "127.0.0.2"  # the tutorial's hosts on one laptop
    for bad, part in [("::ffff:198.18.0.2", "write it as 198.18.0.2"), ("224.0.0.18", "multicast"),
                      ("255.255.255.255", "broadcast"), ("::", "wildcard"), ("[::1]", "not an IP address"),
                      ("fe80::1%eth0", "not an IP address"), (5, "expected an IP address"),
                      ("", "expected an IP address"), ("198.18.0.2/24", "not an IP address")]:
        with pytest.raises(AnswerError, match="^a: ") as info:
            validate.address("a", bad)
        assert part in str(info.value)


def test_the_wizard_asks_for_hosts_in_one_line_then_the_floating_address():
    asked = []
    replies = {"hosts": "db=198.18.0.6:master+mirror, e=198.18.0.4:edge, lb=198.18.0.2:balancer",
               "floating_address": "198.18.0.10", "host": "198.18.0.10"}

    def ask(question, default, answers):
        asked.append(question.key)
        return replies.get(question.key, "")

    answers = collect_answers({"admin_password": PASSWORD}, ask=ask)
    assert asked[asked.index("hosts"):][:2] == ["hosts", "floating_address"]  # asked once there is a balancer
    assert [(h.name, h.roles) for h in answers.hosts] == [("db", ("master", "mirror")), ("e", ("edge",)),
                                                         ("lb", ("balancer",))]
    assert answers.floating_address == "198.18.0.10"
    # Without a balancer, no floating address is asked; without the cluster, no hosts.
    asked.clear()
    replies["hosts"] = "db=198.18.0.6:master+mirror, e=198.18.0.4:edge"
    replies["host"] = "127.0.0.1"
    collect_answers({"admin_password": PASSWORD}, ask=ask)
    assert "hosts" in asked and "floating_address" not in asked
    asked.clear()
    collect_answers({"admin_password": PASSWORD, "setups": "mirror,private"}, ask=ask)
    assert "hosts" not in asked
    # The default shown for an existing site's hosts is that line, which reads back the same.
    hosts = next(q for q in QUESTIONS if q.key == "hosts")
    seven_answers = answers_from_raw(seven())
    assert hosts.to_text(seven_answers.hosts).startswith("edge1=198.18.0.4:edge, edge2=198.18.0.5:edge, lb1=")
    assert answers_from_raw({**seven(), "hosts": hosts.to_text(seven_answers.hosts)}) == seven_answers
    # A kit.toml whose hosts no longer fit the other answers is refused, not asked at a prompt.
    base = answers_from_raw(seven()).as_dict()
    with pytest.raises(AnswerError, match="needs the cluster setup"):
        collect_answers({"setups": "mirror,private,clients,public-mirror"}, base, ask=ask)


def test_kit_init_answers_refuses_a_bad_hosts_table_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text = dump_answers(answers_from_raw(seven())).replace('roles = ["master"]', 'roles = ["mirror"]')
    Path("answers.toml").write_text(text)
    for argv, part in [(["init", "site", "--answers", "answers.toml"], "hosts: no host has the role master"),
                       (["init", "site", "--no-input", "--set", "hosts=lb1"], "hosts: 'lb1' is not NAME=ADDRESS:ROLE")]:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1, err
        assert part in err and "Traceback" not in err
    assert not (tmp_path / "site").exists()
