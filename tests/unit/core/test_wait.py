"""kit.core.wait.wait_until, kit's one poll loop, driven by a fake clock: no test here sleeps."""

from __future__ import annotations

import pytest

from kit.core.wait import wait_until


class FakeClock:
    """A monotonic clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def looks(values, clock: FakeClock | None = None, seen: list | None = None):
    """A condition returning ``values`` one after the other (the last one for ever after)."""
    values = list(values)

    def look():
        if seen is not None and clock is not None:
            seen.append(clock.now)
        return values.pop(0) if len(values) > 1 else values[0]

    return look


def test_it_returns_the_first_truthy_value_and_stops_looking():
    clock = FakeClock()
    seen: list[float] = []
    result = wait_until(looks([None, 0, "", {"serial": 7}, "never asked"], clock, seen), 10, 0.5,
                        clock=clock, sleep=clock.sleep)
    assert result == {"serial": 7}
    assert len(seen) == 4  # it stopped at the first truthy answer
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_a_true_condition_is_returned_at_once_without_sleeping():
    clock = FakeClock()
    assert wait_until(lambda: "up", 5, 1, clock=clock, sleep=clock.sleep) == "up"
    assert clock.sleeps == []


def test_it_looks_every_interval_and_a_last_time_at_the_deadline():
    clock = FakeClock()
    seen: list[float] = []
    assert wait_until(looks([False], clock, seen), 1.0, 0.25, clock=clock, sleep=clock.sleep) is False
    assert [t - 100.0 for t in seen] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert clock.sleeps == [0.25] * 4


def test_the_last_sleep_is_cut_to_the_deadline():
    clock = FakeClock()
    seen: list[float] = []
    wait_until(looks([0], clock, seen), 1.0, 0.75, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [0.75, 0.25]
    assert seen[-1] - 100.0 == 1.0  # never a look past the deadline


def test_a_timeout_raises_the_callers_error_with_the_callers_message():
    clock = FakeClock()
    with pytest.raises(RuntimeError, match=r"^master did not answer within 3 s; see kit logs master$"):
        wait_until(lambda: None, 3, 1, fail=lambda: RuntimeError("master did not answer within 3 s; see kit logs master"),
                   clock=clock, sleep=clock.sleep)
    assert clock.now - 100.0 == 3


def test_the_callers_error_is_made_at_the_timeout_so_it_can_say_what_was_seen_last():
    clock = FakeClock()
    lags = iter([5, 3, 2, 2, 2, 2])
    last: list[int] = []

    def lag():
        last.append(next(lags))
        return last[-1] == 0

    with pytest.raises(TimeoutError, match="still 2 changes behind"):
        wait_until(lag, 2, 1, fail=lambda: TimeoutError(f"still {last[-1]} changes behind"),
                   clock=clock, sleep=clock.sleep)


def test_accept_decides_and_the_last_value_is_returned_at_the_timeout():
    """The mirror's lag: 0 is what is waited for (falsy), and the last lag seen is what a warning names."""
    clock = FakeClock()
    assert wait_until(looks([4, 2, 0]), 10, 1, accept=lambda lag: lag == 0, clock=clock, sleep=clock.sleep) == 0
    clock = FakeClock()
    assert wait_until(looks([4, 3]), 2, 1, accept=lambda lag: lag == 0, clock=clock, sleep=clock.sleep) == 3


def test_what_the_condition_raises_ends_the_wait_at_once():
    """A server that exits while it is waited for: its error, not a timeout later."""
    clock = FakeClock()

    def exited():
        raise ChildProcessError("devpi exited with code 1 while starting")

    with pytest.raises(ChildProcessError, match="exited with code 1"):
        wait_until(exited, 60, 0.05, fail=lambda: TimeoutError("no answer"), clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []
