"""A clock that moves only when a test tells it to (monitor.clock.Clock)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class ManualClock:
    """A clock that moves only when told to; tests jump across a watch window with it.

    :meth:`advance` is time passing (both clocks move); :meth:`step` is someone setting
    the wall clock (only it moves).
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._monotonic = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta
            self._monotonic += delta.total_seconds()

    def step(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta
