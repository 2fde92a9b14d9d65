"""Many targets in one daemon, and one fleet over many daemons. Pure, but for the worker pool.

- :class:`Shard`: ``--shard I/N`` (0-based, as StatefulSet pod ordinals are) keeps the
  targets that rendezvous hashing of their name gives to replica I of N. Every
  replica computes the same answer from the name alone, so N replicas watch each
  target exactly once with no coordination; when N changes, only the targets
  that move to or from the new replica change hands (about 1/N of them).
- :func:`first_runs`: when a target's first runs fire, so that a fleet's first
  interval is spread out instead of every check starting at once.
- :class:`WorkerPool`: at most ``max_concurrent_checks`` checks run at a time.
- :class:`Heap`: short full garbage collections, whatever the fleet's size.
"""

from __future__ import annotations

import gc
import hashlib
import queue
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from apscheduler.executors.base import BaseExecutor, run_job

# Checks mostly wait for the database (a first drift check of the examples: 0.25 s, of
# which 0.04 s of CPU): 8 at a time start 500 targets well within a minute on 2 cores.
DEFAULT_MAX_CONCURRENT_CHECKS = 8
# First runs are spread over this share of the interval; the rest is room for the
# checks that queue behind a busy worker, so every target is up within one interval.
SPREAD_SHARE = 0.5
# "I/N", or "NAME-I/N": a StatefulSet pod's name ends in its ordinal (schema-monitor-2/3).
_SHARD = re.compile(r"(?:[A-Za-z0-9.-]*-)?(\d{1,6})/(\d{1,6})")


@dataclass(frozen=True, slots=True)
class Shard:
    """Replica `index` (0-based) of `count`."""

    index: int
    count: int

    def owns(self, target: str) -> bool:
        return owner(target, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard | None:
    """``"I/N"`` (or a pod name ending in ``-I``, ``/N``) with 0 <= I < N; None when not."""
    match = _SHARD.fullmatch(text.strip())
    if match is None:
        return None
    index, count = int(match[1]), int(match[2])
    return Shard(index, count) if 0 <= index < count else None


def owner(target: str, count: int) -> int:
    """The replica (0 .. count-1) that watches `target`: rendezvous hashing with blake2b,
    the same on every machine and Python (hash() is salted per process)."""

    def weight(replica: int) -> bytes:
        return hashlib.blake2b(f"{replica}/{target}".encode(), digest_size=8).digest()

    return max(range(count), key=weight)


@dataclass(frozen=True, slots=True)
class FirstRun:
    drift: float  # seconds after the schedule starts
    stats: float


def first_runs(names: Sequence[str], interval: float, concurrency: int) -> dict[str, FirstRun]:
    """Offsets of each new target's first runs.

    Up to `concurrency` targets start at once (all of them, for a small fleet);
    a larger fleet starts in batches of `concurrency`, evenly spaced over
    :data:`SPREAD_SHARE` of the interval, each target's drift run half a batch
    after its stats run, so the two do not queue for the one session and the
    quick one (a few statistics views) says the target is up first.
    """
    if len(names) <= concurrency:
        return {name: FirstRun(0.0, 0.0) for name in names}
    batches = -(-len(names) // concurrency)
    slot = interval * SPREAD_SHARE / batches
    return {
        name: FirstRun(drift=(i // concurrency + 0.5) * slot, stats=(i // concurrency) * slot)
        for i, name in enumerate(names)
    }


class WorkerPool:
    """`size` daemon threads running submitted work in order: a run stuck in a connect
    never holds up the exit, and a fleet never runs more than `size` checks at once."""

    def __init__(self, size: int) -> None:
        self._work: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"check-worker-{i}", daemon=True)
            for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, work: Callable[[], None]) -> None:
        self._work.put(work)

    def shutdown(self) -> None:
        for _ in self._threads:
            self._work.put(None)

    def _serve(self) -> None:
        while (work := self._work.get()) is not None:
            work()


class PoolExecutor(BaseExecutor):  # type: ignore[misc]
    """Hands each run to the worker pool: a fleet runs a few checks at a time, never all."""

    def __init__(self, pool: WorkerPool) -> None:
        super().__init__()
        self._pool = pool

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def work() -> None:
            try:
                events = run_job(job, job._jobstore_alias, run_times, self._logger.name)
            except BaseException as exc:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, events)

        self._pool.submit(work)


class FileWatch:
    """Says whether a file was written, replaced, created or removed since last asked."""

    def __init__(self, path: Path | None) -> None:
        self._seen = file_signature(path)

    def changed(self, path: Path | None) -> bool:
        seen, self._seen = self._seen, file_signature(path)
        return seen != self._seen


def file_signature(path: Path | None) -> tuple[int, int, int] | None:
    """What changes when a file is written or replaced; None when there is none."""
    if path is None:
        return None
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size, status.st_ino


class Heap:
    """Keeps the garbage collector's full passes short in a process holding a fleet's results.

    A full collection walks every tracked object holding the GIL: with 500 targets'
    results that is a few hundred milliseconds, often enough to show in the
    scrapes' p99. Every :data:`FREEZE_SECONDS` the objects alive are moved out of
    the collector's sight (``gc.freeze``; acyclic garbage is still freed by
    reference counting, which is all the results are); every :data:`THAW_SECONDS`
    they come back for one full pass, so that cycles among them are not kept.
    """

    FREEZE_SECONDS = 10.0  # O(1): as often as the first interval's many new results need
    THAW_SECONDS = 3600.0

    def __init__(self, now: float) -> None:
        self._frozen_at = self._thawed_at = now

    def tick(self, now: float) -> None:
        if now - self._thawed_at >= self.THAW_SECONDS:
            gc.unfreeze()
            gc.collect()
            self._frozen_at = self._thawed_at = now
        elif now - self._frozen_at >= self.FREEZE_SECONDS:
            gc.freeze()
            self._frozen_at = now
