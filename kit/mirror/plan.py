"""What a sync will mirror, and what it will take: the listed names and the
projects of the listed requirement files, every project they depend on (read
from the upstream's JSON API), and the storage their files need."""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from kit.core.errors import MirrorError, one_line
from kit.core.names import normalize
from kit.mirror.progress import Progress, quiet
from kit.mirror.upstream_client import UpstreamClient
from kit.site import validate
from kit.site.answers import is_requirement_file

__all__ = ["ESTIMATE_MAX_PROJECTS", "SyncPlan", "plan_sync", "read_requirements"]

#: A whole upstream with more projects than this is not estimated (one request each).
ESTIMATE_MAX_PROJECTS = 2000


def read_requirements(path: Path, _seen: set[Path] | None = None, _folder: Path | None = None) -> list[Requirement]:
    """The requirements of a pip requirement file: ``-r`` files followed,
    pip's per-requirement options (``--hash=…``) and other options, comments
    and blank lines skipped.

    An ``-r`` include must be a file in the folder of the requirement file
    that ``mirror_projects`` lists, or below it (links followed): a file
    that names ``/etc/shadow`` makes kit read nothing outside that folder.
    Raises :class:`MirrorError` naming the file and line of anything that is
    not a requirement (a URL or a local path cannot be mirrored), never
    quoting the line: under systemd, messages go to the journal.
    """
    path = Path(path).absolute()
    folder = _folder if _folder is not None else Path(os.path.realpath(path.parent))
    seen = _seen if _seen is not None else set()
    if path in seen:
        return []
    seen.add(path)
    try:
        lines = validate.read_small_file(path).splitlines()
    except FileNotFoundError:
        raise MirrorError(f"requirement file {path} does not exist; restore it or remove it from mirror_projects") from None
    except (OSError, ValueError) as exc:
        reason = one_line(exc) if isinstance(exc, OSError) else f"it {exc}"
        raise MirrorError(f"cannot read requirement file {path} ({reason}); check the file") from None
    found: list[Requirement] = []
    joined = ""
    for number, line in enumerate(lines, 1):
        line = joined + line.split(" #", 1)[0].strip()
        joined = ""
        if line.endswith("\\"):
            joined = line[:-1] + " "
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r", "--requirement")):
            target = path.parent / re.sub(r"^(-r|--requirement)[=\s]*", "", line)
            if not Path(os.path.realpath(target)).is_relative_to(folder):
                raise MirrorError(f"{path}:{number}: an -r include outside {folder} is not read; move that file "
                                  f"into {folder}, or list it in mirror_projects itself (kit init --set ...)")
            found += read_requirements(target, seen, folder)
            continue
        if line.startswith("-"):
            continue  # -c, -e, --index-url…: not a project to mirror
        # pip's options of one requirement (--hash=sha256:…, --config-settings): not part of it.
        line = re.split(r"\s+-(?=[-A-Za-z])", line, maxsplit=1)[0]
        try:
            found.append(Requirement(line))
        except InvalidRequirement:
            raise MirrorError(f"{path}:{number}: not a project requirement (a URL or a path cannot be "
                              "mirrored); fix the line or list that file's projects by name") from None
    return found


@dataclass
class SyncPlan:
    """What a sync will mirror, and what it will take."""

    projects: list[str]  # normalised names, sorted; empty with ``everything``
    everything: bool = False
    files: int = 0
    bytes: int = 0  # all the files of the planned projects
    new_bytes: int = 0  # of those, what is not on disk yet
    estimated: bool = True
    #: Dependencies the upstream does not have: mirrored without them, said once.
    missing_dependencies: list[str] = field(default_factory=list)


def _dependencies(metadata: dict, extras: set[str]) -> list[Requirement]:
    """The latest release's dependencies: all platforms (a mirror serves every
    machine), extras only when asked for."""
    found = []
    for text in metadata.get("info", {}).get("requires_dist") or ():
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        marker = requirement.marker
        if marker is not None and "extra" in str(marker):
            if not any(_marker_true(marker, extra) for extra in extras):
                continue
        found.append(requirement)
    return found


def _marker_true(marker, extra: str) -> bool:
    try:
        return marker.evaluate({"extra": extra})
    except Exception:  # an unknown variable: keep the dependency rather than lose it
        return True


def plan_sync(entries: tuple[str, ...] | list[str], upstream_base: str, web: Path | None = None, *,
              say: Progress = quiet) -> SyncPlan:
    """Resolve ``entries`` (names and requirement files) into every project to
    mirror, with their dependencies, and estimate the storage they take.

    Raises :class:`MirrorError` when a listed project is not on the upstream
    (before anything is downloaded); a missing *dependency* is only reported.
    """
    upstream = UpstreamClient(upstream_base)
    if not entries:
        names = upstream.all_projects()
        plan = SyncPlan(projects=[], everything=True, estimated=len(names) <= ESTIMATE_MAX_PROJECTS)
        if plan.estimated:
            for name in names:
                _count_files(plan, upstream.project(name) or {}, web)
        return plan
    wanted: list[tuple[str, set[str], str]] = []  # (name, extras, where it was asked for)
    for entry in entries:
        if is_requirement_file(entry):
            wanted += [(normalize(r.name), set(r.extras), entry) for r in read_requirements(Path(entry))]
        else:
            wanted.append((normalize(entry), set(), "mirror_projects"))
    seen: dict[str, set[str]] = {}
    plan = SyncPlan(projects=[])
    queue = [(name, extras, origin, True) for name, extras, origin in wanted]
    while queue:
        name, extras, origin, listed = queue.pop(0)
        if name in seen and extras <= seen[name]:
            continue
        first_time = name not in seen
        seen.setdefault(name, set()).update(extras)
        metadata = upstream.project(name)
        if metadata is None:
            if listed:
                raise MirrorError(f"{name} (from {origin}) is not on the upstream {upstream.base}; check the "
                                  "name, or remove it from mirror_projects (kit init --set mirror_projects=...)")
            if name not in plan.missing_dependencies:
                plan.missing_dependencies.append(name)
            continue
        if first_time:
            plan.projects.append(name)
            _count_files(plan, metadata, web)
            say(f"resolved: {name}")
        for requirement in _dependencies(metadata, extras):
            queue.append((normalize(requirement.name), set(requirement.extras), name, False))
    plan.projects.sort()
    return plan


def _count_files(plan: SyncPlan, metadata: dict, web: Path | None) -> None:
    for files in (metadata.get("releases") or {}).values():
        for file in files:
            size = int(file.get("size") or 0)
            plan.files += 1
            plan.bytes += size
            local = _local_path(web, file.get("url", "")) if web is not None else None
            if local is None or not local.is_file():
                plan.new_bytes += size


def _local_path(web: Path, url: str) -> Path | None:
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    if not path.startswith("/packages/") or ".." in path.split("/"):
        return None
    return web / path.lstrip("/")
