"""``kit tour``: the whole architecture, working, in under a minute, offline.

In a temporary folder it makes a site whose upstream is a folder with one
sample package, starts the cluster, uploads a private package with the
generated .pypirc, installs it through the edge with the generated pip.conf
(and the team's netrc: a new site's team index is readable by the team alone),
kills the master, installs again, brings the master back and stops it all,
saying at each step what it proves and how long it took.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from kit.core.errors import ClientRunError

__all__ = ["run_tour"]

Say = Callable[[str], None]


def _client_env(home: Path, **extra: str) -> dict[str, str]:
    """The clients run as a newcomer's would, without this machine's pip settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "TWINE_"))}
    # PIP_NO_INPUT: a refused read fails with pip's own words, not a prompt for a user name.
    env.update(HOME=str(home), PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", **extra)
    return env


def _run(argv: list[str], env: dict, what: str) -> str:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        raise ClientRunError(f"tour: {what} failed: {' | '.join(tail)}")
    return proc.stdout


def run_tour(say: Say = print, keep: Path | None = None) -> float:
    """Run the tour; return its duration in seconds. ``keep`` keeps the site there."""
    from kit.site.answers import answers_from_raw
    from kit.cluster.lifecycle import Cluster, free_ports
    from kit.site.render import render_site
    from kit.ops.sample import make_wheel

    from kit.core.environment import devpi_problem
    from kit.core.errors import ClusterError

    problem = devpi_problem()
    if problem:  # before any step: a tour that cannot start devpi-server would stop at step 2
        raise ClusterError(problem)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kit-tour-") as tmp_name:
        tmp = Path(tmp_name)
        work = keep or tmp
        clock = [time.monotonic()]

        def step(number: int, title: str, proves: str) -> None:
            say(f"\n[{number}/7] {title}\n      proves: {proves}")
            clock[0] = time.monotonic()

        def done(message: str) -> None:
            say(f"      ok: {message} ({time.monotonic() - clock[0]:.1f} s)")

        step(1, "kit init: a site with a master, a mirror, an edge and one team",
             "kit init's defaults, with free ports and a local upstream, give a complete site")
        upstream = tmp / "upstream"
        make_wheel(upstream, "tour-upstream", "1.0", marker="from the upstream")
        master, mirror, edge, local = free_ports(4)
        answers = answers_from_raw({
            "upstream": str(upstream), "teams": ["tour"], "master_port": master,
            "mirror_port": mirror, "edge_port": edge, "upstream_port": local,
        })
        site = work / "site"
        render_site(answers, site)
        done(f"{site} (free ports {master}, {mirror}, {edge}, {local}; upstream is a local folder, no network)")

        cluster = Cluster.load(site)
        step(2, "kit up: start upstream, master, mirror and edge", "the cluster starts detached and answers")
        cluster.up(say=lambda line: say(f"      {line}"))
        try:
            team = site / "teams" / "tour"
            # pip finds the team's password in its netrc (mode 0600), never on a command line.
            env = _client_env(tmp / "home", PIP_CONFIG_FILE=str(team / "pip.conf"), NETRC=str(team / "netrc"))

            step(3, "twine upload with the generated .pypirc, through the edge",
                 "a team can publish a private package; the edge passes writes to the master")
            private = make_wheel(tmp / "dist", "tour-private", "1.0", marker="the team's own")
            _run([sys.executable, "-m", "twine", "upload", "--config-file", str(team / ".pypirc"), "-r", "tour",
                  "--disable-progress-bar", str(private)], env, "the upload")
            done("tour-private 1.0 is on tour/private")

            step(4, "pip install with the generated pip.conf and netrc, through the edge",
                 "one index serves both the private package and the upstream one")
            who = _install(env, tmp / "target1")
            done(f"installed: {who}")

            step(5, "kill -9 the master, then install again through the edge",
                 "reads survive the master's death: the edge falls over to the mirror")
            master_pid = int((cluster.pids_dir / "master.pid").read_text())
            os.kill(master_pid, signal.SIGKILL)
            who = _install(env, tmp / "target2")
            done(f"master (pid {master_pid}) is dead and pip still installed: {who}")

            step(6, "kit up again: the master comes back", "kit up restarts what is down and leaves the rest")
            cluster.up(say=lambda line: say(f"      {line}"))
            done("all healthy again")
        finally:
            step(7, "kit down: stop everything", "no process is left behind")
            cluster.down(say=lambda line: say(f"      {line}"))
    total = time.monotonic() - started
    say(f"\nTour finished in {total:.1f} s. Next: kit init, then read the site's README.md.")
    return total


def _install(env: dict, target: Path) -> str:
    _run([sys.executable, "-m", "pip", "install", "--no-cache-dir", "--target", str(target),
          "tour-private", "tour-upstream"], env, "pip install")
    code = "import tour_private as p, tour_upstream as u; print(f'tour-private ({p.WHO}), tour-upstream ({u.WHO})')"
    return _run([sys.executable, "-c", code], dict(env, PYTHONPATH=str(target)), "the import").strip()
