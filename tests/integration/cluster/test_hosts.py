"""A site spread over hosts on one machine (each host its own loopback address, as in
the tutorial): each host's part started from its bundle with ``kit up SITE --host NAME``,
``kit status SITE`` asking every host over the network, a team reading and uploading
through either edge, purges reaching every edge on every host over TLS, and ``kit down``."""

from __future__ import annotations

import json
import random
import ssl
import time

import httpx
import pytest

from kit.ops.sample import make_wheel
from tests.conftest import BIN, clean_env, kit_cmd, run
from tests.support.clients import new_venv, without_machine_cas
from kit.core.processes import free_ports

PRIVATE = "kitdemo-spread"


def hosts_toml(prefix: str) -> str:
    return "\n".join(f'[hosts.{name}]\naddress = "{prefix}.{n}"\nroles = {roles}\n' for name, n, roles in (
        ("master", 4, '["master"]'), ("mirror", 5, '["mirror"]'), ("edge1", 6, '["edge"]'),
        ("edge2", 7, '["edge"]')))


@pytest.fixture(scope="module")
def spread(tmp_path_factory, dists):
    root = tmp_path_factory.mktemp("spread")
    env = without_machine_cas(clean_env(root / "home"))
    prefix = f"127.{random.randint(20, 250)}.{random.randint(1, 250)}"  # apart from other tests' sites
    ports = free_ports(5)
    answers = root / "answers.toml"
    answers.write_text(
        f'setups = ["mirror", "private", "clients", "cluster"]\nupstream = "{dists.upstream_folder}"\n'
        f'teams = ["web"]\nread_access = "team"\nhost = "{prefix}.6"\nscheme = "https"\n'
        f"master_port = {ports[0]}\nmirror_port = {ports[1]}\nedge_port = {ports[2]}\n"
        f"upstream_port = {ports[3]}\nhttp_port = {ports[4]}\n\n" + hosts_toml(prefix))
    site = root / "site"
    run(kit_cmd("init", str(site), "--no-input", "--answers", str(answers)), env=env)
    try:
        yield site, env, prefix, ports
    finally:
        run(kit_cmd("down", str(site)), env=env, check=False)


def test_each_host_starts_from_its_bundle_and_status_asks_every_host(spread):
    site, env, prefix, _ports = spread
    for host in ("master", "mirror", "edge1", "edge2"):
        started = time.monotonic()
        up = run(kit_cmd("up", str(site), "--host", host), env=env)
        print(f"kit up --host {host}: {time.monotonic() - started:.2f} s")
        assert f"host {host} up" in up.stdout, up.stdout
    started = time.monotonic()
    status = run(kit_cmd("status", str(site), "--json"), env=env)
    print(f"kit status (4 hosts): {time.monotonic() - started:.2f} s")
    rows = json.loads(status.stdout)
    assert [(r["host"], r["name"], r["healthy"]) for r in rows] == [
        ("master", "upstream", True), ("master", "master", True), ("mirror", "mirror", True),
        ("edge1", "edge", True), ("edge2", "edge", True)]
    # Each service listens on its host's address only.
    assert {r["host"]: r["address"] for r in rows}["edge2"] == f"{prefix}.7"
    # Again: already up, nothing started twice.
    assert "already up" in run(kit_cmd("up", str(site), "--host", "edge1"), env=env).stdout


def test_a_team_reads_and_uploads_through_either_edge_and_purges_reach_both(spread, tmp_path):
    site, env, prefix, ports = spread
    team = site / "teams" / "web"
    ca = str(site / "tls" / "ca.pem")
    password = next(line.split()[-1] for line in (team / "netrc").read_text().splitlines() if "password" in line)
    wheel = make_wheel(tmp_path, PRIVATE, "1.0", marker="team")
    edges = [f"https://{prefix}.{n}:{ports[2]}" for n in (6, 7)]
    # Each edge by its address; its certificate names the site's host (edge1's address here).
    name = {"sni_hostname": f"{prefix}.6"}
    with httpx.Client(verify=ssl.create_default_context(cafile=ca), trust_env=False, auth=("web", password),
                      timeout=30) as client:
        get = lambda url, **kw: client.get(url, extensions=name, **kw)
        page = f"/web/private/+simple/{PRIVATE}/"
        for edge in edges:  # cached as "not found" on both edges first
            assert get(edge + page).status_code == 404
        run([BIN / "twine", "upload", "--config-file", team / ".pypirc", "-r", "web", "--disable-progress-bar",
             "--non-interactive", wheel], env=env)
        uploaded = time.monotonic()
        listed = {}
        while len(listed) < 2 and time.monotonic() - uploaded < 10:
            for edge in edges:
                if edge not in listed and PRIVATE in get(edge + page).text:
                    listed[edge] = time.monotonic() - uploaded
            time.sleep(0.01)
        print("upload listed on each edge after", {e: f"{s:.3f} s" for e, s in listed.items()})
        assert len(listed) == 2, listed
        # Within a page ttl (5 s) only a purge can have made the cached 404 go.
        assert max(listed.values()) < 5, listed
        assert get(edges[1] + page, auth=None).status_code == 401  # private on every edge
    python = new_venv(tmp_path / "venv")
    pip_env = dict(env, PIP_CONFIG_FILE=str(team / "pip.conf"), NETRC=str(team / "netrc"))
    run([BIN / "python", "-m", "pip", "--python", python, "install", "--no-cache-dir", PRIVATE], env=pip_env)
    shown = run([python, "-c", "import kitdemo_spread as m; print(m.WHO)"], env=pip_env)
    assert shown.stdout.strip() == "team"


def test_one_hosts_part_stops_alone_and_the_others_say_so(spread):
    site, env, _prefix, _ports = spread
    run(kit_cmd("down", str(site), "--host", "edge2"), env=env)
    status = run(kit_cmd("status", str(site), "--json"), env=env, check=False)
    assert status.returncode == 1
    rows = {(r["host"], r["name"]): r for r in json.loads(status.stdout)}
    assert not rows[("edge2", "edge")]["healthy"] and rows[("edge1", "edge")]["healthy"]
    run(kit_cmd("up", str(site), "--host", "edge2"), env=env)
    assert run(kit_cmd("status", str(site)), env=env).returncode == 0


def test_host_refusals_are_one_line(spread, tmp_path):
    site, env, _prefix, _ports = spread
    wrong = run(kit_cmd("up", str(site), "--host", "nosuch"), env=env, check=False)
    assert wrong.returncode != 0 and "has no host 'nosuch'; its hosts are: edge1, edge2, master, mirror" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    bundle = run(kit_cmd("status", str(site / "hosts" / "edge1"), "--host", "master"), env=env, check=False)
    assert bundle.returncode != 0 and "is the bundle of host 'edge1', not 'master'" in bundle.stderr
