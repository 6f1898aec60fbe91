"""Core metadata on the public mirror, really made: ``kit mirror sync`` runs the real
bandersnatch 6.8 (which writes none) against a local upstream, then kit writes each
wheel's ``.metadata`` and advertises it; the edge's /mirror/ serves them from disk to
real pip and uv, which fetch the ``.metadata`` (the request log says so) and install right."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import re
import threading
import urllib.error
import urllib.request
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiohttp import web

from kit.edge.public_mirror import PublicMirror
from tests.conftest import BIN, clean_env, free_port, run
from tests.support.cluster import running_site, varnish_edge, varnish_missing
from tests.support.edge import edge_process
from tests.support.mirror import init_site, kit, make_upstream


@contextlib.contextmanager
def edge_mirror(folder: Path):
    """The edge's /mirror/ handler (kit.edge.public_mirror) on a free port, logging each request's path and status."""
    requests: list[tuple[str, int]] = []
    mirror = PublicMirror(folder)
    loop = asyncio.new_event_loop()

    async def answer(request: web.Request) -> web.StreamResponse:
        response = await mirror.answer(request)
        requests.append((request.path, response.status))
        return response

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    runner = loop.run_until_complete(start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/mirror/simple/", requests
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@contextlib.contextmanager
def mirror_host(folder: Path):
    """The public-mirror host's plain file server of ``folder`` (the standard library's), logging each path asked."""
    asked: list[str] = []

    class Logged(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
            asked.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Logged, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wheels(site: Path) -> dict[str, Path]:
    return {p.name: p for p in (site / "mirror" / "data" / "web" / "packages").rglob("*.whl")}


def metadata_in(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return archive.read(name)


def test_pip_and_uv_read_the_metadata_kit_wrote_beside_each_mirrored_wheel(tmp_path):
    env = clean_env(tmp_path / "home")
    site = init_site(tmp_path, env, make_upstream(tmp_path / "wheels"), "mirror_projects=kmt-app")
    out = kit("mirror", "sync", str(site), env=env).stdout
    assert "core metadata: 3 wheels of 2 projects advertised, 3 .metadata written, 6 pages rewritten" in out

    found = wheels(site)
    for wheel in found.values():
        meta = wheel.with_name(wheel.name + ".metadata")
        assert meta.read_bytes() == metadata_in(wheel) and meta.stat().st_mode == wheel.stat().st_mode
    page = json.loads((site / "mirror" / "data" / "web" / "simple" / "kmt-lib" / "index.v1_json").read_text())
    for entry in page["files"]:
        meta = found[entry["filename"]].with_name(entry["filename"] + ".metadata")
        assert entry["core-metadata"] == {"sha256": hashlib.sha256(meta.read_bytes()).hexdigest()}

    with edge_mirror(site / "mirror" / "data" / "web") as (index, requests):
        run([BIN / "python", "-m", "pip", "install", "--no-cache-dir", "--target", tmp_path / "pip",
             "--index-url", index, "kmt-app"], env=env)
        by_pip = list(requests)
        requests.clear()
        run([BIN / "uv", "pip", "install", "--no-cache", "--target", tmp_path / "uv", "--index-url", index, "kmt-app"],
            env=env)
        by_uv = list(requests)
    for client, seen in (("pip", by_pip), ("uv", by_uv)):
        fetched = {path.rsplit("/", 1)[-1] for path, status in seen if status == 200}
        assert {"kmt_app-1.0-py3-none-any.whl.metadata", "kmt_lib-1.1-py3-none-any.whl.metadata"} <= fetched, (
            client, seen)
    for target in ("pip", "uv"):
        assert (tmp_path / target / "kmt_lib" / "__init__.py").read_text().startswith("WHO = 'lib-1.1'")

    again = kit("mirror", "sync", str(site), env=env).stdout
    assert "core metadata: 0 wheels of 0 projects" in again  # nothing changed upstream: no page looked at


def test_a_wheel_that_does_not_match_its_page_gets_no_metadata(tmp_path):
    """A mirror synced before kit wrote metadata, one wheel rotted on disk since: the first sync
    of this kit does every project once, and names the bad wheel instead of describing it."""
    env = clean_env(tmp_path / "home")
    site = init_site(tmp_path, env, make_upstream(tmp_path / "wheels"), "mirror_projects=kmt-app")
    kit("mirror", "sync", str(site), env=env)
    for meta in (site / "mirror" / "data" / "web" / "packages").rglob("*.metadata"):
        meta.unlink()
    (site / "mirror" / "run" / "core-metadata.json").unlink()
    simple = site / "mirror" / "data" / "web" / "simple"
    for page in simple.glob("*/index.*"):  # the pages as bandersnatch 6.8 alone left them
        text = page.read_text()
        if page.name == "index.v1_json":
            data = json.loads(text)
            for entry in data["files"]:
                entry.pop("core-metadata", None), entry.pop("dist-info-metadata", None)
            text = json.dumps(data)
        page.write_text(re.sub(r' data-(?:dist-info|core)-metadata="[^"]*"', "", text))
    bad = wheels(site)["kmt_lib-1.0-py3-none-any.whl"]
    bad.write_bytes(bad.read_bytes() + b"\0")

    out = kit("mirror", "sync", str(site), env=env).stdout

    assert ("core metadata: kmt_lib-1.0-py3-none-any.whl does not match the sha256 its page gives; no .metadata "
            "for it (kit mirror sync --repair downloads it again)") in out.splitlines()
    assert "core metadata: 2 wheels of 2 projects advertised, 2 .metadata written" in out
    assert not bad.with_name(bad.name + ".metadata").exists()
    html_page = (simple / "kmt-lib" / "index.html").read_text()
    assert [line for line in html_page.splitlines() if "data-core-metadata" in line] == [
        line for line in html_page.splitlines() if "kmt_lib-1.1-" in line and "href" in line]
    entry = next(f for f in json.loads((simple / "kmt-lib" / "index.v1_json").read_text())["files"]
                 if f["filename"] == bad.name)
    assert "core-metadata" not in entry


def test_an_edge_before_the_mirror_host_serves_the_metadata_only_when_it_matches_the_page(tmp_path):
    """A multi-host site: the edge answers /mirror/ from the public-mirror host's file server
    (kit/edge/mirror_origin.py), checking each ``.metadata`` against the sha256 its wheel's link declares."""
    env = clean_env(tmp_path / "home")
    site = init_site(tmp_path, env, make_upstream(tmp_path / "wheels"), "mirror_projects=kmt-app")
    kit("mirror", "sync", str(site), env=env)
    web_folder = site / "mirror" / "data" / "web"
    wheel = wheels(site)["kmt_lib-1.1-py3-none-any.whl"]
    meta = wheel.with_name(wheel.name + ".metadata")
    target = "/mirror/" + str(meta.relative_to(web_folder))
    with mirror_host(web_folder) as (url, asked):
        with edge_process(tmp_path / "edge", f"http://127.0.0.1:{free_port()}", [], public_mirror_origin=url) as edge:
            run([BIN / "uv", "pip", "install", "--no-cache", "--target", tmp_path / "uv",
                 "--index-url", f"{edge.url}/mirror/simple/", "kmt-app"], env=env)
            assert (tmp_path / "uv" / "kmt_lib" / "__init__.py").read_text().startswith("WHO = 'lib-1.1'")
            assert "/" + str(meta.relative_to(web_folder)) in asked  # uv asked the edge, the edge the host
            assert get(edge.url + target) == (200, meta.read_bytes())

        meta.write_bytes(meta.read_bytes().replace(b"kmt-lib", b"kmt-evil"))  # changed on the host's disk
        with edge_process(tmp_path / "edge2", f"http://127.0.0.1:{free_port()}", [], public_mirror_origin=url) as edge:
            status, body = get(edge.url + target)
            assert status == 502 and b"kmt-evil" not in body and body.count(b"\n") == 1


