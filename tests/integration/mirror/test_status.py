"""kit mirror status (kit.mirror.status) after a real sync, in words and as JSON."""

from __future__ import annotations

import json

from tests.support.mirror import kit


def test_status_and_verify_after_a_sync(synced):
    site, env, _out = synced
    out = kit("mirror", "status", str(site), env=env).stdout
    assert out.startswith("public mirror: synced ") and "2 projects, 3 files" in out
    data = json.loads(kit("mirror", "status", str(site), "--json", env=env).stdout)
    assert data["projects"] == 2 and data["files"] == 3 and data["last_sync"]["result"] == "ok"
    assert data["serial"] == int((site / "mirror" / "data" / "status").read_text())
    assert kit("mirror", "verify", str(site), env=env).stdout.startswith("ok: 3 files of 2 projects")
