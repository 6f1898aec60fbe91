"""Plain-text tables (kit status, kit check, kit drill) drawn by rich: no borders, no
colours (they go to files and pipes as well as to terminals), each column as wide as
its widest value or its least width, columns a space apart unless a column asks for more.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Iterable, Sequence

__all__ = ["Column", "table_lines"]


@dataclass(frozen=True)
class Column:
    """One column: its header, its least width (a wider value widens it), values
    right-aligned or not, and how many spaces separate it from the column before."""

    header: str
    width: int = 0
    right: bool = False
    gap: int = 1


def table_lines(columns: Sequence[Column], rows: Iterable[Sequence[object]], *, indent: str = "") -> list[str]:
    """The header line then one line per row, each value as ``str()`` prints it, the
    trailing spaces of the last column left off."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # The gaps are columns of their own, so that one column may stand further off than the rest.
    table = Table(box=None, pad_edge=False, padding=0, header_style=None, show_edge=False)
    for number, column in enumerate(columns):
        if number and column.gap:
            table.add_column("", width=column.gap, no_wrap=True)
        table.add_column(Text(column.header), justify="right" if column.right else "left",
                         min_width=column.width, no_wrap=True)
    for row in rows:
        cells: list[Text] = []
        for number, (column, value) in enumerate(zip(columns, row, strict=True)):
            if number and column.gap:
                cells.append(Text(""))
            cells.append(Text(str(value)))
        table.add_row(*cells)
    out = io.StringIO()
    # Wide enough never to squeeze or cut a column: the table takes the width its values need.
    Console(file=out, width=1_000_000, color_system=None, highlight=False, markup=False,
            emoji=False).print(table)
    return [f"{indent}{line}".rstrip() for line in out.getvalue().splitlines()]
