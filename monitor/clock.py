"""Time behind an interface, so a 48-hour watch window can be tested in seconds, and a
wall clock that steps cannot move the daemon's schedule or its window."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

# Between two readings the wall clock moves as the monotonic clock does, give or take
# what NTP slews; further apart than this, it was stepped.
STEP_TOLERANCE_SECONDS = 1.0
# A step taken out is given back at this rate: the steady time runs at most 10 %
# faster or slower than the monotonic clock until it meets the wall clock again.
SLEW_RATE = 0.1


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never steps (only differences mean anything)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class SteadyClock:
    """The wall clock with its steps taken out: the time the daemon's window runs on.

    Each reading compares how far the wall clock moved with how far the
    monotonic clock did. A difference over STEP_TOLERANCE_SECONDS (a `date -s`,
    a VM resumed, NTP stepping a clock that was far off) is a step: passed to
    `on_step`, and not counted. It is given back gradually (SLEW_RATE), so a
    wall clock that was wrong and got corrected is followed within hours while
    a transient step leaves a few seconds at most: elapsed time never jumps.
    """

    def __init__(
        self, wall: Clock, on_step: Callable[[float, datetime], None] = lambda _s, _w: None
    ) -> None:
        self._wall = wall
        self._on_step = on_step
        self._lock = threading.Lock()
        self._last: tuple[datetime, float] | None = None
        self._offset = 0.0  # seconds added to the wall clock: the steps not given back yet

    def monotonic(self) -> float:
        return self._wall.monotonic()

    @property
    def offset_seconds(self) -> float:
        return self._offset

    def now(self) -> datetime:
        with self._lock:
            wall, monotonic = self._wall.now(), self._wall.monotonic()
            step = 0.0
            if self._last is not None:
                elapsed = max(0.0, monotonic - self._last[1])
                step = (wall - self._last[0]).total_seconds() - elapsed
                if abs(step) > STEP_TOLERANCE_SECONDS:
                    self._offset -= step
                else:
                    step = 0.0
                given_back = min(abs(self._offset), SLEW_RATE * elapsed)
                self._offset -= given_back if self._offset > 0 else -given_back
            self._last = (wall, monotonic)
            steady = wall + timedelta(seconds=self._offset)
        if step:
            self._on_step(step, wall)
        return steady


def after_step(next_run: datetime, now: datetime, step: float, interval: float) -> datetime:
    """A job's next run once the wall clock has stepped `step` seconds: as far off as it was
    before the step, never later than one interval (it may have been moved already)."""
    wait = (next_run - now).total_seconds() + step
    return now + timedelta(seconds=min(max(wait, 0.0), interval))


SYSTEM_CLOCK: Clock = SystemClock()
