"""What kit status shows of a cluster (kit.cluster.status), without one: the edge's
counters and static copy in words."""

from __future__ import annotations

import io


def test_counts_are_worded_for_one_and_for_many():
    """kit status said "1 hits", "1 stale", "1 integrity failures" and "1 projects"."""
    from kit.cluster.status import edge_summary
    from kit.cluster.devpi import sync_state
    from kit.site.render import SiteChanges
    from kit.core.report import print_changes

    copy = {"age": 3, "serial": 7, "projects": 1, "files": 1, "errors": 1, "last_error": "timeout"}
    health = {"hits": 1, "misses": 1, "stale": 1, "passes": 1, "integrity_failures": 1, "static_copy": copy}
    assert edge_summary(health) == ("1 hit, 1 miss, 1 stale answer, 1 pass, 1 integrity failure; static copy: "
                                    "refreshed 3 s ago (serial 7, 1 project, 1 file), last refresh: 1 error (timeout)")
    many = {"hits": 2, "misses": 0, "stale": 3, "passes": 2, "integrity_failures": 0}
    assert edge_summary(many) == "2 hits, 0 misses, 3 stale answers, 2 passes, 0 integrity failures"
    varnish = {"edge": "varnish", "hits": 1, "misses": 2, "stale": 0, "passes": 1, "origins": {"master": True}}
    assert edge_summary(varnish) == "1 hit, 2 misses, 0 stale answers, 1 pass; origins: master up"
    assert sync_state({"serial": 6}, {"serial": 7}).detail == "1 change behind the master (serial 6 of 7)"
    out = io.StringIO()
    print_changes("room", SiteChanges(created=["a"], updated=["b", "c"], removed=[], unchanged=["d"]), file=out)
    assert out.getvalue().splitlines()[0] == "created 1 file, updated 2 files:"
    out = io.StringIO()
    print_changes("room", SiteChanges(created=["a"], updated=[], removed=[], unchanged=[]), planned=True, file=out)
    assert out.getvalue().splitlines()[0] == "will create 1 file:"


def test_the_mirror_without_status_says_why():
    """kit status said only "no status from the mirror" for two minutes in CI: a
    reader cannot tell a mirror that hangs from one that answers an error."""
    import http.server
    import threading

    from kit.cluster.status import devpi_status_and_trouble
    from kit.site.answers import answers_from_raw
    from kit.cluster.devpi import sync_state

    class Failing(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"type": "status"}' if self.path == "/+status" and self.server.shape == "empty" else b"boom"
            self.send_response(200 if self.server.shape == "empty" else 500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        answers = answers_from_raw({"mirror_port": server.server_address[1]})
        server.shape = "error"
        assert devpi_status_and_trouble(answers, "mirror") == (None, "/+status: HTTP 500")
        server.shape = "empty"
        assert devpi_status_and_trouble(answers, "mirror") == (None, "/+status: no result in its answer")
    finally:
        server.shutdown()
        server.server_close()
    state = sync_state(None, {"serial": 3}, mirror_trouble="/+status: no answer within 2 s")
    assert state.behind is None and state.detail == "no status from the mirror (/+status: no answer within 2 s)"
    assert sync_state(None, {"serial": 3}).detail == "no status from the mirror"


def test_kit_up_says_what_the_mirror_still_lacks_when_it_does_not_catch_up(monkeypatch):
    from types import SimpleNamespace

    from kit.cluster.devpi import SyncState
    from kit.cluster.lifecycle import Cluster

    cluster = Cluster.__new__(Cluster)
    cluster.site = SimpleNamespace(command=lambda sub: f"kit {sub} ~/acme")
    said = []
    for state, shown in [
        (SyncState(0, "has the master's changes; 1 file still to download", 1),
         "not in sync with the master (has the master's changes; 1 file still to download)"),
        (SyncState(2, "2 changes behind the master (serial 5 of 7)"), "2 changes behind the master"),
        (SyncState(None, "no status from the mirror"), "an unknown number of changes behind the master"),
    ]:
        monkeypatch.setattr(cluster, "mirror_sync", lambda state=state: state)
        cluster._wait_mirror_in_sync(said.append, timeout=0.05)
        assert said.pop() == f"warning: the mirror is still {shown}; see kit status ~/acme"
    monkeypatch.setattr(cluster, "mirror_sync", lambda: SyncState(0, "in sync with the master", 0))
    cluster._wait_mirror_in_sync(said.append, timeout=0.05)
    assert said == []
