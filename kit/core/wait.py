"""Waiting for something to become true, bounded by a deadline: kit's one poll loop.

Every wait kit does (a service answering, the mirror in sync, a process gone,
the edge seeing its origins) is "look, and look again a little later, until it
is so or the time is up". The clock and the sleep are parameters, so a test
drives a wait with a fake clock and never sleeps.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    timeout: float,
    interval: float = 0.1,
    *,
    accept: Callable[[T], object] = bool,
    fail: Callable[[], BaseException] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """Call ``condition()`` every ``interval`` seconds until ``accept`` of what it returns
    (by default: until it returns something truthy), and return that.

    It is called at once, and a last time when ``timeout`` seconds have passed.
    Then, when it is still not accepted: raise ``fail()`` if given (the caller's
    error and message, made at that moment so it can say what was seen last),
    else return the last value. What ``condition`` raises goes to the caller: a
    wait for a process to answer ends at once when the process exits.
    """
    deadline = clock() + timeout
    while True:
        value = condition()
        if accept(value):
            return value
        left = deadline - clock()
        if left <= 0:
            break
        # The last sleep is cut short, so the last look is at the deadline, not past it.
        sleep(min(interval, left))
    if fail is not None:
        raise fail()
    return value
