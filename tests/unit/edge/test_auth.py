"""Who may read what the edge serves (:mod:`kit.edge.auth`): with nobody to ask,
everyone; with a question to ask, one answer per (credentials, index), kept
for ``ttl`` seconds, never past a token's own expiry, dropped by a purge of
the user, and used while no origin can answer; with none kept, 503."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pymacaroons
import pytest

from kit.core.errors import SecretError
from kit.edge.auth import Authorizer, basic_header, read_credentials, token_expiry, token_user, user_of, whose
from tests.support.edge_inprocess import SECRET, WHEEL_PATH, basic, running, scenario


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


WEB = {"Authorization": basic_header("web", "web-password")}
DATA = {"Authorization": basic_header("data", "data-password")}


def asker(asked: list, answers: dict | None = None):
    """An origin's /+authcheck as a function: web reads web/*, data is refused; None while ``answers['down']``."""
    answers = answers if answers is not None else {}

    async def ask(credentials, index):
        authorization = credentials.get("Authorization", "")
        asked.append((user_of(authorization), index))
        if answers.get("down"):
            return None
        if not authorization:
            return 401
        return 200 if user_of(authorization) == index.split("/")[0] else 403

    return ask


def token(expires: float, user: str = "web", version=pymacaroons.MACAROON_V2) -> str:
    """A devpi-tokens token (a macaroon, as devpi-tokens 1.1 makes it) of ``user`` expiring at ``expires``."""
    macaroon = pymacaroons.Macaroon(identifier=f"{user}-abc", key="k" * 32, version=version)
    macaroon.add_first_party_caveat("allowed=pkg_read")
    macaroon.add_first_party_caveat(f"expires={int(expires)}")
    return "devpi-" + macaroon.serialize()


@scenario
async def test_with_nobody_to_ask_everyone_reads_every_index():
    authorizer = Authorizer()
    assert authorizer.everyone
    assert await authorizer.decide({}, "web/private") == 200 and await authorizer.allowed({"Authorization": "x"}, "a/b")


@scenario
async def test_each_credentials_and_index_are_asked_once_per_ttl():
    asked = []
    clock = Clock()
    authorizer = Authorizer(asker(asked), ttl=5.0, clock=clock)
    assert not authorizer.everyone
    for _ in range(3):
        assert await authorizer.decide(WEB, "web/private") == 200
        assert await authorizer.decide(WEB, "data/private") == 403
        assert await authorizer.decide({}, "web/private") == 401
    assert asked == [("web", "web/private"), ("web", "data/private"), ("", "web/private")]
    clock.now += 5.0  # the decisions expire: asked again
    assert await authorizer.decide(WEB, "web/private") == 200
    assert asked[-1] == ("web", "web/private") and len(asked) == 4


@scenario
async def test_a_busy_readers_decision_is_asked_again_before_it_runs_out_and_never_used_past_it():
    """Each ttl, one request of a busy reader once waited for the master's password check
    (~0.3 s): the decision is now asked again in its last part, the kept one answering meanwhile."""
    asked, release = [], asyncio.Event()
    plain = asker(asked)
    answers = {"web": 200}

    async def slow(credentials, index):
        await plain(credentials, index)  # counted when asked
        if len(asked) > 1:
            await release.wait()
        return answers["web"]

    clock = Clock()
    authorizer = Authorizer(slow, ttl=5.0, clock=clock)
    assert await authorizer.decide(WEB, "web/private") == 200
    clock.now += 2.0  # early in the ttl: nothing asked
    assert await authorizer.decide(WEB, "web/private") == 200 and len(asked) == 1
    clock.now += 2.0  # its last part: answered at once, asked again behind
    assert await authorizer.decide(WEB, "web/private") == 200
    await asyncio.sleep(0)
    assert len(asked) == 2
    answers["web"] = 403  # the answer behind says no (the password changed, say)
    release.set()
    await asyncio.sleep(0.01)
    clock.now += 0.5  # still within the first decision's ttl: the new answer counts at once
    assert await authorizer.decide(WEB, "web/private") == 403


@scenario
async def test_a_decision_that_was_not_asked_again_is_never_used_past_its_ttl():
    asked, release = [], asyncio.Event()
    plain = asker(asked)

    async def slow(credentials, index):
        answer = await plain(credentials, index)  # counted when asked
        if len(asked) > 1:
            await release.wait()
        return answer

    clock = Clock()
    authorizer = Authorizer(slow, ttl=5.0, clock=clock)
    assert await authorizer.decide(WEB, "web/private") == 200
    clock.now += 5.0  # run out: the request waits for the answer, whatever was kept
    waiting = asyncio.ensure_future(authorizer.decide(WEB, "web/private"))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    release.set()
    assert await waiting == 200 and len(asked) == 2


