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
