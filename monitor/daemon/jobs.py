"""The checks' jobs: APScheduler fires each target's drift and stats runs.

Runs never overlap and are coalesced; they run on a pool of at most
``max_concurrent_checks`` threads (:class:`~monitor.daemon.fleet.WorkerPool`),
the first runs of a fleet spread over the interval (:func:`fleet.first_runs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from apscheduler.events import (
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
)
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.clock import after_step
from monitor.daemon import config as config_module
from monitor.daemon import events as log_module
from monitor.daemon import fleet
from monitor.daemon.target import TargetRunner


class Jobs:
    """The scheduler of the runners' checks, with the pool their runs take a thread from."""

    def __init__(self, max_concurrent_checks: int, events: log_module.Events) -> None:
        self._events = events
        self._pool = fleet.WorkerPool(max_concurrent_checks)
        self._scheduler = BackgroundScheduler(
            executors={"default": fleet.PoolExecutor(self._pool)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=UTC,
        )
        self._scheduler.add_listener(
            self.on_job_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_EXECUTED
        )

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        """No new runs; the running ones end on their own (their runners are stopped)."""
        self._scheduler.shutdown(wait=False)
        self._pool.shutdown()

    def schedule(self, runners: Mapping[str, TargetRunner], config: config_module.Config) -> None:
        """Jobs for new and replaced runners, their first runs spread (:func:`fleet.first_runs`);
        a runner a reload kept keeps its jobs and their times."""
        for job in self._scheduler.get_jobs():  # a job runs a bound method of its runner
            if runners.get(job.id.rpartition(":")[0]) is not job.func.__self__:
                job.remove()
        scheduled = {job.id for job in self._scheduler.get_jobs()}
        new = [r for r in runners.values() if f"{r.name}:drift" not in scheduled]
        intervals = config.intervals
        offsets = fleet.first_runs(
            [r.name for r in new],
            min(intervals.drift, intervals.stats),
            config.max_concurrent_checks,
        )
        now = datetime.now(UTC)
        for runner in new:
            first = offsets[runner.name]
            for check, interval, job, offset in (
                ("drift", intervals.drift, runner.run_drift, first.drift),
                ("stats", intervals.stats, runner.run_stats, first.stats),
            ):
                self._scheduler.add_job(
                    job,
                    IntervalTrigger(seconds=interval, timezone=UTC),
                    id=f"{runner.name}:{check}",
                    next_run_time=now + timedelta(seconds=offset),
                    misfire_grace_time=max(1, int(interval)),
                )

    def on_job_event(self, event: JobEvent) -> None:
        """A misfire is logged once per target and check, until the check runs again."""
        target, _, check = event.job_id.rpartition(":")
        if event.code == EVENT_JOB_EXECUTED:
            self._events.rearm(target, f"misfire:{check}")
            return
        reason = (
            "missed its start time"
            if event.code == EVENT_JOB_MISSED
            else "previous run still going"
        )
        self._events.once(target, f"misfire:{check}", "check_misfired", check=check, reason=reason)

    def follow_step(self, step: float) -> None:
        """APScheduler keeps to the wall clock: after a step back of an hour it would wait the
        hour out. Each job's next run moves with the step, its spread across the fleet kept."""
        now = datetime.now(UTC)
        for job in self._scheduler.get_jobs():
            if job.next_run_time is not None:
                interval = job.trigger.interval.total_seconds()
                job.modify(next_run_time=after_step(job.next_run_time, now, step, interval))
