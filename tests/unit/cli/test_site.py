"""``kit init`` and ``kit clients`` from the command line: defaults, replay,
re-runs, and every kind of bad input (one line, exit 2, nothing written)."""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
import stat
import tomllib
from pathlib import Path

import pytest

from kit.site.render import MANIFEST
from tests.support.cli import kit


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(folder)): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_no_input_writes_a_complete_site(tmp_path, capsys):
    code, out, err = kit("init", str(tmp_path / "site"), "--no-input", capsys=capsys)
    assert code == 0, err
    site = tmp_path / "site"
    answers = tomllib.loads((site / "kit.toml").read_text())
    assert answers["upstream"] == "pypi" and answers["teams"] == ["team"]
    assert len(answers["admin_password"]) >= 16
    for name in ("pip.conf", "uv.toml", "buildout.cfg", "setup.cfg", ".pypirc", "ci.env", "poetry-source.toml", "pdm.toml", "README.md"):
        assert (site / "teams" / "team" / name).is_file(), name
    for name in ("devpi-server.yml", "init.sh", "create-indexes.sh", "README.md"):
        assert (site / "server" / name).is_file(), name
    # secrets are for the owner only
    for secret in ("kit.toml", "teams/team/.pypirc", "teams/team/ci.env", "server/secrets.env", "server/devpi-secret"):
        assert stat.S_IMODE((site / secret).stat().st_mode) == 0o600, secret
    assert "created" in out


def test_generated_client_files_are_single_index_and_password_free(tmp_path, capsys):
    site = tmp_path / "site"
    assert kit("init", str(site), "--no-input", "--set", "teams=web,data", capsys=capsys)[0] == 0
    answers = tomllib.loads((site / "kit.toml").read_text())
    for team in ("web", "data"):
        folder = site / "teams" / team
        pip_conf = configparser.ConfigParser()
        pip_conf.read(folder / "pip.conf")
        assert pip_conf["global"]["extra-index-url"] == "" and pip_conf["global"]["find-links"] == ""
        assert "PIP_EXTRA_INDEX_URL=\n" in (folder / "ci.env").read_text()
        team_password = re.search(r"^password = (.+)$", (folder / ".pypirc").read_text(), re.M).group(1)
        for name in ("pip.conf", "uv.toml", "buildout.cfg", "setup.cfg", "pdm.toml", "poetry-source.toml"):
            text = (folder / name).read_text()
            assert "extra_index_url" not in text
            assert "unsafe-best-match" not in text
            assert answers["admin_password"] not in text and team_password not in text
            # Comments may name where a password comes from (UV_PUBLISH_PASSWORD); no line sets one.
            assert not re.search(r"^[^#]*password", text, re.M | re.I)
            assert f"/{team}/private/+simple/" in text
        assert "password = " in (folder / ".pypirc").read_text()
        assert "TWINE_PASSWORD=" in (folder / "ci.env").read_text()


def test_generated_password_is_letters_and_digits(tmp_path, capsys):
    # A random password is pasted into shells and argv: a leading "-" once made
    # devpi-init read it as an option (1 site in 64 failed to start).
    for n in range(20):
        assert kit("init", str(tmp_path / f"s{n}"), "--no-input", capsys=capsys)[0] == 0
        password = tomllib.loads((tmp_path / f"s{n}" / "kit.toml").read_text())["admin_password"]
        assert len(password) == 24 and password.isascii() and password.isalnum(), password


