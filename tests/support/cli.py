"""kit run in-process through its real entry point (capsys gives what it printed)."""

from __future__ import annotations

import pytest

from kit.cli.app import main


def kit(*args: str, capsys) -> tuple[int, str, str]:
    """Run kit in-process through its real entry point."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err
