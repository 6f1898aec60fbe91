"""kit drill host-loss without a server: its refusals, the stretches without an answer
measured from a list of looks, and the report's text and JSON."""

from __future__ import annotations

import pytest

from kit.core.errors import DrillError
from kit.ops.drill import Installs
from kit.ops.host_loss import (PROCESS_LOSS, HostLossReport, Window, check_arguments, report_lines,
                               unanswered_windows)


def _site(tmp_path, prefix="127.0.0", **answers):
    from kit.site.answers import answers_from_raw
    from kit.site.folder import Site
    from kit.site.render import render_site

    raw = {"upstream": str(tmp_path), "teams": ["web"], "setups": ["mirror", "private", "clients", "cluster"],
           "host": f"{prefix}.6", **answers}
    site = tmp_path / "site"
    render_site(answers_from_raw(raw), site)
    return Site.find(site)


def _spread(tmp_path, prefix="127.0.0"):
    hosts = {name: {"address": f"{prefix}.{n}", "roles": [role]}
             for name, n, role in (("master", 4, "master"), ("mirror", 5, "mirror"), ("edge1", 6, "edge"),
                                   ("edge2", 7, "edge"))}
    return _site(tmp_path, prefix, hosts=hosts)


def refused(site, host="edge2", **kw) -> str:
    kw = {"outage": 3.0, "cut": None, "restore": None, **kw}
    with pytest.raises(DrillError) as caught:
        check_arguments(site, host, **kw)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_site_of_one_host_is_refused_with_the_drill_it_can_run(tmp_path):
    site = _site(tmp_path)
    assert refused(site) == f"{site} runs on one host, so there is no other to lose; on it, run: " \
                            f"{site.command('drill', 'failover')}"


def test_an_unknown_host_names_the_hosts(tmp_path):
    site = _spread(tmp_path)
    assert refused(site, "edge3").endswith("has no host 'edge3'; pass --host with one of: edge1, edge2, master, mirror")


def test_cut_and_restore_come_together(tmp_path):
    site = _spread(tmp_path)
    assert refused(site, cut="true").startswith("--cut without --restore: pass both")
    assert refused(site, restore="true").startswith("--restore without --cut: pass both")
    assert "must each be a command" in refused(site, cut=" ", restore="true")
    assert "more than 0 seconds" in refused(site, outage=0.0)
    # both given on a loopback site: accepted (nothing is run by the check)
    assert check_arguments(site, "edge2", outage=3.0, cut="true", restore="true").on_this_machine


def test_hosts_on_other_machines_need_a_cut_command(tmp_path):
    site = _spread(tmp_path, prefix="198.18.0")
    message = refused(site)
    assert "hosts are other machines: pass --cut CMD --restore CMD that take host edge2's network away" in message
    check_arguments(site, "edge2", outage=3.0, cut="ip link set eth0 down", restore="ip link set eth0 up")


def test_a_hosts_bundle_is_refused_for_the_whole_site(tmp_path):
    from kit.site.folder import Site

    bundle = Site.find(_spread(tmp_path).path / "hosts" / "edge1")
    assert "is the bundle of host 'edge1'; run the drill on the whole site's folder" in refused(bundle)


def test_unanswered_windows_from_looks():
    looks = [(0.0, True), (0.05, False), (0.10, False), (0.15, True), (0.20, True), (0.25, False), (1.25, True)]
    windows = unanswered_windows(looks, end=2.0)
    assert [(w.start, round(w.length, 3), w.open) for w in windows] == [(0.05, 0.1, False), (0.25, 1.0, False)]
    assert unanswered_windows([(0.0, True), (0.05, True)], end=1.0) == []
    # still not answering at the end: open, up to the end
    assert unanswered_windows([(0.0, True), (0.5, False), (0.55, False)], end=2.0) == [Window(0.5, 1.5, open=True)]
    assert unanswered_windows([], end=1.0) == []


def _report(**changes) -> HostLossReport:
    ok = Installs(10, 0, 0.2, 0.1, [])
    fields = dict(host="lb1", address="198.18.0.2", roles=["balancer"], how="cut with: A; restored with: B",
                  client_url="https://pkg.example.test", project="kitdemo-private", client="uv", before=ok,
                  during=Installs(30, 0, 2.4, 0.15, []), after=ok, lost_for=5.02,
                  unanswered=[Window(0.1, 1.84), Window(5.3, 0.05)], healthy_after=0.8, caught_up_after=1.3)
    fields.update(changes)
    return HostLossReport(**fields)


def test_report_lines_say_what_was_lost_the_installs_the_client_url_and_the_recovery():
    lines = report_lines(_report())
    text = "\n".join(lines)
    assert lines[0] == ("drill host-loss: host lb1 (198.18.0.2: balancer) lost for 5.0 s; kitdemo-private "
                        "installed with uv from https://pkg.example.test")
    assert lines[1] == "  cut with: A; restored with: B"
    assert "  during         30      0   2.40 s   0.15 s" in text
    assert "client URL: did not answer for at most 1.84 s (2 stretches)" in text
    assert "after the restore: every host healthy after 0.8 s, the mirror in sync after 1.3 s" in text
    assert lines[-1] == "drill passed: 50 installs, none failed"


def test_report_lines_of_a_failed_drill_and_a_process_loss():
    failed = Installs(8, 2, 30.0, 0.1, ["after 30.00 s: no result within 30 s"])
    report = _report(how=PROCESS_LOSS, during=failed, unanswered=[Window(0.2, 4.0, open=True)],
                     healthy_after=None, caught_up_after=None)
    text = "\n".join(report_lines(report))
    assert "  a process loss, not a network loss" in text
    assert "  failed: after 30.00 s: no result within 30 s" in text
    assert "client URL: did not answer for at most 4.00 s (1 stretch) (still not answering when the drill ended)" in text
    assert "every host not healthy within 90 s, the mirror not in sync within 90 s" in text
    assert text.splitlines()[-1] == "drill failed: 2 of 28 installs failed"
    assert "client URL: answered all along" in "\n".join(report_lines(_report(unanswered=[])))


def test_report_json_is_plain_data_with_the_verdict():
    data = _report(lost_for=5.0234).as_dict()
    assert data["ok"] is True and data["installs"] == 50 and data["failed"] == 0
    assert data["lost_for"] == 5.023 and data["longest_unanswered"] == 1.84
    assert data["unanswered"][0] == {"start": 0.1, "length": 1.84, "open": False}
    assert data["during"] == {"count": 30, "failed": 0, "worst": 2.4, "median": 0.15, "errors": []}