def test_replaying_kit_toml_reproduces_the_site_but_its_secret(tmp_path, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    assert kit("init", str(first), "--no-input", "--set", "teams=a,b", "--set", "host=pkgs.example.test", capsys=capsys)[0] == 0
    assert kit("init", str(second), "--answers", str(first / "kit.toml"), capsys=capsys)[0] == 0
    secret_files = {"server/devpi-secret", "cluster/devpi-secret", "cluster/edge-purge-secret", ".kit-manifest.json"}
    one, two = snapshot(first), snapshot(second)
    # An https site (host other machines reach): its site CA and certificate are random keys too.
    secret_files |= {name for name in one if name.startswith("tls/") or name.endswith("/ca.pem")}
    # The systemd units name the site's absolute path: the same but for it.
    assert ({k: (v.replace(bytes(first), b"SITE"), m) for k, (v, m) in one.items() if k not in secret_files}
            == {k: (v.replace(bytes(second), b"SITE"), m) for k, (v, m) in two.items() if k not in secret_files})
    # The site secret is 256 random bits of its own, not derived from kit.toml.
    assert one["server/devpi-secret"] != two["server/devpi-secret"]
    assert re.fullmatch(rb"[0-9a-f]{64}\n", two["server/devpi-secret"][0])
    assert two["server/devpi-secret"] == two["cluster/devpi-secret"]
    assert one["cluster/edge-purge-secret"] != two["cluster/edge-purge-secret"] != two["cluster/devpi-secret"]


def test_site_secret_is_random_and_survives_re_renders(tmp_path, capsys):
    site = tmp_path / "site"
    assert kit("init", str(site), "--no-input", "--set", "admin_password=same-password-1", capsys=capsys)[0] == 0
    secret = (site / "cluster" / "devpi-secret").read_bytes()
    purge_secret = (site / "cluster" / "edge-purge-secret").read_bytes()
    assert hashlib.sha256(b"devpi-secret:same-password-1").hexdigest().encode() not in secret
    assert kit("init", str(site), "--no-input", "--set", "teams=web,ops", capsys=capsys)[0] == 0
    assert (site / "cluster" / "devpi-secret").read_bytes() == secret
    assert (site / "cluster" / "edge-purge-secret").read_bytes() == purge_secret


def test_site_folders_are_private_whatever_the_umask(tmp_path, capsys):
    site = tmp_path / "site"
    site.mkdir(mode=0o755)  # an existing empty folder becomes the site
    old = os.umask(0)
    try:
        assert kit("init", str(site), "--no-input", capsys=capsys)[0] == 0
        # A re-render that adds a team makes its folder private too.
        assert kit("init", str(site), "--no-input", "--set", "teams=team,ops", capsys=capsys)[0] == 0
    finally:
        os.umask(old)
    assert (site / "teams" / "ops" / "pip.conf").is_file()
    modes = {str(p.relative_to(site)): stat.S_IMODE(p.stat().st_mode) for p in [site, *site.rglob("*")]}
    assert {name for name, mode in modes.items() if mode & 0o022} == set()
    assert all(mode == 0o700 for name, mode in modes.items() if (site / name).is_dir())
    assert modes[".kit-manifest.json"] == 0o644 and modes["kit.toml"] == 0o600


def test_rerun_with_same_answers_changes_nothing(tmp_path, capsys):
    site = tmp_path / "site"
    assert kit("init", str(site), "--no-input", capsys=capsys)[0] == 0
    before = snapshot(site)
    mtimes = {p: p.stat().st_mtime_ns for p in site.rglob("*") if p.is_file()}
    code, out, _ = kit("init", str(site), "--no-input", capsys=capsys)
    assert code == 0 and "nothing changed" in out
    assert snapshot(site) == before
    assert {p: p.stat().st_mtime_ns for p in site.rglob("*") if p.is_file()} == mtimes


def test_rerun_with_changed_answers_updates_and_removes(tmp_path, capsys):
    site = tmp_path / "site"
    assert kit("init", str(site), "--no-input", "--set", "teams=web,data", capsys=capsys)[0] == 0
    password = tomllib.loads((site / "kit.toml").read_text())["admin_password"]
    (site / "notes.txt").write_text("mine")  # a user's own file is never touched
    code, out, _ = kit("init", str(site), "--no-input", "--set", "teams=web,ops", "--set", "master_port=4000", capsys=capsys)
    assert code == 0, out
    assert not (site / "teams" / "data").exists()
    assert (site / "teams" / "ops" / "pip.conf").is_file()
    assert "4000" in (site / "server" / "devpi-server.yml").read_text()
    assert (site / "notes.txt").read_text() == "mine"
    assert "removed" in out and "updated" in out
    # Defaults on a re-run come from the site: the admin password survived.
    assert tomllib.loads((site / "kit.toml").read_text())["admin_password"] == password


def test_hand_edited_file_is_not_overwritten_without_force(tmp_path, capsys):
    site = tmp_path / "site"
    assert kit("init", str(site), "--no-input", capsys=capsys)[0] == 0
    pip_conf = site / "teams" / "team" / "pip.conf"
    pip_conf.write_text(pip_conf.read_text() + "# my change\n")
    before = snapshot(site)
    code, out, err = kit("init", str(site), "--no-input", "--set", "master_port=4000", capsys=capsys)
    assert code == 2
    assert err.count("\n") == 1 and "teams/team/pip.conf" in err and "--force" in err
    assert snapshot(site) == before
    code, _, err = kit("init", str(site), "--no-input", "--set", "master_port=4000", "--force", capsys=capsys)
    assert code == 0, err
    assert "# my change" not in pip_conf.read_text()


BAD_SETS = [
    ("upstream=htp//nope", "is neither 'pypi', a URL nor an existing folder"),
    ("upstream=wheels", "write a folder as ./wheels (it must exist)"),
    ("upstream=ftp://mirror.example.test/simple/", "unsupported scheme 'ftp'"),
    ("upstream=http://", "is not a URL"),
    ("master_port=70000", "out of range"),
    ("master_port=abc", "is not a port number"),
    ("mirror_port=3141", "already used by master_port"),
    ("teams=Web", "invalid team name 'Web'"),
    ("teams=Web Team", "invalid team name 'Web Team'; use lowercase letters, digits and '-', starting with a letter, "
     "at most 32 characters (try 'web-team')"),
    ("teams=web,my team", "invalid team name 'my team'"),
    ("master_port=²", "is not a port number"),
    ("teams=web,web", "listed twice"),
    ("teams=root", "reserved"),
    ("host=http://x", "not a host name"),
    ("clients=pip,npm", "unknown choice 'npm'"),
    ("setups=", "choose at least one"),
    ("teem=web", "did you mean 'teams'"),
    ("admin_password=short", "too short"),
    ("nokeyvalue", "is not KEY=VALUE"),
]


@pytest.mark.parametrize("option, message", BAD_SETS)
def test_bad_set_option_is_one_line_exit_2_nothing_written(tmp_path, capsys, option, message):
    site = tmp_path / "site"
    code, out, err = kit("init", str(site), "--no-input", "--set", option, capsys=capsys)
    assert code == 2
    assert message in err
    assert err.startswith("kit: error: ") and err.count("\n") == 1
    assert "Traceback" not in err + out
    assert not site.exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "home"]  # no staging folder left


