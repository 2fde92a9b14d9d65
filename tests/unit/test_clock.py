"""The steady clock: the wall clock with its steps taken out and given back slowly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.clock import SLEW_RATE, SteadyClock
from tests.support.clock import ManualClock

START = datetime(2025, 1, 23, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)


def steady() -> tuple[ManualClock, SteadyClock, list[float]]:
    wall = ManualClock(START)
    steps: list[float] = []
    clock = SteadyClock(wall, lambda step, _wall: steps.append(step))
    assert clock.now() == START
    return wall, clock, steps


def test_time_passing_is_time_and_no_step() -> None:
    wall, clock, steps = steady()
    wall.advance(48 * HOUR)
    assert clock.now() == START + 48 * HOUR
    assert steps == []


def test_a_step_back_is_reported_and_time_goes_on_forward() -> None:
    wall, clock, steps = steady()
    wall.advance(10 * SECOND)
    wall.step(-HOUR)
    after_step = clock.now()
    assert steps == [-3600.0]
    assert after_step >= START + 10 * SECOND * (1 - SLEW_RATE)
    wall.advance(100 * SECOND)
    # Given back at the slew rate: the steady time runs at 90 %, never backwards.
    assert clock.now() - after_step == 100 * SECOND * (1 - SLEW_RATE)


def test_a_transient_step_forward_past_a_window_leaves_seconds_at_most() -> None:
    wall, clock, steps = steady()
    wall.step(49 * HOUR)
    wall.advance(60 * SECOND)
    during = clock.now()
    wall.step(-49 * HOUR)
    wall.advance(SECOND)
    after = clock.now()
    assert len(steps) == 2
    assert during - START <= 60 * SECOND * (1 + SLEW_RATE)
    assert after - START <= 61 * SECOND * (1 + SLEW_RATE)


def test_a_lasting_correction_is_followed_within_hours() -> None:
    wall, clock, _ = steady()
    wall.step(HOUR)
    clock.now()
    for _ in range(11):
        wall.advance(HOUR)
        clock.now()
    assert clock.now() == wall.now()
    assert clock.offset_seconds == 0
