"""kit drill failover, really run: installs through a real edge while the drill
kills the real master, then master and mirror, and kit up brings them back."""

from __future__ import annotations



from kit.ops.drill import DrillReport, Installs, Phase, report_lines


def test_report_text_names_each_phase_and_the_failures():
    ok = Installs(10, 0, 0.2, 0.1, [])
    failed = Installs(8, 2, 1.5, 0.1, ["after 1.50 s: uv exited 2: no such project", "after 0.10 s: uv exited 2: x"])
    report = DrillReport("varnish", "kitdemo-private", [
        Phase("master down", ok, ok, ok, 7.3, 3.0),
        Phase("master and mirror down", ok, failed, ok, 8.0, None),
    ], client="uv")
    text = "\n".join(report_lines(report))
    assert text.splitlines()[0] == "drill failover: kitdemo-private installed with uv through the varnish edge"
    assert "master down: down for 7.3 s, mirror caught up after 3.0 s" in text
    assert "master and mirror down: down for 8.0 s, mirror not in sync within 90 s" in text
    assert "  during          8      2   1.50 s   0.10 s" in text
    assert "  failed: after 1.50 s: uv exited 2: no such project" in text
    assert text.splitlines()[-1] == "drill failed: 2 of 58 installs failed"
    assert not report.ok and report.as_dict()["failed"] == 2
    report.phases.pop()
    assert report.ok and report_lines(report)[-1] == "drill passed: 30 installs, none failed"


