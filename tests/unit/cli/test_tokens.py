"""kit token's help and its refusals: one line, the fix, no traceback, exit 1 (2 for usage)."""

from __future__ import annotations

from tests.support.cli import kit


def test_kit_help_lists_token_and_its_commands(capsys):
    code, out, _ = kit("--help", capsys=capsys)
    assert code == 0 and "token" in out.split("Commands:")[1]
    code, out, _ = kit("token", "--help", capsys=capsys)
    assert code == 0
    for command in ("create", "list", "revoke"):
        assert f"\n  {command} " in out
    code, out, _ = kit("token", "create", "--help", capsys=capsys)
    assert code == 0 and "--team" in out and "--expires" in out and "--upload" in out and "30d" in out


def test_no_team_is_a_usage_error(capsys):
    code, out, err = kit("token", "create", capsys=capsys)
    assert (code, out) == (2, "") and err == "kit: error: missing option '--team'; see: kit token create --help\n"


def test_refusals_are_one_line_exit_1(tmp_path, capsys):
    code, out, err = kit("token", "create", "--team", "web", "--expires", "soon", str(tmp_path), capsys=capsys)
    assert (code, out) == (1, "") and err.startswith("kit: error: --expires 'soon' is neither a life nor a date; ")
    assert err.count("\n") == 1
    code, out, err = kit("token", "revoke", "a/b", str(tmp_path), capsys=capsys)
    assert (code, out) == (1, "") and err.count("\n") == 1 and "'a/b' is not a token id" in err
    code, out, err = kit("token", "list", str(tmp_path), capsys=capsys)
    assert code == 2 and out == "" and err == f"kit: error: {tmp_path} is not a kit site; create one with: kit init {tmp_path}\n"
