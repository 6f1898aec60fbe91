"""The systemd units kit init writes for a site's production services,
checked by systemd itself: ``systemd-analyze verify`` (every setting parses,
every program exists) and ``systemd-analyze security --offline`` (the
sandbox is what the units claim), and compared with what ``kit up`` runs.

``systemd-analyze verify`` only warns about a bad value and still exits 0,
so the checks here assert that it prints nothing at all;
``test_a_bad_value_makes_the_check_fail`` shows that such a warning is
caught.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path


from kit.site.systemd import protect_home


# -- helpers -------------------------------------------------------------------------


def verify(*units: Path) -> subprocess.CompletedProcess:
    """``systemd-analyze verify`` as an administrator runs it before installing units."""
    return subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, units)], capture_output=True,
                          text=True, env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})


def security(unit: Path) -> dict[str, bool]:
    """What ``systemd-analyze security`` finds set in ``unit``, by its JSON field name."""
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--json=short", "--no-pager", str(unit)],
                          capture_output=True, text=True, check=True)
    return {check["json_field"]: check["set"] for check in json.loads(proc.stdout)}


# -- sites -------------------------------------------------------------------------


# -- systemd-analyze verify ------------------------------------------------------------


# -- the same programs as kit up --------------------------------------------------------


# -- the sandbox -----------------------------------------------------------------------


#: What every unit claims, by the name systemd-analyze security gives each check.


def test_home_folders_stay_hidden_unless_the_site_or_kit_lives_there():
    assert protect_home("/srv/pkgindex", "/opt/kit/bin/python3") == "yes"
    assert protect_home("/home/ann/pkgindex", "/opt/kit/bin/python3") == "read-only"
    assert protect_home("/srv/pkgindex", "/root/.venv/bin/python3") == "read-only"
    assert protect_home("/srv/homework", "/opt/kit/bin/python3") == "yes"  # a name beginning with "home" is not /home
