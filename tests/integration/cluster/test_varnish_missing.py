"""A site with the Varnish edge on a machine that cannot run it: kit up says
what is missing and how to get it, in one line, before anything starts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import kit.cluster.varnish
from kit.cluster.lifecycle import Cluster
from kit.core.errors import ClusterError
from tests.conftest import clean_env
from tests.support.cluster import make_site, pids


def test_up_without_varnishd_names_the_packages_and_starts_nothing(tmp_path, dists, monkeypatch):
    site = make_site(tmp_path, clean_env(tmp_path / "home"), dists.upstream_folder, "--set", "edge=varnish")
    monkeypatch.setattr(kit.cluster.varnish, "varnishd_path", lambda: None)
    said = []
    with pytest.raises(ClusterError) as error:
        Cluster.load(site).up(say=said.append)
    message = str(error.value)
    assert "varnishd is not installed" in message and "apt-get install varnish varnish-modules" in message
    assert "kit init --set edge=python" in message and "\n" not in message
    assert pids(site) == {} and not [line for line in said if "starting" in line]


@pytest.mark.skipif(kit.cluster.varnish.varnishd_path() is None,
                    reason="varnishd is not installed (Debian: apt-get install varnish varnish-modules)")
def test_up_with_a_vcl_varnishd_cannot_load_says_why_and_starts_nothing(tmp_path, dists):
    site = make_site(tmp_path, clean_env(tmp_path / "home"), dists.upstream_folder, "--set", "edge=varnish")
    vcl = site / "cluster" / "edge.vcl"
    vcl.write_text(vcl.read_text().replace("import var;", "import var;\nimport kit_no_such_module;", 1))
    with pytest.raises(ClusterError) as error:
        Cluster.load(site).up(say=lambda line: None)
    message = str(error.value)
    assert f"varnishd cannot load {vcl}: Could not find VMOD kit_no_such_module" in message
    assert message.endswith(f"write it again with: kit init {site} --no-input") and "\n" not in message
    assert pids(site) == {}


@pytest.mark.skipif(kit.cluster.varnish.varnishd_path() is None,
                    reason="varnishd is not installed (Debian: apt-get install varnish varnish-modules)")
def test_up_without_varnish_modules_names_the_package(tmp_path, dists, monkeypatch):
    """A machine with Varnish but not varnish-modules: the real varnishd, shown a module folder
    that holds Varnish's own modules (std, directors) and none of varnish-modules'."""
    real = Path(kit.cluster.varnish.varnishd_path())
    modules = next(Path("/usr/lib").glob("*/varnish/vmods"))
    bare = tmp_path / "vmods"
    bare.mkdir()
    for module in modules.iterdir():
        if module.name not in ("libvmod_xkey.so", "libvmod_var.so"):
            (bare / module.name).symlink_to(module)
    wrapper = tmp_path / "bin" / "varnishd"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec {real} -p vmod_path={bare} "$@"\n')
    wrapper.chmod(0o755)
    site = make_site(tmp_path, clean_env(tmp_path / "home"), dists.upstream_folder, "--set", "edge=varnish")
    monkeypatch.setenv("PATH", f"{wrapper.parent}:{os.environ['PATH']}")
    assert kit.cluster.varnish.varnishd_path() == str(wrapper)
    with pytest.raises(ClusterError) as error:
        Cluster.load(site).up(say=lambda line: None)
    assert str(error.value) == ("the Varnish edge needs varnish-modules (its VCL imports xkey), which is not "
                                "installed; install it with: apt-get install varnish varnish-modules")
    assert pids(site) == {}


@pytest.mark.skipif(kit.cluster.varnish.varnishd_path() is None,
                    reason="varnishd is not installed (Debian: apt-get install varnish varnish-modules)")
def test_up_without_the_varnish_exporter_runs_the_site_and_says_its_metrics_are_off(tmp_path, dists, monkeypatch):
    """Varnish's metrics are optional: without Debian's prometheus-varnish-exporter, kit up
    starts everything else and says so in one line, with the package to install."""
    from kit.core.processes import system_program
    from tests.support.cluster import stop_cluster, varnish_edge

    env = clean_env(tmp_path / "home")
    site = make_site(tmp_path, env, dists.upstream_folder, *varnish_edge())
    without = lambda name: None if name == "prometheus-varnish-exporter" else system_program(name)
    monkeypatch.setattr("kit.site.plan.system_program", without)
    monkeypatch.setattr("kit.cluster.varnish.system_program", without)
    said = []
    try:
        Cluster.load(site).up(say=said.append)
        running = set(pids(site))
    finally:
        stop_cluster(site, env, pids(site))
    assert running == {"upstream", "master", "mirror", "shield", "edge"}
    off = [line for line in said if "metrics are off" in line]
    assert off == ["warning: Varnish's metrics are off: prometheus-varnish-exporter is not installed; install it "
                   "with: apt-get install prometheus-varnish-exporter, then kit up again"]
    assert any(line.startswith("cluster up in") for line in said), said
