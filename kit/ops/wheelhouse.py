"""``kit wheelhouse``: every wheel a room needs to install kit and the
tutorial's clients with no network.

A conference room's Wi-Fi does not carry thirty installs of devpi-server,
poetry and pdm. The instructor, with the network, the day before, runs
``kit wheelhouse DIR``; each attendee then runs the one line
``DIR/README`` gives::

    pip install --no-index --find-links DIR 'pkgindex-kit[tutorial]'

That is one resolution of kit and every client chapter 3 uses: pip honours
devpi-server's ``setuptools<=81`` and zc.buildout's ``>=75.8.2`` together,
where installing the clients afterwards would let pip upgrade setuptools
past what devpi-server can run with.

The wheels come from pip itself, as it would install them: ``pip wheel``
for this machine (so a project published only as an sdist is built into a
wheel here, once), then ``pip download --only-binary=:all:`` for each other
Python and platform the room has. The folder is proven complete before kit
says so: an offline ``pip install --dry-run`` per target resolves from it
alone.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from kit import __version__
from kit.core.errors import AnswerError, WheelhouseError
from kit.core.files import write_atomically

__all__ = ["DISTRIBUTION", "Target", "WheelhouseError", "install_command", "make_wheelhouse", "parse_targets"]

#: kit's distribution name on an index (the command and package are ``kit``).
DISTRIBUTION = "pkgindex-kit"
#: The extra that names every client the tutorial's chapters run.
EXTRA = "tutorial"
README = "README"

Say = Callable[[str], None]

_PYTHON = re.compile(r"(\d)\.(\d{1,2})")
_PLATFORM = re.compile(r"(manylinux|musllinux|macosx|win|linux)[a-z0-9_]*")
#: kit's own floor (pyproject's requires-python).
_OLDEST_MINOR = 11


@dataclass(frozen=True)
class Target:
    """One kind of attendee machine: a Python version and a pip platform tag (None: this machine's)."""

    python: str | None = None
    platform: str | None = None

    @property
    def here(self) -> bool:
        return self.python is None and self.platform is None

    def __str__(self) -> str:
        python = f"Python {self.python}" if self.python else f"Python {sys.version_info[0]}.{sys.version_info[1]}"
        return f"{python} on {self.platform or 'this machine'}"

    def pip_options(self) -> list[str]:
        """What tells pip to pick wheels for this target instead of for the running interpreter."""
        if self.here:
            return []
        options = ["--only-binary=:all:", "--implementation", "cp"]
        if self.python:
            options += ["--python-version", self.python]
        if self.platform:
            options += ["--platform", self.platform]
        return options


def parse_targets(pythons: list[str], platforms: list[str]) -> list[Target]:
    """This machine, and every Python × platform the room has.

    Raises :class:`AnswerError` naming a value pip would not understand.
    """
    for python in pythons:
        match = _PYTHON.fullmatch(python)
        if not match:
            raise AnswerError("--python", f"{python!r} is not a Python version; give it as 3.12")
        if (int(match.group(1)), int(match.group(2))) < (3, _OLDEST_MINOR):
            raise AnswerError("--python", f"kit needs Python 3.{_OLDEST_MINOR} or newer, not {python}; "
                              f"give 3.{_OLDEST_MINOR} or a later version")
    for platform in platforms:
        if not _PLATFORM.fullmatch(platform):
            raise AnswerError("--platform", f"{platform!r} is not a platform tag; give one as pip spells it, "
                              "e.g. manylinux2014_x86_64, macosx_11_0_arm64 or win_amd64")
    # This machine always: the instructor installs kit from the folder too, and a project
    # published only as an sdist is built into a wheel here that the other targets then take.
    targets = [Target()]
    for python in pythons or [None]:
        for platform in platforms or [None]:
            target = Target(python, platform)
            if target not in targets:
                targets.append(target)
    return targets


def requirement(version: str = __version__) -> str:
    return f"{DISTRIBUTION}[{EXTRA}]=={version}"


def install_command(folder: str) -> str:
    """The one line an attendee runs, in a fresh virtual environment, with ``folder`` their copy of the wheelhouse."""
    return f"pip install --no-index --find-links {folder} '{DISTRIBUTION}[{EXTRA}]'"


def make_wheelhouse(dest: Path, targets: list[Target], *, index_url: str | None = None,
                    find_links: list[Path] = (), say: Say = print, log: Say | None = None) -> list[Path]:
    """Fill ``dest`` with the wheels of kit and its ``tutorial`` extra for every target; return the wheels.

    ``index_url`` and ``find_links`` are where pip looks (its own settings
    when not given); ``log`` gets pip's lines as they come while it collects (progress).
    """
    dest.mkdir(parents=True, exist_ok=True)
    wanted = requirement()
    sources = (["--index-url", index_url] if index_url else []) + [
        f"--find-links={folder}" for folder in [*find_links, dest]]
    # This machine first: an sdist is built into a wheel here, and the later targets find it in dest.
    for target in sorted(targets, key=lambda t: not t.here):
        say(f"collecting wheels for {target}")
        if target.here:
            argv = ["wheel", "--wheel-dir", str(dest), "--prefer-binary", *sources, wanted]
        else:
            argv = ["download", "--dest", str(dest), *target.pip_options(), *sources, wanted]
        _pip(argv, log, failing=f"collecting wheels for {target}")
    for target in targets:
        # Offline, from the folder alone, as the attendees will: proves nothing is missing.
        _pip(["install", "--dry-run", "--ignore-installed", "--no-index", f"--find-links={dest}",
              *(["--target", str(dest / ".dry-run")] if not target.here else []),
              *target.pip_options(), wanted], None, failing=f"checking that {target} installs offline")
        say(f"checked: {target} installs kit and every client from {dest} alone")
    shutil.rmtree(dest / ".dry-run", ignore_errors=True)  # pip wants a --target for other platforms, even dry
    write_atomically(dest / README, _readme())
    return sorted(dest.glob("*.whl"))


def _pip(argv: list[str], log: Say | None, *, failing: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", argv[0], "--progress-bar", "off",
               *argv[1:]]
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        raise WheelhouseError(f"{failing}: cannot run pip ({exc.strerror}); install pip into kit's environment") from None
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        if log:
            log(line.rstrip())
    if proc.wait() != 0:
        raise WheelhouseError(f"{failing}: {_why(lines)}")


def _why(lines: list[str]) -> str:
    """pip's own reason, and the fix when kit knows it."""
    errors = [line[len("ERROR: "):] for line in lines if line.startswith("ERROR: ")]
    reason = errors[0] if errors else (lines[-1] if lines else "pip failed")
    if any("NewConnectionError" in line or "Failed to establish a new connection" in line for line in lines):
        return (f"pip cannot reach the index ({reason}); kit wheelhouse needs the network, or --index-url "
                "naming an index this machine reaches")
    if re.search(rf"(satisfies the requirement|distribution found for) {DISTRIBUTION}\b", reason):
        return (f"pip found no {DISTRIBUTION} {__version__} ({reason}); put kit's wheel in a folder and add "
                f"--find-links FOLDER (build it in kit's source with: python3 -m pip wheel --no-deps -w dist .)")
    if "Could not find a version" in reason or "No matching distribution" in reason:
        return (f"{reason}; a project has no wheel for that Python or platform: check --python and --platform, "
                "or leave that target out")
    return f"{reason} (pip exited non-zero; run again with --verbose to see all it printed)"


def _readme() -> str:
    command = install_command("~/kit-wheelhouse")
    return (
        f"kit {__version__}: a wheelhouse for the tutorial, made by kit wheelhouse.\n"
        "\n"
        "Copy this folder to your home folder as kit-wheelhouse, then, with no network:\n"
        "\n"
        "    python3 -m venv ~/kit-venv\n"
        f"    ~/kit-venv/bin/{command}\n"
        "    source ~/kit-venv/bin/activate\n"
        "    pip check\n"
        "\n"
        "That installs kit and every client the tutorial uses in one resolution.\n"
    )
