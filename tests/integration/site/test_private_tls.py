"""Private reads over TLS, on a team-read https site (teams web and data) of each edge kind:
kit's own edge speaking TLS, and hitch in front of Varnish (kit's edge its shield). Only the
team reads its index — anonymous gets 401 with the Basic challenge, the other team 403 —
and pip and uv install its package with nothing but the team's netrc and the site CA. Plain
http on the site's http_port only ever redirects (308), credentials or not: no package byte
crosses the network in clear. No secret (admin, team or kit-edge password, a token) is on
the command line of any process while kit up starts the site, kit token create makes a
token, or pip and uv install with the netrc."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import re
import ssl
import subprocess
from urllib.parse import urljoin, urlsplit

import pytest

from kit.core.processes import free_ports, system_program
from kit.ops.bench import PYTHON as PYTHON_EDGE, VARNISH as VARNISH_EDGE
from kit.site.folder import Site
from tests.conftest import BIN, PRIVATE, UPSTREAM_ONLY, clean_env, kit_cmd, run
from tests.support.clients import new_venv, who, without_machine_cas
from tests.support.cluster import make_site, pids, stop_cluster, team_upload, varnish_edge, varnish_missing
from tests.support.processes import leaked, watched_cmdlines

CHALLENGE = 'Basic realm="kit"'
PAGE = f"/web/private/+simple/{PRIVATE}/"


class Https:
    """A running team-read https site: its secrets, and raw requests at its edge and its http_port."""

    def __init__(self, kind: str, site, env: dict, http_port: int, up_seen: list[bytes]):
        self.kind, self.site, self.env, self.http_port, self.up_seen = kind, site, env, http_port, up_seen
        answers = Site.load(site).answers
        self.port = answers.edge_port
        self.secrets = {"admin password": answers.admin_password, "kit-edge password": answers.edge_read_password,
                        **{f"team {team} password": answers.team_password(team) for team in ("web", "data")}}
        self.context = ssl.create_default_context(cafile=str(self.team / "ca.pem"))

    @property
    def team(self):
        return self.site / "teams" / "web"

    def auth(self, who: str) -> dict[str, str]:
        if who == "anonymous":
            return {}
        user, password = ("web", "not-the-password") if who == "wrong" else (who, self.secrets[f"team {who} password"])
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    def get(self, path: str, who: str, *, plain: bool = False) -> tuple[int, dict, bytes]:
        """``path`` as ``who`` at the edge (https, the site CA trusted) or on the http_port (``plain``);
        devpi's JSON API (a path with no "+") asked for JSON, the rest as a browser asks."""
        if plain:
            connection = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=30)
        else:
            connection = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=30)
        try:
            connection.request("GET", path, headers={"Accept": "text/html" if "+" in path else "application/json", **self.auth(who)})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()


@pytest.fixture(scope="module", params=["python", "varnish"])
def https(request, tmp_path_factory, dists):
    """A team-read https site of each edge kind, started by kit up while every command line is
    watched; web's kitdemo-private uploaded (twine, through the edge, with .pypirc)."""
    extra: tuple[str, ...] = ()
    if request.param == "varnish":
        missing = varnish_missing() or (None if system_program("hitch") else "hitch is not installed")
        if missing:
            pytest.skip(missing)
        extra = varnish_edge()
    root = tmp_path_factory.mktemp(f"{request.param}-https-private")
    env = without_machine_cas(clean_env(root / "home"))
    (http_port,) = free_ports(1)
    site = make_site(root, env, dists.upstream_folder, "--set", "read_access=team", "--set", "teams=web,data",
                     "--set", "scheme=https", "--set", f"http_port={http_port}", *extra)
    with watched_cmdlines() as up_seen:
        up = subprocess.run(kit_cmd("up", str(site)), env=env, capture_output=True, text=True)
    started = pids(site)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        team_upload(site, env, dists.private)
        yield Https(request.param, site, env, http_port, up_seen)
    finally:
        stop_cluster(site, env, {**started, **{f"{name} (now)": pid for name, pid in pids(site).items()}})


def test_only_the_team_reads_over_tls(https):
    code, _, body = https.get(PAGE, "web")
    assert code == 200 and "kitdemo_private-1.0" in body.decode(), (code, body[:300])
    file_path = urlsplit(urljoin(f"https://127.0.0.1:{https.port}{PAGE}",
                                 re.search(r'href="([^"#]+)', body.decode()).group(1))).path
    for path in ("/web/private/+simple/", PAGE, file_path, "/web/private/" + PRIVATE):
        assert https.get(path, "web")[0] == 200, path
        for asker, status in (("anonymous", 401), ("wrong", 401), ("data", 403)):
            code, headers, body = https.get(path, asker)
            assert code == status, (asker, path, code, body[:200])
            if status == 401:
                assert headers.get("WWW-Authenticate") == CHALLENGE, (asker, path, headers)
            assert b"sha256=" not in body and b"PK\x03\x04" not in body, (asker, path)


def test_plain_http_only_redirects_even_with_credentials(https):
    for path in ("/web/private/+simple/", PAGE, "/web/private/+api", "/root/pypi/+simple/"):
        for asker in ("anonymous", "web"):
            code, headers, body = https.get(path, asker, plain=True)
            assert code == 308, (asker, path, code, body[:200])
            assert headers["Location"] == f"https://127.0.0.1:{https.port}{path}", headers
            # one line naming the https URL, nothing of the index
            assert body.decode().startswith("kit edge") and body.count(b"\n") == 1, (asker, path, body[:200])
            assert b"sha256=" not in body and b"kitdemo_private" not in body, (asker, path, body[:200])


