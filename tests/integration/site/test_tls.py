"""An https site, run by kit up: its edge speaks TLS with a certificate of the site CA kit made,
and every real client verifies it with the team folder's ca.pem — and is refused without it.
Plain http on the site's http_port answers 308 with the https URL.

Each client is run twice: with the team's files as they are (installs the team's bytes), then
with the line or variable that names the CA taken out (refused: the certificate is not trusted).
Nothing turns verification off anywhere.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl

import pytest

from tests.conftest import BIN, PRIVATE, UPSTREAM_ONLY, clean_env, run
from tests.support.clients import without_machine_cas, load_env_file, new_venv, who
from tests.support.cluster import running_site, team_upload
from kit.core.processes import free_ports

#: What each client says when the certificate is not one it trusts.
UNTRUSTED = re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|UnknownIssuer|invalid peer certificate|"
                       r"self[- ]signed|unable to get local issuer", re.I)


@pytest.fixture(scope="module")
def tls_site(tmp_path_factory, dists):
    root = tmp_path_factory.mktemp("tls-site")
    # No CA bundle from this machine's environment: each client gets only what the team's files say.
    env = without_machine_cas(clean_env(root / "home"))
    (http_port,) = free_ports(1)
    with running_site(root, env, dists.upstream_folder, "--set", "scheme=https", "--set", f"http_port={http_port}") \
            as (site, _out):
        team_upload(site, env, dists.private)  # twine, with .pypirc's ca_cert
        yield site, env, http_port


def _team(site):
    return site / "teams" / "web"


def _edge_port(site) -> int:
    return int(re.search(r"^edge_port = (\d+)", (site / "kit.toml").read_text(), re.M).group(1))


def _refused(result) -> None:
    assert result.returncode != 0
    assert UNTRUSTED.search(result.stdout + result.stderr), result.stdout + result.stderr


def test_the_site_ca_and_its_keys(tls_site):
    site, _env, _port = tls_site
    modes = {p.name: p.stat().st_mode & 0o777 for p in (site / "tls").iterdir()}
    assert modes == {"ca.pem": 0o644, "ca-key.pem": 0o600, "server.pem": 0o644, "server-key.pem": 0o600}
    assert (_team(site) / "ca.pem").read_text() == (site / "tls" / "ca.pem").read_text()
    assert not list(site.joinpath("teams").rglob("*key*"))  # the CA's key never reaches a team
    # No file a client reads trusts a host blindly or turns checks off.
    for path in _team(site).iterdir():
        text = path.read_text()
        assert "trusted-host" not in text and "verify_ssl" not in text and "TRUSTED_HOST" not in text, path


def test_the_edge_serves_the_site_certificate(tls_site):
    site, _env, _port = tls_site
    context = ssl.create_default_context(cafile=str(_team(site) / "ca.pem"))
    connection = http.client.HTTPSConnection("127.0.0.1", _edge_port(site), context=context, timeout=10)
    connection.request("GET", "/web/private/+simple/")
    assert connection.getresponse().status == 200
    untrusting = http.client.HTTPSConnection("127.0.0.1", _edge_port(site), context=ssl.create_default_context(),
                                             timeout=10)
    with pytest.raises(ssl.SSLCertVerificationError):
        untrusting.request("GET", "/web/private/+simple/")


def test_plain_http_is_redirected_to_https(tls_site):
    site, _env, http_port = tls_site
    connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
    connection.request("GET", "/web/private/+simple/kitdemo-private/?x=1")
    response = connection.getresponse()
    assert response.status == 308
    assert response.getheader("Location") == f"https://127.0.0.1:{_edge_port(site)}/web/private/+simple/kitdemo-private/?x=1"


def test_pip_follows_the_redirect_and_verifies_with_the_ca(tls_site, tmp_path):
    site, env, http_port = tls_site
    python = new_venv(tmp_path / "venv")
    pip = [BIN / "python", "-m", "pip", "--python", python, "install", "--no-cache-dir",
           "--index-url", f"http://127.0.0.1:{http_port}/web/private/+simple/", PRIVATE, UPSTREAM_ONLY]
    run(pip, env=dict(env, PIP_CERT=str(_team(site) / "ca.pem")))
    assert who(python, env) == ("team", "1.0", "upstream")


def test_pip_verifies_with_pip_conf_and_is_refused_without_it(tls_site, tmp_path):
    site, env, _port = tls_site
    conf = _team(site) / "pip.conf"
    python = new_venv(tmp_path / "venv")
    install = [BIN / "python", "-m", "pip", "--python", python, "install", "--no-cache-dir", "--retries", "0",
               PRIVATE, UPSTREAM_ONLY]
    without = tmp_path / "pip-without-cert.conf"
    without.write_text("".join(line for line in conf.read_text().splitlines(True) if not line.startswith("cert")))
    _refused(run(install, env=dict(env, PIP_CONFIG_FILE=str(without)), check=False))
    run(install, env=dict(env, PIP_CONFIG_FILE=str(conf)))
    assert who(python, env) == ("team", "1.0", "upstream")


def test_uv_verifies_with_ssl_cert_file_and_is_refused_without_it(tls_site, tmp_path):
    site, env, _port = tls_site
    python = new_venv(tmp_path / "venv")
    env = dict(env, UV_CONFIG_FILE=str(_team(site) / "uv.toml"), UV_CACHE_DIR=str(tmp_path / "uvcache"))
    install = [BIN / "uv", "pip", "install", "--python", python, PRIVATE, UPSTREAM_ONLY]
    _refused(run(install, env=env, check=False))
    # What uv.toml and ci.env say: SSL_CERT_FILE names the team's ca.pem.
    assert f"SSL_CERT_FILE={_team(site) / 'ca.pem'}" in (_team(site) / "uv.toml").read_text()
    run(install, env=dict(env, SSL_CERT_FILE=str(_team(site) / "ca.pem")))
    assert who(python, env) == ("team", "1.0", "upstream")


def test_ci_env_carries_the_ca_for_pip_uv_and_twine(tls_site, dists, tmp_path):
    site, env, _port = tls_site
    ci = load_env_file(_team(site) / "ci.env")
    ci.update(_sourced(_team(site) / "ci.env", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"))
    job = dict(env, **ci, UV_CACHE_DIR=str(tmp_path / "uvcache"))
    for name, command in [("pip", [BIN / "python", "-m", "pip", "--python", "PY", "install", "--no-cache-dir"]),
                          ("uv", [BIN / "uv", "pip", "install", "--python", "PY"])]:
        python = new_venv(tmp_path / f"venv-{name}")
        run([python if part == "PY" else part for part in command] + [PRIVATE, UPSTREAM_ONLY], env=job)
        assert who(python, job) == ("team", "1.0", "upstream")


def _sourced(path, *names: str) -> dict[str, str]:
    """Variables of an env file as `set -a; . ./ci.env` gives them to a job (load_env_file keeps the tools' own)."""
    out = run(["sh", "-c", f"set -a; . '{path}'; env -0"], env={}).stdout
    pairs = dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
    return {name: pairs[name] for name in names}


def test_twine_verifies_with_pypirc_and_is_refused_without_it(tls_site, tmp_path):
    from kit.ops.sample import make_wheel

    site, env, _port = tls_site
    pypirc = _team(site) / ".pypirc"
    assert f"ca_cert = {_team(site) / 'ca.pem'}" in pypirc.read_text()
    without = tmp_path / ".pypirc"
    without.write_text("".join(line for line in pypirc.read_text().splitlines(True) if not line.startswith("ca_cert")))
    wheel = make_wheel(tmp_path / "dist", "kitdemo-tls", "1.0", marker="tls")
    upload = [BIN / "twine", "upload", "-r", "web", "--disable-progress-bar", "--non-interactive", wheel]
    _refused(run([*upload, "--config-file", without], env=env, check=False))
    run([*upload, "--config-file", pypirc], env=env)


def test_buildout_verifies_with_ssl_cert_file_and_is_refused_without_it(tls_site, tmp_path):
    site, env, _port = tls_site
    project = tmp_path / "buildout"
    project.mkdir()
    (project / "buildout.cfg").write_text(
        f"[buildout]\nextends = {_team(site) / 'buildout.cfg'}\nparts = app\n\n"
        "[app]\nrecipe = zc.recipe.egg\neggs =\n    kitdemo-private\ninterpreter = py\n")
    env = dict(env, PIP_CONFIG_FILE=str(_team(site) / "pip.conf"))
    refused = run([BIN / "buildout"], env=env, cwd=project, check=False)
    assert refused.returncode != 0 and not (project / "bin" / "py").exists()
    assert UNTRUSTED.search(refused.stdout + refused.stderr) or "Couldn't find" in refused.stdout + refused.stderr
    run([BIN / "buildout"], env=dict(env, SSL_CERT_FILE=str(_team(site) / "ca.pem")), cwd=project)
    out = run([project / "bin" / "py", "-c", "import kitdemo_private as p; print(p.WHO)"], env=env)
    assert out.stdout.split() == ["team"]


CONSUMER = """\
[project]
name = "consumer"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["kitdemo-private"]
"""


@pytest.mark.slow_client
def test_poetry_verifies_with_its_certificate_setting_and_is_refused_without_it(tls_site, tmp_path):
    site, env, _port = tls_site
    project = tmp_path / "poetry-project"
    project.mkdir()
    snippet = (_team(site) / "poetry-source.toml").read_text()
    assert f"poetry config certificates.web.cert {_team(site) / 'ca.pem'}" in snippet
    (project / "pyproject.toml").write_text(CONSUMER + "\n[tool.poetry]\npackage-mode = false\n\n" + snippet)
    env = dict(env, POETRY_VIRTUALENVS_IN_PROJECT="true", POETRY_CACHE_DIR=str(tmp_path / "poetry-cache"))
    _refused(run([BIN / "poetry", "lock", "-vvv"], env=env, cwd=project, check=False))  # -vvv: its reason
    run([BIN / "poetry", "config", "certificates.web.cert", _team(site) / "ca.pem"], env=env, cwd=project)
    run([BIN / "poetry", "lock"], env=env, cwd=project)
    run([BIN / "poetry", "install"], env=env, cwd=project)
    assert run([project / ".venv" / "bin" / "python", "-c", "import kitdemo_private as p; print(p.WHO)"],
               env=env).stdout.split() == ["team"]


@pytest.mark.slow_client
def test_pdm_verifies_with_its_ca_setting_and_is_refused_without_it(tls_site, tmp_path):
    site, env, _port = tls_site
    project = tmp_path / "pdm-project"
    project.mkdir()
    (project / "pyproject.toml").write_text(CONSUMER + "\n[tool.pdm]\ndistribution = false\n")
    (project / "pdm.toml").write_text((_team(site) / "pdm.toml").read_text())
    assert f"pdm config pypi.ca_certs {_team(site) / 'ca.pem'}" in (project / "pdm.toml").read_text()
    env = dict(env, PDM_CACHE_DIR=str(tmp_path / "pdm-cache"), PDM_CONFIG_FILE=str(tmp_path / "pdm-config.toml"))
    _refused(run([BIN / "pdm", "lock"], env=env, cwd=project, check=False))
    run([BIN / "pdm", "config", "pypi.ca_certs", _team(site) / "ca.pem"], env=env, cwd=project)
    run([BIN / "pdm", "lock"], env=env, cwd=project)
    run([BIN / "pdm", "install"], env=env, cwd=project)
    assert run([project / ".venv" / "bin" / "python", "-c", "import kitdemo_private as p; print(p.WHO)"],
               env=env).stdout.split() == ["team"]


def test_check_and_status_name_a_certificate_near_its_end_with_the_renewal(tmp_path, dists):
    """A site whose server certificate ends in 10 days: kit check and kit status say so in one
    line with the fix, and the fix (kit init again) makes a new one that both accept."""
    import datetime

    from kit.site import tls
    from tests.conftest import kit_cmd
    from tests.support.cluster import make_site

    env = clean_env(tmp_path / "home")
    site = make_site(tmp_path, env, dists.upstream_folder, "--set", "scheme=https",
                     "--set", f"http_port={free_ports(1)[0]}")
    ca = tls.Pair((site / "tls" / "ca.pem").read_text(), (site / "tls" / "ca-key.pem").read_text())
    aged = tls.make_server(ca, "127.0.0.1", now=datetime.datetime.now(datetime.timezone.utc)
                           - datetime.timedelta(days=355))
    (site / "tls" / "server.pem").write_text(aged.cert)
    (site / "tls" / "server-key.pem").write_text(aged.key)
    words = f"TLS certificate {site / 'tls' / 'server.pem'} expires on"
    status = run(kit_cmd("status", str(site)), env=env, check=False).stdout
    [line] = [line for line in status.splitlines() if words in line]
    assert line.endswith(f"in 10 days; make a new one: kit init {site} --no-input, then restart the edge: "
                         f"kit down {site} and kit up {site}")
    check = run(kit_cmd("check", str(site), "--lint-only"), env=env, check=False).stdout
    assert words in check and "TLS certificates" in check
    run(kit_cmd("init", str(site), "--no-input", "--force"), env=env)  # --force: this test wrote the files
    assert 364 < tls.days_left((site / "tls" / "server.pem").read_text()) <= 365
    assert words not in run(kit_cmd("status", str(site)), env=env, check=False).stdout


def test_the_edge_reads_a_renewed_certificate_on_sighup(tls_site):
    """What certbot's deploy hook does (serve-over-tls how-to): a new certificate in place,
    SIGHUP to the edge, and new connections get it; the edge keeps serving throughout."""
    import os
    import signal

    from cryptography import x509

    from kit.core.wait import wait_until
    from kit.site import tls

    site, _env, _port = tls_site
    folder = site / "tls"
    ca = tls.Pair((folder / "ca.pem").read_text(), (folder / "ca-key.pem").read_text())
    old = (folder / "server.pem").read_text(), (folder / "server-key.pem").read_text()
    renewed = tls.make_server(ca, "127.0.0.1")
    context = ssl.create_default_context(cafile=str(_team(site) / "ca.pem"))

    def served_serial() -> int:
        with socket.create_connection(("127.0.0.1", _edge_port(site)), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
            return x509.load_der_x509_certificate(conn.getpeercert(binary_form=True)).serial_number

    new_serial = x509.load_pem_x509_certificate(renewed.cert.encode()).serial_number
    assert served_serial() != new_serial
    try:
        (folder / "server.pem").write_text(renewed.cert)
        (folder / "server-key.pem").write_text(renewed.key)
        os.kill(int((site / "cluster" / "run" / "pids" / "edge.pid").read_text()), signal.SIGHUP)
        wait_until(lambda: served_serial() == new_serial, 10, 0.1,
                   fail=lambda: AssertionError("the edge still serves the old certificate"))
    finally:
        (folder / "server.pem").write_text(old[0])
        (folder / "server-key.pem").write_text(old[1])


def test_kit_check_reaches_the_https_site_as_its_teams_do(tls_site):
    """kit check trusts the team folder's ca.pem, as the team's clients do: every check passes,
    the index and the upload through TLS among them."""
    from tests.conftest import kit_cmd

    site, env, _port = tls_site
    out = run(kit_cmd("check", str(site)), env=env).stdout
    assert re.search(r"web +index answers +pass +https://127\.0\.0\.1:\d+/web/private/\+simple/ → HTTP 200", out), out
    assert re.search(r"web +upload accepted +pass", out), out
