"""The ceiling: nginx serving the same bytes as static files, what a page
already in a cache costs at best."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from kit.core.errors import BenchError, one_line
from kit.core.processes import free_ports, wait_answering

__all__ = ["StaticServer"]


class StaticServer:
    """nginx on a free 127.0.0.1 port serving ``folder`` (pages as ``index.json``), in the
    foreground, every path of its own in ``folder``'s parent; stopped by :meth:`stop`."""

    def __init__(self, nginx: str, folder: Path):
        self.nginx, self.root, self.prefix = nginx, folder, folder.parent / "nginx"
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def config(self) -> str:
        p = self.prefix
        # The bench's temp folder is 0700: as root, workers must stay root to read it.
        user = "user root;\n" if os.geteuid() == 0 else ""
        temp = "".join(f"    {kind}_temp_path {p / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        return (
            f"{user}daemon off;\nworker_processes auto;\npid {p / 'nginx.pid'};\nerror_log {p / 'error.log'};\n"
            "events { worker_connections 1024; }\n"
            "http {\n    access_log off;\n    sendfile on;\n    keepalive_requests 1000000;\n"
            "    types { application/vnd.pypi.simple.v1+json json; }\n    default_type application/octet-stream;\n"
            f"{temp}    server {{\n        listen 127.0.0.1:{self.port};\n        root {self.root};\n"
            "        index index.json;\n    }\n}\n"
        )

    def start(self, probe: str) -> None:
        """Start nginx and wait until ``probe`` answers; :class:`BenchError` with nginx's own words if not."""
        self.prefix.mkdir(parents=True, exist_ok=True)
        conf = self.prefix / "nginx.conf"
        conf.write_text(self.config())
        log = self.prefix / "error.log"
        self.proc = subprocess.Popen([self.nginx, "-e", str(log), "-p", str(self.prefix), "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def exited(code: int) -> BenchError:
            return BenchError(f"nginx exited {code}: {one_line(self.proc.stderr.read().decode())}")

        def silent() -> BenchError:
            self.stop()
            return BenchError(f"nginx did not answer within 10 s; see {log}")

        wait_answering(self.proc, f"{self.url}{probe}", 10, exited=exited, silent=silent)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, the master removes its pid file
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()

