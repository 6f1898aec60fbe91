"""kit backup's and kit restore's help and their refusals before any work: one line, the fix."""

from __future__ import annotations

from tests.support.cli import kit


def test_kit_help_lists_backup_and_restore(capsys):
    code, out, _ = kit("--help", capsys=capsys)
    commands = out.split("Commands:")[1]
    assert code == 0 and "\n  backup " in commands and "\n  restore " in commands
    code, out, _ = kit("backup", "--help", capsys=capsys)
    assert code == 0 and "--to FILE" in out and "--force" in out and "devpi-export" in out
    code, out, _ = kit("restore", "--help", capsys=capsys)
    assert code == 0 and "FILE" in out and "SITE_DIR" in out and "--replace" in out


def test_usage_errors(capsys):
    code, out, err = kit("backup", capsys=capsys)
    assert (code, out) == (2, "") and err == "kit: error: missing option '--to'; see: kit backup --help\n"
    code, out, err = kit("restore", "site.tar.gz", capsys=capsys)
    assert (code, out) == (2, "") and err == "kit: error: missing argument 'SITE_DIR'; see: kit restore --help\n"


def test_refusals_are_one_line_and_write_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = kit("backup", "nowhere", "--to", "b.tar.gz", capsys=capsys)
    assert (code, out) == (2, "") and err == "kit: error: nowhere does not exist; create a site there with: kit init nowhere\n"
    code, out, err = kit("restore", "missing.tar.gz", "new", capsys=capsys)
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err.startswith("kit: error: missing.tar.gz does not exist or is not a file; ")
    (tmp_path / "b.tar.gz").write_bytes(b"not read: the folder is refused first")
    code, out, err = kit("restore", "b.tar.gz", "new", "--replace", capsys=capsys)
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err.startswith("kit: error: new is not a kit site, so --replace has nothing to restore onto; ")
    code, out, err = kit("restore", "b.tar.gz", "new", capsys=capsys)
    assert code == 2 and err == "kit: error: b.tar.gz is damaged or not a .tar.gz (Not a gzipped file (b'no')); take another backup file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar.gz", "home"]
