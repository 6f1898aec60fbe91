"""kit.site.bundles: ``kit init`` writes one bundle per host (``SITE/hosts/NAME/``) holding
what that machine runs, every service bound to its address, and no secret its roles do
not need; a bundle reads as a site of its own (the host's part)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kit.site.answers import answers_from_raw
from kit.site.folder import SITE_TLS, Site
from kit.site.plan import services_of
from kit.site.render import render_site

PASSWORD = "correct-horse-battery"

HOSTS = {
    "master": {"address": "198.18.0.6", "roles": ["master"]},
    "mirror": {"address": "198.18.0.7", "roles": ["mirror"]},
    "edge1": {"address": "198.18.0.4", "roles": ["edge"]},
    "edge2": {"address": "198.18.0.5", "roles": ["edge"]},
}


def site_raw(**changes) -> dict:
    raw = {"setups": ["mirror", "private", "clients", "cluster"], "teams": ["web", "data"],
           "host": "index.example", "admin_password": PASSWORD, "hosts": HOSTS}
    raw.update(changes)
    return raw


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    folder = tmp_path_factory.mktemp("bundles") / "site"
    render_site(answers_from_raw(site_raw()), folder)
    return Site.load(folder)


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_each_host_gets_a_bundle_and_the_site_folder_runs_nothing_itself(site):
    assert sorted(p.name for p in (site.path / "hosts").iterdir()) == sorted(HOSTS)
    assert not (site.path / "cluster").exists()
    assert services_of(site.answers, site.path) == []
    units = {name: sorted(p.name for p in (site.path / "hosts" / name / "cluster" / "systemd").iterdir())
             for name in HOSTS}
    assert units == {"master": ["kit-master.service", "kit.target"], "mirror": ["kit-mirror.service", "kit.target"],
                     "edge1": ["kit-edge.service", "kit.target"], "edge2": ["kit-edge.service", "kit.target"]}


@pytest.mark.parametrize("name", sorted(HOSTS))
def test_a_bundle_is_a_site_of_its_own_whose_services_bind_its_address(site, name):
    bundle = Site.load(site.path / "hosts" / name)
    assert bundle.is_bundle and bundle.answers.this_host == name
    services = services_of(bundle.answers, bundle.path)
    assert [s.name for s in services] == {"master": ["master"], "mirror": ["mirror"]}.get(name, ["edge"])
    assert {s.bind for s in services} == {HOSTS[name]["address"]}


def test_services_reach_each_other_by_their_hosts_addresses(site):
    hosts = site.path / "hosts"
    mirror_yml = (hosts / "mirror" / "cluster" / "mirror.yml").read_text()
    assert "primary-url: http://198.18.0.6:3141" in mirror_yml and "host: 198.18.0.7" in mirror_yml
    master_yml = (hosts / "master" / "cluster" / "master.yml").read_text()
    # Purges reach every edge on its TLS port, checked against the site CA for the site's name.
    assert ('kit-purge-url: "https://198.18.0.4:3143/+edge/purge https://198.18.0.5:3143/+edge/purge"'
            in master_yml)
    assert 'kit-purge-cafile: "../tls/ca.pem"' in master_yml and 'kit-purge-tls-name: "index.example"' in master_yml
    edge = json.loads((hosts / "edge2" / "cluster" / "edge.json").read_text())
    assert (edge["host"], edge["master"], edge["mirrors"]) == ("198.18.0.5", "http://198.18.0.6:3141",
                                                              ["http://198.18.0.7:3142"])
    assert edge["public_url"] == "https://index.example:3143" and edge["redirect_host"] == "198.18.0.5"


def test_master_and_mirror_serve_core_metadata(site):
    # devpi 6.20's --enable-core-metadata: wheels' links carry data-core-metadata, FILE.whl.metadata is served.
    hosts = site.path / "hosts"
    for name in ("master", "mirror"):
        settings = (hosts / name / "cluster" / f"{name}.yml").read_text()
        assert "\n  enable-core-metadata: true\n" in settings


def test_a_bundle_holds_no_secret_its_roles_do_not_need(site):
    answers = site.answers
    secrets = {
        "admin password": answers.admin_password.encode(),
        "devpi secret": site.secrets["devpi"].encode(),
        "purge secret": site.secrets["purge"].encode(),
        "edge reader password": answers.edge_read_password.encode(),
        "site CA key": (site.path / SITE_TLS["ca_key"]).read_bytes().strip(),
        "TLS key": (site.path / SITE_TLS["key"]).read_bytes().strip(),
        **{f"team {team}'s password": answers.team_password(team).encode() for team in answers.teams},
    }
    needs = {
        "master": {"admin password", "devpi secret", "purge secret"},
        "mirror": {"devpi secret", "purge secret"},
        "edge1": {"purge secret", "edge reader password", "TLS key"},
        "edge2": {"purge secret", "edge reader password", "TLS key"},
    }
    for name in HOSTS:
        found = {what for what, secret in secrets.items()
                 for content in files_of(site.path / "hosts" / name).values() if secret in content}
        assert found == needs[name], name


def test_only_the_masters_bundle_holds_the_admin_password_and_the_others_refuse_to_derive_from_it(site):
    from kit.core.errors import AnswerError

    assert Site.load(site.path / "hosts" / "master").answers.admin_password == PASSWORD
    edge = Site.load(site.path / "hosts" / "edge1").answers
    assert edge.admin_password == ""
    with pytest.raises(AnswerError, match="holds no admin password"):
        edge.team_password("web")


def test_secret_files_stay_private_in_every_bundle(site):
    for path in (site.path / "hosts").rglob("*"):
        if path.is_file() and path.name in ("devpi-secret", "edge-purge-secret", "edge-read-credentials",
                                            "server-key.pem", "kit.toml"):
            assert path.stat().st_mode & 0o077 == 0, path


def test_a_single_host_site_has_no_hosts_folder(tmp_path):
    render_site(answers_from_raw(site_raw(hosts={}, host="127.0.0.1")), tmp_path / "one")
    assert not (tmp_path / "one" / "hosts").exists() and (tmp_path / "one" / "cluster" / "master.yml").is_file()


def test_running_kit_init_again_keeps_the_secrets_the_bundles_hold(site, tmp_path):
    import shutil

    copy = tmp_path / "again"
    shutil.copytree(site.path, copy)
    before = Site.load(copy).secrets
    render_site(Site.load(copy).answers, copy)
    assert Site.load(copy).secrets == before and set(before) == {"devpi", "purge"}
