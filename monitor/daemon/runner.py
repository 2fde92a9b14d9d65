"""`schema-monitor run`: scheduled drift and statistics checks behind /metrics.

One :class:`TargetRunner` per watched database owns its single session and
runs both checks on it, one at a time. APScheduler fires the runs (never
overlapping, coalesced, each with a time budget shorter than its interval,
enforced by cancelling the query); results are swapped into the
:class:`~monitor.daemon.results.ResultsStore` that the web server renders.

Failure is a state, not an exit: an unreachable database sets ``up`` to 0,
logs once, and is retried with exponential backoff and jitter, never with a
second session.
"""

from __future__ import annotations

import contextlib
import gc
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from apscheduler.events import (
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
)
from apscheduler.executors.base import BaseExecutor, run_job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor import __version__
from monitor.clock import SYSTEM_CLOCK, Clock
from monitor.daemon import config as config_module
from monitor.daemon import events as log_module
from monitor.daemon import metrics
from monitor.daemon.results import (
    CheckResult,
    DriftResult,
    Health,
    IndexUsage,
    Results,
    ResultsStore,
    TableUsage,
    TargetResults,
    UsageResult,
    expected_objects,
    without_building,
)
from monitor.daemon.web import WebServer
from monitor.errors import ConnectionFailed, ExitCode, MonitorError
from monitor.postgres import catalog, db, stats
from monitor.schema import diff
from monitor.schema.model import DEFAULT_LEDGER_TABLE, Finding, Severity, State
from monitor.window import report as report_module
from monitor.window import watch

# SIGTERM must end the process within 5 s; this leaves room for closing up.
_STOP_GRACE_SECONDS = 3.0
_SIGNAL_POLL_SECONDS = 0.25
_WATCH_SAVE_SECONDS = 300.0
_FAILING = frozenset({Severity.CRITICAL, Severity.WARNING})


class _NotYet(Exception):
    """The session is down and the backoff delay has not passed: no attempt this run."""


class _DaemonThreadExecutor(BaseExecutor):  # type: ignore[misc]
    """Runs each job in a daemon thread, so a run stuck in a connect never holds up exit."""

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def work() -> None:
            try:
                events = run_job(job, job._jobstore_alias, run_times, self._logger.name)
            except BaseException as exc:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, events)

        threading.Thread(target=work, name=f"check-{job.id}", daemon=True).start()


@dataclass(frozen=True, slots=True)
class _Drift:
    """What the last full drift check found, kept to answer quiet cycles."""

    fingerprint: str
    findings: tuple[Finding, ...]  # before removing indexes being built
    result: DriftResult
    at: float  # time.monotonic() of the full check


