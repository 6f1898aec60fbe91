"""Fixtures of the integration layer shared by more than one module."""

from __future__ import annotations

import pytest
from tests.conftest import BIN, clean_env, run
from tests.support.cluster import EdgeSite, edge_kind, running_site, team_upload


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


@pytest.fixture(scope="module", params=["python", "varnish"])
def edge_site(request, tmp_path_factory, dists):
    """A running site of each edge kind (kit up on free ports): kit's own edge, then
    Varnish with kit's edge as its shield (skipped, saying why, where Varnish cannot run).
    The module's tests share it: each makes the upload it checks, and one that stops a
    service brings it back."""
    kind = request.param
    extra = edge_kind(kind)
    root = tmp_path_factory.mktemp(f"{kind}-edge-site")
    env = clean_env(root / "home")
    with running_site(root, env, dists.upstream_folder, *extra) as (site, out):
        yield EdgeSite(kind, site, env, out)


@pytest.fixture(scope="module")
def edge_site_uploaded(edge_site, dists):
    """The team's kitdemo-private 1.0 on web/private of ``edge_site``, uploaded through its edge."""
    team_upload(edge_site.site, edge_site.env, dists.private)
    return edge_site