def _installs(https, tmp_path, netrc) -> dict[str, subprocess.CompletedProcess]:
    """pip and uv, each in a new venv, with the team's pip.conf/uv.toml, the CA, and ``netrc``."""
    env = dict(https.env, PIP_CONFIG_FILE=str(https.team / "pip.conf"), UV_CONFIG_FILE=str(https.team / "uv.toml"),
               SSL_CERT_FILE=str(https.team / "ca.pem"), NETRC=str(netrc), UV_CACHE_DIR=str(tmp_path / "uv-cache"),
               PIP_NO_INPUT="1")
    done = {}
    for tool, command in (("pip", [BIN / "python", "-m", "pip", "--python", "PY", "install", "--no-cache-dir",
                                   "--retries", "0"]),
                          ("uv", [BIN / "uv", "pip", "install", "--python", "PY"])):
        python = new_venv(tmp_path / f"{tool}-{netrc.name}")
        done[tool] = run([python if part == "PY" else part for part in command] + [PRIVATE, UPSTREAM_ONLY],
                         env=env, check=False)
        done[tool].python = python
    return done


def _netrc(tmp_path, name: str, line: str):
    path = tmp_path / name
    path.touch(mode=0o600)
    path.write_text(line)
    return path


def test_pip_and_uv_install_with_the_netrc_and_the_ca_and_no_secret_is_on_a_command_line(https, tmp_path):
    netrc = https.team / "netrc"
    assert netrc.stat().st_mode & 0o077 == 0
    with watched_cmdlines() as seen:
        installed = _installs(https, tmp_path, netrc)
    for tool, proc in installed.items():
        assert proc.returncode == 0, (tool, proc.stdout[-2000:], proc.stderr[-2000:])
        assert who(proc.python, https.env) == ("team", "1.0", "upstream"), tool
    assert any(b"pip" in c and b"install" in c for c in seen) and any(b"uv" in c for c in seen)
    assert not leaked(seen, https.secrets), leaked(seen, https.secrets)
    assert not leaked(https.up_seen, https.secrets), ("kit up", leaked(https.up_seen, https.secrets))
    assert any(b"devpi-server" in c or b"devpi_server" in c for c in https.up_seen)  # the scan saw kit up's servers


def test_pip_and_uv_are_refused_without_credentials_and_with_the_other_teams(https, tmp_path):
    data = https.secrets["team data password"]
    for name, netrc in (("none", _netrc(tmp_path, "no-netrc", "")),
                        ("data", _netrc(tmp_path, "data-netrc", f"machine 127.0.0.1 login data password {data}\n"))):
        for tool, proc in _installs(https, tmp_path, netrc).items():
            out = proc.stdout + proc.stderr
            assert proc.returncode != 0, (name, tool, out[-2000:])
            # refused for its credentials, not for the certificate: the CA is trusted
            assert "kitdemo-private" in out and "CERTIFICATE_VERIFY_FAILED" not in out, (name, tool, out[-2000:])
            assert run([proc.python, "-c", "import kitdemo_private"], env=https.env, check=False).returncode != 0
    # what they were told, at the edge itself: 401 with the challenge, and 403
    assert https.get(PAGE, "anonymous")[0] == 401 and https.get(PAGE, "data")[0] == 403


def test_no_secret_is_on_a_command_line_while_a_token_is_made(https):
    with watched_cmdlines() as seen:
        proc = subprocess.run(kit_cmd("token", "create", str(https.site), "--team", "web"), env=https.env,
                              capture_output=True, text=True)
    token = proc.stdout.strip()
    assert proc.returncode == 0 and token.startswith("devpi-"), proc.stderr
    assert not leaked(seen, {**https.secrets, "token": token}), leaked(seen, {**https.secrets, "token": token})
    code, _, body = _with_token(https, token)  # the token made reads, over TLS
    assert code == 200 and "kitdemo_private-1.0" in body.decode()


def _with_token(https, token: str) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPSConnection("127.0.0.1", https.port, context=https.context, timeout=30)
    auth = base64.b64encode(f"web:{token}".encode()).decode()
    with contextlib.closing(connection):
        connection.request("GET", PAGE, headers={"Authorization": f"Basic {auth}"})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()


def test_kit_bench_reads_the_https_edge_over_tls_with_the_site_ca(https):
    """kit bench on the https site: the edge its clients use is measured over TLS (not the
    plain port, which only redirects), anonymously and as a team, and nothing failed. Last in
    this file: it kills the master once (and brings it back)."""
    proc = run(kit_cmd("bench", str(https.site), "--json", "--quick"), env=https.env, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["failed"] == 0 and result["errors"] == []
    targets = {t["name"]: t for t in result["targets"]}
    rows = {r["key"]: r["values"] for r in result["rows"]}
    tls_target = PYTHON_EDGE if https.kind == "python" else VARNISH_EDGE
    assert targets[tls_target]["url"] == f"https://127.0.0.1:{https.port}", targets
    assert targets[tls_target]["note"].endswith("over TLS")
    assert result["tools"]["tls"].startswith("the site's edge read over TLS")
    for key in ("page_p50", "file_p50", "warm_page_rps", "fetch_23", "listed_p50", "kill_installs"):
        assert isinstance(rows[key][tls_target], (int, float)) and rows[key][tls_target] > 0, (key, rows[key])
    # the authorised row is kit's edge's: over TLS on the python site, the shield's (plain) behind hitch
    assert isinstance(rows["warm_page_auth_rps"][PYTHON_EDGE], (int, float)), rows["warm_page_auth_rps"]