def test_a_quiet_sync_still_names_a_wheel_that_disagrees_with_its_page(tmp_path):
    """cron runs kit mirror sync --quiet and mails what it prints: nothing but that one warning."""
    env = clean_env(tmp_path / "home")
    site = init_site(tmp_path, env, make_upstream(tmp_path / "wheels"), "mirror_projects=kmt-app")
    kit("mirror", "sync", str(site), env=env)
    bad = wheels(site)["kmt_lib-1.0-py3-none-any.whl"]
    bad.write_bytes(bad.read_bytes() + b"\0")
    bad.with_name(bad.name + ".metadata").unlink()
    (site / "mirror" / "run" / "core-metadata.json").unlink()  # every project looked at again, as a first sync

    proc = kit("mirror", "sync", str(site), "--quiet", env=env)

    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "kit: warning: core metadata: kmt_lib-1.0-py3-none-any.whl does not match the sha256 its page gives; "
        "no .metadata for it (kit mirror sync --repair downloads it again)"]
    assert not bad.with_name(bad.name + ".metadata").exists()
    assert kit("mirror", "sync", str(site), "--quiet", env=env).stderr == ""  # said once, not every night


def test_uv_reads_the_metadata_through_the_varnish_edge(tmp_path):
    """edge = varnish: /mirror/ passes to the shield, which serves the public mirror from disk.
    uv resolves from the .metadata alone (Varnish kept it: a hit next time) and never fetches the wheel."""
    if varnish_missing():
        pytest.skip(varnish_missing())
    env = clean_env(tmp_path / "home")
    with running_site(tmp_path, env, make_upstream(tmp_path / "wheels"), *varnish_edge(),
                      "--set", "setups=private,clients,cluster,public-mirror", "--set", "mirror_projects=kmt-app") as (site, _):
        kit("mirror", "sync", str(site), env=env)
        edge = json.loads((site / "cluster" / "edge.json").read_text())["public_url"]  # Varnish; the shield behind
        (tmp_path / "in.txt").write_text("kmt-app\n")
        out = run([BIN / "uv", "pip", "compile", "--no-cache", "--no-header", "--index-url", f"{edge}/mirror/simple/",
                   tmp_path / "in.txt"], env=env).stdout
        assert "kmt-lib==1.1" in out and "kmt-app==1.0" in out
        web_folder = site / "mirror" / "data" / "web"
        wheel = wheels(site)["kmt_lib-1.1-py3-none-any.whl"]
        meta = wheel.with_name(wheel.name + ".metadata")
        with urllib.request.urlopen(f"{edge}/mirror/{meta.relative_to(web_folder)}", timeout=10) as response:
            assert response.headers["X-Cache"] == "HIT"  # uv asked for it first
            assert response.read() == meta.read_bytes()
        with urllib.request.urlopen(f"{edge}/mirror/{wheel.relative_to(web_folder)}", timeout=10) as response:
            assert response.headers["X-Cache"] == "MISS"  # uv never needed the wheel
