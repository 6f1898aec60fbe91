"""bandersnatch against the local upstream, and a plain static file server for what it wrote."""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from kit.upstream.server import LocalUpstream
from tests.conftest import BIN, clean_env, run


def bandersnatch_conf(tmp_path: Path, upstream: LocalUpstream, *allowlist: str) -> Path:
    """A bandersnatch 6.8 config: the PEP 691 listing instead of XML-RPC, one worker, no retries past an error."""
    conf = tmp_path / "bandersnatch.conf"
    packages = "".join(f"\n    {name}" for name in allowlist)
    conf.write_text(
        f"""[mirror]
directory = {tmp_path / "mirror"}
master = http://127.0.0.1:{upstream.port}
api-method = simple
allow-non-https = true
storage-backend = filesystem
json = true
release-files = true
hash-index = false
simple-format = ALL
compare-method = hash
workers = 1
timeout = 10
global-timeout = 60
stop-on-error = true

[plugins]
enabled = allowlist_project

[allowlist]
packages ={packages}
"""
    )
    return conf


def bandersnatch_mirror(conf: Path, home: Path) -> float:
    """Run ``bandersnatch mirror``; the seconds it took."""
    # bandersnatch hands any *_proxy variable to aiohttp as is, 127.0.0.1 included
    env = {k: v for k, v in clean_env(home).items() if not k.lower().endswith("_proxy")}
    started = time.monotonic()
    run([BIN / "bandersnatch", "-c", conf, "mirror"], env=env, timeout=120)
    return time.monotonic() - started


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass


@contextlib.contextmanager
def static_server(folder: Path):
    """A plain file server on ``folder``, as a web server in front of a bandersnatch mirror is."""
    handler = functools.partial(_QuietFiles, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
