"""Fixtures of the integration layer shared by more than one module."""

from __future__ import annotations

import pytest
from tests.conftest import BIN, run


@pytest.fixture(scope="module")
def uploaded(devpi_site, dists):
    """kitdemo-private 1.0 uploaded to web/private with twine and the generated .pypirc."""
    pypirc = devpi_site.team_dir("web") / ".pypirc"
    result = run(
        [BIN / "twine", "upload", "--config-file", pypirc, "-r", "web", "--disable-progress-bar", dists.private],
        env=devpi_site.env,
    )
    assert "Uploading" in result.stdout + result.stderr
    return devpi_site
