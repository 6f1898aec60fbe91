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




def _site(tmp_path, **answers):
    from kit.site.answers import answers_from_raw
    from kit.site.render import render_site

    site = tmp_path / "site"
    render_site(answers_from_raw({"upstream": str(tmp_path), "teams": ["web", "api"], **answers}), site)
    return site


def test_on_a_private_site_the_installs_read_as_the_first_team_through_a_netrc_only_its_owner_reads(tmp_path):
    """A new site's team index is readable by the team alone: the drill's clients get the
    first team's user and password from a netrc of mode 0600 named by NETRC, never on argv."""
    import base64
    import stat

    from kit.ops.drill import Installer, _basic, team_reader
    from kit.site.folder import Site

    site = _site(tmp_path)
    answers = Site.find(site).answers
    assert answers.read_access == "team"
    reader = team_reader(site)
    assert reader == ("web", answers.team_password("web"))
    installer = Installer("http://127.0.0.1:3143/web/private/+simple/", "kitdemo-private", reader)
    (tmp_path / "run").mkdir()
    env = installer.env(tmp_path / "run")
    netrc = tmp_path / "run" / "netrc"
    assert env["NETRC"] == str(netrc)
    assert stat.S_IMODE(netrc.stat().st_mode) == 0o600
    assert netrc.read_text() == f"machine 127.0.0.1 login web password {answers.team_password('web')}\n"
    argv = " ".join(installer.argv(tmp_path / "target"))
    assert answers.team_password("web") not in argv and answers.admin_password not in argv
    # The project is chosen with the same credentials, sent in a header by kit itself.
    header = _basic(reader)["Authorization"]
    assert base64.b64decode(header.removeprefix("Basic ")).decode() == f"web:{answers.team_password('web')}"


def test_on_an_anonymous_site_the_installs_send_no_credentials(tmp_path):
    from kit.ops.drill import Installer, _basic, team_reader

    site = _site(tmp_path, read_access="anonymous")
    assert team_reader(site) is None and _basic(None) == {}
    (tmp_path / "run").mkdir()
    env = Installer("http://127.0.0.1:3143/web/private/+simple/", "kitdemo-private").env(tmp_path / "run")
    assert "NETRC" not in env and not (tmp_path / "run" / "netrc").exists()
