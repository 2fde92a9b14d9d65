"""One target's watch window as the daemon keeps it: in memory, on disk, and at its end.

State files are written atomically (:class:`~monitor.window.watch.StateFiles`).
A write that fails is counted and retried with the next change (history that
failed to save is written again next time); a corrupt file is renamed aside
and reported, never overwritten. Once the window has ended and its report is
written, nothing more is folded into it: samples taken after the end belong
to no window, and the report and the files agree.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from monitor.daemon import config as config_module
from monitor.daemon import events as log_module
from monitor.daemon.results import DriftResult, TargetResults
from monitor.errors import MonitorError
from monitor.postgres import stats
from monitor.schema.model import State
from monitor.window import report as report_module
from monitor.window import watch
from monitor.window.evidence import StatementsState

# Counters saved late lose nothing (the next start adds everything since the saved
# raw values); saving every cycle would rewrite thousands of entries for nothing.
WATCH_SAVE_SECONDS = 300.0

T = TypeVar("T")
Publish = Callable[[Callable[[TargetResults], TargetResults]], None]


class WindowKeeper:
    """The watch state, drift history and latest evidence of one target, and their files."""

    def __init__(
        self,
        name: str,
        config: config_module.Config,
        events: log_module.Events,
        now: datetime,
        publish: Publish,
        *,
        keep_state: bool = True,
    ) -> None:
        self.name = name
        # False (run --once): the files are read, never written: no window starts, no
        # history or report is written, and a running daemon's files stay its own.
        self.keep_state = keep_state
        self.config = config
        self.files = watch.StateFiles(config.state_dir, name)
        self._events = events
        self._publish = publish
        self._write_errors = 0
        self._set_aside = 0
        self._saved_at = time.monotonic()
        self._history_unsaved = False
        self.state = self._load_watch(now)
        self.history: watch.History = self._load(self.files.load_history, watch.History(), now)

    @property
    def ended(self) -> bool:
        return self.state.ended is not None

    def counters(self, results: TargetResults) -> TargetResults:
        """`results` with this window's state-file counters."""
        return replace(
            results, state_write_errors=self._write_errors, state_files_corrupt=self._set_aside
        )

    # -- reading ------------------------------------------------------------------

    def _load(self, load: Callable[[], T], fresh: T, now: datetime) -> T:
        """An unreadable state file is reported, not fatal: the daemon must keep watching."""
        try:
            return load()
        except watch.CorruptStateFile as exc:
            self._keep_aside(exc, now)
        except MonitorError as exc:
            self._events.once(self.name, "state", "state_file_unreadable", error=str(exc))
        return fresh

    def _keep_aside(self, corrupt: watch.CorruptStateFile, now: datetime) -> None:
        try:
            aside = str(self.files.set_aside(corrupt.path, now))
        except MonitorError as exc:
            aside = None
            self._events.once(self.name, "state", "state_file_unreadable", error=str(exc))
        self._set_aside += 1
        log_module.get_logger().error(
            "state_file_corrupt", target=self.name, error=str(corrupt), kept_as=aside
        )
        self._publish(self.counters)

    def _load_watch(self, now: datetime) -> watch.WatchState:
        configured = self.config.watch_window.start
        state: watch.WatchState | None = self._load(self.files.load_watch, None, now)
        if state is None or (configured is not None and state.start != configured):
            state = watch.begin(configured or now)
            if not self.keep_state:
                return state
            self._save(self.files.save_watch, state)
            self._saved_at = time.monotonic()
            log_module.get_logger().info(
                "watch_window_started", target=self.name, start=state.start.isoformat()
            )
        return state

    def load_file(self, load: Callable[[], T], fresh: T, now: datetime) -> T:
        """Another state file of this target, read with the same care (corrupt: set aside)."""
        return self._load(load, fresh, now)

    def save_file(self, save: Callable[[T], None], value: T) -> bool:
        """Another state file of this target, its failed writes counted with the others'."""
        return self._save(save, value)

    def evidence(self, now: datetime) -> watch.Evidence | None:
        return self._load(self.files.load_evidence, None, now)

    # -- writing ------------------------------------------------------------------

    def _save(self, save: Callable[[T], None], value: T) -> bool:
        if not self.keep_state:
            return True
        try:
            save(value)
        except MonitorError as exc:
            self._write_failed(exc)
            return False
        self._events.rearm(self.name, "state-write")
        return True

    def _write_failed(self, exc: MonitorError) -> None:
        self._write_errors += 1
        self._events.once(self.name, "state-write", "state_write_failed", error=str(exc))
        self._publish(self.counters)

    def save_watch(self, *, now: bool) -> None:
        """Persist the window's state: at once when it changed shape, else now and then."""
        due = now or time.monotonic() - self._saved_at >= WATCH_SAVE_SECONDS
        if due and self._save(self.files.save_watch, self.state):
            self._saved_at = time.monotonic()

    # -- moving the window forward --------------------------------------------------

    def count_failure(self) -> None:
        if self.ended:
            return
        self.state = replace(self.state, failed_checks=self.state.failed_checks + 1)
        self.save_watch(now=False)

    def observe(self, sample: stats.Sample) -> tuple[watch.WatchState, bool]:
        """Fold a sample into the window (not after its end); also says if stats were reset."""
        if self.ended:
            return self.state, False
        state, reset = watch.observe(self.state, sample)
        reshaped = reset or state.samples == 1 or state.indexes.keys() != self.state.indexes.keys()
        self.state = state
        self.save_watch(now=reshaped)
        return state, reset

    def record_drift(self, result: DriftResult) -> None:
        if not self.ended:
            history = watch.record(self.history, result.findings, result.checked_at)
            if history != self.history:
                self.history, self._history_unsaved = history, True
        if self._history_unsaved and self._save(self.files.save_history, self.history):
            self._history_unsaved = False
        evidence = watch.Evidence(
            checked_at=result.checked_at,
            findings=result.findings,
            ledger=result.ledger,
            skipped=result.skipped,
            building=result.building,
            advisories=result.advisories,
        )
        self._save(self.files.save_evidence, evidence)

    def status(self, now: datetime) -> watch.WindowStatus:
        return watch.status(self.state, self.config.watch_window.duration, now)

    def finish(
        self, expected: State, now: datetime, statements: StatementsState | None = None
    ) -> report_module.Report | None:
        """Write the end-of-window report once the window is over; the report, else None."""
        window = self.status(now)
        if now < window.end or self.ended or not self.keep_state:
            return None
        built = report_module.build(
            self.name,
            expected,
            self.state,
            self.history,
            self.evidence(now),
            duration_seconds=self.config.watch_window.duration,
            new_indexes_since=self.config.watch_window.new_indexes_since,
            now=now,
            statements=statements,
        )
        try:
            report_module.write_files(self.files, built)
        except MonitorError as exc:
            self._write_failed(exc)
            return None
        self.state = replace(self.state, ended=now)
        self.save_watch(now=True)
        log_module.get_logger().info(
            "watch_window_ended",
            target=self.name,
            passed=built.passed,
            verdicts={c.title: c.verdict for c in built.criteria},
            report_markdown=str(self.files.report_markdown),
            report_json=str(self.files.report_json),
        )
        return built

    def close(self) -> None:
        self.save_watch(now=True)
        if self._history_unsaved and self._save(self.files.save_history, self.history):
            self._history_unsaved = False