@pytest.mark.parametrize(
    "content, message",
    [
        ("teams = [\n", "is not valid TOML"),
        ("teams = 5\n", "expected a list of names"),
        ("master_port = true\n", "expected a port number"),
        ("[teams]\nweb = 1\n", "expected a list of names"),
        ("upstream = 'pypi'\nhst = 'x'\n", "did you mean 'host'"),
    ],
)
def test_bad_answer_file(tmp_path, capsys, content, message):
    answers = tmp_path / "answers.toml"
    answers.write_text(content)
    code, _, err = kit("init", str(tmp_path / "site"), "--answers", str(answers), capsys=capsys)
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "site").exists()


def test_corrupt_kit_toml_of_existing_site(tmp_path, capsys):
    site = tmp_path / "site"
    assert kit("init", str(site), "--no-input", capsys=capsys)[0] == 0
    (site / "kit.toml").write_text("master_port = 'x'\n")
    before = snapshot(site)
    code, _, err = kit("init", str(site), "--no-input", capsys=capsys)
    assert code == 2 and "kit.toml: master_port" in err and err.count("\n") == 1
    assert snapshot(site) == before


def test_missing_answer_file(tmp_path, capsys):
    code, _, err = kit("init", str(tmp_path / "site"), "--answers", str(tmp_path / "nope.toml"), capsys=capsys)
    assert code == 2 and "does not exist" in err


def test_non_empty_folder_that_is_not_a_site_is_refused(tmp_path, capsys):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "setup.py").write_text("precious")
    code, _, err = kit("init", str(folder), "--no-input", capsys=capsys)
    assert code == 2 and "not empty and is not a kit site" in err
    assert [p.name for p in folder.iterdir()] == ["setup.py"]


