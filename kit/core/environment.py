"""Is kit's own Python environment able to run devpi-server?

A later ``pip install`` into kit's environment can break devpi-server
without touching it. For example, ``pip install zc.buildout`` upgrades
setuptools past 81. That setuptools has no ``pkg_resources``, and
devpi-server needs it. pip does not weigh the requirements of what is
already installed, so it only warns. Every ``kit up`` would then fail
inside ``devpi-init`` with a traceback's last line. :func:`devpi_problem`
finds such a break before anything starts and names it in one sentence,
with the command that mends it.

Only the standard library and ``packaging`` are used. The check reads
installed metadata and imports nothing of devpi.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
from importlib import metadata

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

__all__ = ["devpi_problem"]

#: What kit starts devpi-server with, and kit itself (its plugin runs inside devpi-server).
ROOTS = ("devpi-server", "pkgindex-kit")


def devpi_problem() -> str | None:
    """One sentence naming why devpi-server cannot run from kit's environment, with the fix; None when it can."""
    broken = _unmet_requirement()
    if broken:
        return broken
    if importlib.util.find_spec("pkg_resources") is None:
        return ("devpi-server needs pkg_resources, which this environment's setuptools does not have; "
                f"fix: {_pip_install('setuptools', _wanted('setuptools'))}")
    return None


def _unmet_requirement() -> str | None:
    """The first requirement in devpi-server's and kit's dependency tree that the installed versions miss."""
    env = default_environment()
    seen: set[str] = set()
    todo = [name for name in ROOTS]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a root that is absent (kit run from a checkout) is not this check's business
        for text in dist.requires or []:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate(dict(env, extra="")):
                continue
            try:
                installed = metadata.version(req.name)
            except metadata.PackageNotFoundError:
                return (f"{dist.metadata['Name']} {dist.version} needs {req.name}, which is not installed; "
                        f"fix: {_pip_install(req.name, _wanted(req.name))}")
            if req.specifier and not req.specifier.contains(installed, prereleases=True):
                return (f"{req.name} {installed} is installed but {dist.metadata['Name']} {dist.version} needs "
                        f"{req.name}{req.specifier}, so devpi-server cannot start; "
                        f"fix: {_pip_install(req.name, _wanted(req.name))}")
            todo.append(req.name)
    return None


def _wanted(name: str) -> SpecifierSet:
    """What every installed distribution asks of ``name``, together: the range a fix must land in.

    zc.buildout's ``setuptools>=75.8.2`` and devpi-server's ``<=81`` give
    ``>=75.8.2,<=81``, so the fix breaks neither.
    """
    env = default_environment()
    wanted = SpecifierSet()
    key = canonicalize_name(name)
    for dist in metadata.distributions():
        for text in dist.requires or []:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if canonicalize_name(req.name) != key:
                continue
            if req.marker is not None and not req.marker.evaluate(dict(env, extra="")):
                continue
            wanted &= req.specifier
    return wanted


def _pip_install(name: str, wanted: SpecifierSet) -> str:
    spec = ",".join(sorted(str(s) for s in _tightest(wanted)))
    return f"{shlex.quote(sys.executable)} -m pip install {shlex.quote(name + spec)}"


def _tightest(wanted: SpecifierSet) -> list:
    """``<82,<=81,>=75.8.2`` as ``<=81,>=75.8.2``: the strictest upper and lower bound, and the rest as they are."""
    from packaging.version import InvalidVersion, Version

    kept, upper, lower = [], None, None
    for spec in wanted:
        try:
            version = Version(spec.version)
        except InvalidVersion:
            kept.append(spec)
            continue
        if spec.operator in ("<", "<="):
            key = (version, spec.operator == "<=")  # < v is stricter than <= v
            upper = min(upper, (key, spec)) if upper else (key, spec)
        elif spec.operator in (">", ">="):
            key = (version, spec.operator == ">")  # > v is stricter than >= v
            lower = max(lower, (key, spec)) if lower else (key, spec)
        else:
            kept.append(spec)
    return kept + [bound[1] for bound in (upper, lower) if bound]
