"""The systemd units kit init writes for a site's production services,
checked by systemd itself: ``systemd-analyze verify`` (every setting parses,
every program exists) and ``systemd-analyze security --offline`` (the
sandbox is what the units claim), and compared with what ``kit up`` runs.

``systemd-analyze verify`` only warns about a bad value and still exits 0,
so the checks here assert that it prints nothing at all;
``test_a_bad_value_makes_the_check_fail`` shows that such a warning is
caught.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from kit.site.plan import services_of
from kit.site.folder import Site
from kit.site.systemd import SERVICE_USER, protect_home, python_paths
from kit.cluster.varnish import INSTALL_HINT, varnishd_path
from kit.core.processes import system_program
from tests.conftest import clean_env, kit_cmd, run

CLUSTER_UNITS = {"kit-master.service", "kit-mirror.service", "kit-edge.service", "kit.target"}


# -- helpers -------------------------------------------------------------------------


def need_systemd_analyze() -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed: apt-get install systemd")


def need_varnishd() -> None:
    if varnishd_path() is None:
        pytest.skip(f"varnishd not installed (the Varnish edge's unit runs it): {INSTALL_HINT}")


def init_site(site: Path, *sets: str, upstream: Path) -> Path:
    upstream.mkdir(parents=True, exist_ok=True)
    env = clean_env(site.parent / "home")
    run(kit_cmd("init", str(site), "--no-input", "--set", f"upstream={upstream}",
                *[arg for value in sets for arg in ("--set", value)]), env=env)
    return site


def verify(*units: Path) -> subprocess.CompletedProcess:
    """``systemd-analyze verify`` as an administrator runs it before installing units."""
    return subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, units)], capture_output=True,
                          text=True, env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})


def assert_verified(*units: Path) -> None:
    proc = verify(*units)
    assert proc.returncode == 0 and proc.stdout + proc.stderr == "", proc.stdout + proc.stderr


def settings(unit: Path) -> dict[str, list[str]]:
    """``Section.Key`` → its values in order, as systemd reads the file (comments and blank lines skipped)."""
    found: dict[str, list[str]] = {}
    section = ""
    for line in unit.read_text().splitlines():
        if not line.strip() or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key}", []).append(value)
    return found


def unescape(word: str) -> str:
    """systemd's specifier (``%%``) and, in command lines, variable (``$$``) escapes, undone."""
    return word.replace("%%", "%").replace("$$", "$")


def command_line(unit: Path) -> list[str]:
    """``ExecStart=`` split into words as systemd splits it (double quotes, C escapes)."""
    [line] = settings(unit)["Service.ExecStart"]
    return [unescape(word) for word in shlex.split(line)]


def working_directory(unit: Path) -> Path:
    [value] = settings(unit)["Service.WorkingDirectory"]
    return Path(value.replace("%%", "%"))


def writable(unit: Path) -> list[str]:
    [value] = settings(unit)["Service.ReadWritePaths"]
    return [word.replace("%%", "%") for word in shlex.split(value)]


def security(unit: Path) -> dict[str, bool]:
    """What ``systemd-analyze security`` finds set in ``unit``, by its JSON field name."""
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--json=short", "--no-pager", str(unit)],
                          capture_output=True, text=True, check=True)
    return {check["json_field"]: check["set"] for check in json.loads(proc.stdout)}


def unit_files(site: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted((site / "cluster" / "systemd").iterdir())}


# -- sites -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def python_site(tmp_path_factory) -> Path:
    """The default edge, a folder upstream (so a local upstream unit too)."""
    root = tmp_path_factory.mktemp("systemd-python")
    return init_site(root / "site", "setups=private,clients,cluster", upstream=root / "wheels")


@pytest.fixture(scope="module")
def varnish_site(tmp_path_factory) -> Path:
    """Varnish as the edge, kit's edge as its shield; a URL upstream, as in production."""
    root = tmp_path_factory.mktemp("systemd-varnish")
    site = root / "site"
    run(kit_cmd("init", str(site), "--no-input", "--set", "setups=private,clients,cluster", "--set", "edge=varnish",
                "--set", "upstream=http://127.0.0.1:9/simple/"), env=clean_env(root / "home"))
    return site


@pytest.fixture(scope="module")
def mirror_site(tmp_path_factory) -> Path:
    """A cluster and the public mirror, whose sync is a oneshot service on a timer."""
    root = tmp_path_factory.mktemp("systemd-mirror")
    return init_site(root / "site", "setups=private,clients,cluster,public-mirror", "mirror_projects=kmt-app",
                     upstream=root / "wheels")


