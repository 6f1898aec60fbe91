"""kit.environment: a devpi-server that cannot start is named before anything starts.

The whole story (a neighbour's install breaking kit's environment, kit up
refusing in one line, the fix it names mending it) runs on a real virtual
environment in tests/integration/ops/test_wheelhouse.py.
"""

from __future__ import annotations




def test_kit_finds_nothing_wrong_with_the_test_environment():
    from kit.core.environment import devpi_problem

    assert devpi_problem() is None
