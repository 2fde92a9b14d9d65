"""The steady clock: the wall clock with its steps taken out and given back slowly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.clock import SLEW_RATE, SteadyClock, after_step
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


def test_a_jobs_next_run_keeps_its_wait_across_a_step_within_one_interval() -> None:
    now = START  # read after the step
    # Due in 20 s before a step back of an hour: the scheduler reads it as an hour and 20 s.
    assert after_step(now + HOUR + 20 * SECOND, now, -3600, 60) == now + 20 * SECOND
    # Before a step forward of two hours it was due in 20 s: overdue now, it was not run yet.
    assert after_step(now - 2 * HOUR + 20 * SECOND, now, 7200, 60) == now + 20 * SECOND
    # The scheduler had run it and set the next run from the new time already.
    assert after_step(now + 60 * SECOND, now, 7200, 60) == now + 60 * SECOND
    assert after_step(now - HOUR, now, 5, 60) == now  # never in the past
