"""Which origin a read or a write goes to, and when a failed one is tried again: no sockets."""

from __future__ import annotations

import asyncio

from kit.edge.origins import Origins, check_forever


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_reads_skip_a_failed_origin_for_retry_after_then_try_it_again():
    clock = Clock()
    origins = Origins.of("http://m", ["http://r1", "http://r2"], retry_after=5, clock=clock)
    assert [o.name for o in origins.for_read()] == ["master", "mirror", "mirror-2"]
    origins.failed(origins.master, "ConnectionRefusedError")
    assert [o.name for o in origins.for_read()] == ["mirror", "mirror-2"]
    assert origins.state()["http://m"] == "skipped" and origins.errors() == {"master": 1, "mirror": 0, "mirror-2": 0}
    clock.now += 5
    assert origins.for_read()[0].name == "master"


def test_when_every_origin_failed_all_are_tried_and_writes_always_go_to_the_master():
    origins = Origins.of("http://m", ["http://r"], retry_after=60, clock=Clock())
    for origin in origins.all:
        origins.failed(origin, "down")
    assert [o.name for o in origins.for_read()] == ["master", "mirror"]
    assert origins.for_write() is origins.master


def test_the_background_check_brings_an_origin_back():
    origins = Origins.of("http://m", ["http://r"], retry_after=60, clock=Clock())
    origins.failed(origins.master, "down")

    async def probe(origin):
        return "" if origin.name == "master" else "ConnectionRefusedError"

    async def one_round():
        task = asyncio.create_task(check_forever(origins, probe, 0))
        await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(one_round())
    assert origins.state() == {"http://m": "in use", "http://r": "skipped"}
    assert origins.errors() == {"master": 1, "mirror": 1}  # a still-down origin counts once
