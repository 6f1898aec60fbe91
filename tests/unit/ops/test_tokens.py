"""kit.ops.tokens without a server: --expires, devpi-tokens' records read back, a token's id,
what kit token create says, and the refusals made before any call to the master."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from kit.ops.tokens import LONGEST, NewToken, Token, TokenError, create_token, parse_expires, revoke_token
from kit.ops.tokens import token_id_of, usage_lines

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("text, seconds", [
    ("45s", 45), ("90m", 90 * 60), ("12h", 12 * 3600), ("30d", 30 * 86400), ("2w", 14 * 86400), (" 1D ", 86400),
    ("366d", LONGEST),
])
def test_a_life_counts_from_now(text, seconds):
    assert parse_expires(text, now=NOW) == NOW + seconds


def test_a_date_is_midnight_utc_and_a_time_keeps_its_zone():
    assert parse_expires("2027-01-31", now=NOW) == datetime(2027, 1, 31, tzinfo=timezone.utc).timestamp()
    assert parse_expires("2026-12-05T08:30", now=NOW) == datetime(2026, 12, 5, 8, 30, tzinfo=timezone.utc).timestamp()
    assert parse_expires("2026-12-05T08:30+02:00", now=NOW) == datetime(2026, 12, 5, 6, 30, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("text, problem", [
    ("yesterday", "is neither a life nor a date"), ("30", "is neither a life nor a date"),
    ("-5d", "is neither a life nor a date"), ("5y", "is neither a life nor a date"), ("", "is neither a life nor a date"),
    ("0d", "is not in the future"), ("2026-12-04", "is not in the future"), ("2001-01-01", "is not in the future"),
    ("367d", "is more than a year away"), ("2099-01-01", "is more than a year away"),
])
def test_a_bad_expiry_is_one_line_with_the_fix(text, problem):
    with pytest.raises(TokenError) as refused:
        parse_expires(text, now=NOW)
    message = str(refused.value)
    assert problem in message and message.startswith(f"--expires {text.strip()!r} ") and "\n" not in message
    assert refused.value.exit_code == 1


def test_devpi_tokens_record_read_back():
    token = Token.from_devpi("web", "AbCd2345", {"restrictions": [
        "allowed=pkg_read,upload", "expires=1796000000", "indexes=root/names,root/pypi,web/private"]})
    assert token == Token("AbCd2345", "web", ("pkg_read", "upload"), ("root/names", "root/pypi", "web/private"), 1796000000)
    assert token.permissions == "read, upload"
    assert token.expiry_text(now=NOW) == "2026-11-30 00:53 UTC (expired)" and token.expired(now=NOW)
    later = Token.from_devpi("web", "x", {"restrictions": ["expires=1830000000", "allowed=pkg_read"]})
    assert later.expiry_text(now=NOW) == "2027-12-28 13:20 UTC" and not later.expired(now=NOW)
    assert later.permissions == "read" and later.indexes == ()
    # made elsewhere (devpi-client's devpi token-create): no limits kit would have set
    bare = Token.from_devpi("web", "y", {"restrictions": ["expires=never"]})
    assert bare.expires is None and bare.expiry_text() == "never" and bare.permissions == "any"
    assert Token.from_devpi("web", "z", {}).allowed == ()


def test_the_id_is_read_from_the_token_itself():
    import pymacaroons

    macaroon = pymacaroons.Macaroon(identifier="web-Kx7pQr2s", key="k" * 32, version=pymacaroons.MACAROON_V2)
    macaroon.add_first_party_caveat("allowed=pkg_read")
    assert token_id_of("devpi-" + macaroon.serialize()) == "Kx7pQr2s"
    dashed = pymacaroons.Macaroon(identifier="team-a-Zz9Zz9Zz", key="k" * 32, version=pymacaroons.MACAROON_V2)
    assert token_id_of("devpi-" + dashed.serialize()) == "Zz9Zz9Zz"


def _site(tmp_path, **answers):
    from kit.site.answers import answers_from_raw
    from kit.site.render import render_site

    site = tmp_path / "site"
    render_site(answers_from_raw({"upstream": str(tmp_path), "teams": ["web", "data"], "edge_port": 4443, **answers}), site)
    return site


def test_what_create_says_names_the_token_its_rights_and_its_use_never_the_token(tmp_path, monkeypatch):
    from kit.cluster.lifecycle import Cluster

    site = _site(tmp_path)
    monkeypatch.chdir(tmp_path)
    secret = "devpi-SECRET"
    new = NewToken(secret, Token("Kx7pQr2s", "web", ("pkg_read",), ("root/names", "root/pypi", "web/private"),
                                 int(NOW)))
    lines = usage_lines(Cluster.load(site), new)
    text = "\n".join(lines)
    assert secret not in text
    assert lines[0] == ("token Kx7pQr2s for team web: read; indexes root/names, root/pypi, web/private; "
                        "expires 2026-12-04 12:00 UTC (expired)")
    assert "  machine 127.0.0.1 login web password TOKEN" in lines
    assert "KIT_TOKEN" in text and "http://127.0.0.1:4443/web/private/+simple/" in text
    assert lines[-1] == "revoke it with: kit token revoke Kx7pQr2s site"


def test_refused_before_asking_the_master(tmp_path, monkeypatch):
    """No team, an unknown team, a bad id or expiry: refused from the site's files alone (no master runs here)."""
    site = _site(tmp_path)
    with pytest.raises(TokenError, match=r"no team 'ops' \(its teams: web, data\); name one of them with --team, "
                                         r"or add it with: kit init .*site --set teams=web,data,NAME"):
        create_token(site, "ops")
    with pytest.raises(TokenError, match="is more than a year away"):
        create_token(site, "web", expires="999d")
    with pytest.raises(TokenError, match=r"'\.\./x' is not a token id"):
        revoke_token(site, "../x")
    lonely = tmp_path / "mirror-only"
    from kit.site.answers import answers_from_raw
    from kit.site.render import render_site

    render_site(answers_from_raw({"upstream": str(tmp_path), "setups": ["mirror", "cluster"]}), lonely)
    with pytest.raises(TokenError, match="has no team indexes, so no team to make a token for; add teams with: kit init"):
        create_token(lonely, "web")
