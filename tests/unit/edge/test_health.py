"""What ``/+edge/health`` says about purges when the edge refuses its purge
secret: the file's actual problem and its fix, on one line, as the edge's log
says it, not "no secret" for a secret that is there but refused."""

from __future__ import annotations

import json

import pytest

from tests.support.edge_inprocess import SECRET, running, scenario


async def purge_health(world) -> str:
    """The ``purge`` line of ``GET /+edge/health``, as an operator's curl sees it."""
    status, _, body = await world.send("GET /+edge/health")
    assert status == 200
    return json.loads(body)["purge"]


@pytest.mark.parametrize("breaks, problem, fix", [
    (lambda secret: secret.chmod(0o644), "can be read by every user of this machine", "run: chmod 600 {path}"),
    (lambda secret: secret.chmod(0o602), "is open to every user of this machine (mode 0602)", "run: chmod 600 {path}"),
    (lambda secret: secret.write_text("short\n"), "does not hold one token of at least 32 letters or digits",
     "write the purge secret devpi's plugin sends (64 hex characters) into {path} and chmod 600 it"),
    (lambda secret: secret.write_text("   \n"), "is empty",
     "write the purge secret devpi's plugin sends (64 hex characters) into {path} and chmod 600 it"),
    (lambda secret: secret.unlink(), "does not exist",
     "write the purge secret devpi's plugin sends (64 hex characters) into {path} and chmod 600 it"),
], ids=["world-readable", "world-writable", "not-a-token", "empty", "missing"])
@scenario
async def test_health_names_why_the_purge_secret_is_refused_and_the_fix(tmp_path, breaks, problem, fix):
    async with running(tmp_path) as world:
        secret = tmp_path / "secret"
        assert await purge_health(world) == "ready"
        breaks(secret)
        said = await purge_health(world)
        assert said == f"refused: secret file {secret} {problem}; {fix.format(path=secret)}"
        assert "\n" not in said
        # What health says is what purges meet: refused, until the file is fixed.
        status, _, _ = await world.send("POST /+edge/purge", {"Authorization": f"Bearer {SECRET}"},
                                        b'{"keys": ["web/private"]}')
        assert status == 403
        secret.write_text(SECRET)
        secret.chmod(0o600)
        assert await purge_health(world) == "ready"
