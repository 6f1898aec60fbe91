"""The result as a picture: a plain SVG bar chart, no library."""

from __future__ import annotations

from kit.core.report import plural
from kit.ops.bench.report import shown
from kit.ops.bench.result import FAILURE_ROWS, MASTER, NGINX, PYTHON, VARNISH, BenchResult

__all__ = ["chart_svg"]

#: Bar colours per target, in the order of :data:`TARGETS`.
_COLOURS = {PYTHON: "#3572a5", VARNISH: "#e07b39", MASTER: "#8c8c8c", NGINX: "#3c9d5d"}


def chart_svg(result: BenchResult) -> str:
    """A horizontal bar chart per measurement (failure counts left out), one bar per target,
    each labelled with its value; plain SVG, no library."""
    from xml.sax.saxutils import escape

    width, label_w, bar_w, bar_h, gap = 760, 110, 520, 16, 4
    rows = [r for r in result.rows if r.key not in FAILURE_ROWS]
    body, y = [], 40
    for row in rows:
        title = row.label if row.unit == "count" else f"{row.label} ({row.unit})"
        body.append(f'<text x="10" y="{y}" class="title">{escape(title)}</text>')
        y += 8
        numbers = [row.number(t.name) for t in result.targets]
        top = max((n for n in numbers if n is not None), default=0) or 1
        for target, number in zip(result.targets, numbers):
            body.append(f'<text x="{label_w - 6}" y="{y + bar_h - 4}" text-anchor="end">{escape(target.name)}</text>')
            if number is None:
                body.append(f'<text x="{label_w}" y="{y + bar_h - 4}" class="none">'
                            f'{escape(shown(row.values[target.name], row.unit))}</text>')
            else:
                length = max(1.0, bar_w * number / top)
                body.append(f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_h}" '
                            f'fill="{_COLOURS.get(target.name, "#555")}"/>')
                body.append(f'<text x="{label_w + length + 4:.1f}" y="{y + bar_h - 4}">'
                            f'{escape(shown(number, row.unit))}</text>')
            y += bar_h + gap
        y += 18
    title = (f"kit bench: {result.edge} edge site, {plural(result.cores, 'core')}, req/s by "
             f"{'wrk' if result.tools.get('req/s') == 'wrk' else 'python'}")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" viewBox="0 0 {width} {y}" '
        f'font-family="sans-serif" font-size="12">\n'
        "<style>.title { font-weight: bold; } .none { fill: #888; font-style: italic; }</style>\n"
        f'<rect width="{width}" height="{y}" fill="white"/>\n'
        f'<text x="10" y="20" class="title" font-size="14">{escape(title)}</text>\n'
        + "\n".join(body) + "\n</svg>\n"
    )