# -- systemd-analyze verify ------------------------------------------------------------


def test_the_python_edge_site_has_one_unit_per_service_and_they_verify(python_site):
    need_systemd_analyze()
    units = unit_files(python_site)
    assert set(units) == CLUSTER_UNITS | {"kit-upstream.service"}
    assert_verified(*units.values())


def test_the_varnish_site_has_a_shield_and_its_units_verify(varnish_site):
    need_systemd_analyze()
    need_varnishd()  # verify checks that ExecStart's program exists
    units = unit_files(varnish_site)
    # A URL upstream: no local upstream; Varnish's metrics exporter where Debian's package is installed.
    exporter = {"kit-varnish-exporter.service"} if system_program("prometheus-varnish-exporter") else set()
    assert set(units) == CLUSTER_UNITS | {"kit-shield.service"} | exporter
    assert_verified(*units.values())
    assert command_line(units["kit-edge.service"])[:2] == [varnishd_path(), "-F"]


def test_the_public_mirror_sync_and_its_timer_verify(mirror_site):
    need_systemd_analyze()
    mirror = mirror_site / "mirror"
    assert_verified(mirror / "kit-mirror-sync.service", mirror / "kit-mirror-sync.timer",
                    *unit_files(mirror_site).values())
    sync = mirror / "kit-mirror-sync.service"
    assert command_line(sync) == [*command_line(sync)[:1], "-m", "kit", "mirror", "sync", str(mirror_site)]
    # It writes the mirror's data and state, and the edge's static copy (when there is one yet); nothing else.
    assert writable(sync) == [str(mirror / "data"), str(mirror / "run"),
                              f"-{mirror_site / 'cluster' / 'run' / 'static-copy'}"]


def test_a_bad_value_makes_the_check_fail(python_site, tmp_path):
    """verify exits 0 on a value it cannot parse: the check must see the warning."""
    need_systemd_analyze()
    unit = tmp_path / "kit-master.service"
    unit.write_text(unit_files(python_site)["kit-master.service"].read_text().replace(
        "Restart=on-failure", "Restart=sometimes"))
    proc = verify(unit)
    assert proc.returncode == 0 and "sometimes" in proc.stdout + proc.stderr
    with pytest.raises(AssertionError):
        assert_verified(unit)


# -- the same programs as kit up --------------------------------------------------------


@pytest.mark.parametrize("site_fixture", ["python_site", "varnish_site"])
def test_each_unit_runs_what_kit_up_runs(site_fixture, request):
    site = request.getfixturevalue(site_fixture)
    units = unit_files(site)
    services = services_of(Site.load(site).answers, site)
    assert {f"kit-{s.name}.service" for s in services} | {"kit.target"} == set(units)
    for service in services:
        unit = units[f"kit-{service.name}.service"]
        assert command_line(unit) == list(service.argv), unit.name
        assert working_directory(unit) == site / "cluster", unit.name  # where kit up runs every service
        if service.name in ("upstream", "varnish-exporter"):
            assert "Service.ReadWritePaths" not in settings(unit)  # it only reads
        else:
            assert writable(unit) == [str(site / "cluster" / "run")], unit.name  # all it writes
    # The target starts them all, in the order kit up does.
    assert settings(units["kit.target"])["Unit.Wants"] == [" ".join(f"kit-{s.name}.service" for s in services)]


def test_a_site_path_with_spaces_and_quotes_renders_units_that_verify(tmp_path):
    site = init_site(tmp_path / "my sites" / "it's \"the\" site", "setups=private,clients,cluster,public-mirror",
                     "mirror_projects=kmt-app", upstream=tmp_path / "wheel folder")
    units = unit_files(site)
    for service in services_of(Site.load(site).answers, site):
        unit = units[f"kit-{service.name}.service"]
        assert command_line(unit) == list(service.argv)
        assert working_directory(unit) == site / "cluster"
    assert command_line(site / "mirror" / "kit-mirror-sync.service")[-1] == str(site)
    assert writable(site / "mirror" / "kit-mirror-sync.service")[0] == str(site / "mirror" / "data")
    need_systemd_analyze()
    assert_verified(*units.values(), site / "mirror" / "kit-mirror-sync.service",
                    site / "mirror" / "kit-mirror-sync.timer")


# -- the sandbox -----------------------------------------------------------------------


