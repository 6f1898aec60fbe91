"""Which keys a change purges: the plugin's half of the purge contract, as
pure functions (no devpi, no network).

A change on stage S purges the keys of S and of every index whose resolution
order (``stage.sro()``) holds S: a new release on root/pypi purges it for
every team index too. The spelling of a key is :mod:`kit.core.purge_keys`',
shared with the edge that reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from kit.core.names import normalize
from kit.core.purge_keys import key, parse_key

__all__ = ["MAX_HEADER_KEYS", "collapse", "header_keys", "inheritors", "normalise", "purge_keys"]

normalise = normalize  # the purge contract's spelling; the rule is kit.core.names'


def inheritors(stage: str, bases_of: Mapping[str, Sequence[str]]) -> set[str]:
    """``stage`` and every index whose resolution order holds it.

    devpi's ``sro()`` walks the bases, skipping those it has seen, so S is in
    X's resolution order exactly when S is reachable from X through bases;
    cycles (the team indexes inherit each other) are fine.
    """
    inherited_by: dict[str, set[str]] = {}
    for index, bases in bases_of.items():
        for base in bases or ():
            inherited_by.setdefault(base, set()).add(index)
    found = {stage}
    todo = [stage]
    while todo:
        for index in inherited_by.get(todo.pop(), ()):
            if index not in found:
                found.add(index)
                todo.append(index)
    return found


def purge_keys(stage: str, project: str | None, bases_of: Mapping[str, Sequence[str]]) -> set[str]:
    """The keys a change on ``stage`` purges, for it and for every index inheriting it.

    ``project``: a project name (its pages), None (the index's root page), or
    ``"*"`` (everything of the index).
    """
    # This function's None and "*" are the contract's "" and None.
    page = "" if project is None else None if project == "*" else project
    return {key(index, page) for index in inheritors(stage, bases_of)}


def collapse(keys: Iterable[str]) -> set[str]:
    """``keys`` with every project key replaced by its index's ``USER/INDEX/*``.

    Purges more than asked, never less: what keeps the pending set bounded
    (by the number of indexes) when changes come faster than the edge takes them.
    """
    parsed = [parse_key(one) for one in keys]
    wide = {index for index, project in parsed if project != ""}
    return {key(index, None) for index in wide} | {key(index, "") for index, project in parsed
                                                   if project == "" and index not in wide}


#: The longest Xkey-Purge header sent; varnishd is started to take 32 KiB headers.
MAX_HEADER_KEYS = 16 * 1024


def header_keys(keys: Iterable[str]) -> str:
    """``keys`` for the Xkey-Purge header: space-separated, coarsened by
    :func:`collapse` when they would not fit (purging more, never less)."""
    text = " ".join(sorted(keys))
    if len(text) > MAX_HEADER_KEYS:
        text = " ".join(sorted(collapse(keys)))
    return text
