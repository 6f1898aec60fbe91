"""kit's launcher of devpi's programs (:mod:`kit.plugin.launch`) without running
devpi: where it reads whether devpi-web is wanted, its command line, and its
refusals (devpi-web blocked or loaded on real servers:
integration/plugin/test_launch.py)."""

from __future__ import annotations

import sys

import pytest

from kit.plugin import launch


@pytest.mark.parametrize("args, found", [
    (["-c", "master.yml"], "master.yml"), (["--configfile", "m.yml", "--debug"], "m.yml"),
    (["--configfile=m.yml"], "m.yml"), (["-cm.yml"], "m.yml"), (["--host", "x"], None), (["-c"], None),
])
def test_the_config_file_is_the_one_devpi_reads(args, found):
    assert launch.config_file(args) == found


@pytest.mark.parametrize("setting, wanted", [("true", True), ("false", False), ("yes", True), (None, False)])
def test_devpi_web_is_wanted_when_the_config_says_kit_web(tmp_path, setting, wanted):
    config = tmp_path / "master.yml"
    lines = ["devpi-server:", "  role: primary"] + ([f"  kit-web: {setting}"] if setting is not None else [])
    config.write_text("\n".join(lines) + "\n")
    assert launch.wants_web(["-c", str(config)], {}) is wanted
    # devpi's own way to give any option, the environment, wins as it does for devpi.
    assert launch.wants_web(["-c", str(config)], {"DEVPISERVER_KIT_WEB": "1"}) is True
    assert launch.wants_web(["-c", str(config)], {"DEVPISERVER_KIT_WEB": "0"}) is False


def test_no_config_or_a_broken_one_wants_nothing_and_is_left_to_devpi(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("devpi-server: [unclosed\n")
    assert not launch.wants_web([], {})
    assert not launch.wants_web(["-c", str(tmp_path / "missing.yml")], {})
    assert not launch.wants_web(["-c", str(broken)], {})


def test_kit_runs_devpi_through_the_launcher_with_its_own_python():
    assert launch.launch_argv("devpi-server") == [sys.executable, "-m", "kit.plugin.launch", "devpi-server"]
    assert set(launch.COMMANDS) == {"devpi-server", "devpi-init", "devpi-import", "devpi-export"}
    with pytest.raises(ValueError):
        launch.launch_argv("devpi-passwd")


def test_an_unknown_command_is_one_usage_line(capsys):
    assert launch.main(["devpi-fsck"], {}) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m kit.plugin.launch {devpi-server,") and err.count("\n") == 1


def test_web_wanted_without_devpi_web_is_one_line_and_nothing_runs(monkeypatch, capsys):
    monkeypatch.setattr(launch, "missing_web", lambda: "devpi-web is missing; install it: pip install devpi-web")
    monkeypatch.setattr(launch, "run", lambda *a: pytest.fail("devpi must not start"))
    assert launch.main(["devpi-server", "-c", "master.yml"], {"DEVPISERVER_KIT_WEB": "true"}) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err == "devpi-server: devpi-web is missing; install it: pip install devpi-web\n"
