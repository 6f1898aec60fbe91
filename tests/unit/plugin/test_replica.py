"""kit's mends to devpi's replica (:mod:`kit.plugin.replica`) on devpi's own
objects, without a server; tests/integration/plugin/test_replica.py and
test_reads.py run them in a real master and replica."""

from __future__ import annotations

import json
import threading
from contextlib import ExitStack
from queue import PriorityQueue
from types import SimpleNamespace

import httpx
import pytest
from devpi_server.replica import ReplicationErrors

from kit.plugin import replica


def test_a_replication_error_is_kept_as_json_devpis_status_can_write():
    """devpi-server 6.20 keeps the response's URL object, and its /+status then answers 500."""
    errors = ReplicationErrors()
    replica.json_ready_errors(errors)
    url = httpx.URL("http://127.0.0.1:3141/web/private/+f/abc/kitdemo-1.0-py3-none-any.whl")
    errors.add({"url": url, "message": "Not Found", "relpath": "web/private/+f/abc/kitdemo-1.0-py3-none-any.whl"})
    errors.add({"url": None, "message": "error on connection", "relpath": "web/private/+f/def/other.whl"})
    assert json.loads(json.dumps(errors.errors))["web/private/+f/abc/kitdemo-1.0-py3-none-any.whl"] == {
        "url": str(url), "message": "Not Found", "relpath": "web/private/+f/abc/kitdemo-1.0-py3-none-any.whl"}
    errors.remove(SimpleNamespace(relpath="web/private/+f/abc/kitdemo-1.0-py3-none-any.whl"))
    assert list(errors.errors) == ["web/private/+f/def/other.whl"]


def shared_data():
    return SimpleNamespace(queue=PriorityQueue(), error_queue=PriorityQueue())


def queued(relpath: str, serial: int = 1):
    """An item of devpi's download queue: (index type, -serial, relpath, keyname, value, back serial)."""
    return ("stage", -serial, relpath, "STAGEFILE", {}, 0)


def errored(relpath: str):
    """An item of its error queue: (when, delay, index type, serial, relpath, keyname, value, back serial)."""
    return (1e9, 11, "stage", 1, relpath, "STAGEFILE", {}, 0)


def test_files_pending_counts_each_file_once_until_it_is_done():
    data = shared_data()
    data.kit_downloads = replica.Downloads()
    assert replica.files_pending(data) == 0
    # The same file queued twice (as the change was applied, and as the replica listed what it lacks).
    data.queue.put(queued("web/private/+f/a/one.whl", 2))
    data.queue.put(queued("web/private/+f/a/one.whl", 3))
    data.queue.put(queued("web/private/+f/b/two.whl"))
    assert replica.files_pending(data) == 2
    item = data.queue.get()  # the newest serial first: one.whl
    assert item[2] == "web/private/+f/a/one.whl"
    # Taken, not yet being downloaded: counted without its name (one more, for a moment).
    assert replica.files_pending(data) == 3
    seen = []
    download = data.kit_downloads.track(lambda *item: seen.append(replica.files_pending(data)))
    download(*item)
    assert seen == [2]  # being downloaded: counted by its name, once
    assert data.kit_downloads.now() == (set(), 0)
    data.queue.task_done()
    assert replica.files_pending(data) == 2
    while not data.queue.empty():
        data.queue.get()
        data.queue.task_done()
    assert replica.files_pending(data) == 0
    data.error_queue.put(errored("web/private/+f/c/lost.whl"))
    data.error_queue.put(errored("web/private/+f/c/lost.whl"))
    assert replica.files_pending(data) == 1


def test_a_download_that_fails_is_no_longer_counted_as_running():
    downloads = replica.Downloads()

    def failing(*item):
        assert downloads.now() == ({"web/private/+f/a/one.whl"}, 1)
        raise OSError("the primary went away")

    try:
        downloads.track(failing)("stage", 1, "web/private/+f/a/one.whl", "STAGEFILE", {}, 0)
    except OSError:
        pass
    assert downloads.now() == (set(), 0)


