"""kit mirror verify (kit.mirror.verify) on a really synced mirror: each
missing or corrupt file named, and the repair the message names puts it right."""

from __future__ import annotations

import hashlib

from tests.conftest import clean_env
from tests.support.mirror import init_site, kit, make_upstream


def test_verify_names_a_corrupt_and_a_missing_file(tmp_path):
    env = clean_env(tmp_path / "home")
    site = init_site(tmp_path, env, make_upstream(tmp_path / "wheels"), "mirror_projects=kmt-app")
    kit("mirror", "sync", str(site), env=env)
    wheels = {p.name: p for p in (site / "mirror" / "data" / "web" / "packages").rglob("*.whl")}
    corrupt = wheels["kmt_lib-1.1-py3-none-any.whl"]
    corrupt.write_bytes(corrupt.read_bytes()[:-1] + b"!")
    wheels["kmt_app-1.0-py3-none-any.whl"].unlink()
    proc = kit("mirror", "verify", str(site), env=env, check=False)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert any(ln.startswith("corrupt: packages/") and ln.endswith(")") and "kmt_lib-1.1" in ln for ln in lines)
    assert any(ln.startswith("missing: packages/") and "kmt_app-1.0" in ln for ln in lines)
    assert "2 problems in 3 files of 2 projects" in proc.stdout and "fix: kit mirror sync " in proc.stdout
    # a plain sync only fetches what changed upstream; the repair the message names puts them right
    kit("mirror", "sync", str(site), env=env)
    assert kit("mirror", "verify", str(site), env=env, check=False).returncode == 1
    assert "repair: every project" in kit("mirror", "sync", str(site), "--repair", env=env).stdout
    assert kit("mirror", "verify", str(site), env=env).stdout.startswith("ok: 3 files of 2 projects")


def test_verify_checks_each_advertised_metadata_against_its_page_and_its_wheel(tmp_path):
    """Each .metadata a page advertises: missing, not the sha256 its page gives, or (pages made to
    agree with it) not the METADATA its wheel holds; the repair the message names puts each right."""
    env = clean_env(tmp_path / "home")
    site = init_site(tmp_path, env, make_upstream(tmp_path / "wheels"), "mirror_projects=kmt-app")
    kit("mirror", "sync", str(site), env=env)
    web = site / "mirror" / "data" / "web"
    meta = {p.name: p for p in (web / "packages").rglob("*.whl.metadata")}
    meta["kmt_app-1.0-py3-none-any.whl.metadata"].unlink()  # bandersnatch verify --delete takes every .metadata
    tampered = meta["kmt_lib-1.0-py3-none-any.whl.metadata"]
    tampered.write_bytes(tampered.read_bytes() + b"Requires-Dist: kmt-evil\n")
    swapped = meta["kmt_lib-1.1-py3-none-any.whl.metadata"]
    old, new = (hashlib.sha256(data).hexdigest() for data in (swapped.read_bytes(), tampered.read_bytes()))
    swapped.write_bytes(tampered.read_bytes())  # the wrong METADATA, its pages changed to agree
    for page in (web / "simple" / "kmt-lib").glob("index.*"):
        page.write_text(page.read_text().replace(old, new))

    proc = kit("mirror", "verify", str(site), env=env, check=False)

    assert proc.returncode == 1
    assert sorted(line.split(" (")[0].rsplit("/", 1)[-1] + " " + line.split(":")[0] for line in proc.stdout.splitlines()
                  if ".metadata" in line) == ["kmt_app-1.0-py3-none-any.whl.metadata missing",
                                               "kmt_lib-1.0-py3-none-any.whl.metadata corrupt",
                                               "kmt_lib-1.1-py3-none-any.whl.metadata corrupt"]
    lines = proc.stdout.splitlines()
    assert any(ln.startswith("missing: packages/") and ln.endswith("(advertised by kmt-app)") for ln in lines)
    assert any("kmt_lib-1.0" in ln and "its page says" in ln for ln in lines)
    assert any("kmt_lib-1.1" in ln and ln.endswith("(not the METADATA its wheel holds)") for ln in lines)
    assert "3 problems in 3 files of 2 projects" in proc.stdout and "fix: kit mirror sync " in proc.stdout
    kit("mirror", "sync", str(site), "--repair", env=env)
    assert kit("mirror", "verify", str(site), env=env).stdout.startswith("ok: 3 files of 2 projects")
