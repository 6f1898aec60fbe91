"""How the mirror's long steps (resolving, syncing, verifying) tell their caller
what they do: one line at a time, to a callable the CLI prints with."""

from __future__ import annotations

from typing import Callable

Progress = Callable[[str], None]


def quiet(_line: str) -> None:
    """The default: say nothing (a library caller that wants only the result)."""