def test_two_downloads_of_one_file_take_turns_and_of_two_files_run_together():
    """devpi queues a file twice when a replica starts, and two of its threads fetched it at
    once: the second failed (its file open while the first wrote it) and waited 11 s to retry."""
    downloads = replica.Downloads()
    inside: dict[str, int] = {}
    most: dict[str, int] = {}
    both_files_at_once = threading.Event()
    lock = threading.Lock()

    def download(index_type, serial, relpath, *rest):
        with lock:
            inside[relpath] = inside.get(relpath, 0) + 1
            most[relpath] = max(most.get(relpath, 0), inside[relpath])
            if len([n for n in inside.values() if n]) == 2:
                both_files_at_once.set()
        both_files_at_once.wait(0.3)
        with lock:
            inside[relpath] -= 1

    handle = downloads.track(download)
    threads = [threading.Thread(target=handle, args=("stage", 1, name, "STAGEFILE", {}, 0))
               for name in ("web/private/+f/a/one.whl", "web/private/+f/a/one.whl", "web/private/+f/b/two.whl")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert most == {"web/private/+f/a/one.whl": 1, "web/private/+f/b/two.whl": 1}
    assert both_files_at_once.is_set()
    assert downloads.now() == (set(), 0)


def test_each_download_thread_of_devpi_notes_what_it_downloads():
    calls = []
    threads = [SimpleNamespace(handler=lambda *item, n=n: calls.append((n, item[2]))) for n in range(2)]
    replica_thread = SimpleNamespace(file_replication_threads=threads, shared_data=SimpleNamespace())
    replica.count_downloads(replica_thread)
    threads[1].handler("stage", 1, "web/private/+f/a/one.whl", "STAGEFILE", {}, 0)
    assert calls == [(1, "web/private/+f/a/one.whl")]
    assert replica_thread.shared_data.kit_downloads.now() == (set(), 0)


class Client:
    def __init__(self, name: str):
        self.name, self.calls = name, []
        self.timeout = 30

    def stream(self, cstack, method, url, **options):
        self.calls.append((method, url, options))
        return self.name


def test_the_fetch_from_the_primary_goes_as_the_replica_and_any_other_as_before():
    stage_http, replica_http = Client("plain"), Client("replica")
    http = replica._PrimaryAsReplica(stage_http, replica_http, "http://127.0.0.1:3141")
    with ExitStack() as cstack:
        assert http.stream(cstack, "GET", "http://127.0.0.1:3141/web/private/+f/a/one.whl",
                           allow_redirects=True, extra_headers={"X-Devpi-Replica-Filerepl": "YES"}) == "replica"
        assert http.stream(cstack, "GET", "http://127.0.0.1:31410/other", allow_redirects=True) == "plain"
    assert replica_http.calls == [("GET", "http://127.0.0.1:3141/web/private/+f/a/one.whl",
                                   {"allow_redirects": True, "extra_headers": {"X-Devpi-Replica-Filerepl": "YES"}})]
    assert http.timeout == 30  # the rest is the stage's client


def test_the_on_demand_fetch_is_wrapped_once_and_given_the_replicas_client(monkeypatch):
    from devpi_server import views

    seen = []

    def original(stage, entry, url):
        seen.append((stage.http.stream(None, "GET", "http://127.0.0.1:3141/x", allow_redirects=True), stage.name))
        yield b"bytes"

    monkeypatch.setattr(views, "iter_remote_file_replica", original)
    replica.fetch_as_replica()
    wrapped = views.iter_remote_file_replica
    replica.fetch_as_replica()
    assert views.iter_remote_file_replica is wrapped is not original
    xom = SimpleNamespace(replica_thread=SimpleNamespace(http=Client("replica")),
                          config=SimpleNamespace(primary_url=SimpleNamespace(url="http://127.0.0.1:3141/")))
    stage = SimpleNamespace(xom=xom, http=Client("plain"), name="web/private")
    assert list(wrapped(stage, None, None)) == [b"bytes"]
    assert seen == [("replica", "web/private")]


def test_nothing_is_mended_on_a_primary(monkeypatch):
    from devpi_server import views

    before = views.iter_remote_file_replica
    assert replica.mend(SimpleNamespace(is_replica=lambda: False)) == []
    assert views.iter_remote_file_replica is before


def test_a_devpi_that_changed_is_left_as_it_is_and_the_log_says_so(monkeypatch):
    """A devpi release whose internals differ runs unmended rather than not at all."""
    from devpi_server import views

    monkeypatch.delattr(views, "iter_remote_file_replica")
    warned = []
    xom = SimpleNamespace(is_replica=lambda: True, replica_thread=SimpleNamespace(shared_data=SimpleNamespace()))
    assert replica.mend(xom, warn=lambda *args: warned.append(args[0] % args[1:])) == []
    assert len(warned) == 3 and all(w.startswith("kit: devpi's replica is not what kit's plugin knows (") for w in warned)
    assert "left without files fetched on demand as the replica" in warned[1]
    # Without the count, the metric is left out, and kit status judges by the serial alone.
    assert replica.files_pending(xom.replica_thread.shared_data) is None
    odd = SimpleNamespace(kit_downloads=replica.Downloads(), queue=[], error_queue=[])
    assert replica.files_pending(odd) is None


def test_a_replica_of_this_devpi_is_mended_whole(monkeypatch):
    from devpi_server import views
    from devpi_server.replica import ReplicationErrors

    monkeypatch.setattr(views, "iter_remote_file_replica", views.iter_remote_file_replica)
    threads = [SimpleNamespace(handler=lambda *item: None)]
    shared = SimpleNamespace(errors=ReplicationErrors(), queue=PriorityQueue(), error_queue=PriorityQueue())
    xom = SimpleNamespace(is_replica=lambda: True,
                          replica_thread=SimpleNamespace(shared_data=shared, file_replication_threads=threads))
    assert len(replica.mend(xom, warn=lambda *args: pytest.fail(args[0] % args[1:]))) == 3
    assert replica.files_pending(shared) == 0


def test_the_metric_is_left_out_where_devpis_replica_is_not_what_kit_knows():
    """/+status (which runs the metrics hook) still answers: kit status then judges by the serial."""
    from kit.plugin.hooks import devpiserver_metrics

    changed = SimpleNamespace(registry={"xom": SimpleNamespace(is_replica=lambda: True, replica_thread=SimpleNamespace())})
    assert devpiserver_metrics(changed) == []
    shared = SimpleNamespace(queue=PriorityQueue(), error_queue=PriorityQueue(), kit_downloads=replica.Downloads())
    shared.queue.put(queued("web/private/+f/a/one.whl"))
    known = SimpleNamespace(registry={"xom": SimpleNamespace(is_replica=lambda: True,
                                                             replica_thread=SimpleNamespace(shared_data=shared))})
    assert devpiserver_metrics(known) == [(replica.FILES_PENDING, "gauge", 1)]
