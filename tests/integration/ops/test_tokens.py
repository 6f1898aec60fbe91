"""kit token create, list and revoke, really run against a team-read cluster (teams web and
data): the token read by pip from a netrc, by twine from its environment, refused once
revoked or expired, and never on a command line."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from kit.core.wait import wait_until
from kit.ops.sample import make_wheel
from tests.conftest import BIN, PRIVATE, clean_env, kit_cmd, run
from tests.support.cluster import edge_url, make_site, running_site, team_upload
from tests.support.processes import cmdlines

#: How long an edge may keep a read decision it made (kit.edge.auth's ttl), with room to spare.
EDGE_DECISION_LIFE = 10.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, dists):
    """A team-read cluster of teams web and data; web/private holds the team's kitdemo-private."""
    root = tmp_path_factory.mktemp("tokens")
    env = clean_env(root / "home")
    with running_site(root, env, dists.upstream_folder, "--set", "read_access=team", "--set", "teams=web,data") as (site, _):
        team_upload(site, env, dists.private)
        yield site, env


def port(site: Path, service: str) -> int:
    return int(re.search(rf"{service}_port = (\d+)", (site / "kit.toml").read_text()).group(1))


def url(site: Path, service: str) -> str:
    return edge_url(site) if service == "edge" else f"http://127.0.0.1:{port(site, service)}"