@scenario
async def test_requests_waiting_for_the_same_decision_share_one_question():
    """Under load a decision runs out with many requests in flight: the master is asked once,
    not once per request (each question is a password hash check there)."""
    asked, release = [], asyncio.Event()
    plain = asker(asked)

    async def slow(credentials, index):
        await release.wait()
        return await plain(credentials, index)

    authorizer = Authorizer(slow, ttl=5.0, clock=Clock())
    waiting = [asyncio.ensure_future(authorizer.decide(WEB, "web/private")) for _ in range(16)]
    other = asyncio.ensure_future(authorizer.decide(DATA, "web/private"))
    await asyncio.sleep(0.01)
    waiting[0].cancel()  # a client that hangs up takes nobody's answer with it
    release.set()
    assert await asyncio.gather(*waiting[1:]) == [200] * 15 and await other == 403
    assert asked == [("web", "web/private"), ("data", "web/private")]


@scenario
async def test_an_answer_asked_before_a_users_purge_is_not_kept():
    asked, release = [], asyncio.Event()
    plain = asker(asked)

    async def slow(credentials, index):
        await release.wait()
        return await plain(credentials, index)

    authorizer = Authorizer(slow, ttl=5.0, clock=Clock())
    question = asyncio.ensure_future(authorizer.decide(WEB, "web/private"))
    await asyncio.sleep(0.01)
    authorizer.forget_user("web")  # the password changed while the origin was answering
    release.set()
    assert await question == 200 and len(authorizer) == 0  # asked again next time


@scenario
async def test_a_decision_for_a_token_is_never_kept_past_the_tokens_expiry():
    asked = []
    clock, wall = Clock(), Clock()
    wall.now = time.time()
    authorizer = Authorizer(asker(asked), ttl=5.0, clock=clock, wall=wall)
    soon = {"Authorization": basic_header("web", token(wall.now + 2))}
    assert token_expiry(soon["Authorization"]) == int(wall.now + 2)
    assert await authorizer.decide(soon, "web/private") == 200
    clock.now += 1.0
    wall.now += 1.0
    assert await authorizer.decide(soon, "web/private") == 200 and len(asked) == 1
    clock.now += 1.5  # within the ttl, past the token's expiry: asked again
    wall.now += 1.5
    assert await authorizer.decide(soon, "web/private") == 200 and len(asked) == 2
    assert len(authorizer) == 0, "a decision for an expired token was kept"


@scenario
async def test_a_purge_of_a_user_drops_that_users_decisions_only():
    asked = []
    authorizer = Authorizer(asker(asked), ttl=60.0, clock=Clock())
    await authorizer.decide(WEB, "web/private")
    await authorizer.decide(WEB, "data/private")
    await authorizer.decide(DATA, "data/private")
    assert authorizer.forget_user("web") == 2
    await authorizer.decide(DATA, "data/private")
    assert len(asked) == 3, "data's decision was dropped too"
    await authorizer.decide(WEB, "web/private")
    assert asked[-1] == ("web", "web/private") and len(asked) == 4


@scenario
async def test_with_no_origin_answering_a_kept_decision_stands_and_none_is_a_503():
    asked, answers = [], {}
    clock = Clock()
    authorizer = Authorizer(asker(asked, answers), ttl=5.0, clock=clock)
    assert await authorizer.decide(WEB, "web/private") == 200
    assert await authorizer.decide(DATA, "web/private") == 403
    answers["down"] = True
    clock.now += 60.0
    assert await authorizer.decide(WEB, "web/private") == 200  # the last word of the origins
    assert await authorizer.decide(DATA, "web/private") == 403
    assert await authorizer.decide({}, "web/private") == 503  # nobody said anything of these credentials
    assert await authorizer.decide(WEB, "web/other") == 503


def spellings(secret: str) -> list[str]:
    """Every Authorization header devpi-tokens 1.1 takes a token in (its devpiserver_get_identity)."""
    return [f"Bearer {secret}", basic_header("", secret), basic_header(secret, ""), basic_header("web", secret)]


