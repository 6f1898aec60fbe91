"""Project names and distribution file names: the one place for their rules.

PEP 503's normalisation is ``packaging.utils.canonicalize_name`` (a kit
dependency, and what pip itself uses); the PEP 508 name rule and the file
name rules are here once, for the wizard's validation, the edge, the purge
contract, the devpi plugin, the public mirror and the local upstream alike.
Standard library and ``packaging`` only: devpi-server imports this through
kit's plugin, and ``kit --help`` through the validators.
"""

from __future__ import annotations

import re

from packaging.utils import canonicalize_name

__all__ = ["MAX_PROJECT_NAME", "NORMALIZED_PROJECT_RE", "PROJECT_RE", "normalize", "project_of", "version_of"]

#: The longest project name kit accepts (PyPI's own limit is close to it).
MAX_PROJECT_NAME = 100
# fullmatch, never match with "$": "$" also matches before a final newline.
#: PEP 508's name rule (case-insensitive).
PROJECT_RE = re.compile(r"[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]")
#: A name as PEP 503 normalises a valid one: what index URLs hold (the edge caches only these).
NORMALIZED_PROJECT_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
#: What distribution files end in, on an index.
SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2")


def normalize(name: str) -> str:
    """A project name as PEP 503 normalises it: ``My_Pkg.x`` → ``my-pkg-x``."""
    return str(canonicalize_name(name))


def project_of(filename: str) -> str | None:
    """The normalised project name of a distribution file, or None if it is not one."""
    if filename.endswith(".whl"):
        return normalize(filename.split("-", 1)[0])
    for suffix in SUFFIXES:
        if filename.endswith(suffix):
            stem = filename[: -len(suffix)]
            if "-" in stem:
                return normalize(stem.rsplit("-", 1)[0])
    return None


def version_of(filename: str) -> str:
    """The version in a distribution file's name (a file :func:`project_of` accepts)."""
    if filename.endswith(".whl"):
        return filename.split("-")[1]
    stem = next(filename[: -len(s)] for s in SUFFIXES if filename.endswith(s))
    return stem.rsplit("-", 1)[1]


#: The site-wide devpi stage that reserves the private names (the site plan and the devpi plugin read it).
NAMES_INDEX = "root/names"
#: The devpi user kit's edge reads private indexes as (after it has authorised
#: the client): the static copy's refreshes and the cache's fetches. No team
#: may take the name.
EDGE_READER = "kit-edge"
