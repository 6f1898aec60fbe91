"""kit.core.tables: the plain-text tables of kit status, kit check and kit drill, as a reader sees them."""

from __future__ import annotations

from kit.core.tables import Column, table_lines

COLUMNS = [Column("service", 9), Column("pid", 7, right=True), Column("state", 9, gap=2), Column("notes")]


def test_columns_keep_their_widths_alignment_and_gaps():
    assert table_lines(COLUMNS, [["master", 4321, "healthy", "devpi primary"], ["edge", "-", "stopped", ""]]) == [
        "service       pid  state     notes",
        "master       4321  healthy   devpi primary",
        "edge            -  stopped",  # no trailing spaces, even where the last value is empty
    ]


def test_a_wider_value_widens_its_column_for_every_row():
    lines = table_lines(COLUMNS, [["public-mirror", 1, "healthy", "x"], ["edge", 2, "healthy", "y"]])
    assert lines[1:] == ["public-mirror       1  healthy   x", "edge                2  healthy   y"]


def test_values_print_as_they_are_however_long_or_bracketed():
    """No markup, no emoji codes, no wrapping or cutting: kit's notes hold "[...]", ":x:" and long messages."""
    note = "see [bold]this[/bold] :x: " + "w" * 3000
    assert table_lines(COLUMNS, [["edge", 1, "unhealthy", note]])[1].endswith("unhealthy " + note)


def test_an_indent_starts_every_line():
    assert table_lines([Column("", 3), Column("n", 2, right=True)], [["a", 1]], indent="  ") == ["       n", "  a    1"]