def test_a_tokens_user_and_expiry_are_read_however_the_token_is_sent():
    later = time.time() + 3600
    for version in (pymacaroons.MACAROON_V1, pymacaroons.MACAROON_V2):
        secret = token(later, "team-with-dashes", version)
        for header in spellings(secret):
            assert token_user(header) == "team-with-dashes", (version, header)
            assert token_expiry(header) == int(later), (version, header)
    assert token_user(basic_header("web", "web-password")) == "" and token_user("Bearer devpi-!!") == ""
    login = {"X-Devpi-Auth": base64.b64encode(b"data:login-token").decode()}
    assert whose(login) == "data" and whose({}) == ""


@scenario
async def test_a_purge_of_a_user_drops_their_tokens_however_sent_and_unreadable_credentials():
    """A token as Bearer or Basic with no user name carries its user in its identifier, not
    in a user name: a purge of that user drops it; credentials naming nobody readable go too."""
    asked = []
    authorizer = Authorizer(asker(asked), ttl=60.0, clock=Clock())
    secret = token(time.time() + 3600)
    for header in spellings(secret):
        await authorizer.decide({"Authorization": header}, "web/private")
    await authorizer.decide({"Authorization": "Bearer something-else"}, "web/private")
    await authorizer.decide(DATA, "data/private")
    await authorizer.decide({}, "web/private")  # anonymous: nothing of web's to revoke
    assert len(authorizer) == 7
    assert authorizer.forget_user("web") == 5
    assert len(authorizer) == 2, "data's or the anonymous decision went too"


@scenario
async def test_devpi_logins_header_is_asked_about_and_kept_apart_and_purged_by_its_user():
    """devpi-client after ``devpi login`` sends X-Devpi-Auth and no Authorization: the
    origins are asked with it, and its decision is not an anonymous one."""
    seen = []

    async def ask(credentials, index):
        seen.append(dict(credentials))
        return 200 if "X-Devpi-Auth" in credentials else 401

    authorizer = Authorizer(ask, ttl=60.0, clock=Clock())
    login = {"X-Devpi-Auth": base64.b64encode(b"web:login-token").decode(), "Accept": "application/json"}
    assert await authorizer.decide({}, "web/private") == 401
    assert await authorizer.decide(login, "web/private") == 200
    assert await authorizer.decide({}, "web/private") == 401
    assert seen == [{}, {"X-Devpi-Auth": login["X-Devpi-Auth"]}]
    assert authorizer.forget_user("web") == 1 and len(authorizer) == 1


def test_user_and_expiry_are_read_from_basic_credentials_only():
    assert user_of(basic_header("web", "pw:with:colons")) == "web"
    assert user_of("Bearer abc") == "" and user_of("Basic !!!") == "" and user_of("") == ""
    assert token_expiry(basic_header("web", "web-password")) is None
    assert token_expiry(basic_header("web", "devpi-not-base64!")) is None


def test_the_read_credentials_file_must_be_private_and_name_the_edges_reader(tmp_path):
    path = tmp_path / "edge-read-credentials"
    path.write_text("kit-edge:secret\n")
    path.chmod(0o600)
    assert read_credentials(path) == basic_header("kit-edge", "secret")
    path.chmod(0o644)
    with pytest.raises(SecretError, match="chmod 600"):
        read_credentials(path)
    path.chmod(0o600)
    path.write_text("web:secret\n")
    with pytest.raises(SecretError, match="kit-edge:PASSWORD"):
        read_credentials(path)
    with pytest.raises(SecretError, match="does not exist; run kit init again"):
        read_credentials(tmp_path / "missing")


# -- the edge in-process, before a stand-in devpi that enforces team reads -------------------------

PAGE = "GET /web/private/+simple/kitdemo/"
JSON_PAGE = {"Accept": "application/vnd.pypi.simple.v1+json"}
READS = [(PAGE, {}), (PAGE, JSON_PAGE), ("GET /web/private/+simple/", {}), (f"GET {WHEEL_PATH}", {}),
         (f"HEAD {WHEEL_PATH}", {}), ("GET /web/private/kitdemo", {}), ("GET /web/private/+simple/kitdemo/?x=1", {})]


