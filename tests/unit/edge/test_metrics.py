"""The edge's metrics (:mod:`kit.edge.metrics`) in-process, before stand-in origins:
``/+edge/metrics`` read back with prometheus_client's own parser, as Prometheus reads it."""

from __future__ import annotations

import datetime
import json
import os
import time

from prometheus_client.parser import text_string_to_metric_families

from kit.edge.metrics import CertificateWatch, certificate_expiry, last_sync_of
from tests.support.edge_inprocess import scenario
from tests.support.edge_standins import WHEEL, WHEEL_PATH, StandIn, edge_before, refusing_port, serving

PAGE = "/web/private/+simple/kitdemo/"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def scrape(get) -> tuple[dict, str]:
    answer = await get("/+edge/metrics")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    text = answer.body.decode()
    return samples(text), text


def requests(found: dict, kind: str, state: str) -> float:
    return found.get(("kit_edge_requests_total", (("kind", kind), ("state", state))), 0)


@scenario
async def test_a_miss_then_a_hit_count_under_kind_page_with_their_latency_and_bytes(tmp_path):
    async with serving(StandIn("master"), StandIn("mirror")) as urls, edge_before(urls, tmp_path) as (edge, get):
        first, second = await get(PAGE), await get(PAGE)
        assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
        found, _ = await scrape(get)
        assert requests(found, "page", "miss") == 1
        assert requests(found, "page", "hit") == 1
        assert found[("kit_edge_request_duration_seconds_count", (("kind", "page"),))] == 2
        assert found[("kit_edge_request_duration_seconds_bucket", (("kind", "page"), ("le", "+Inf")))] == 2
        assert found[("kit_edge_sent_bytes_total", (("kind", "page"),))] == len(first.body) + len(second.body)
        assert found[("kit_edge_cached_pages", ())] == 1
        assert found[("kit_edge_info", (("version", __import__("kit").__version__),))] == 1
        # /+edge/stats says the same, as before.
        assert (edge.stats_snapshot()["misses"], edge.stats_snapshot()["hits"]) == (1, 1)


@scenario
async def test_files_count_misses_hits_and_the_cache_size(tmp_path):
    async with serving(StandIn("master"), StandIn("mirror")) as urls, edge_before(urls, tmp_path) as (_edge, get):
        await get(PAGE)
        assert (await get(WHEEL_PATH)).headers["x-cache"] == "MISS"
        assert (await get(WHEEL_PATH)).headers["x-cache"] == "HIT"
        found, _ = await scrape(get)
        assert (requests(found, "file", "miss"), requests(found, "file", "hit")) == (1, 1)
        assert found[("kit_edge_sent_bytes_total", (("kind", "file"),))] == 2 * len(WHEEL)
        assert found[("kit_edge_cache_files", ())] == 1
        assert found[("kit_edge_cache_bytes", ())] >= len(WHEEL)  # with what the cache keeps beside it
        assert found[("kit_edge_cache_max_bytes", ())] == 10 * 1024**3


@scenario
async def test_integrity_failures_count_by_where_the_bytes_were_wrong(tmp_path):
    async with serving(StandIn("master", wrong_bytes=True), StandIn("mirror")) as urls, edge_before(urls, tmp_path) as (edge, get):
        assert (await get(WHEEL_PATH)).body == WHEEL  # the master's bytes refused, the mirror's served
        found, _ = await scrape(get)
        assert found[("kit_edge_integrity_failures_total", (("where", "origin"),))] == 1
        assert found[("kit_edge_integrity_failures_total", (("where", "cache"),))] == 0
        # Spoilt on the edge's disk: found when it is next served.
        cached = edge.files.lookup(WHEEL_PATH)
        cached.path.write_bytes(b"y" * len(WHEEL))
        assert (await get(WHEEL_PATH)).body == WHEEL
        found, _ = await scrape(get)
        assert found[("kit_edge_integrity_failures_total", (("where", "cache"),))] == 1


@scenario
async def test_an_origin_that_refuses_reads_as_down_with_its_errors(tmp_path):
    with refusing_port() as port:
        down = f"http://127.0.0.1:{port}"
        async with serving(StandIn("mirror")) as urls, edge_before([down, *urls], tmp_path) as (_edge, get):
            assert (await get(PAGE)).headers["x-served-by"] == "mirror"
            found, _ = await scrape(get)
            assert found[("kit_edge_origin_up", (("origin", down), ("role", "master")))] == 0
            assert found[("kit_edge_origin_up", (("origin", urls[0]), ("role", "mirror")))] == 1
            assert found[("kit_edge_origin_errors_total", (("origin", down),))] == 1
            assert found[("kit_edge_origin_errors_total", (("origin", urls[0]),))] == 0


class Devpi(StandIn):
    """A stand-in that sends devpi's X-Devpi-Serial with every answer."""

    def __init__(self, name: str, serial: int):
        super().__init__(name)
        self.serial = serial

    async def handle(self, request):
        response = await StandIn.handle(self, request)
        response.headers["X-Devpi-Serial"] = str(self.serial)
        return response


@scenario
async def test_each_devpis_serial_and_the_mirrors_lag_are_what_the_health_checks_last_saw(tmp_path):
    master, mirror = Devpi("master", 40), Devpi("mirror", 37)
    async with serving(master, mirror) as urls, edge_before(urls, tmp_path) as (edge, get):
        found, _ = await scrape(get)
        assert not any(name == "kit_devpi_serial" for name, _labels in found)  # nothing seen yet
        assert not any(name == "kit_devpi_replica_lag_serials" for name, _labels in found)
        for origin in edge.origins.all:  # one round of the background health check
            assert await edge.failover.probe(origin) == ""
        found, _ = await scrape(get)
        assert found[("kit_devpi_serial", (("origin", urls[0]), ("role", "master")))] == 40
        assert found[("kit_devpi_serial", (("origin", urls[1]), ("role", "mirror")))] == 37
        assert found[("kit_devpi_replica_lag_serials", (("origin", urls[1]),))] == 3
        # An answer carries the serial too: the master moved on, the edge read a page from it.
        master.serial = 41
        await get(PAGE)
        found, _ = await scrape(get)
        assert found[("kit_devpi_replica_lag_serials", (("origin", urls[1]),))] == 4


