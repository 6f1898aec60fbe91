"""kit's public modules, imported in a fresh Python (tests/unit/test_public_api.py pins their names)."""

from __future__ import annotations

import subprocess
import sys

#: The public modules (their names are pinned in tests/unit/test_public_api.py).
PUBLIC = ("kit.site.render", "kit.site.clients", "kit.site.answers", "kit.core.errors")


def test_the_public_modules_load_none_of_the_heavy_parts():
    """The docstring's promise: cookiecutter, questionary and devpi load when they are used, not on import."""
    code = ("import sys; import " + ", ".join(PUBLIC) +
            "; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    assert "kit" in loaded
    assert sorted(loaded & {"cookiecutter", "questionary", "devpi_server", "devpi_common", "aiohttp"}) == []