@scenario
async def test_only_the_team_reads_its_index_cached_or_not(tmp_path):
    async with running(tmp_path, read_access="team") as world:
        for line, headers in READS:
            status, answer, body = await world.send(line, headers)  # cold: nothing cached yet
            assert status == 401, (line, status, body)
            assert answer["www-authenticate"] == 'Basic realm="kit"' and b"kitdemo-1.0" not in body
            status, _, body = await world.send(line, {**headers, **basic("data")})
            assert status == 403 and b"kitdemo-1.0" not in body, (line, status)
            status, _, body = await world.send(line, {**headers, **basic("web", "wrong")})
            assert status == 401, (line, status)
        for _ in range(2):  # cold, then warm
            for line, headers in READS:
                status, answer, body = await world.send(line, {**headers, **basic("web")})
                # (the stand-in has no JSON API nor queries: its 404 passed on, past the check)
                assert status == (404 if line.endswith("/kitdemo") or "?" in line else 200), (line, status, body)
        assert (await world.send(PAGE, basic("web")))[1]["x-cache"] == "HIT"
        assert (await world.send(f"GET {WHEEL_PATH}", basic("web")))[1]["x-cache"] == "HIT"
        for line, headers in READS:  # warm: still nothing for the others
            assert (await world.send(line, headers))[0] == 401, line
            assert (await world.send(line, {**headers, **basic("data")}))[0] == 403, line


@scenario
async def test_the_edge_fills_its_cache_as_its_reader_never_with_a_clients_credentials(tmp_path):
    async with running(tmp_path, read_access="team") as world:
        assert (await world.send(f"GET {WHEEL_PATH}", basic("web")))[0] == 200
        assert (await world.send(PAGE, {**JSON_PAGE, **basic("web")}))[0] == 200
        cached = [(path, headers.get("Authorization")) for method, path, headers in world.origin.seen
                  if "/+simple/" in path or (path == WHEEL_PATH and method == "GET")]
        assert cached and all(auth == basic("kit-edge")["Authorization"] for _, auth in cached), cached
        checks = [h for _, path, h in world.origin.seen if path == "/+authcheck"]
        assert [(h["X-Original-URI"], h["Authorization"]) for h in checks] == [
            ("/web/private/+simple/", basic("web")["Authorization"])], "asked more than once per ttl"


@scenario
async def test_a_changed_password_is_refused_at_once_after_the_users_purge(tmp_path):
    async with running(tmp_path, read_access="team", auth_ttl=3600) as world:
        assert (await world.send(PAGE, basic("web")))[0] == 200
        world.origin.users["web"] = "new-password"
        assert (await world.send(PAGE, basic("web")))[0] == 200  # the decision kept: what the purge is for
        purge = json.dumps({"keys": ["+user/web"], "serial": 7}).encode()
        status, _, body = await world.send("POST /+edge/purge", {"Authorization": f"Bearer {SECRET}"}, purge)
        assert status == 200 and json.loads(body) == {"purged": 1}
        status, answer, _ = await world.send(PAGE, basic("web"))
        assert status == 401 and answer["www-authenticate"] == 'Basic realm="kit"'
        assert (await world.send(PAGE, basic("web", "new-password")))[0] == 200


@scenario
async def test_with_no_origin_answering_only_a_known_reader_gets_the_stale_page(tmp_path):
    async with running(tmp_path, read_access="team", auth_ttl=0.01) as world:
        assert (await world.send(PAGE, basic("web")))[0] == 200
        assert (await world.send(f"GET {WHEEL_PATH}", basic("web")))[0] == 200
        assert (await world.send(PAGE, basic("data")))[0] == 403
        world.origin.broken = True
        world.edge.config.page_ttl = 0  # every page due for revalidation
        await asyncio.sleep(0.05)  # every decision past its ttl: the origins would be asked
        status, answer, body = await world.send(PAGE, basic("web"))
        assert status == 200 and answer["x-cache"] == "STALE" and b"kitdemo-1.0" in body
        assert (await world.send(f"GET {WHEEL_PATH}", basic("web")))[0] == 200
        assert (await world.send(PAGE, basic("data")))[0] == 403
        for headers in ({}, basic("web", "wrong")):  # never decided: nothing private on a guess
            status, answer, body = await world.send(PAGE, headers)
            assert status == 503 and b"nothing private is served" in body and b"kitdemo-1.0" not in body
            assert (await world.send(f"GET {WHEEL_PATH}", headers))[0] == 503


@scenario
async def test_with_anonymous_reads_no_question_is_asked(tmp_path):
    async with running(tmp_path) as world:
        assert world.edge.authorizer.everyone
        for line, headers in READS:
            assert (await world.send(line, headers))[0] == (404 if line.endswith("/kitdemo") or "?" in line else 200)
        assert not [path for _, path, _ in world.origin.seen if path == "/+authcheck"]
        assert all("Authorization" not in headers for _, _, headers in world.origin.seen)