def test_site_dir_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    code, _, err = kit("init", str(target), "--no-input", capsys=capsys)
    assert code == 2 and "is a file" in err and target.read_text() == "x"


def test_unwritable_parent_is_refused(tmp_path, capsys, monkeypatch):
    """CI runs as root, which can write anywhere; os.access is what kit asks."""
    parent = tmp_path / "ro"
    parent.mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != parent)
    code, _, err = kit("init", str(parent / "site"), "--no-input", capsys=capsys)
    assert code == 2 and "not writable" in err
    assert list(parent.iterdir()) == []


def test_non_loopback_http_warns_and_trusts_host_exactly(tmp_path, capsys):
    site = tmp_path / "site"
    code, _, err = kit("init", str(site), "--no-input", "--set", "host=pkgs.lan.test", "--set", "scheme=http",
                       "--set", "setups=private,clients", capsys=capsys)
    assert code == 0 and "TLS" in err
    team = site / "teams" / "team"
    assert "trusted-host = pkgs.lan.test:3141" in (team / "pip.conf").read_text()
    assert "verify_ssl = false" in (team / "pdm.toml").read_text()
    assert "PIP_TRUSTED_HOST=pkgs.lan.test:3141" in (team / "ci.env").read_text()
    code, _, err = kit("init", str(tmp_path / "tls"), "--no-input", "--set", "host=pkgs.lan.test", "--set", "scheme=https", capsys=capsys)
    assert code == 0 and "TLS" not in err
    assert "trusted-host" not in (tmp_path / "tls" / "teams" / "team" / "pip.conf").read_text()


def test_loopback_http_carries_no_trusted_host(tmp_path, capsys):
    site = tmp_path / "site"
    assert kit("init", str(site), "--no-input", capsys=capsys)[0] == 0
    for name in ("pip.conf", "uv.toml", "ci.env"):
        text = (site / "teams" / "team" / name).read_text()
        assert "trusted-host" not in text and "TRUSTED_HOST" not in text


def test_clients_subset_and_mirror_only(tmp_path, capsys):
    site = tmp_path / "site"
    code, _, err = kit("init", str(site), "--no-input", "--set", "setups=mirror,clients", "--set", "clients=pip,uv", capsys=capsys)
    assert code == 0, err
    team = site / "teams" / "team"
    assert sorted(p.name for p in team.iterdir()) == ["README.md", "pip.conf", "uv.toml"]
    assert "/root/pypi/+simple/" in (team / "pip.conf").read_text()
    assert "secrets.env" in {p.name for p in (site / "server").iterdir()}
    assert json.loads((site / "server" / "indexes.json").read_text())["teams"] == []  # no private index to make


def test_help_lists_commands_and_answer_keys(capsys):
    code, out, _ = kit("init", "--help", capsys=capsys)
    assert code == 0
    for key in ("upstream", "teams", "master_port", "mirror_port", "edge_port", "admin_password", "--no-input", "--answers", "--set"):
        assert key in out


@pytest.mark.parametrize("args", [["init", "--bogus"], ["nope"], ["clients"]])
def test_usage_errors_exit_2_without_traceback(args, capsys):
    code, out, err = kit(*args, capsys=capsys)
    assert code == 2
    assert "Traceback" not in out + err
    # One line, as for any bad input, pointing at the help (it once printed four, "Usage:" first).
    assert err.startswith("kit: error: ") and err.count("\n") == 1 and "--help" in err


def test_sample_name_is_normalised(tmp_path, capsys):
    """One rule for project names (PEP 508): a dotted name is valid, and the wheel is named by its normal form."""
    code, out, err = kit("sample", str(tmp_path / "w"), "--name", "Dotted.Name", capsys=capsys)
    assert code == 0, err
    assert Path(out.strip()).name == "dotted_name-1.0-py3-none-any.whl"


