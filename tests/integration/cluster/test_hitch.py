"""An https site with the Varnish edge: hitch holds the client port with the site's certificate
and hands each connection to Varnish over a Unix socket (PROXY protocol); plain http on the
site's http_port is Varnish's own listener, which redirects (308). Skipped, saying why, where
varnishd, varnish-modules or hitch is missing."""

from __future__ import annotations

import http.client
import re
import ssl
import subprocess

import pytest

from kit.core.errors import ClusterError
from kit.core.processes import free_ports, system_program
from kit.cluster.varnish import HITCH_HINT, check_hitch
from tests.conftest import BIN, PRIVATE, UPSTREAM_ONLY, clean_env, run
from tests.support.clients import without_machine_cas, new_venv, who
from tests.support.cluster import running_site, team_upload, varnish_edge, varnish_missing


def _hitch_missing() -> str | None:
    if system_program("hitch") is None:
        return f"hitch is not installed (Debian: {HITCH_HINT})"
    return varnish_missing()


@pytest.fixture(scope="module")
def hitch_site(tmp_path_factory, dists):
    missing = _hitch_missing()
    if missing:
        pytest.skip(missing)
    root = tmp_path_factory.mktemp("hitch-site")
    env = without_machine_cas(clean_env(root / "home"))
    (http_port,) = free_ports(1)
    with running_site(root, env, dists.upstream_folder, *varnish_edge(), "--set", "scheme=https",
                      "--set", f"http_port={http_port}") as (site, _out):
        team_upload(site, env, dists.private)  # through hitch and Varnish, twine checking with .pypirc's ca_cert
        yield site, env, http_port


def _edge_port(site) -> int:
    return int(re.search(r"^edge_port = (\d+)", (site / "kit.toml").read_text(), re.M).group(1))


def test_hitchs_own_parser_takes_the_generated_config(hitch_site):
    site, _env, _port = hitch_site
    conf = site / "cluster" / "hitch.conf"
    # Varnish is up, so its socket exists: hitch checks the file exactly as kit up runs it.
    result = subprocess.run([system_program("hitch"), "--test", "--config", str(conf)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "configuration looks ok" in result.stdout + result.stderr


def test_a_key_that_is_not_the_certificates_is_named_before_anything_starts(hitch_site, tmp_path):
    site, _env, _port = hitch_site
    broken = tmp_path / "hitch.conf"
    broken.write_text((site / "cluster" / "hitch.conf").read_text().replace("server-key.pem", "ca-key.pem"))
    with pytest.raises(ClusterError, match="hitch cannot use .*key values mismatch; write it again with"):
        check_hitch(broken)


def test_hitch_serves_the_site_certificate_and_plain_http_is_redirected(hitch_site):
    site, _env, http_port = hitch_site
    context = ssl.create_default_context(cafile=str(site / "teams" / "web" / "ca.pem"))
    connection = http.client.HTTPSConnection("127.0.0.1", _edge_port(site), context=context, timeout=10)
    connection.request("GET", "/web/private/+simple/kitdemo-private/")
    response = connection.getresponse()
    assert response.status == 200 and "kitdemo_private-1.0" in response.read().decode()
    with pytest.raises(ssl.SSLCertVerificationError):
        http.client.HTTPSConnection("127.0.0.1", _edge_port(site), context=ssl.create_default_context(),
                                    timeout=10).request("GET", "/")
    plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
    plain.request("GET", "/web/private/+simple/")
    redirect = plain.getresponse()
    assert redirect.status == 308
    assert redirect.getheader("Location") == f"https://127.0.0.1:{_edge_port(site)}/web/private/+simple/"


def test_pip_installs_through_hitch_with_pip_conf_and_is_refused_without_it(hitch_site, tmp_path):
    site, env, _port = hitch_site
    python = new_venv(tmp_path / "venv")
    install = [BIN / "python", "-m", "pip", "--python", python, "install", "--no-cache-dir", "--retries", "0",
               PRIVATE, UPSTREAM_ONLY]
    refused = run(install, env=dict(env, PIP_INDEX_URL=f"https://127.0.0.1:{_edge_port(site)}/web/private/+simple/"),
                  check=False)
    assert refused.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in refused.stdout + refused.stderr
    run(install, env=dict(env, PIP_CONFIG_FILE=str(site / "teams" / "web" / "pip.conf")))
    assert who(python, env) == ("team", "1.0", "upstream")
