"""One watched database: its drift and stats checks, run one at a time on its one session.

A :class:`TargetRunner` is handed the target, its spec and the config; the daemon
(:mod:`monitor.daemon.runner`) schedules its runs, reconfigures it on a reload and
stops it. Each run has a time budget shorter than its interval, enforced by
cancelling the query; its outcome is swapped into the
:class:`~monitor.daemon.results.ResultsStore` that the web server renders.

Failure is a state, not an exit: an unreachable database sets ``up`` to 0,
logs once, and is retried with exponential backoff and jitter, never with a
second session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import psycopg

from monitor.clock import Clock
from monitor.daemon import config as config_module
from monitor.daemon import events as log_module
from monitor.daemon.drift import DriftCheck
from monitor.daemon.evidence import EvidenceKeeper
from monitor.daemon.results import CheckResult, ResultsStore, TargetResults
from monitor.daemon.session import NotYet, RunWatch, Session
from monitor.daemon.usage import SpecRelations, usage_result
from monitor.daemon.window_state import WindowKeeper
from monitor.errors import ConnectionFailed
from monitor.postgres import catalog_limits, stats
from monitor.schema.advisors import Settings as AdvisorSettings
from monitor.schema.model import State
from monitor.window.report import index_activity

# SIGTERM must end the process within 5 s; this leaves room for closing up.
STOP_GRACE_SECONDS = 3.0

Change = Callable[[TargetResults], TargetResults]


class TargetRunner:
    """Runs the drift and stats checks of one target, one at a time, on its one session.

    The pieces: :class:`~monitor.daemon.session.Session` (connection, backoff),
    :class:`~monitor.daemon.drift.DriftCheck` (fingerprint shortcut),
    :class:`~monitor.daemon.window_state.WindowKeeper` (window, history, files).
    This class times runs, turns their outcome into results and events, and
    lets the watchdog fail a run that overstays.
    """

    def __init__(
        self,
        target: config_module.Target,
        expected: State,
        config: config_module.Config,
        store: ResultsStore,
        events: log_module.Events,
        clock: Clock,
        on_window_end: Callable[[str], None] = lambda _name: None,
        *,
        keep_state: bool = True,
    ) -> None:
        self.target = target
        self.config = config
        self._store = store
        self._events = events
        self._clock = clock
        self._on_window_end = on_window_end
        self._lock = threading.Lock()  # one statement at a time on the one session
        self._stopping = False
        self._watch = RunWatch()  # the run in progress, for the watchdog
        self._use_spec(expected)
        self.session = Session(target, config, time.monotonic)
        self.window = WindowKeeper(
            target.name, config, events, clock.now(), self._publish, keep_state=keep_state
        )
        self._evidence = self._evidence_keeper()
        log_module.register_dsn(target.dsn)

    # -- configuration ------------------------------------------------------

    @property
    def name(self) -> str:
        return self.target.name

    def can_keep(self, target: config_module.Target, config: config_module.Config) -> bool:
        """Whether a reload can keep this runner, its session and its window as they are."""
        return (
            target.dsn == self.target.dsn
            and target.dsn_source == self.target.dsn_source
            and config.timeouts == self.config.timeouts
            and config.intervals == self.config.intervals
            and config.reconnect == self.config.reconnect
            and config.state_dir == self.config.state_dir
            and config.watch_window == self.config.watch_window
        )

    def reconfigure(
        self, target: config_module.Target, expected: State, config: config_module.Config
    ) -> None:
        with self._lock:
            same = _drift_settings(config) == _drift_settings(self.config)
            same_evidence = (config.statements, config.limits) == (
                self.config.statements,
                self.config.limits,
            )
            self.target, self.config = target, config
            self.window.config = config
            respec = expected is not self.expected
            if respec or not same:  # else: keep the last answer
                self._use_spec(expected)
            if respec or not same_evidence:
                self._evidence.close()  # the new keeper starts from what this one saved
                self._evidence = self._evidence_keeper()

    def _use_spec(self, expected: State) -> None:
        self.expected = expected
        # A new spec needs a full check: a new DriftCheck has no last answer.
        self._drift_check = DriftCheck(expected, *_drift_settings(self.config))
        self._spec_relations = SpecRelations(expected)

    def _evidence_keeper(self) -> EvidenceKeeper:
        now = self._clock.now()
        return EvidenceKeeper(self.name, self.expected, self.config, self.window, self._events, now)

    def _publish(self, change: Change) -> None:
        self._store.update_target(self.name, change)

    # -- lifecycle --------------------------------------------------------------

    def stop(self) -> None:
        """Refuse new runs and cancel the current one; the session closes when it ends."""
        self._stopping = True
        self.session.cancel()

    def close(self, timeout: float = STOP_GRACE_SECONDS) -> None:
        acquired = self._lock.acquire(timeout=timeout)
        try:
            self.session.drop()
            self._evidence.close()
            self.window.close()
        finally:
            if acquired:
                self._lock.release()

    def watchdog(self) -> None:
        """Fail a run that outlived its budget and its cancel: a silent peer, not a slow query.

        The failure is published now rather than when the run's thread gets to
        it, and then its connection is broken (that thread wakes with an error).
        A run overdue because its thread is busy (our own processing, CPU-bound)
        is slow, not an outage: ``up`` stays, and so does the connection.
        """
        overrun = self._watch.overrun(self.config.run_budget)
        if overrun is None:
            return
        answered, error = overrun.busy, overrun.error
        self._events.reachability(self.name, answered, None if answered else error)
        if answered:
            self._events.check_outcome(self.name, overrun.check, False, error)
        self._publish(
            lambda t: _with_check(
                replace(t, up=answered), overrun.check, lambda c: c.failed(overrun.seconds, error)
            )
        )
        if not answered:
            # Last: the severed run ends at once and hands the session to the other check,
            # whose "next attempt in ..." must not be the outage's first word.
            self.session.sever()

    # -- running a check ------------------------------------------------------

    def run_drift(self) -> None:
        self._run("drift", self._drift)

    def run_stats(self) -> None:
        self._run("stats", self._stats)

    def _run(self, check: str, body: Callable[[psycopg.Connection[Any]], Change]) -> None:
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
                self._watch.start(check)
                try:
                    self._run_locked(check, body, budget)
                finally:
                    self._watch.end()
            self._check_window()
        finally:
            self._lock.release()

    def _run_locked(
        self, check: str, body: Callable[[psycopg.Connection[Any]], Change], budget: float
    ) -> None:
        started = time.perf_counter()
        session = self.session
        session.cancelled = False
        timer = threading.Timer(budget, session.cancel)
        timer.daemon = True
        timer.start()
        try:
            change = session.run(body)
        except NotYet as exc:
            self._unreachable(check, str(exc), started)
            return
        except Exception as exc:  # a daemon reports failures, it does not die of them
            if self._stopping:
                return  # cancelled by stop(): not a failure of the database
            conn = session.connection
            broken = conn is not None and (conn.broken or conn.closed)
            if isinstance(exc, ConnectionFailed) or (
                isinstance(exc, psycopg.OperationalError) and broken
            ):
                if conn is not None:  # broke during the run (a failed connect backed off already)
                    session.failed()
                self._unreachable(check, _message(exc), started)
            else:
                reason = _message(exc)
                if session.cancelled:
                    reason = (
                        f"run exceeded its time budget of {budget:g}s and was cancelled: {reason}"
                    )
                self._failed(check, reason, started)
            return
        finally:
            timer.cancel()
        duration = time.perf_counter() - started
        now = self._clock.now()
        log_module.get_logger().debug("check_succeeded", target=self.name, check=check)
        self._events.reachability(self.name, True)
        self._events.check_outcome(self.name, check, True)
        self._publish(
            lambda t: _with_check(
                change(replace(t, up=True)), check, lambda c: c.succeeded(duration, now)
            )
        )

    def _unreachable(self, check: str, error: str, started: float) -> None:
        self.window.count_failure()
        if self._watch.overdue:
            return  # the watchdog said so already
        duration = time.perf_counter() - started
        self._events.reachability(self.name, False, error)
        self._publish(
            lambda t: _with_check(replace(t, up=False), check, lambda c: c.failed(duration, error))
        )

    def _failed(self, check: str, error: str, started: float) -> None:
        self.window.count_failure()
        if self._watch.overdue:
            return
        duration = time.perf_counter() - started
        self._events.reachability(self.name, True)
        self._events.check_outcome(self.name, check, False, error)
        self._publish(
            lambda t: _with_check(replace(t, up=True), check, lambda c: c.failed(duration, error))
        )

    # -- the checks -------------------------------------------------------------

    def _drift(self, conn: psycopg.Connection[Any]) -> Change:
        now = self._clock.now()
        result = self._drift_check.run(conn, now, index_activity(self.window.state, now))
        self._events.findings(self.name, result.findings)
        for note in result.notes:
            self._events.once(self.name, f"note:{note}", "definition_compared_by_hash", note=note)
        self.window.record_drift(result)
        return lambda t: replace(t, drift=result)

    def _stats(self, conn: psycopg.Connection[Any]) -> Change:
        sample = stats.sample(conn, [s.name for s in self.expected.schemas])
        state, reset = self.window.observe(sample)
        if reset:
            log_module.get_logger().info(
                "stats_reset_detected",
                target=self.name,
                datname=sample.database.datname,
                stats_reset=str(sample.database.stats_reset),
            )
        now = self._clock.now()
        usage = usage_result(sample, state, self._spec_relations, self.config.limits, now)
        statements = self._evidence.cycle(conn, sample.database.datname, now)
        return lambda t: replace(t, usage=usage, statements=statements)

    # -- the watch window -------------------------------------------------------

    def _check_window(self) -> None:
        """Publish the window's status; when it has just ended, write the report once."""
        now = self._clock.now()
        window = self.window.status(now)
        self._publish(lambda t: t if t.window == window else replace(t, window=window))
        if self.window.finish(self.expected, now, self._evidence.state) is not None:
            self._on_window_end(self.name)

    @property
    def window_ended(self) -> bool:
        return self.window.ended


def _drift_settings(
    config: config_module.Config,
) -> tuple[float, int, AdvisorSettings, catalog_limits.Limits]:
    limits = config.limits
    return (
        config.intervals.full_drift,
        limits.present_objects,
        config.advisors,
        catalog_limits.Limits(limits.definition_bytes, limits.objects_per_kind),
    )


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
