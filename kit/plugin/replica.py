"""Mends to devpi-server's replica (the mirror), made by the plugin where devpi
runs as one.

* **A file asked for before it is replicated.** A replica asked for a file
  it does not hold (its file replication has not got there, or the file was
  lost) fetches it from the primary at once. devpi-server 6.20 sends that
  request without the replica's credentials (earlier versions sent them);
  with private reads (:mod:`kit.plugin.reads`) the primary refuses it, and
  the mirror answered the team 502. :func:`fetch_as_replica` makes devpi send
  the replica's own credentials to the primary, as its file replication does.
* **An error that broke /+status.** A file the primary answered with an
  error is kept in the replica's list of replication errors with the URL as
  an object devpi's ``/+status`` cannot write as JSON: it answered 500 until
  the file arrived, which may be never. :func:`json_ready_errors` keeps the
  URL as text.
* **One download of a file at a time.** devpi may queue a file twice and
  download it in two threads at once; the second fails, and is tried again
  only 11 s later: :class:`Downloads` has it wait for the first.
* **Files still to download.** A replica takes the primary's changes first
  and downloads their files afterwards; devpi's status says when its serial
  matches, not whether the files are there. :func:`files_pending` counts them
  (queued, being downloaded, or waiting to be retried), so kit's "in sync"
  means the mirror holds what the master holds: what promoting it keeps.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

__all__ = ["FILES_PENDING", "Downloads", "count_downloads", "fetch_as_replica", "files_pending", "json_ready_errors",
           "mend"]

#: The metric, in devpi's ``/+status`` "metrics", of :func:`files_pending`.
FILES_PENDING = "kit_replica_files_pending"


def mend(xom: Any, warn: Callable[..., Any] | None = None) -> list[str]:
    """Make the mends on a replica's ``xom`` (nothing on a primary); the names of those
    made. Called while devpi builds its app, before its replica threads start.

    Each mend reaches into one of devpi's internals. Where a devpi release
    has changed one, that mend is left out and ``warn`` (devpi's log) says
    so: the replica runs as devpi made it rather than not at all."""
    if not xom.is_replica():
        return []
    if warn is None:
        from devpi_server.log import threadlog

        warn = threadlog.warning
    replica_thread = xom.replica_thread
    made = []
    for name, step in (
        ("replication errors its /+status can show", lambda: json_ready_errors(replica_thread.shared_data.errors)),
        ("files fetched on demand as the replica", fetch_as_replica),
        ("one download of a file at a time, and the count of files to download",
         lambda: count_downloads(replica_thread)),
    ):
        try:
            step()
        except (AttributeError, ImportError) as exc:
            warn("kit: devpi's replica is not what kit's plugin knows (%s): left without %s", exc, name)
        else:
            made.append(name)
    return made


def json_ready_errors(errors: Any) -> None:
    """Have devpi's ``ReplicationErrors`` keep each error's URL as text."""
    add = errors.add

    def add_with_text_url(error: dict) -> None:
        if error.get("url") is not None:
            error = dict(error, url=str(error["url"]))
        add(error)

    errors.add = add_with_text_url


def fetch_as_replica() -> None:
    """Have devpi's on-demand fetch of a file from the primary go with the
    replica's credentials (its replication client's). Once per process."""
    from devpi_server import views

    fetch = views.iter_remote_file_replica
    if getattr(fetch, "kit_as_replica", False):
        return

    def iter_remote_file_replica(stage, entry, url):
        return fetch(_StageReadingAsReplica(stage), entry, url)

    iter_remote_file_replica.kit_as_replica = True  # type: ignore[attr-defined]
    views.iter_remote_file_replica = iter_remote_file_replica


class _StageReadingAsReplica:
    """A stage whose ``http`` reads the primary as the replica; the rest is the stage's."""

    def __init__(self, stage: Any):
        self._stage = stage
        xom = stage.xom
        self.http = _PrimaryAsReplica(stage.http, xom.replica_thread.http, xom.config.primary_url.url)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stage, name)


class _PrimaryAsReplica:
    """``stream`` with the replica's client for the primary's URLs, the stage's for any other."""

    def __init__(self, http: Any, replica_http: Any, primary_url: str):
        self._http, self._replica_http = http, replica_http
        self._primary = primary_url.rstrip("/") + "/"

    def stream(self, cstack, method, url, **options):
        client = self._replica_http if str(url).startswith(self._primary) else self._http
        return client.stream(cstack, method, url, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._http, name)


class Downloads:
    """The files devpi's download threads are working on now, by name; one
    download of a file at a time.

    devpi may queue a file twice (once as it applies the change, once as it
    lists what its data lacks), and two of its threads then download it at
    once: the second fails (``assert not self.exists(path)`` as it opens the
    file the first is writing) and is tried again 11 s later, the file long
    there. Here the second waits for the first, then finds the file there.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: name: [the lock its downloads take turns on, how many hold or wait for it]
        self._names: dict[str, list] = {}

    def track(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """``handler`` (a download thread's, called with the queue item: index type, serial,
        relpath, ...) that notes its file while it runs, after any other download of it."""
        def handle(index_type, serial, relpath, *rest):
            with self._lock:
                turn = self._names.setdefault(relpath, [threading.Lock(), 0])
                turn[1] += 1
            try:
                with turn[0]:
                    return handler(index_type, serial, relpath, *rest)
            finally:
                with self._lock:
                    turn[1] -= 1
                    if not turn[1]:
                        del self._names[relpath]
        return handle

    def now(self) -> tuple[set[str], int]:
        """(the names being downloaded, how many downloads run or wait their turn)."""
        with self._lock:
            return set(self._names), sum(turn[1] for turn in self._names.values())


def count_downloads(replica_thread: Any) -> None:
    """Have each of devpi's file download threads note what it downloads (on ``shared_data``)."""
    downloads = Downloads()
    for thread in replica_thread.file_replication_threads:
        thread.handler = downloads.track(thread.handler)
    replica_thread.shared_data.kit_downloads = downloads


def files_pending(shared_data: Any) -> int | None:
    """Files the replica has yet to download: queued, being downloaded, or
    waiting to be retried after an error; each counted once.

    devpi may queue a file twice (once as it applies the change, once as it
    lists what its data lacks). An item taken from a queue stays one of its
    unfinished tasks until done; those not being downloaded (a moment
    between the queue and the download, or an error being put back) are
    counted without a name: never fewer than there are, for a moment one more.
    None when devpi's download queues are not what kit knows, or not counted
    (:func:`count_downloads` left out)."""
    downloads = getattr(shared_data, "kit_downloads", None)
    if downloads is None:
        return None
    names: set[str] = set()
    taken = 0
    try:
        for queue, name_at in ((shared_data.queue, 2), (shared_data.error_queue, 4)):
            with queue.mutex:
                names.update(item[name_at] for item in queue.queue)
                taken += queue.unfinished_tasks - len(queue.queue)
    except (AttributeError, IndexError, TypeError):
        return None
    downloading, running = downloads.now()
    return len(names | downloading) + max(0, taken - running)
