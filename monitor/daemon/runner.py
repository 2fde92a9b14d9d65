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

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from apscheduler.events import (
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
)
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor import __version__
from monitor.clock import SYSTEM_CLOCK, Clock, SteadyClock, after_step
from monitor.daemon import config as config_module
from monitor.daemon import events as log_module
from monitor.daemon import fleet, metrics, state_dir, webconfig
from monitor.daemon.drift import DriftCheck
from monitor.daemon.evidence import EvidenceKeeper
from monitor.daemon.results import CheckResult, Results, ResultsStore, TargetResults
from monitor.daemon.session import NotYet, RunWatch, Session
from monitor.daemon.usage import SpecRelations, usage_result
from monitor.daemon.web import Exposition, WebServer
from monitor.daemon.webconfig import ServerTls, WebConfig
from monitor.daemon.window_state import WindowKeeper
from monitor.errors import ConnectionFailed, ExitCode, MonitorError
from monitor.postgres import catalog_limits, db, stats
from monitor.schema.advisors import Settings as AdvisorSettings
from monitor.schema.model import Severity, State
from monitor.window.report import index_activity

# SIGTERM must end the process within 5 s; this leaves room for closing up.
_STOP_GRACE_SECONDS = 3.0
_SIGNAL_POLL_SECONDS = 0.25
_WATCHDOG_POLL_SECONDS = 0.5
_FAILING = frozenset({Severity.CRITICAL, Severity.WARNING})

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

    def close(self, timeout: float = _STOP_GRACE_SECONDS) -> None:
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


# --- the daemon ----------------------------------------------------------------------------


