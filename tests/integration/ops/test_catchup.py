"""``kit catch-up``: the quick cases (chapters 3 and 4, with a cluster, are
run by each chapter's reading alone in tests/tutorial/test_alone.py)."""

from __future__ import annotations


import pytest



def test_a_failed_client_run_is_one_line_with_its_last_words(tmp_path):
    """The tour and catch-up run pip and twine for you; when one fails, kit says
    which, with its last lines, as a ClientRunError (exit 1), never a traceback."""
    import sys

    from kit.core.errors import ClientRunError, KitError
    from kit.ops.tour import _run

    failing = [sys.executable, "-c", "import sys; print('first'); print('ERROR: no matching distribution'); sys.exit(3)"]
    with pytest.raises(ClientRunError) as info:
        _run(failing, {}, "pip install kitdemo")
    assert isinstance(info.value, KitError) and info.value.exit_code == 1
    assert str(info.value) == "tour: pip install kitdemo failed: first | ERROR: no matching distribution"


def test_catching_up_twice_finds_the_upload_on_the_private_team_index(tmp_path):
    """The team index of the catch-up's site is readable by the team alone (a new site's
    default): the second catch-up still sees acme-utils 1.0 there (kit reads as the operator),
    so it neither uploads again nor fails on the 409 a second upload would get."""
    from kit.cluster.lifecycle import free_ports
    from kit.ops.sample import make_wheel
    from tests.conftest import clean_env, kit_cmd, run
    from tests.support.cluster import pids

    home = tmp_path / "home"
    env = clean_env(home)
    make_wheel(home / "wheels", "tutorial-upstream", "1.0")
    acme = home / "acme"
    ports = dict(zip(("master_port", "mirror_port", "edge_port", "upstream_port"), free_ports(4)))
    # The site chapter 2 makes, on free ports (the chapters' own are the reader's).
    run(kit_cmd("init", str(acme), "--no-input", "--set", "setups=private,clients,cluster", "--set",
                f"upstream={home / 'wheels'}", "--set", "teams=web",
                *[arg for key, port in ports.items() for arg in ("--set", f"{key}={port}")]), env=env)
    assert 'read_access = "team"' in (acme / "kit.toml").read_text()
    first = run(kit_cmd("catch-up", "3"), env=env)
    assert "acme-utils 1.0 uploaded to web/private" in first.stdout
    again = run(kit_cmd("catch-up", "3"), env=env)
    assert "acme-utils 1.0 is already on web/private" in again.stdout and "ready for chapter 3" in again.stdout
    assert pids(acme) == {}  # the cluster was down before: it is down again