@pytest.mark.parametrize("args, message", [
    (["--name", "bad name"], "--name: 'bad name' is not a valid project name"),
    (["--name", "-dash"], "is not a valid project name"),
    (["--name", "x" * 101], "at most 100 characters"),
    (["--says", "a\nb"], "--says: 'a\\nb' contains the control character U+000A"),
    (["--version", "1.0rc1"], "--version: '1.0rc1' is not a simple version"),
])
def test_sample_bad_input(tmp_path, capsys, args, message):
    code, _, err = kit("sample", str(tmp_path / "w"), *args, capsys=capsys)
    assert code == 2 and message in err and not (tmp_path / "w").exists()


# -- hostile input (issue 8): each of these was a traceback, a lost folder or a
# -- value that broke a generated file --------------------------------------


def _one_line_error(code: int, out: str, err: str, message: str) -> None:
    assert code == 2, (out, err)
    assert err.startswith("kit: error: ") and err.count("\n") == 1, err
    assert message in err, err
    assert "Traceback" not in out + err


@pytest.mark.parametrize("option, message", [
    ("upstream=http://example.test/simple/\ntouch /tmp/PWNED #", "control character U+000A"),
    ('upstream=http://example.test/"simple/', "quote or backslash"),
    ("upstream=http://h/$(touch${IFS}/tmp/x)/+simple/", "contains '$' (shell or config syntax)"),
    ("upstream=http://user:secret@example.test/simple/", "holds credentials"),
    ("admin_password=abcdefgh\x01", "control character U+0001"),
    ("host=fe80::1%$(x)", "not a host name"),
    ("master_port=" + "9" * 5000, "out of range"),
    ("teams=my team", "invalid team name 'my team'; use lowercase letters, digits and '-', starting with a letter, "
     "at most 32 characters (try 'my-team')"),
    ("private_projects=foo bar", "'foo bar' is not a valid project name"),
    ("upstream=~nosuchuser/wheels", "no user 'nosuchuser'"),
])
def test_hostile_set_values_are_refused(tmp_path, capsys, option, message):
    site = tmp_path / "site"
    code, out, err = kit("init", str(site), "--no-input", "--set", option, capsys=capsys)
    _one_line_error(code, out, err, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def test_upstream_that_is_a_file_says_so(tmp_path, capsys):
    wheel = tmp_path / "wheel.whl"
    wheel.write_text("x")
    code, out, err = kit("init", str(tmp_path / "site"), "--no-input", "--set", f"upstream={wheel}", capsys=capsys)
    _one_line_error(code, out, err, "is a file, not a folder")
    assert "does not exist" not in err


@pytest.mark.parametrize("content, message", [
    ("master_port = " + "9" * 5000 + "\n", "number"),
    ("teams = " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
])
def test_answer_file_with_huge_values(tmp_path, capsys, content, message):
    answers = tmp_path / "answers.toml"
    answers.write_text(content)
    code, out, err = kit("init", str(tmp_path / "site"), "--answers", str(answers), capsys=capsys)
    _one_line_error(code, out, err, message)
    assert not (tmp_path / "site").exists()


def test_init_parent_path_from_inside_the_empty_target(tmp_path, capsys, monkeypatch):
    """``kit init ../x`` run inside the empty folder x once deleted x and left
    kit.toml and the secrets in a .kit-staging-* folder next to it."""
    target = tmp_path / "x"
    target.mkdir()
    monkeypatch.chdir(target)
    code, out, err = kit("init", "../x", "--no-input", capsys=capsys)
    assert code == 0, err
    assert (target / "kit.toml").is_file() and (target / MANIFEST).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "x"]
    assert not [p for p in target.iterdir() if p.name.startswith(".kit-staging")]


def test_init_dot_in_an_empty_folder_writes_there(tmp_path, capsys, monkeypatch):
    target = tmp_path / "here"
    target.mkdir()
    monkeypatch.chdir(target)
    code, out, err = kit("init", ".", "--no-input", capsys=capsys)
    assert code == 0, err
    assert (target / "kit.toml").is_file() and (target / "server" / "init.sh").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here", "home"]
    assert not [p for p in target.iterdir() if p.name.startswith(".kit-staging")]


def test_init_dot_in_a_non_empty_folder_is_refused(tmp_path, capsys, monkeypatch):
    (tmp_path / "mine.txt").write_text("keep")
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    code, out, err = kit("init", ".", "--no-input", capsys=capsys)
    _one_line_error(code, out, err, "not empty and is not a kit site")
    assert snapshot(tmp_path) == before


def test_init_empty_site_dir_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.txt").write_text("keep")
    code, out, err = kit("init", "", "--no-input", capsys=capsys)
    _one_line_error(code, out, err, "SITE_DIR: the path is empty")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "mine.txt"]


