"""How kit shows things to people: the files a site gains as a tree, the
wizard's summary, a spinner for waits. rich (which typer brings) draws them;
on a pipe or a dumb terminal it prints the same text without colour.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import PurePosixPath
from typing import IO, Any, Callable, Iterator

__all__ = ["byte_size", "change_counts", "files_tree", "plural", "print_changes", "progress", "console_for"]


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 project``, ``2 projects``, ``0 projects``; ``many`` where an added s is wrong
    (``plural(n, "miss", "misses")``). The one place kit counts things in words."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"


def byte_size(count: float, *, binary: bool = False) -> str:
    """A size for people: ``512 bytes``, ``3.2 MB`` (powers of 1000, as transfers and
    downloads are counted) or, ``binary``, ``3.2 MiB`` (powers of 1024, as sizes are
    answered: ``edge_cache_size = "10G"`` is 10 GiB)."""
    step, units = (1024, ("bytes", "KiB", "MiB", "GiB", "TiB")) if binary else (1000, ("bytes", "KB", "MB", "GB", "TB"))
    for unit in units:
        if count < step or unit == units[-1]:
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= step
    raise AssertionError  # unreachable: the last unit returns


def console_for(file: IO[str] | None = None):
    from rich.console import Console

    # No markup, no wrapping: kit's lines hold "[...]" and long URLs that must print as they are.
    return Console(file=file or sys.stdout, highlight=False, markup=False, soft_wrap=True, emoji=False)


def files_tree(root_label: str, names: list[str], marks: dict[str, str] | None = None):
    """A rich Tree of relative file names, folders first; ``marks`` adds "(new)", "(updated)"…"""
    from rich.tree import Tree

    marks = marks or {}
    tree = Tree(f"{root_label}/", guide_style="dim")
    nodes: dict[PurePosixPath, Any] = {PurePosixPath("."): tree}

    def key(name: str) -> tuple:
        parts = PurePosixPath(name).parts
        # folders before files at each level, then by name
        return tuple((0, p) for p in parts[:-1]) + ((1, parts[-1]),)

    for name in sorted(names, key=key):
        path = PurePosixPath(name)
        parent = PurePosixPath(".")
        for part in path.parts[:-1]:
            folder = parent / part
            if folder not in nodes:
                nodes[folder] = nodes[parent].add(f"{part}/")
            parent = folder
        mark = f"  ({marks[name]})" if name in marks else ""
        nodes[parent].add(f"{path.name}{mark}")
    return tree


def change_counts(changes, *, planned: bool = False) -> str:
    """``created 24 files``, ``created 1 file, updated 2 files``; with ``planned``, before
    anything is written: ``will create 24 files``."""
    verbs = (("create", "created", changes.created), ("update", "updated", changes.updated),
             ("remove", "removed", changes.removed))
    counts = ", ".join(f"{future if planned else past} {plural(len(names), 'file')}"
                       for future, past, names in verbs if names)
    return f"will {counts}" if planned else counts


def print_changes(site_label: str, changes, *, planned: bool = False, file: IO[str] | None = None) -> None:
    """What :func:`kit.site.render.render_site` did (or, ``planned``, will do), as a tree of the files touched."""
    console = console_for(file)
    if not changes.changed:
        console.print(f"{site_label}: up to date, nothing changed ({plural(len(changes.unchanged), 'file')})")
        return
    marks = {}
    if changes.updated or changes.removed or changes.unchanged:  # an update: say what each file did
        marks.update({n: "new" for n in changes.created})
        marks.update({n: "updated" for n in changes.updated})
        marks.update({n: "removed" for n in changes.removed})
    console.print(f"{change_counts(changes, planned=planned)}:")
    console.print(files_tree(site_label, changes.created + changes.updated + changes.removed, marks))


@contextlib.contextmanager
def progress(first: str, *, file: IO[str] | None = None) -> Iterator[Callable[[str], None]]:
    """Yield ``say``: print a line, and keep a spinner with the latest line
    going while the work waits (on a terminal only)."""
    console = console_for(file)
    if not console.is_terminal:
        out = file or sys.stdout
        yield lambda line: print(line, file=out, flush=True)
        return
    with console.status(first) as status:
        def say(line: str) -> None:
            console.print(line)
            status.update(line.strip())
        yield say
