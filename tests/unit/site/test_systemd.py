"""The systemd units' pure rules, without systemd: when a unit may hide the home
folders. The units checked by systemd itself: tests/integration/site/test_systemd.py."""

from __future__ import annotations

from kit.site.systemd import protect_home


def test_home_folders_stay_hidden_unless_the_site_or_kit_lives_there():
    assert protect_home("/srv/pkgindex", "/opt/kit/bin/python3") == "yes"
    assert protect_home("/home/ann/pkgindex", "/opt/kit/bin/python3") == "read-only"
    assert protect_home("/srv/pkgindex", "/root/.venv/bin/python3") == "read-only"
    assert protect_home("/srv/homework", "/opt/kit/bin/python3") == "yes"  # a name beginning with "home" is not /home