def test_init_under_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("keep")
    code, out, err = kit("init", str(tmp_path / "file" / "site"), "--no-input", capsys=capsys)
    _one_line_error(code, out, err, "is a file, not a folder")
    assert (tmp_path / "file").read_text() == "keep"


def test_sample_under_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("keep")
    code, out, err = kit("sample", str(tmp_path / "file" / "sub"), capsys=capsys)
    _one_line_error(code, out, err, "is a file, not a folder")
    assert (tmp_path / "file").read_text() == "keep"


def test_sample_huge_version_is_refused(tmp_path, capsys):
    code, out, err = kit("sample", str(tmp_path / "w"), "--version", "1" * 300, capsys=capsys)
    _one_line_error(code, out, err, "is not a simple version")
    assert not (tmp_path / "w").exists()


def test_kit_toml_reads_back_what_was_written(tmp_path, capsys):
    """kit.toml is written by a TOML writer: an awkward password and a folder
    with quotes and backslashes in its name come back unchanged."""
    folder = tmp_path / 'we"ird\\ wheels'
    folder.mkdir()
    password = "p\u00e4ss\"w\\o'rd#[x]=1"
    site = tmp_path / "site"
    code, _, err = kit("init", str(site), "--no-input", "--set", f"upstream={folder}",
                       "--set", f"admin_password={password}", capsys=capsys)
    assert code == 0, err
    data = tomllib.loads((site / "kit.toml").read_text(encoding="utf-8"))
    assert data["admin_password"] == password and data["upstream"] == str(folder)
    assert (site / "kit.toml").read_text().startswith("# kit.toml: the answers")


def test_staging_folder_is_private_and_removed_when_rendering_fails(tmp_path, monkeypatch):
    """The staging folder holds kit.toml and the secrets: 0700, inside the
    target when it exists (so moving files in is a rename), and gone after a failure."""
    from kit.site import render
    from kit.site.answers import answers_from_raw

    seen = {}
    real_build = render.build_site

    def build_then_fail(answers, dest, **kwargs):
        seen["mode"], seen["where"] = stat.S_IMODE(dest.parent.stat().st_mode), dest.parent.parent
        real_build(answers, dest, **kwargs)
        raise RuntimeError("rendering failed")

    monkeypatch.setattr(render, "build_site", build_then_fail)
    target = tmp_path / "x"
    target.mkdir()
    with pytest.raises(RuntimeError):
        render.render_site(answers_from_raw({}), target)
    assert seen == {"mode": 0o700, "where": target}
    assert list(target.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "x"]


def test_a_site_on_other_machines_says_to_copy_each_bundle_there(tmp_path, capsys):
    answers = tmp_path / "answers.toml"
    answers.write_text('setups = ["mirror", "private", "clients", "cluster"]\nhost = "198.18.0.10"\n'
                       'floating_address = "198.18.0.10"\n'
                       + "".join(f'[hosts.{name}]\naddress = "198.18.0.{n}"\nroles = ["{role}"]\n'
                                 for name, n, role in (("lb", 2, "balancer"), ("edge", 4, "edge"),
                                                       ("db", 6, "master"), ("replica", 7, "mirror"))))
    code, out, err = kit("init", str(tmp_path / "site"), "--no-input", "--answers", str(answers), capsys=capsys)
    assert code == 0, err
    assert out.splitlines()[-1].startswith("Site ready. Next: copy each host's bundle to its machine")
    assert "hosts/NAME/README.md says; then kit status" in out
    assert sorted(p.name for p in (tmp_path / "site" / "hosts").iterdir()) == ["db", "edge", "lb", "replica"]