class TargetRunner:
    """Checks one target on one session; both checks take turns on it."""

    def __init__(
        self,
        target: config_module.Target,
        expected: State,
        config: config_module.Config,
        store: ResultsStore,
        events: log_module.Events,
        clock: Clock,
        on_window_end: Callable[[str], None] = lambda _name: None,
    ) -> None:
        self.target = target
        self.config = config
        self._use_spec(expected)
        self._store = store
        self._events = events
        self._clock = clock
        self._on_window_end = on_window_end
        self._lock = threading.Lock()  # one statement at a time on the one session
        self._conn: psycopg.Connection[Any] | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._cancelled = False
        self._stopping = False
        self._files = watch.StateFiles(config.state_dir, target.name)
        self._watch_saved_at = time.monotonic()
        self._watch = self._load_watch()
        self._history = self._load(self._files.load_history, watch.History())
        log_module.register_dsn(target.dsn)

    # -- configuration ------------------------------------------------------

    @property
    def name(self) -> str:
        return self.target.name

    def can_keep(self, target: config_module.Target, config: config_module.Config) -> bool:
        """Whether a reload can keep this runner, its session and its window as they are."""
        return (
            target.dsn == self.target.dsn
            and config.timeouts == self.config.timeouts
            and config.state_dir == self.config.state_dir
            and config.watch_window == self.config.watch_window
        )

    def reconfigure(
        self, target: config_module.Target, expected: State, config: config_module.Config
    ) -> None:
        with self._lock:
            self.target, self.config = target, config
            self._use_spec(expected)

    @property
    def _ledger_table(self) -> str:
        ledger = self.expected.ledger
        return ledger.table if ledger is not None else DEFAULT_LEDGER_TABLE

    def _use_spec(self, expected: State) -> None:
        self.expected = expected
        self._last_drift: _Drift | None = None  # a new spec needs a full check
        # (schema, name) of the spec's tables and indexes: their series are always shown.
        self._spec_tables = frozenset(
            (schema.name, table.name) for schema in expected.schemas for table in schema.tables
        )
        self._spec_indexes = frozenset(
            (schema.name, index.name)
            for schema in expected.schemas
            for table in schema.tables
            for index in table.indexes or ()
        )

    # -- persisted state ----------------------------------------------------

    def _load(self, load: Callable[[], Any], fresh: Any) -> Any:
        """An unreadable state file is reported, not fatal: the daemon must keep watching."""
        try:
            return load()
        except MonitorError as exc:
            self._events.once(self.name, "state", "state_file_unreadable", error=str(exc))
            return fresh

    def _load_watch(self) -> watch.WatchState:
        configured = self.config.watch_window.start
        state: watch.WatchState | None = self._load(self._files.load_watch, None)
        if state is None or (configured is not None and state.start != configured):
            state = watch.begin(configured or self._clock.now())
            self._save(self._files.save_watch, state)
            self._watch_saved_at = time.monotonic()
            log_module.get_logger().info(
                "watch_window_started", target=self.name, start=state.start.isoformat()
            )
        return state

    def _save_watch(self, *, now: bool) -> None:
        """Persist the window's state: at once when it changed shape, else now and then.

        Counters saved late lose nothing: the next start adds everything since the
        saved raw values. Saving every cycle would rewrite thousands of entries for nothing.
        """
        if now or time.monotonic() - self._watch_saved_at >= _WATCH_SAVE_SECONDS:
            self._save(self._files.save_watch, self._watch)
            self._watch_saved_at = time.monotonic()

    def _save(self, save: Callable[[Any], None], value: Any) -> None:
        try:
            save(value)
        except MonitorError as exc:
            self._events.once(self.name, "state-write", "state_write_failed", error=str(exc))
        else:
            self._events.rearm(self.name, "state-write")

    # -- the session ----------------------------------------------------------

    def _session(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        self._drop_session()
        wait = self._retry_at - time.monotonic()
        if wait > 0:
            raise _NotYet(f"database unreachable; next attempt in {wait:.1f}s")
        timeouts = self.config.timeouts
        try:
            self._conn = db.connect(
                self.target.dsn,
                lock_timeout_ms=int(timeouts.lock * 1000),
                statement_timeout_ms=int(timeouts.statement * 1000),
                connect_timeout_s=max(1, round(timeouts.connect)),
            )
        except ConnectionFailed:
            self._back_off()
            raise
        return self._conn

    def _back_off(self) -> None:
        """Exponential backoff with jitter, so a fleet of monitors does not reconnect in step."""
        self._failures += 1
        reconnect = self.config.reconnect
        delay = min(reconnect.max_delay, reconnect.initial_delay * 2 ** (self._failures - 1))
        self._retry_at = time.monotonic() + random.uniform(delay / 2, delay)

    def _drop_session(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def _cancel(self) -> None:
        """Cancel the statement in flight (a cancel request, not a second session)."""
        conn = self._conn
        if conn is None or conn.closed:
            return
        self._cancelled = True
        with contextlib.suppress(psycopg.Error):
            conn.cancel_safe(timeout=2.0)

    def stop(self) -> None:
        """Refuse new runs and cancel the current one; the session closes when it ends."""
        self._stopping = True
        self._cancel()

    def close(self, timeout: float = _STOP_GRACE_SECONDS) -> None:
        acquired = self._lock.acquire(timeout=timeout)
        try:
            self._drop_session()
            self._save_watch(now=True)
        finally:
            if acquired:
                self._lock.release()

    # -- running a check ------------------------------------------------------

    def run_drift(self) -> None:
        self._run("drift", self._drift)

    def run_stats(self) -> None:
        self._run("stats", self._stats)

    def _run(
        self,
        check: str,
        body: Callable[[psycopg.Connection[Any]], Callable[[TargetResults], TargetResults]],
    ) -> None:
        """Run one check; never raises: every failure becomes results, metrics and one event."""
        budget = self.config.run_budget(check)
        if not self._lock.acquire(timeout=budget):
            self._events.once(
                self.name,
                f"busy:{check}",
                "check_skipped",
                check=check,
                reason="the other check held the session for a whole run budget",
            )
            return
        try:
            self._events.rearm(self.name, f"busy:{check}")
            if not self._stopping:
                self._run_locked(check, body, budget)
            self._check_window()
        finally:
            self._lock.release()

    def _run_locked(
        self,
        check: str,
        body: Callable[[psycopg.Connection[Any]], Callable[[TargetResults], TargetResults]],
        budget: float,
    ) -> None:
        started = time.perf_counter()
        try:
            conn = self._session()
        except (ConnectionFailed, _NotYet) as exc:
            self._unreachable(check, str(exc), started)
            return
        self._failures, self._retry_at = 0, 0.0
        self._cancelled = False
        timer = threading.Timer(budget, self._cancel)
        timer.daemon = True
        timer.start()
        try:
            change = body(conn)
        except Exception as exc:  # a daemon reports failures, it does not die of them
            if self._stopping:
                return  # cancelled by stop(): not a failure of the database
            if isinstance(exc, ConnectionFailed) or conn.broken or conn.closed:
                self._drop_session()
                self._back_off()
                self._unreachable(check, _message(exc), started)
            else:
                reason = _message(exc)
                if self._cancelled:
                    reason = (
                        f"run exceeded its time budget of {budget:g}s and was cancelled: {reason}"
                    )
                self._failed(check, reason, started)
            return
        finally:
            timer.cancel()
        duration = time.perf_counter() - started
        now = self._clock.now()
        self._events.reachability(self.name, True)
        self._events.check_outcome(self.name, check, True)
        self._store.update_target(
            self.name,
            lambda t: _with_check(
                change(replace(t, up=True)), check, lambda c: c.succeeded(duration, now)
            ),
        )

    def _unreachable(self, check: str, error: str, started: float) -> None:
        duration = time.perf_counter() - started
        self._events.reachability(self.name, False, error)
        self._count_failure()
        self._store.update_target(
            self.name,
            lambda t: _with_check(replace(t, up=False), check, lambda c: c.failed(duration, error)),
        )

    def _failed(self, check: str, error: str, started: float) -> None:
        duration = time.perf_counter() - started
        self._events.reachability(self.name, True)
        self._events.check_outcome(self.name, check, False, error)
        self._count_failure()
        self._store.update_target(
            self.name,
            lambda t: _with_check(replace(t, up=True), check, lambda c: c.failed(duration, error)),
        )

    def _count_failure(self) -> None:
        self._watch = replace(self._watch, failed_checks=self._watch.failed_checks + 1)
        self._save_watch(now=False)

    # -- the drift check ------------------------------------------------------

    def _drift(self, conn: psycopg.Connection[Any]) -> Callable[[TargetResults], TargetResults]:
        schemas = [s.name for s in self.expected.schemas]
        probe = stats.probe(conn, schemas, self._ledger_table)
        now = self._clock.now()
        last = self._last_drift
        quiet = (
            last is not None
            and last.fingerprint == probe.fingerprint
            and not last.result.skipped
            and time.monotonic() - last.at < self.config.intervals.full_drift
        )
        if quiet and last is not None:
            raw, result = last.findings, replace(last.result, checked_at=now, full=False)
        else:
            snap = catalog.snapshot(conn, schemas, self._ledger_table)
            raw = diff.diff(self.expected, snap.state, skipped=snap.skipped)
            previous = last.result.expected if last is not None else ()
            result = DriftResult(
                findings=(),
                expected=expected_objects(
                    self.expected,
                    snap.state,
                    snap.skipped,
                    previous,
                    cap=self.config.limits.present_objects,
                ),
                skipped=snap.skipped,
                ledger=snap.state.ledger.applied if snap.state.ledger is not None else None,
                building=(),
                checked_at=now,
                full=True,
            )
            self._last_drift = _Drift(probe.fingerprint, raw, result, time.monotonic())
            del snap
            # A snapshot is a whole catalog's worth of objects, now garbage; a full
            # collection also empties the allocator's free lists, handing the memory
            # back before the next cycle instead of keeping the peak for good.
            gc.collect()
        findings = without_building(raw, probe.building)
        result = replace(result, findings=findings, building=probe.building)
        self._events.findings(self.name, findings)
        self._record_drift(result)
        return lambda t: replace(t, drift=result)

    def _record_drift(self, result: DriftResult) -> None:
        history = watch.record(self._history, result.findings, result.checked_at)
        if history != self._history:
            self._history = history
            self._save(self._files.save_history, history)
        evidence = watch.Evidence(
            checked_at=result.checked_at,
            findings=result.findings,
            ledger=result.ledger,
            skipped=result.skipped,
            building=result.building,
        )
        self._save(self._files.save_evidence, evidence)

    # -- the statistics check ---------------------------------------------------

    def _stats(self, conn: psycopg.Connection[Any]) -> Callable[[TargetResults], TargetResults]:
        sample = stats.sample(conn, [s.name for s in self.expected.schemas])
        state, reset = watch.observe(self._watch, sample)
        reshaped = reset or state.samples == 1 or state.indexes.keys() != self._watch.indexes.keys()
        self._watch = state
        self._save_watch(now=reshaped)
        if reset:
            log_module.get_logger().info(
                "stats_reset_detected",
                target=self.name,
                datname=sample.database.datname,
                stats_reset=str(sample.database.stats_reset),
            )
        usage = self._usage(sample, state)
        return lambda t: replace(t, usage=usage)

    def _usage(self, sample: stats.Sample, state: watch.WatchState) -> UsageResult:
        limits = self.config.limits
        chosen = stats.select_indexes(
            sample.indexes,
            self._spec_indexes,
            watched_cap=limits.spec_relations,
            others_cap=limits.other_indexes,
        )
        spec_tables = self._spec_tables
        shown_tables = {(i.schemaname, i.relname) for i in chosen}
        mine = [t for t in sample.tables if (t.schemaname, t.relname) in spec_tables]
        tables = mine[: limits.spec_relations] + [
            t
            for t in sample.tables
            if (t.schemaname, t.relname) in shown_tables
            and (t.schemaname, t.relname) not in spec_tables
        ]
        database = sample.database
        return UsageResult(
            datname=database.datname,
            stats_reset=database.stats_reset,
            indexes=tuple(
                IndexUsage(
                    schemaname=i.schemaname,
                    relname=i.relname,
                    indexrelname=i.indexrelname,
                    scans=i.scans,
                    size_bytes=i.size_bytes,
                    valid=i.valid,
                    building=i.building,
                    scans_since_watch_start=watch.scans_since_start(
                        state, i.schemaname, i.indexrelname
                    ),
                )
                for i in chosen
            ),
            tables=tuple(
                TableUsage(t.schemaname, t.relname, t.seq_scans, t.index_scans) for t in tables
            ),
            health=Health(
                connections=database.connections,
                lock_waiting_sessions=database.lock_waiting_sessions,
                longest_transaction_seconds=database.longest_transaction_seconds,
                deadlocks_since_watch_start=state.deadlocks.since,
                rollbacks_since_watch_start=state.rollbacks.since,
            ),
            sampled_at=self._clock.now(),
        )

    # -- the watch window -------------------------------------------------------

    def _check_window(self) -> None:
        """Publish the window's status; when it has just ended, write the report once."""
        now = self._clock.now()
        window = watch.status(self._watch, self.config.watch_window.duration, now)
        self._store.update_target(self.name, lambda t: replace(t, window=window))
        if now < window.end or self._watch.ended is not None:
            return
        built = report_module.build(
            self.name,
            self.expected,
            self._watch,
            self._history,
            self._load(self._files.load_evidence, None),
            duration_seconds=self.config.watch_window.duration,
            new_indexes_since=self.config.watch_window.new_indexes_since,
            now=now,
        )
        try:
            report_module.write_files(self._files, built)
        except MonitorError as exc:
            self._events.once(self.name, "state-write", "state_write_failed", error=str(exc))
            return
        self._watch = replace(self._watch, ended=now)
        self._save_watch(now=True)
        log_module.get_logger().info(
            "watch_window_ended",
            target=self.name,
            passed=built.passed,
            verdicts={c.title: c.verdict for c in built.criteria},
            report_markdown=str(self._files.report_markdown),
            report_json=str(self._files.report_json),
        )
        self._on_window_end(self.name)

    @property
    def window_ended(self) -> bool:
        return self._watch.ended is not None


def _with_check(
    target: TargetResults, check: str, change: Callable[[CheckResult], CheckResult]
) -> TargetResults:
    if check == "drift":
        return replace(target, drift_check=change(target.drift_check))
    return replace(target, stats_check=change(target.stats_check))


def _message(exc: BaseException) -> str:
    if isinstance(exc, psycopg.Error):
        return exc.diag.message_primary or str(exc).strip().splitlines()[0]
    return str(exc) or type(exc).__name__


# --- the daemon ----------------------------------------------------------------------------


class Daemon:
    """Targets, scheduler and web server; reloads on request, stops on request."""

    def __init__(
        self,
        config: config_module.Config,
        specs: dict[str, State],
        *,
        listen_address: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.config = config
        self._clock = clock
        self._log = log_module.get_logger()
        self._events = log_module.Events(self._log)
        self.store = ResultsStore(
            Results(version=__version__, config_last_reload_success=clock.now())
        )
        self._runners: dict[str, TargetRunner] = {}
        self._install(config, specs)
        self._listen_address = listen_address or config.web.listen_address
        self._scheduler = BackgroundScheduler(
            executors={"default": _DaemonThreadExecutor()},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=UTC,
        )
        self._scheduler.add_listener(
            self._on_job_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_EXECUTED
        )
        self._web: WebServer | None = None
        self._wake = threading.Event()
        self._stop_requested = False
        self._reload_requested = False
        self._exit_code: int = ExitCode.OK

    @property
    def runners(self) -> dict[str, TargetRunner]:
        return dict(self._runners)

    @property
    def url(self) -> str | None:
        return self._web.url if self._web is not None else None

    def _install(self, config: config_module.Config, specs: dict[str, State]) -> None:
        """Make the runners match `config`, keeping the sessions that can be kept."""
        runners: dict[str, TargetRunner] = {}
        for target in config.targets:
            old = self._runners.get(target.name)
            if old is not None and old.can_keep(target, config):
                old.reconfigure(target, specs[target.name], config)
                runners[target.name] = old
                continue
            if old is not None:
                old.stop()
                old.close()
            runners[target.name] = TargetRunner(
                target,
                specs[target.name],
                config,
                self.store,
                self._events,
                self._clock,
                self._window_ended,
            )
        for name, old in self._runners.items():
            if name not in runners:
                old.stop()
                old.close()
                self._events.forget(name)
        self._runners = runners
        self.config = config

        def keep(results: Results) -> Results:
            current = {t.name: t for t in results.targets}
            return replace(
                results,
                targets=tuple(current.get(n, TargetResults(name=n)) for n in runners),
            )

        self.store.update(keep)

    def _schedule(self) -> None:
        self._scheduler.remove_all_jobs()
        now = datetime.now(UTC)
        for runner in self._runners.values():
            for check, interval, job in (
                ("drift", self.config.intervals.drift, runner.run_drift),
                ("stats", self.config.intervals.stats, runner.run_stats),
            ):
                self._scheduler.add_job(
                    job,
                    IntervalTrigger(seconds=interval, timezone=UTC),
                    id=f"{runner.name}:{check}",
                    next_run_time=now,
                    misfire_grace_time=max(1, int(interval)),
                )

    def _on_job_event(self, event: JobEvent) -> None:
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

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        self._web = WebServer(
            self._listen_address,
            metrics.registry(self.store.latest),
            lambda: self.store.latest().ready,
            self.config.web.tls,
        )
        self._web.start()
        self._schedule()
        self._scheduler.start()
        self._log.info(
            "daemon_started",
            version=__version__,
            url=f"{self._web.url}/metrics",
            targets=[
                {"name": r.name, "dsn": db.redact(r.target.dsn), "source": r.target.dsn_source}
                for r in self._runners.values()
            ],
        )

    def request_stop(self, exit_code: int = ExitCode.OK, *, from_signal: bool = False) -> None:
        """Ask :meth:`serve` to stop. A signal handler only sets the flag (taking a lock
        there could deadlock with the interrupted main thread); serve() polls for it."""
        self._exit_code = exit_code
        self._stop_requested = True
        if not from_signal:
            self._wake.set()

    def request_reload(self, *, from_signal: bool = False) -> None:
        self._reload_requested = True
        if not from_signal:
            self._wake.set()

    def serve(self) -> int:
        """Wait for stop or reload requests until stopped; returns the exit code."""
        while not self._stop_requested:
            self._wake.wait(_SIGNAL_POLL_SECONDS)
            self._wake.clear()
            if self._reload_requested and not self._stop_requested:
                self._reload_requested = False
                self.reload()
        self.stop()
        return self._exit_code

    def reload(self) -> bool:
        """Re-read the config and specs; a bad one keeps the running one and says why."""
        try:
            config = config_module.load(self.config.path)
            specs = config_module.load_specs(config)
        except MonitorError as exc:
            self._log.error("config_reload_failed", error=str(exc))
            self.store.update(lambda r: replace(r, config_reload_success=False))
            return False
        if config.web != self.config.web:
            self._log.warning(
                "config_reload_partial", reason="web settings take effect at the next restart"
            )
        self._install(config, specs)
        self._schedule()
        now = self._clock.now()
        self.store.update(
            lambda r: replace(r, config_reload_success=True, config_last_reload_success=now)
        )
        self._log.info("config_reloaded", targets=[t.name for t in config.targets])
        return True

    def stop(self) -> None:
        for runner in self._runners.values():
            runner.stop()
        self._scheduler.shutdown(wait=False)
        deadline = time.monotonic() + _STOP_GRACE_SECONDS
        for runner in self._runners.values():
            runner.close(timeout=max(0.0, deadline - time.monotonic()))
        if self._web is not None:
            self._web.stop()
        self._log.info("daemon_stopped")

    def _window_ended(self, _target: str) -> None:
        if self.config.watch_window.after == "exit" and all(
            r.window_ended for r in self._runners.values()
        ):
            self.request_stop(ExitCode.OK)

    def run_once(self) -> int:
        """One drift and one stats run per target: 0 clean, 1 drift, 2 a check failed."""
        try:
            for runner in self._runners.values():
                runner.run_drift()
                runner.run_stats()
        finally:
            for runner in self._runners.values():
                runner.close()
        targets = self.store.latest().targets
        if not all(t.up and t.drift_check.ok and t.stats_check.ok for t in targets):
            return ExitCode.ERROR
        drifting = any(
            f.severity in _FAILING for t in targets if t.drift is not None for f in t.drift.findings
        )
        return ExitCode.DRIFT if drifting else ExitCode.OK


def load(config_path: Path) -> tuple[config_module.Config, dict[str, State]]:
    """The config and every target's spec, all problems of both reported at once."""
    config = config_module.load(config_path)
    return config, config_module.load_specs(config)


def run(
    config_path: Path,
    listen_address: str | None,
    validate_only: bool,
    once: bool,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> int:
    """`schema-monitor run`. Errors in the config or specs raise InputError (exit 2)."""
    config, specs = load(config_path)
    if listen_address is not None and config_module.parse_listen_address(listen_address) is None:
        raise MonitorError(f"--web.listen-address: {listen_address!r} is not HOST:PORT")
    if validate_only:
        print(f"{config_path}: ok ({len(config.targets)} targets)")
        return ExitCode.OK
    log_module.configure(config.log_format)
    _prepare_state_dir(config.state_dir)
    daemon = Daemon(config, specs, listen_address=listen_address, clock=clock)
    if once:
        return daemon.run_once()
    _install_signal_handlers(daemon)  # before start: a SIGHUP must never kill the process
    daemon.start()
    return daemon.serve()


def _prepare_state_dir(state_dir: Path) -> None:
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        probe = state_dir / ".writable"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise MonitorError(f"state_dir {state_dir} is not writable: {exc.strerror}") from None


def _install_signal_handlers(daemon: Daemon) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # embedded in a test or another program: it calls request_stop/reload itself
    signal.signal(signal.SIGTERM, lambda _s, _f: daemon.request_stop(from_signal=True))
    signal.signal(signal.SIGINT, lambda _s, _f: daemon.request_stop(from_signal=True))
    signal.signal(signal.SIGHUP, lambda _s, _f: daemon.request_reload(from_signal=True))
