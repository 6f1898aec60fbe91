"""The edge's ``/+edge/metrics`` on a real cluster run by kit up: pip downloads through
the edge show in the file counters, and the edge reports each devpi's serial and the
mirror's lag as its health checks see them (real devpi master and replica)."""

from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import BIN, PRIVATE, clean_env, run
from tests.support.cluster import EdgeSite, running_site, team_upload


@pytest.fixture(scope="module")
def site(tmp_path_factory, dists):
    root = tmp_path_factory.mktemp("metrics-site")
    env = clean_env(root / "home")
    with running_site(root, env, dists.upstream_folder) as (path, out):
        yield EdgeSite("python", path, env, out)


def scrape(site: EdgeSite) -> dict[tuple[str, tuple], float]:
    answer = httpx.get(f"{site.url}/+edge/metrics", timeout=10)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def named(found: dict, name: str) -> dict[tuple, float]:
    return {labels: value for (metric, labels), value in found.items() if metric == name}


def file_reads(requests: dict[tuple, float]) -> float:
    """Files the edge served from its cache or fetched into it."""
    return sum(v for labels, v in requests.items() if dict(labels)["kind"] == "file"
               and dict(labels)["state"] in ("miss", "hit"))


def test_a_pip_download_through_the_edge_shows_in_its_file_counters(site, dists, tmp_path):
    team_upload(site.site, site.env, dists.private)
    before = named(scrape(site), "kit_edge_requests_total")
    run([BIN / "python", "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-d", tmp_path / "got", PRIVATE],
        env=site.pip_env())
    assert list((tmp_path / "got").iterdir())
    after = scrape(site)
    requests = named(after, "kit_edge_requests_total")
    assert file_reads(requests) == file_reads(before) + 1
    assert sum(v for labels, v in requests.items() if dict(labels)["kind"] == "page") >= 1
    assert named(after, "kit_edge_sent_bytes_total")[(("kind", "file"),)] > 0
    assert named(after, "kit_edge_cache_files")[()] >= 1
    disks = named(after, "kit_disk_used_ratio")
    assert {dict(k)["part"] for k in disks} >= {"edge_cache", "master", "mirror", "logs"}
    assert all(0 <= v <= 1 for v in disks.values())
    assert PRIVATE not in httpx.get(f"{site.url}/+edge/metrics", timeout=10).text


def test_each_devpis_serial_shows_and_the_mirrors_lag_comes_to_zero(site, dists):
    deadline = time.monotonic() + 60
    while True:
        found = scrape(site)
        serials = {dict(k)["role"]: v for k, v in named(found, "kit_devpi_serial").items()}
        lag = named(found, "kit_devpi_replica_lag_serials")
        if set(serials) >= {"master", "mirror"} and lag and all(v == 0 for v in lag.values()):
            break
        assert time.monotonic() < deadline, f"serials {serials}, lag {lag} after 60 s"
        time.sleep(0.5)
    assert serials["master"] > 0 and serials["master"] == serials["mirror"]
    up = {dict(k)["role"]: v for k, v in named(found, "kit_edge_origin_up").items()}
    assert up == {"master": 1, "mirror": 1}