@scenario
async def test_the_disks_of_the_parts_are_reported_and_a_missing_folder_is_left_out(tmp_path):
    async with serving(StandIn("master")) as urls, edge_before(urls, tmp_path) as (edge, get):
        edge.config.disk_paths = {"edge_cache": str(tmp_path / "cache"), "master": str(tmp_path / "not-made")}
        found, _ = await scrape(get)
        part = (("part", "edge_cache"),)
        assert found[("kit_disk_size_bytes", part)] > 0
        assert 0 <= found[("kit_disk_free_bytes", part)] <= found[("kit_disk_size_bytes", part)]
        assert 0 <= found[("kit_disk_used_ratio", part)] <= 1
        assert ("kit_disk_size_bytes", (("part", "master"),)) not in found


@scenario
async def test_no_label_names_a_project_an_index_or_a_path(tmp_path):
    secret = "zz-secret-project-4f1c"
    async with serving(StandIn("master")) as urls, edge_before(urls, tmp_path) as (_edge, get):
        for path in (f"/acme/secret-index/+simple/{secret}/", f"/acme/secret-index/+f/ab/cd/{secret}-1.0.tar.gz",
                     f"/{secret}/x?q={secret}", f"/mirror/simple/{secret}/"):
            await get(path)
        await get(f"/acme/secret-index/+simple/{secret}/", method="POST")
        _found, text = await scrape(get)
        assert secret not in text and "acme" not in text and "secret-index" not in text


@scenario
async def test_two_edges_in_one_process_count_apart(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with serving(StandIn("master")) as urls, edge_before(urls, tmp_path / "a") as (_a, get_a), \
            edge_before(urls, tmp_path / "b") as (_b, get_b):
        await get_a(PAGE)
        await get_a(PAGE)
        found_a, _ = await scrape(get_a)
        found_b, _ = await scrape(get_b)
        assert (requests(found_a, "page", "miss"), requests(found_a, "page", "hit")) == (1, 1)
        assert (requests(found_b, "page", "miss"), requests(found_b, "page", "hit")) == (0, 0)
        assert requests(found_b, "own", "hit") == 0  # its own scrape is counted once it was answered
        assert requests((await scrape(get_b))[0], "own", "hit") == 1


@scenario
async def test_refusals_and_the_edges_own_answers_have_their_states(tmp_path):
    async with serving(StandIn("master")) as urls, edge_before(urls, tmp_path) as (_edge, get):
        await get("/web/private/+simple/", method="OPTIONS")  # no index method: refused
        await get("/+edge/nothing")  # no such path of the edge's own: refused
        await get("/web/private/+simple/", {"Accept": "image/png"})  # no representation it serves
        await get("/web/private/upload/", method="POST")  # a write, passed to the master
        found, _ = await scrape(get)
        assert requests(found, "other", "refused") == 1
        assert requests(found, "own", "refused") == 1
        assert requests(found, "page", "refused") == 1
        assert requests(found, "write", "passed") == 1


def test_the_last_sync_is_the_records_when_it_ended_well_else_bandersnatchs_serial_file(tmp_path):
    web_folder = tmp_path / "mirror" / "data" / "web"
    web_folder.mkdir(parents=True)
    assert last_sync_of(web_folder) is None
    run = tmp_path / "mirror" / "run"
    run.mkdir()
    (run / "last-sync.json").write_text(json.dumps({"result": "ok", "started": 1.0, "finished": 1000.0}))
    status = tmp_path / "mirror" / "data" / "status"
    status.write_text("42\n")
    os.utime(status, (500.0, 500.0))
    assert last_sync_of(web_folder) == 1000.0
    (run / "last-sync.json").write_text(json.dumps({"result": "failed", "started": 2000.0, "finished": 2001.0}))
    assert last_sync_of(web_folder) == 500.0  # a failed sync leaves the last good one's time


def _certificate(path, not_after: datetime.datetime) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edge.test")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))
            .not_valid_after(not_after).sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_the_certificate_expiry_is_its_not_after(tmp_path):
    not_after = datetime.datetime(2031, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
    _certificate(tmp_path / "cert.pem", not_after)
    assert certificate_expiry(str(tmp_path / "cert.pem")) == not_after.timestamp()
    assert certificate_expiry("") is None
    assert certificate_expiry(str(tmp_path / "missing.pem")) is None
    assert time.time() < not_after.timestamp()


def test_a_renewed_certificate_is_reported_without_a_restart(tmp_path):
    """hitch serves a Varnish site's certificate: its shield reports the expiry of whatever the
    file holds now, a renewal included (the edge gets no SIGHUP for hitch's certificate)."""
    cert = tmp_path / "server.pem"
    first = datetime.datetime(2027, 1, 2, tzinfo=datetime.timezone.utc)
    _certificate(cert, first)
    watch = CertificateWatch(str(cert))
    assert watch.expiry() == first.timestamp()
    renewed = datetime.datetime(2027, 4, 2, tzinfo=datetime.timezone.utc)
    _certificate(tmp_path / "new.pem", renewed)
    (tmp_path / "new.pem").replace(cert)  # as certbot's deploy step or kit init renews it
    assert watch.expiry() == renewed.timestamp()
    cert.unlink()
    assert watch.expiry() is None and CertificateWatch("").expiry() is None