def create(site: Path, env: dict, *options: str) -> tuple[str, str]:
    """``kit token create``: the token (its whole standard output) and its id (from standard error)."""
    proc = run(kit_cmd("token", "create", str(site), *options), env=env)
    token = proc.stdout.strip()
    assert proc.stdout == token + "\n" and token.startswith("devpi-"), proc.stdout
    token_id = re.search(r"^token (\w+) for team ", proc.stderr, re.M).group(1)
    return token, token_id


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.startswith("kit: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and proc.stdout == ""
    return proc.stderr


def status_with(site: Path, service: str, path: str, user: str | None, password: str | None = None) -> int:
    auth = (user, password) if user is not None else None
    with httpx.Client(trust_env=False) as client:
        return client.get(url(site, service) + path, auth=auth).status_code


def netrc_env(env: dict, folder: Path, login: str, password: str) -> dict:
    """A client's environment whose only credentials are one netrc line (mode 0600)."""
    folder.mkdir(parents=True, exist_ok=True)
    netrc = folder / "netrc"
    netrc.touch(mode=0o600)
    netrc.write_text(f"machine 127.0.0.1 login {login} password {password}\n")
    assert netrc.stat().st_mode & 0o077 == 0
    return dict(env, NETRC=str(netrc), PIP_CONFIG_FILE=os.devnull)


def pip_install(site: Path, service: str, env: dict, target: Path, team: str = "web") -> subprocess.CompletedProcess:
    return run([BIN / "python", "-m", "pip", "install", "--no-deps", "--no-cache-dir", "--retries", "0",
                "--target", target, "--index-url", f"{url(site, service)}/{team}/private/+simple/", f"{PRIVATE}==1.0"],
               env=env, check=False)


def listed(site: Path, env: dict, *options: str) -> str:
    return run(kit_cmd("token", "list", str(site), *options), env=env).stdout


PAGE = f"/web/private/+simple/{PRIVATE}/"


def test_create_prints_the_token_once_and_list_never_shows_it(cluster):
    site, env = cluster
    proc = run(kit_cmd("token", "create", str(site), "--team", "web"), env=env)
    token = proc.stdout.strip()
    assert proc.stdout == token + "\n" and token.startswith("devpi-")  # `> token` keeps just the token
    assert token not in proc.stderr
    token_id = re.search(r"^token (\w+) for team web: read; indexes (.*); expires (\S+ \S+ UTC)$", proc.stderr, re.M)
    assert token_id, proc.stderr
    # the indexes the team's index reads through, as the master has them
    assert {"web/private", "root/names", "root/pypi"} <= set(token_id.group(2).split(", "))
    assert "machine 127.0.0.1 login web password TOKEN" in proc.stderr and "KIT_TOKEN" in proc.stderr
    table = listed(site, env)
    assert re.search(rf"^{token_id.group(1)} +web +read +\S*web/private\S* +{token_id.group(3)}$", table, re.M), table
    assert token not in table and token[6:30] not in table
    assert token_id.group(1) not in listed(site, env, "--team", "data")


def test_a_read_token_installs_through_the_edge_until_revoked(cluster, tmp_path):
    site, env = cluster
    token, token_id = create(site, env, "--team", "web", "--expires", "1h")
    client = netrc_env(env, tmp_path, "web", token)
    installed = pip_install(site, "edge", client, tmp_path / "t1")
    assert installed.returncode == 0, installed.stderr
    assert (tmp_path / "t1" / "kitdemo_private" / "__init__.py").is_file()
    for service in ("master", "mirror", "edge"):
        assert status_with(site, service, PAGE, "web", token) == 200, service
    revoked = run(kit_cmd("token", "revoke", token_id, str(site)), env=env)
    assert revoked.stdout == f"revoked token {token_id} of team web; clients using it are refused from now on\n"
    assert token_id not in listed(site, env)
    # the master at once; the mirror once it has the user's new record
    assert status_with(site, "master", PAGE, "web", token) == 403
    assert pip_install(site, "master", client, tmp_path / "t2").returncode != 0
    assert wait_until(lambda: status_with(site, "mirror", PAGE, "web", token) == 403, 15)
    # the edge: at once with the purge of +user/web, at worst once its decision expires
    assert wait_until(lambda: status_with(site, "edge", PAGE, "web", token) in (401, 403), EDGE_DECISION_LIFE), \
        "the edge still serves a revoked token"
    assert pip_install(site, "edge", client, tmp_path / "t3").returncode != 0


def test_a_token_reads_only_its_own_team_and_never_anonymously(cluster):
    site, env = cluster
    token, _ = create(site, env, "--team", "data")
    assert status_with(site, "master", "/data/private/+simple/", "data", token) == 200
    # another team's token (a wrong user name for it, or its own) gets nothing of web's index
    assert status_with(site, "master", PAGE, "web", token) == 403
    for service in ("master", "mirror", "edge"):
        assert status_with(site, service, PAGE, "data", token) == 403, service
        assert status_with(site, service, PAGE, None) == 401, service


def test_upload_only_with_upload_and_the_user_never_changed(cluster, tmp_path):
    site, env = cluster
    wheel = make_wheel(tmp_path / "dist", "kitdemo-tokened", "1.0", marker="token")
    reader, _ = create(site, env, "--team", "web")
    writer, _ = create(site, env, "--team", "web", "--upload")

    def twine(password: str) -> subprocess.CompletedProcess:
        # credentials in twine's environment, never on its command line
        upload_env = dict(env, TWINE_USERNAME="web", TWINE_PASSWORD=password)
        return run([BIN / "twine", "upload", "--repository-url", f"{url(site, 'master')}/web/private/",
                    "--disable-progress-bar", "--non-interactive", wheel], env=upload_env, check=False)

    refused = twine(reader)
    assert refused.returncode != 0 and "403" in refused.stdout + refused.stderr
    uploaded = twine(writer)
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    assert status_with(site, "master", "/web/private/+simple/kitdemo-tokened/", "web", writer) == 200
    with httpx.Client(trust_env=False) as client:
        for secret in (reader, writer):
            changed = client.patch(f"{url(site, 'master')}/web", auth=("web", secret), json={"password": "taken-over"})
            assert changed.status_code == 403, changed.text
            more = client.post(f"{url(site, 'master')}/web/+token-create", auth=("web", secret), json={})
            assert more.status_code == 403, more.text


def test_an_expired_token_is_refused(cluster):
    site, env = cluster
    token, token_id = create(site, env, "--team", "web", "--expires", "4s")
    expires = time.time() + 4
    assert status_with(site, "master", PAGE, "web", token) == 200
    time.sleep(max(0.0, expires - time.time()) + 1)
    for service in ("master", "mirror"):
        assert status_with(site, service, PAGE, "web", token) == 403, service
    assert wait_until(lambda: status_with(site, "edge", PAGE, "web", token) in (401, 403), EDGE_DECISION_LIFE)
    assert re.search(rf"^{token_id} .* \(expired\)$", listed(site, env), re.M)


def test_no_secret_on_any_command_line_while_a_token_is_made(cluster):
    site, env = cluster
    admin = re.search(r'^admin_password = "(.*)"$', (site / "kit.toml").read_text(), re.M).group(1)
    proc = subprocess.Popen(kit_cmd("token", "create", str(site), "--team", "web"), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: dict[int, tuple[int, bytes]] = {}
    while proc.poll() is None:
        seen.update(cmdlines())
    out, _ = proc.communicate(timeout=60)
    token = out.decode().strip()
    assert proc.returncode == 0 and token.startswith("devpi-")
    assert not [pid for pid, (parent, _) in seen.items() if parent == proc.pid], "kit token create started a process"
    everything = b"\n".join(cmdline for _, cmdline in seen.values())
    assert admin.encode() not in everything and token.encode() not in everything


def test_errors_are_one_line_with_the_fix(cluster, tmp_path, dists):
    site, env = cluster
    before = listed(site, env)
    unknown_team = one_line_error(run(kit_cmd("token", "create", str(site), "--team", "ops"), env=env, check=False))
    assert "no team 'ops' (its teams: web, data)" in unknown_team and "--team" in unknown_team
    for expires, problem in (("yesterday", "neither a life nor a date"), ("2001-01-01", "not in the future"),
                             ("400d", "more than a year away")):
        error = one_line_error(run(kit_cmd("token", "create", str(site), "--team", "web", "--expires", expires),
                                   env=env, check=False))
        assert problem in error and "--expires" in error
    unknown_id = one_line_error(run(kit_cmd("token", "revoke", "Zz9Zz9Zz", str(site)), env=env, check=False))
    assert "no token Zz9Zz9Zz; list them with: kit token list" in unknown_id
    assert listed(site, env) == before  # nothing made, nothing revoked
    # a wrong admin password in kit.toml
    answers = site / "kit.toml"
    kept = answers.read_text()
    try:
        answers.write_text(re.sub(r'^admin_password = ".*"$', 'admin_password = "not-the-masters"', kept, flags=re.M))
        wrong = one_line_error(run(kit_cmd("token", "list", str(site)), env=env, check=False))
        assert "refuses the admin password in kit.toml" in wrong and "admin_password=OLD" in wrong
    finally:
        answers.write_text(kept)
    # a cluster that is not running
    stopped = make_site(tmp_path, env, dists.upstream_folder, "--set", "read_access=team")
    down = one_line_error(run(kit_cmd("token", "create", str(stopped), "--team", "web"), env=env, check=False))
    assert "is not running (connection refused); start the cluster with: kit up" in down
