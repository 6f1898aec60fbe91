"""kit.validate: one validator per kind of value, each refusing with one line
that names the key, the problem and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.site import validate
from kit.core.errors import AnswerError


def refused(func, *args, **kwargs) -> str:
    with pytest.raises(AnswerError) as info:
        func(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{args[0]}: ")
    return message


@pytest.mark.parametrize("raw, expected", [
    ("http://127.0.0.1:3141/web/private/+simple/", "http://127.0.0.1:3141/web/private/+simple/"),
    ("https://pkgs.example.test/simple", "https://pkgs.example.test/simple/"),
    ("  http://h/simple/  ", "http://h/simple/"),
    ("http://[::1]:3141/root/pypi/+simple/", "http://[::1]:3141/root/pypi/+simple/"),
    ("http://h/~user/a_b.c-d/+simple/", "http://h/~user/a_b.c-d/+simple/"),
    ("HTTP://H/simple/", "HTTP://H/simple/"),
])
def test_url_accepts(raw, expected):
    assert validate.url("k", raw) == expected


@pytest.mark.parametrize("raw, message", [
    ("http://h/simple/\ntouch /tmp/x", "control character U+000A"),
    ("http://h/sim ple/", "white space (U+0020)"),
    ("http://h/\u200bsimple/", "invisible character U+200B"),
    ('http://h/"/', "quote or backslash"),
    ("http://h/'/", "quote or backslash"),
    ("http://h/`id`/", "quote or backslash"),
    ("http://h/a\\b/", "quote or backslash"),
    ("http://h/$(id)/", "contains '$' (shell or config syntax)"),
    ("http://h/a;b/", "contains ';'"),
    ("http://h/a&b/", "contains '&'"),
    ("http://h/a|b/", "contains '|'"),
    ("http://h/a%20b/", "contains '%'"),
    ("http://h/a{b}/", "contains '{'"),
    ("http://h/caf\u00e9/", "non-ASCII"),
    ("http://user:pw@h/simple/", "holds credentials"),
    ("http://token@h/simple/", "holds credentials"),
    ("http://h/simple/?x=1", "query or fragment"),
    ("http://h/simple/#frag", "query or fragment"),
    ("ftp://h/simple/", "unsupported scheme 'ftp'"),
    ("javascript://h/x", "unsupported scheme"),
    ("h/simple/", "is not a URL"),
    ("http://", "is not a URL"),
    ("http://h:99999/", "is not a valid URL"),
    ("http://h:0/", "no valid port"),
    ("http://h:/", "no valid port"),
    ("http://h:x/", "is not a valid URL"),
    ("http://-h/", "no valid host name"),
    ("http://h_h/", "no valid host name"),
    ("http://[fe80::1%25eth0]/", "contains '%'"),
    ("http://h/a:~/x/", "in its path"),
    ("http://h/[x]/", "in its path"),
    ("", "the URL is empty"),
    ("http://h/" + "a" * 3000, "characters long"),
    (5, "expected a URL"),
    (None, "expected a URL"),
])
def test_url_refuses(raw, message):
    assert message in refused(validate.url, "k", raw)


def test_url_credentials_are_not_echoed_and_the_hint_is_the_callers():
    message = refused(validate.url, "--index-url", "http://web:s3cret@h/simple/", credentials="use a keyring")
    assert "s3cret" not in message and "use a keyring" in message


@pytest.mark.parametrize("raw", ["127.0.0.1", "::1", "localhost", "pkgs.example.test", "xn--bcher-kva.example"])
def test_host_accepts(raw):
    assert validate.host("host", raw) == raw


@pytest.mark.parametrize("raw, message", [
    ("http://x", "not a host name"),
    ("a/b", "not a host name"),
    ("fe80::1%$(x)", "not a host name"),
    ("h:3141", "not a host name"),
    ("b\u00fccher.example", "xn--"),
    ("-bad", "not a valid host name"),
    ("a" * 254, "not a valid host name"),
    ("h\nx", "control character"),
    ("", "expected a host name"),
    (3, "expected a host name"),
])
def test_host_refuses(raw, message):
    assert message in refused(validate.host, "host", raw)


@pytest.mark.parametrize("raw, expected", [("3141", 3141), (" 1 ", 1), (65535, 65535), ("65535", 65535)])
def test_port_accepts(raw, expected):
    assert validate.port("p", raw) == expected


@pytest.mark.parametrize("raw, message", [
    ("0", "out of range"), ("65536", "out of range"), (0, "out of range"), (-1, "out of range"),
    (10**5000, "out of range"), ("9" * 5000, "out of range"), ("\u00b2", "not a port number"),
    ("\u0661\u0662", "not a port number"), ("\uff13\uff11\uff14\uff11", "not a port number"), ("3141.0", "not a port number"),
    ("", "not a port number"), ("-1", "not a port number"), (True, "expected a port number"),
    (3141.0, "expected a port number"), (None, "expected a port number"),
], ids=lambda value: repr(value)[:20] if not isinstance(value, int) or abs(value) < 10**20 else "huge")
def test_port_refuses(raw, message):  # ids: a 5000-digit int has no str()
    assert message in refused(validate.port, "p", raw)


def test_port_distinct_from_the_others():
    assert "already used by master_port" in refused(validate.port, "edge_port", "3141", {"master_port": 3141})


@pytest.mark.parametrize("raw, message", [
    ("my team", "(try 'my-team')"), ("Web", "(try 'web')"), ("root", "reserved"), ("a" * 33, "at most 32"),
    ("web\n", "invalid team name"), ("web-", "invalid team name"), ("1web", "invalid team name"), ("w\u00e9b", "invalid team name"),
    ("web\n", "invalid team name"), ("", "invalid team name"), (5, "expected a team name"),
])
def test_team_refuses(raw, message):
    assert message in refused(validate.team, "--team", raw)


def test_teams_split_on_commas_only():
    assert validate.teams("teams", "web, data") == ("web", "data")
    assert "'my team'" in refused(validate.teams, "teams", "web,my team")
    assert "listed twice" in refused(validate.teams, "teams", ["web", "web"])
    assert "at least one" in refused(validate.teams, "teams", " , ")
    assert "expected a list of names" in refused(validate.teams, "teams", [1])


@pytest.mark.parametrize("raw, message", [
    ("abc1", "too short"), ("abcdefgh\x01", "control character U+0001"), ("abcd efgh", "white space"),
    ("abcdefgh\u00a0", "white space"), ("abcdefgh\u200b", "U+200B"), ("abcdefgh\udcff", "not valid UTF-8"),
    ("a" * 257, "at most 256"), (12345678, "expected a string"),
])
def test_password_refuses(raw, message):
    message_seen = refused(validate.password, "admin_password", raw)
    assert message in message_seen
    assert not isinstance(raw, str) or raw not in message_seen  # never shown


def test_password_accepts_printable_symbols():
    from tests.conftest import AWKWARD_PASSWORD

    assert validate.password("admin_password", AWKWARD_PASSWORD) == AWKWARD_PASSWORD


@pytest.mark.parametrize("raw, expected", [("My_Pkg", "my-pkg"), ("a", "a"), ("zope.interface", "zope-interface"),
                                           ("A__b--c..d", "a-b-c-d")])
def test_project_name_normalised(raw, expected):
    assert validate.project_name("n", raw) == expected


@pytest.mark.parametrize("raw", ["-a", "a-", "a b", "foo\n", "caf\u00e9", "", "a/b", "x" * 101])
def test_project_name_refuses(raw):
    assert "is not a valid project name" in refused(validate.project_name, "n", raw)


@pytest.mark.parametrize("raw, ok", [("1.0", True), ("2.3.1", True), ("1.1.dev1", True), ("1.0rc1", False),
                                     ("1.1.dev", False), ("1.1dev1", False), ("1" * 41, False),
                                     ("1..0", False), ("", False), ("\u0661.0", False)])
def test_version(raw, ok):
    if ok:
        assert validate.version("v", raw) == raw
    else:
        assert "is not a simple version" in refused(validate.version, "v", raw)


def test_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert validate.path("p", "~/x") == tmp_path / "x"
    assert validate.path("p", "rel/x") == Path("rel/x")
    assert "the path is empty" in refused(validate.path, "p", "")
    assert "the path is empty" in refused(validate.path, "p", "  ")
    assert "NUL" in refused(validate.path, "p", "a\x00b")
    assert "control character" in refused(validate.path, "p", "a\nb")
    assert "not valid UTF-8" in refused(validate.path, "p", "a\udcffb")
    assert "no user 'nosuchuser'" in refused(validate.path, "p", "~nosuchuser/x")
    (tmp_path / "file").write_text("x")
    assert "is a file, not a folder" in refused(validate.path, "p", str(tmp_path / "file"))
    assert "is a file, not a folder" in refused(validate.path, "p", str(tmp_path / "file" / "sub"))
    assert validate.path("p", str(tmp_path / "file"), folder=False) == tmp_path / "file"
    assert "does not exist" in refused(validate.path, "p", str(tmp_path / "nope"), must_exist=True)
    assert "expected a path" in refused(validate.path, "p", 5)


def test_text():
    assert validate.text("--says", "hi there") == "hi there"
    assert "control character" in refused(validate.text, "--says", "a\tb")
    assert "at most 200" in refused(validate.text, "--says", "x" * 201)


def test_choice_names_a_near_miss_and_the_fix():
    """``varnsh`` got no "did you mean": only keys and team names had one."""
    pick = dict(refusal="unknown edge", fix="choose python or varnish")
    assert validate.choice("edge", " Varnish ", ("python", "varnish"), **pick) == "varnish"
    assert refused(validate.choice, "edge", "varnsh", ("python", "varnish"), **pick) == (
        "edge: unknown edge 'varnsh' (did you mean 'varnish'?); choose python or varnish")
    assert refused(validate.choice, "edge", "nginx", ("python", "varnish"), **pick) == (
        "edge: unknown edge 'nginx'; choose python or varnish")  # nothing near: no guess
    assert "did you mean" not in refused(validate.choice, "edge", 3, ("python", "varnish"), **pick)
    exact = dict(refusal="unsupported scheme", fix="use http or https", exact=True)
    assert "scheme 'HTTP' (did you mean 'http'?)" in refused(validate.choice, "scheme", "HTTP", ("http", "https"), **exact)


