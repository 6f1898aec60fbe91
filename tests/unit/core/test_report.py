"""How kit shows things to people (kit.core.report): counts in words, and the
lines of a wait, with a spinner on a terminal only."""

from __future__ import annotations

import io
import time


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_waits_show_a_spinner_on_a_terminal_and_plain_lines_elsewhere():
    """kit up, kit down and catch-ups print each step; on a terminal a spinner
    with the latest step keeps moving while they wait."""
    from kit.core.report import progress

    screen = _Terminal()
    with progress("starting the cluster", file=screen) as say:
        say("master   healthy after 1.2 s")
        time.sleep(0.3)  # long enough for the spinner to draw
    out = screen.getvalue()
    assert "master   healthy after 1.2 s" in out
    assert "\x1b[" in out and "⠋" in out  # the spinner, drawn with terminal control sequences
    plain = io.StringIO()
    with progress("starting the cluster", file=plain) as say:
        say("master   healthy after 1.2 s")
    assert plain.getvalue() == "master   healthy after 1.2 s\n"


def test_a_count_in_words_is_singular_for_one_only():
    from kit.core.report import plural

    assert [plural(n, "project") for n in (0, 1, 2)] == ["0 projects", "1 project", "2 projects"]
    assert plural(1, "miss", "misses") == "1 miss" and plural(3, "miss", "misses") == "3 misses"


def test_sizes_read_in_the_units_they_were_given_in():
    """Transfers in powers of 1000 (kit mirror sync, kit backup); sizes an operator answered in
    powers of 1024 (edge_cache_size = "10G" shows as 10.0 GiB in kit status, not 10.7 GB)."""
    from kit.core.report import byte_size

    assert byte_size(999) == "999 bytes" and byte_size(3_200_000) == "3.2 MB"
    assert byte_size(10 * 1024**3, binary=True) == "10.0 GiB" and byte_size(10 * 1024**3) == "10.7 GB"
    assert byte_size(1023, binary=True) == "1023 bytes" and byte_size(1024, binary=True) == "1.0 KiB"
    assert byte_size(5e15) == "5000.0 TB"  # past the last unit, still in it
