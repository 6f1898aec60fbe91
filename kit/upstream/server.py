"""A local upstream: a folder of wheels and sdists served as a simple index.

The test suite mirrors from it instead of PyPI, and a classroom can run a
whole cluster from a folder prepared before the day. What it serves is in
:mod:`kit.upstream.app`, what it reads from the folder in
:mod:`kit.upstream.folder`; here it runs, in a thread of a test or a program
of its own (``python -m kit.upstream FOLDER --port 8000``, stopped by SIGTERM
or Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import threading
from pathlib import Path

from aiohttp import web

from kit.core.names import normalize, project_of, version_of
from kit.upstream.app import JSON_TYPE, SERIAL_HEADER, make_app

__all__ = ["JSON_TYPE", "SERIAL_HEADER", "LocalUpstream", "main", "normalize", "project_of", "version_of"]

#: How long stopping waits for requests under way (an idle keep-alive connection is closed at once).
SHUTDOWN_SECONDS = 1.0


def _listen(host: str, port: int) -> socket.socket:
    # bound and listening at once: the port is known (and a taken one fails) before anything is served
    return socket.create_server((host, port))


class LocalUpstream:
    """Serve ``folder`` on ``host:port`` in a background thread with its own event loop (port 0: a free one).

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 0):
        self.folder = Path(folder)
        self._socket = _listen(host, port)
        self._address = self._socket.getsockname()[:2]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._address[1]

    @property
    def url(self) -> str:
        """The simple index URL, as a devpi mirror_url or a pip index-url takes it."""
        return f"http://{self._address[0]}:{self.port}/simple/"

    def start(self) -> "LocalUpstream":
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(started,), name="kit-upstream", daemon=True)
        self._thread.start()
        started.wait()
        return self

    def _serve(self, started: threading.Event) -> None:
        # the loop lives in this thread alone: start() may be called from inside another event loop
        loop = self._loop = asyncio.new_event_loop()
        runner = web.AppRunner(make_app(self.folder), handle_signals=False, access_log=None,
                               shutdown_timeout=SHUTDOWN_SECONDS)
        try:
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.SockSite(runner, self._socket).start())
            started.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.run_until_complete(loop.shutdown_default_executor())  # the threads that read the folder
        finally:
            started.set()
            loop.close()

    def stop(self) -> None:
        if self._thread is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed: it failed to start
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._thread = None
        self._socket.close()

    def __enter__(self) -> "LocalUpstream":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kit.upstream", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder of wheels and sdists")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    try:
        sock = _listen(args.host, args.port)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        parser.error(f"cannot listen on {args.host}:{args.port} ({reason}); "
                     f"stop what holds it or choose another --port")
    host, port = sock.getsockname()[:2]
    print(f"serving {args.folder} as http://{host}:{port}/simple/", flush=True)
    # run_app turns SIGTERM and Ctrl-C into a clean stop: exit status 0, no traceback
    web.run_app(make_app(args.folder), sock=sock, print=None, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)


if __name__ == "__main__":
    main()
