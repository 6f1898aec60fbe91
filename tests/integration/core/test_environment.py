"""kit.environment: a devpi-server that cannot start is named before anything starts.

The whole story (a neighbour's install breaking kit's environment, kit up
refusing in one line, the fix it names mending it) runs on a real virtual
environment in tests/integration/ops/test_wheelhouse.py.
"""

from __future__ import annotations

import sys

from tests.conftest import clean_env, run


def test_kit_up_names_a_missing_pkg_resources_before_starting_anything(tmp_path):
    """setuptools present at a version devpi-server accepts, but without pkg_resources (a broken install)."""
    env = clean_env(tmp_path / "home")
    code = (
        "import importlib.util, sys\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'pkg_resources' else real(name, *a)\n"
        "from kit.core.environment import devpi_problem\n"
        "print(devpi_problem())\n"
    )
    said = run([sys.executable, "-c", code], env=env).stdout.strip()
    assert said.startswith("devpi-server needs pkg_resources, which this environment's setuptools does not have")
    assert "fix: " in said and "pip install 'setuptools<=81" in said


