"""kit.core.secrets against what kit init really writes: both readers take it."""

from __future__ import annotations

import subprocess
import sys

from kit.core.secrets import read_secret


def test_kit_init_writes_a_purge_secret_both_readers_take(tmp_path):
    """The edge now checks the file's mode: kit init's secret passes (0600, one 64-hex token)."""
    from kit.edge.purge import read_secret as edge_read_secret
    from kit.plugin.settings import read_secret as plugin_read_secret

    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "kit", "init", str(site), "--no-input"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    path = site / "cluster" / "edge-purge-secret"
    secret = read_secret(path, required=True)
    assert len(secret) == 64 and edge_read_secret(path) == secret == plugin_read_secret(path)
