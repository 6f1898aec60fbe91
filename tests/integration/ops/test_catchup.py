"""``kit catch-up``: the quick cases (chapters 3 and 4, with a cluster, are
run by each chapter's reading alone in tests/tutorial/test_alone.py)."""

from __future__ import annotations


import pytest



def test_a_failed_client_run_is_one_line_with_its_last_words(tmp_path):
    """The tour and catch-up run pip and twine for you; when one fails, kit says
    which, with its last lines, as a ClientRunError (exit 1), never a traceback."""
    import sys

    from kit.core.errors import ClientRunError, KitError
    from kit.ops.tour import _run

    failing = [sys.executable, "-c", "import sys; print('first'); print('ERROR: no matching distribution'); sys.exit(3)"]
    with pytest.raises(ClientRunError) as info:
        _run(failing, {}, "pip install kitdemo")
    assert isinstance(info.value, KitError) and info.value.exit_code == 1
    assert str(info.value) == "tour: pip install kitdemo failed: first | ERROR: no matching distribution"
