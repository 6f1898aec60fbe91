"""The local upstream speaks PEP 503 (HTML) and PEP 691 (JSON), as pip and devpi read them,
and enough of PyPI's own API (serials, JSON API, /packages/ paths) for bandersnatch to mirror it."""

from __future__ import annotations

import hashlib
import json
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from kit.ops.sample import make_wheel
from kit.upstream.server import JSON_TYPE, LocalUpstream, project_of
from tests.conftest import BIN, clean_env, free_port, run
from tests.support.upstream import bandersnatch_conf, bandersnatch_mirror, static_server
from tests.support.upstream_http import fetch, fetch_json


# -- bandersnatch mirrors it for real ----------------------------------------


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_bandersnatch_mirrors_the_allowlisted_projects(tmp_path):
    upstream_folder = tmp_path / "upstream"
    alpha = make_wheel(upstream_folder, "kitbs-alpha", "1.0", requires_python=">=3.8")
    beta = make_wheel(upstream_folder, "kitbs-beta", "1.0")
    make_wheel(upstream_folder, "kitbs-gamma", "1.0")
    with LocalUpstream(upstream_folder) as upstream:
        serial = fetch_json(upstream.url, JSON_TYPE)[0]["meta"]["_last-serial"]
        seconds = bandersnatch_mirror(bandersnatch_conf(tmp_path, upstream, "kitbs-alpha", "kitbs-beta"), tmp_path / "home")
    print(f"bandersnatch mirror, 2 of 3 projects: {seconds:.2f} s")
    web = tmp_path / "mirror" / "web"
    assert sorted(p.name for p in (web / "simple").iterdir() if p.is_dir()) == ["kitbs-alpha", "kitbs-beta"]
    for wheel in (alpha, beta):
        digest = sha256_of(wheel)
        page = web / "simple" / project_of(wheel.name)
        assert f"#sha256={digest}" in (page / "index.html").read_text()
        files = json.loads((page / "index.v1_json").read_text())["files"]
        assert [(f["filename"], f["hashes"]["sha256"]) for f in files] == [(wheel.name, digest)]
        mirrored = web / "packages" / digest[:2] / digest[2:4] / digest[4:] / wheel.name
        assert mirrored.read_bytes() == wheel.read_bytes()
    assert 'data-requires-python="&gt;=3.8"' in (web / "simple" / "kitbs-alpha" / "index.html").read_text()
    assert len([p for p in (web / "packages").rglob("*") if p.is_file()]) == 2  # gamma's file stayed upstream
    # the mirror reached the upstream's serial: the next run starts from it
    assert int((tmp_path / "mirror" / "status").read_text()) == serial


def test_bandersnatch_second_sync_picks_up_a_new_version(tmp_path):
    upstream_folder = tmp_path / "upstream"
    make_wheel(upstream_folder, "kitbs-alpha", "1.0")
    with LocalUpstream(upstream_folder) as upstream:
        conf = bandersnatch_conf(tmp_path, upstream, "kitbs-alpha")
        first = bandersnatch_mirror(conf, tmp_path / "home")
        synced = int((tmp_path / "mirror" / "status").read_text())
        time.sleep(0.02)  # past the file system's clock tick: the new file's serial is higher
        newer = make_wheel(upstream_folder, "kitbs-alpha", "1.1")
        second = bandersnatch_mirror(conf, tmp_path / "home")
    print(f"bandersnatch mirror: first sync {first:.2f} s, second {second:.2f} s")
    assert int((tmp_path / "mirror" / "status").read_text()) > synced
    page = json.loads((tmp_path / "mirror" / "web" / "simple" / "kitbs-alpha" / "index.v1_json").read_text())
    assert page["versions"] == ["1.0", "1.1"]
    digest = sha256_of(newer)
    mirrored = tmp_path / "mirror" / "web" / "packages" / digest[:2] / digest[2:4] / digest[4:] / newer.name
    assert mirrored.read_bytes() == newer.read_bytes()


def test_pip_installs_from_the_bandersnatch_mirror(tmp_path):
    upstream_folder = tmp_path / "upstream"
    make_wheel(upstream_folder, "kitbs-alpha", "1.0", marker="mirrored")
    make_wheel(upstream_folder, "kitbs-alpha", "1.1", marker="mirrored")
    with LocalUpstream(upstream_folder) as upstream:
        bandersnatch_mirror(bandersnatch_conf(tmp_path, upstream, "kitbs-alpha"), tmp_path / "home")
    # the upstream is gone: pip gets everything from the mirror's files
    env = clean_env(tmp_path / "home")  # PIP_CONFIG_FILE=/dev/null, no PIP_*/UV_*: this machine's extra indexes stay out
    target = tmp_path / "site"
    with static_server(tmp_path / "mirror" / "web") as url:
        started = time.monotonic()
        run([BIN / "python", "-m", "pip", "install", "--no-cache-dir", "--index-url", f"{url}/simple/",
             "--target", target, "kitbs-alpha"], env=env)
        print(f"pip install from the mirror: {time.monotonic() - started:.2f} s")
    out = run([BIN / "python", "-c", "import kitbs_alpha as m; print(m.WHO, m.VERSION)"],
              env=dict(env, PYTHONPATH=str(target))).stdout.split()
    assert out == ["mirrored", "1.1"]


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_the_program_serves_until_stopped_and_exits_cleanly(tmp_path, stop):
    make_wheel(tmp_path / "wheels", "kitbs-alpha", "1.0")
    port = free_port()
    proc = subprocess.Popen([BIN / "python", "-m", "kit.upstream", tmp_path / "wheels", "--port", str(port)],
                            env=clean_env(tmp_path / "home"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == f"serving {tmp_path / 'wheels'} as http://127.0.0.1:{port}/simple/\n"
        assert b'href="/simple/kitbs-alpha/"' in fetch(f"http://127.0.0.1:{port}/simple/")[1]
        proc.send_signal(stop)  # systemd's stop, or Ctrl-C in a terminal
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert (proc.returncode, out, err) == (0, "", "")


def test_the_program_names_a_taken_port(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        proc = run([BIN / "python", "-m", "kit.upstream", tmp_path, "--port", str(port)],
                   env=clean_env(tmp_path / "home"), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"cannot listen on 127.0.0.1:{port} (Address already in use)" in proc.stderr.splitlines()[-1]