class Daemon:
    """Targets, scheduler and web server; reloads on request, stops on request."""

    def __init__(
        self,
        config: config_module.Config,
        specs: dict[str, State],
        *,
        listen_address: str | None = None,
        web_config: WebConfig | None = None,
        clock: Clock = SYSTEM_CLOCK,
        shard: fleet.Shard | None = None,
        keep_state: bool = True,
    ) -> None:
        self.config = config
        self._shard = shard  # --shard, kept for reloads
        self._keep_state = keep_state
        self._web_config = web_config
        self._log = log_module.get_logger()
        self._events = log_module.Events(self._log)
        # Every check, the window and its report read this clock: a step of the wall clock
        # is logged and taken out, and the jobs' next runs move with it (_follow_step).
        self._clock = SteadyClock(clock, self._wall_clock_stepped)
        self._steps: list[float] = []  # wall-clock steps seen, for serve() to follow
        self.store = ResultsStore(
            Results(version=__version__, config_last_reload_success=self._clock.now())
        )
        self._runners: dict[str, TargetRunner] = {}
        self._install(config, specs)
        self._targets_file = fleet.FileWatch(config.targets_file)
        self._listen_address = listen_address or config.web.listen_address
        self._pool = fleet.WorkerPool(config.max_concurrent_checks)
        self._scheduler = BackgroundScheduler(
            executors={"default": fleet.PoolExecutor(self._pool)},
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
        self._status_requested = False
        self._reloading: threading.Thread | None = None
        self._loaded: tuple[config_module.Config, dict[str, State]] | str | None = None
        self._stopped = threading.Event()
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
                keep_state=self._keep_state,
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
                targets=tuple(
                    current.get(n) or runners[n].window.counters(TargetResults(name=n))
                    for n in runners
                ),
            )

        self.store.update(keep)

    def _schedule(self) -> None:
        """Jobs for new and replaced runners, their first runs spread (:func:`fleet.first_runs`);
        a runner a reload kept keeps its jobs and their times."""
        for job in self._scheduler.get_jobs():  # a job runs a bound method of its runner
            if self._runners.get(job.id.rpartition(":")[0]) is not job.func.__self__:
                job.remove()
        scheduled = {job.id for job in self._scheduler.get_jobs()}
        new = [r for r in self._runners.values() if f"{r.name}:drift" not in scheduled]
        intervals = self.config.intervals
        offsets = fleet.first_runs(
            [r.name for r in new],
            min(intervals.drift, intervals.stats),
            self.config.max_concurrent_checks,
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
        exposition = Exposition(metrics.Renderer(self.store.latest), metrics.process())
        self.store.subscribe(exposition.changed)
        self._web = WebServer(self._listen_address, exposition, self._effective_web_config())
        self._web.start()
        self._schedule()
        self._scheduler.start()
        threading.Thread(target=self._watch_runs, name="watchdog", daemon=True).start()
        self._log.info(
            "daemon_started",
            version=__version__,
            url=f"{self._web.url}/metrics",
            targets=[
                {"name": r.name, "dsn": db.redact(r.target.dsn), "source": r.target.dsn_source}
                for r in self._runners.values()
            ],
        )

    def _effective_web_config(self) -> WebConfig:
        """--web.config.file, else the config's web.tls; both at once is refused at start."""
        tls = self.config.web.tls
        if self._web_config is not None:
            return self._web_config
        return WebConfig(tls=ServerTls(tls.cert_file, tls.key_file) if tls is not None else None)

    def _watch_runs(self) -> None:
        while not self._stopped.wait(_WATCHDOG_POLL_SECONDS):
            for runner in list(self._runners.values()):
                runner.watchdog()

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

    def request_status(self) -> None:
        """SIGUSR1 or SIGUSR2: log where every target stands (serve() does it)."""
        self._status_requested = True

    def _log_status(self) -> None:
        self._status_requested = False
        self._log.info(
            "status",
            targets=[
                {
                    "name": t.name,
                    "up": t.up,
                    "drift_ok": t.drift_check.ok,
                    "findings": len(t.drift.findings) if t.drift else None,
                    "error": t.drift_check.error or t.stats_check.error,
                }
                for t in self.store.latest().targets
            ],
        )

    def serve(self) -> int:
        """Wait for stop or reload requests until stopped; returns the exit code.

        A reload reads files in a thread of its own: however long a spec takes to
        load (or however it hangs), this loop keeps answering SIGTERM and SIGINT.
        """
        heap = fleet.Heap(time.monotonic())
        while not self._stop_requested:
            self._wake.wait(_SIGNAL_POLL_SECONDS)
            self._wake.clear()
            if self._stop_requested:
                break
            heap.tick(time.monotonic())
            self._clock.now()  # a step of the wall clock is seen here within a poll
            while self._steps:
                self._follow_step(self._steps.pop())
            if self._targets_file.changed(self.config.targets_file):  # no SIGHUP needed
                self._reload_requested = True
            if self._status_requested:
                self._log_status()
            if self._reloading is not None and not self._reloading.is_alive():
                self._reloading = None
                self._apply_reload()
            if self._reload_requested and self._reloading is None:
                self._reload_requested = False
                self._reloading = threading.Thread(
                    target=self._load_for_reload, name="reload", daemon=True
                )
                self._reloading.start()
        self.stop()
        return self._exit_code

    def _load_for_reload(self) -> None:
        try:
            self._loaded = load(self.config.path, self._shard)
        except MonitorError as exc:
            self._loaded = str(exc)
        except Exception as exc:  # a reload must never take the daemon down
            self._loaded = f"{self.config.path}: cannot load: {type(exc).__name__}: {exc}"
        self._wake.set()

    def _apply_reload(self) -> bool:
        loaded, self._loaded = self._loaded, None
        if loaded is None or isinstance(loaded, str):
            self._log.error("config_reload_failed", error=loaded or "the reload did not finish")
            self.store.update(lambda r: replace(r, config_reload_success=False))
            return False
        config, specs = loaded
        restart_only = ("web", "max_concurrent_checks")
        if any(getattr(config, key) != getattr(self.config, key) for key in restart_only):
            reason = "web settings and max_concurrent_checks take effect at the next restart"
            self._log.warning("config_reload_partial", reason=reason)
        self._install(config, specs)
        self._schedule()
        now = self._clock.now()
        self.store.update(
            lambda r: replace(r, config_reload_success=True, config_last_reload_success=now)
        )
        self._log.info("config_reloaded", targets=[t.name for t in config.targets])
        return True

    def stop(self) -> None:
        self._stopped.set()
        for runner in self._runners.values():
            runner.stop()
        self._scheduler.shutdown(wait=False)
        self._pool.shutdown()
        deadline = time.monotonic() + _STOP_GRACE_SECONDS
        for runner in self._runners.values():
            runner.close(timeout=max(0.0, deadline - time.monotonic()))
        if self._web is not None:
            self._web.stop()
        self._log.info("daemon_stopped")

    def _wall_clock_stepped(self, step: float, wall: datetime) -> None:
        self._log.warning("wall_clock_stepped", step_seconds=round(step, 3), wall=wall.isoformat())
        self._steps.append(step)
        self._wake.set()

    def _follow_step(self, step: float) -> None:
        """APScheduler keeps to the wall clock: after a step back of an hour it would wait the
        hour out. Each job's next run moves with the step, its spread across the fleet kept."""
        now = datetime.now(UTC)
        for job in self._scheduler.get_jobs():
            if job.next_run_time is not None:
                interval = job.trigger.interval.total_seconds()
                job.modify(next_run_time=after_step(job.next_run_time, now, step, interval))

    def _window_ended(self, _target: str) -> None:
        if self.config.watch_window.after == "exit" and all(
            r.window_ended for r in self._runners.values()
        ):
            self.request_stop(ExitCode.OK)


def run_once(daemon: Daemon) -> int:
    """One drift and one stats run per target: 0 clean, 1 drift, 2 a check failed."""
    runners = daemon.runners.values()
    try:
        for runner in runners:
            runner.run_drift()
            runner.run_stats()
    finally:
        for runner in runners:
            runner.close()
    targets = daemon.store.latest().targets
    if not all(t.up and t.drift_check.ok and t.stats_check.ok for t in targets):
        return ExitCode.ERROR
    drifting = any(
        f.severity in _FAILING for t in targets if t.drift is not None for f in t.drift.findings
    )
    return ExitCode.DRIFT if drifting else ExitCode.OK


def load(
    config_path: Path, shard: fleet.Shard | None = None
) -> tuple[config_module.Config, dict[str, State]]:
    """The config and the spec of every target of this shard (`shard`, else the config's),
    all problems of both reported at once."""
    config = config_module.load(config_path)
    shard = shard or config.shard
    if shard is not None:
        mine = tuple(t for t in config.targets if shard.owns(t.name))
        config = replace(config, targets=mine, shard=shard)
    return config, config_module.load_specs(config)


def run(
    config_path: Path,
    listen_address: str | None,
    validate_only: bool,
    once: bool,
    *,
    web_config_file: Path | None = None,
    clock: Clock = SYSTEM_CLOCK,
    shard: str | None = None,
    log_level: str | None = None,
) -> int:
    """`schema-monitor run`. Errors in the config or specs raise InputError (exit 2)."""
    chosen_shard = fleet.parse_shard(shard) if shard is not None else None
    if shard is not None and chosen_shard is None:
        raise MonitorError(f"--shard: {shard!r} is not I/N with 0 <= I < N (e.g. 0/3)")
    config, specs = load(config_path, chosen_shard)  # --log.level: argparse's choices
    if listen_address is not None and config_module.parse_listen_address(listen_address) is None:
        raise MonitorError(f"--web.listen-address: {listen_address!r} is not HOST:PORT")
    web_config = webconfig.load(web_config_file) if web_config_file is not None else None
    if web_config is not None and web_config.tls is not None and config.web.tls is not None:
        raise MonitorError(
            f"TLS is configured twice: in {web_config_file} and in {config_path} (web.tls)"
        )
    if validate_only:
        of_shard = f" of shard {config.shard}" if config.shard is not None else ""
        print(f"{config_path}: ok ({len(config.targets)} targets{of_shard})")
        return ExitCode.OK
    log_module.configure(config.log_format, level=log_level or config.log_level)
    state_dir.prepare(config.state_dir)
    options: dict[str, Any] = {"web_config": web_config, "clock": clock, "shard": chosen_shard}
    if once:  # reads the window files but never starts a window nor writes one
        return run_once(Daemon(config, specs, keep_state=False, **options))
    with state_dir.held(config.state_dir):
        daemon = Daemon(config, specs, listen_address=listen_address, **options)
        _install_signal_handlers(daemon)  # before start: a SIGHUP must never kill the process
        daemon.start()
        return daemon.serve()


def _install_signal_handlers(daemon: Daemon) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # embedded in a test or another program: it calls request_stop/reload itself
    signal.signal(signal.SIGTERM, lambda _s, _f: daemon.request_stop(from_signal=True))
    signal.signal(signal.SIGINT, lambda _s, _f: daemon.request_stop(from_signal=True))
    signal.signal(signal.SIGHUP, lambda _s, _f: daemon.request_reload(from_signal=True))
    # Default-fatal signals a person may send to ask for something: the state, in the log.
    # The rest (SIGQUIT, SIGALRM, SIGPROF...) keep their defaults (docs/deploy.md).
    for number in (signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(number, lambda _s, _f: daemon.request_status())