#: What every unit claims, by the name systemd-analyze security gives each check.
SANDBOX = ("UserOrDynamicUser", "NoNewPrivileges", "ProtectSystem", "PrivateTmp", "PrivateDevices",
           "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups",
           "ProtectClock", "RestrictNamespaces_user", "RestrictNamespaces_net", "RestrictNamespaces_mnt",
           "LockPersonality", "RestrictSUIDSGID", "RestrictRealtime", "UMask", "SystemCallArchitectures",
           "CapabilityBoundingSet_CAP_SYS_ADMIN", "AmbientCapabilities")


def test_systemd_finds_the_sandbox_each_unit_claims(mirror_site, varnish_site):
    need_systemd_analyze()
    units = [(mirror_site, u) for u in unit_files(mirror_site).values() if u.suffix == ".service"]
    units += [(mirror_site, mirror_site / "mirror" / "kit-mirror-sync.service"),
              (varnish_site, unit_files(varnish_site)["kit-shield.service"]),
              (varnish_site, unit_files(varnish_site)["kit-edge.service"])]
    for site, unit in units:
        found = security(unit)
        missing = [name for name in SANDBOX if not found.get(name)]
        assert not missing, f"{unit.name}: {missing}"
        # Hidden, unless the site or kit's Python lives in a home folder (as on a developer's machine).
        assert found["ProtectHome"] == (protect_home(site, *python_paths()) == "yes"), unit.name
        assert settings(unit)["Service.User"] == settings(unit)["Service.Group"] == [SERVICE_USER], unit.name
        if unit.name != "kit-mirror-sync.service":  # the sync is a oneshot its timer starts again
            assert settings(unit)["Service.Restart"] == ["on-failure"], unit.name




# -- a site spread over hosts: each bundle's units -------------------------------------


SPREAD = """setups = ["mirror", "private", "clients", "cluster", "public-mirror"]
upstream = "http://127.0.0.1:9/simple/"
mirror_projects = ["kmt-app"]
host = "198.18.0.10"
floating_address = "198.18.0.10"

[hosts.lb1]
address = "198.18.0.2"
roles = ["balancer"]

[hosts.lb2]
address = "198.18.0.3"
roles = ["balancer"]

[hosts.edge1]
address = "198.18.0.4"
roles = ["edge"]

[hosts.master]
address = "198.18.0.6"
roles = ["master"]

[hosts.mirror]
address = "198.18.0.7"
roles = ["mirror", "edge"]

[hosts.pub]
address = "198.18.0.8"
roles = ["public-mirror"]
"""


@pytest.fixture(scope="module")
def spread_site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("systemd-spread")
    answers = root / "answers.toml"
    answers.write_text(SPREAD)
    run(kit_cmd("init", str(root / "site"), "--no-input", "--answers", str(answers)), env=clean_env(root / "home"))
    return root / "site"


def test_each_hosts_bundle_has_the_units_of_what_kit_up_runs_there_and_they_verify(spread_site):
    seen = set()
    for bundle in sorted((spread_site / "hosts").iterdir()):
        units = unit_files(bundle)
        services = services_of(Site.load(bundle).answers, bundle)
        assert {f"kit-{s.name}.service" for s in services} | {"kit.target"} == set(units), bundle.name
        for service in services:
            unit = units[f"kit-{service.name}.service"]
            assert command_line(unit) == list(service.argv), unit.name
            assert working_directory(unit) == bundle / "cluster", unit.name
            seen.add(service.name)
        if shutil.which("systemd-analyze") and shutil.which("haproxy") and shutil.which("keepalived"):
            assert_verified(*units.values())
    assert seen == {"master", "mirror", "edge", "haproxy", "keepalived", "public-mirror"}
    assert (spread_site / "hosts" / "pub" / "mirror" / "kit-mirror-sync.service").is_file()
    need_systemd_analyze()
    if not (shutil.which("haproxy") and shutil.which("keepalived")):
        pytest.skip("haproxy and keepalived (Debian packages) are not installed: their units cannot verify")


def test_the_sandbox_holds_for_every_bundles_units_but_keepalived(spread_site):
    need_systemd_analyze()
    for bundle in sorted((spread_site / "hosts").iterdir()):
        for unit in unit_files(bundle).values():
            if unit.suffix != ".service" or unit.name == "kit-keepalived.service":
                continue  # keepalived adds and removes an address: root with CAP_NET_ADMIN, said in its unit
            found = security(unit)
            missing = [name for name in SANDBOX if not found.get(name)]
            assert not missing, f"{bundle.name}/{unit.name}: {missing}"
