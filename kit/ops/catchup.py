"""``kit catch-up CHAPTER``: what the tutorial's earlier chapters leave in
your home folder, made in one command, so you can start at any chapter.

The chapters build on each other in one home folder: chapter 0 fills
``~/wheels`` (the offline upstream), chapter 2 makes the ``~/acme`` site and
uploads the web team's ``acme-utils`` 1.0, and chapters 3 to 7 use that
site. Catching up is safe to repeat: what is already there is kept.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from kit.core.errors import AnswerError, ClientRunError

__all__ = ["catch_up", "CHAPTERS"]

#: The chapters one can start at. Each needs ~/wheels; those in
#: :data:`NEED_ACME` also need the attacker's acme-utils 9.0 in it and the
#: ~/acme site with the web team's acme-utils 1.0 uploaded.
CHAPTERS = range(1, 10)
NEED_ACME = {3, 4, 5, 6, 7}
ACME_SETUPS = ["private", "clients", "cluster"]


def catch_up(chapter: int, home: Path | None = None, say: Callable[[str], None] = print) -> None:
    """Make what chapters before ``chapter`` leave behind, under ``home``."""
    from kit.ops.sample import make_wheel
    from kit.site.folder import home_short

    if chapter not in CHAPTERS:
        raise AnswerError("CHAPTER", f"there is no chapter {chapter} to catch up to; give a number from 1 to {max(CHAPTERS)}")
    home = Path.home() if home is None else home
    wheels = home / "wheels"
    make_wheel(wheels, "tutorial-upstream", "1.0", marker="from the upstream")
    if chapter not in NEED_ACME:
        say(f"{home_short(wheels, home)}: tutorial-upstream 1.0")
        say(f"ready for chapter {chapter}")
        return
    make_wheel(wheels, "acme-utils", "9.0", marker="the attacker")
    say(f"{home_short(wheels, home)}: tutorial-upstream 1.0, acme-utils 9.0 (the attacker's)")
    site = _acme_site(home, wheels, say)
    _upload_acme_utils(site, say)
    say(f"ready for chapter {chapter}")


def _acme_site(home: Path, wheels: Path, say) -> Path:
    from kit.site.answers import answers_from_raw
    from kit.site.render import render_site
    from kit.site.folder import home_short, is_site_root

    site = home / "acme"
    if is_site_root(site):
        say(f"{home_short(site, home)}: the site chapter 2 made is there; kept as it is")
        return site
    answers = answers_from_raw({"setups": ACME_SETUPS, "upstream": str(wheels), "teams": ["web"]})
    render_site(answers, site)
    say(f"{home_short(site, home)}: a site for the web team, as chapter 2 makes it")
    return site


def _upload_acme_utils(site: Path, say) -> None:
    """acme-utils 1.0 on web/private, as chapter 2 uploads it, with the cluster left as it was."""
    from kit.cluster.lifecycle import Cluster
    from kit.cluster.devpi import DevpiAPI, DevpiError
    from kit.ops.sample import make_wheel

    cluster = Cluster.load(site)
    was_running = any(row.running for row in cluster.status())
    cluster.up(say=lambda line: None)  # starts what is down; leaves the rest
    try:
        try:
            # As the operator: a new site's team index is not readable anonymously.
            api = DevpiAPI(f"http://127.0.0.1:{cluster.answers.master_port}")
            api.login("root", cluster.answers.admin_password)
            project = api.get("/web/private/acme-utils")
        except DevpiError:
            project = None
        if project and "1.0" in project:
            say("acme-utils 1.0 is already on web/private")
            return
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "TWINE_"))}
        team = site / "teams" / "web"
        with tempfile.TemporaryDirectory(prefix="kit-catch-up-") as tmp:
            dist = make_wheel(Path(tmp), "acme-utils", "1.0", marker="the web team")
            proc = subprocess.run(
                [sys.executable, "-m", "twine", "upload", "--config-file", str(team / ".pypirc"), "-r", "web",
                 "--disable-progress-bar", str(dist)],
                env=env, capture_output=True, text=True, timeout=120,
            )
        if proc.returncode != 0:
            tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-2:])
            raise ClientRunError(f"uploading acme-utils 1.0 failed: {tail}; see {cluster.site.command('logs', 'master')}")
        say("acme-utils 1.0 uploaded to web/private, as chapter 2 does")
    finally:
        if not was_running:
            cluster.down(say=lambda line: None)

