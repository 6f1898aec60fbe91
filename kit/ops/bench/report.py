"""The result as text: a table (rows: measurements, columns: targets; kit.core.tables),
then the notes."""

from __future__ import annotations

import textwrap

from kit.core import tables
from kit.core.report import plural
from kit.core.tables import Column
from kit.ops.bench.result import BenchResult

__all__ = ["shown", "table_lines", "LABEL_WIDTH", "VALUE_WIDTH"]

#: The label column's width and each target column's (a space apart): 24 + 4 × 13 = 76 characters.
LABEL_WIDTH = 24
VALUE_WIDTH = 12


def shown(value: float | str, unit: str) -> str:
    """A value as the table shows it: ms and s with 2-3 decimals, counts and req/s whole."""
    if isinstance(value, str):
        return "n/a" if value.startswith("n/a") else "failed" if value.startswith("failed") else "-"
    if unit in ("req/s", "count"):
        return f"{value:,.0f}"
    if unit in ("ms", "MB"):
        return f"{value:.2f}"
    if unit == "×":
        return f"{value:.2f}×"
    return f"{value:.3f}"


def table_lines(result: BenchResult) -> list[str]:
    """The aligned table (rows: measurements, columns: targets), then the notes: at most 76 characters a line."""
    lines = _table(result)
    lines.append("")
    for target in result.targets:
        where = f" at {target.url}" if target.url else ""
        lines.append(f"{target.name}: {target.note}{where}")
    ratios = result.ratios()
    tool = result.tools.get("req/s", "")
    if ratios:
        lines.append(f"req/s vs nginx ({'wrk' if tool == 'wrk' else 'python: not nginx real rate'}): "
                     + ", ".join(f"{name} {share:.2f}×" for name, share in ratios.items()))
    share = result.authorised_share()
    if share is not None:
        lines.append(f"python edge, authorised warm page vs anonymous: {share:.2f}×")
    if tool != "wrk":
        lines.append(f"req/s measured by {tool}")
    if result.tools.get("tls"):
        lines.append(result.tools["tls"])
    for note in ("resolvers", "floor", "resolver bytes", "no range"):
        if result.tools.get(note):
            lines.extend(textwrap.wrap(result.tools[note], 76, subsequent_indent="  "))
    lines.append(f"{plural(result.cores, 'core')}, {result.duration:.1f} s; installs by {result.tools.get('installs', '-')}")
    for error in result.errors:
        lines.append(f"error: {error}")
    return lines


def _table(result: BenchResult) -> list[str]:
    """The table alone (kit's one table helper): labels left-aligned, values right-aligned."""
    columns = [Column("", LABEL_WIDTH), *(Column(target.name, VALUE_WIDTH, right=True) for target in result.targets)]
    rows = [[f"{row.label} ({row.unit})" if row.unit != "count" else row.label,
             *(shown(row.values[target.name], row.unit) for target in result.targets)] for row in result.rows]
    return tables.table_lines(columns, rows)
