"""The public mirror's production file server: the generated nginx locations,
checked by ``nginx -t`` and served by a real nginx to real pip and uv."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kit.core.processes import system_program
from tests.conftest import BIN, clean_env, free_port, kit_cmd, run, wait_http
from tests.support.mirror import init_site, make_upstream

NGINX = system_program("nginx")
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (Debian: apt-get install nginx-light)")


def nginx_conf(prefix: Path, port: int, snippet: Path) -> Path:
    """The smallest whole nginx.conf around the generated locations, in ``prefix``."""
    prefix.mkdir(parents=True, exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""  # the site is 0700: workers must be its owner
    temp = "".join(f"    {kind}_temp_path {prefix / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'};\n"
        f"events {{ worker_connections 64; }}\n"
        f"http {{\n    access_log off;\n{temp}"
        f"    server {{\n        listen 127.0.0.1:{port};\n        include {snippet};\n    }}\n}}\n"
    )
    return conf


@pytest.fixture(scope="module")
def nginx_mirror(tmp_path_factory):
    root = tmp_path_factory.mktemp("nginx-mirror")
    env = clean_env(root / "home")
    site = init_site(root, env, make_upstream(root / "wheels"), "mirror_projects=kmt-app")
    run(kit_cmd("mirror", "sync", str(site)), env=env)
    port = free_port()
    conf = nginx_conf(root / "nginx", port, site / "mirror" / "nginx-locations.conf")
    check = subprocess.run([NGINX, "-t", "-c", str(conf), "-p", str(root / "nginx")], capture_output=True, text=True)
    assert check.returncode == 0 and "test is successful" in check.stderr, check.stderr
    with open(root / "nginx" / "out.log", "wb") as out:
        proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(root / "nginx")], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/mirror/simple/", proc, timeout=20, log=root / "nginx" / "error.log")
        yield site, url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def fetch(url: str, accept: str = "text/html") -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_pip_and_uv_install_from_nginx(nginx_mirror, tmp_path):
    site, url = nginx_mirror
    env = clean_env(tmp_path / "home")
    index = f"{url}/mirror/simple/"
    run([BIN / "python", "-m", "pip", "install", "--target", tmp_path / "pip", "--index-url", index, "kmt-app"], env=env)
    assert (tmp_path / "pip" / "kmt_lib" / "__init__.py").read_text().startswith("WHO = 'lib-1.1'")
    run([BIN / "uv", "pip", "install", "--target", tmp_path / "uv", "--index-url", index, "kmt-app"],
        env={**env, "UV_CACHE_DIR": str(tmp_path / "uv-cache")})
    assert (tmp_path / "uv" / "kmt_app" / "__init__.py").is_file()


def test_pages_by_accept_with_the_right_types(nginx_mirror):
    site, url = nginx_mirror
    status, headers, body = fetch(f"{url}/mirror/simple/kmt-lib/", "application/vnd.pypi.simple.v1+json")
    assert status == 200 and headers["Content-Type"] == "application/vnd.pypi.simple.v1+json"
    assert json.loads(body)["meta"]["api-version"] and headers["Vary"] == "Accept"
    status, headers, body = fetch(f"{url}/mirror/simple/kmt-lib/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8" and b"kmt_lib-1.1" in body
    status, headers, body = fetch(f"{url}/mirror/simple/", "application/vnd.pypi.simple.v1+json")
    assert {p["name"] for p in json.loads(body)["projects"]} == {"kmt-app", "kmt-lib"}


def test_files_are_the_mirrored_bytes_and_hidden_names_are_not_served(nginx_mirror):
    site, url = nginx_mirror
    web = site / "mirror" / "data" / "web"
    page = json.loads((web / "simple" / "kmt-app" / "index.v1_json").read_text())
    link = page["files"][0]["url"]  # ../../packages/...
    status, headers, body = fetch(f"{url}/mirror/simple/kmt-app/{link}")
    assert status == 200 and headers["Content-Type"] == "application/octet-stream"
    assert body == (web / "simple" / "kmt-app" / link).resolve().read_bytes()
    assert "immutable" in headers["Cache-Control"]
    (web / "simple" / "kmt-app" / ".index.html.tmp").write_text("half a page")
    assert fetch(f"{url}/mirror/simple/kmt-app/.index.html.tmp")[0] == 404
    assert fetch(f"{url}/mirror/simple/kmt-nope/")[0] == 404
