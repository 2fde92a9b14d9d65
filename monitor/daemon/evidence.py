"""Query evidence in the stats cycle: one pg_stat_statements read, then at most N plan probes.

:class:`EvidenceKeeper` holds one target's statement baseline (in memory and in
``state_dir/<target>/statements.json``), the parse cache and where the extension
lives. Anything wrong with pg_stat_statements (missing, not preloaded, not
readable, a read that failed) leaves the stats check standing: it becomes an
advisory and one log line, and the last evidence stays.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime
from typing import Any

import psycopg

from monitor.daemon import config as config_module
from monitor.daemon import events as log_module
from monitor.daemon.results import (
    IndexPlanning,
    StatementsResult,
    StatementTiming,
    TableTiming,
)
from monitor.daemon.window_state import WATCH_SAVE_SECONDS, WindowKeeper
from monitor.errors import ConnectionFailed, MonitorError
from monitor.postgres import statements
from monitor.schema.model import State
from monitor.window import evidence
from monitor.window.report import new_indexes
from monitor.window.shapes import Classifier


class EvidenceKeeper:
    """The statement evidence of one target across its watch window."""

    def __init__(
        self,
        name: str,
        expected: State,
        config: config_module.Config,
        window: WindowKeeper,
        events: log_module.Events,
        now: datetime,
    ) -> None:
        self.name = name
        self._config = config
        self._window = window
        self._events = events
        tables = [(s.name, t.name) for s in expected.schemas for t in s.tables]
        self._tables = tables[: config.limits.spec_relations]
        self._classifier = Classifier(tables)
        self._new_indexes = [
            (i.schema, i.table, i.name)
            for i in new_indexes(expected, None, config.watch_window.new_indexes_since)
        ]
        self._location: statements.Location | None = None
        self._saved_at = time.monotonic()
        self._logged: set[tuple[str, str, str | None, str]] = set()
        start = window.state.start
        loaded = window.load_file(lambda: evidence.load(window.files), None, now)
        # A file of another window (or none): this window's baseline is the next sample.
        fresh = loaded is None or loaded.start != start
        self.state = evidence.begin(start) if fresh or loaded is None else loaded

    # -- the cycle ------------------------------------------------------------------------

    def cycle(self, conn: psycopg.Connection[Any], datname: str, now: datetime) -> StatementsResult:
        """Sample, fold, probe; never fails the stats check but for a lost connection."""
        if not self._window.ended:
            try:
                self._sample(conn, now)
                self._events.rearm(self.name, "statements")
            except ConnectionFailed:
                raise
            except statements.Unavailable as exc:
                self._unavailable(str(exc))
            except MonitorError as exc:
                self._location = None
                self._events.once(self.name, "statements", "statements_read_failed", error=str(exc))
        result = self.result(datname, now)
        self._log_new_advisories(result)
        return result

    def _log_new_advisories(self, result: StatementsResult) -> None:
        """One log line per advisory when it appears (the missing extension and refused
        probes have their own events); again only after it has gone and come back."""
        current = {
            (a.rule, a.schema, a.table, a.object): a
            for a in result.advisories
            if a.rule in (evidence.INDEX_NOT_PLANNED, evidence.STATEMENT_SLOWER)
        }
        for key, advisory in current.items():
            if key not in self._logged:
                log_module.get_logger().warning(
                    "statement_advisory",
                    target=self.name,
                    rule=advisory.rule,
                    object=advisory.qualified_name,
                    message=advisory.message,
                )
        self._logged = set(current)

    def _sample(self, conn: psycopg.Connection[Any], now: datetime) -> None:
        if self._location is None:
            self._location = statements.locate(conn)
            if not self._location.reads_all_stats:
                self._events.once(
                    self.name,
                    "statements-visibility",
                    "statements_partly_visible",
                    reason="the monitor's role lacks pg_read_all_stats: only its own statements"
                    " are visible (docs/deploy.md)",
                )
        try:
            sample = statements.sample(conn, self._location, self._classifier.known_array)
        except statements.Unavailable:
            self._location = None  # look again next cycle: it may be installed meanwhile
            raise
        shape = self._classifier.shape
        kept = [(raw, found) for raw in sample.rows if (found := shape(raw[0], raw[1]))]
        present = {raw[0] for raw in sample.rows}
        self._classifier.keep_only(present)
        previous = self.state
        state, reasons = evidence.observe(self.state, kept, sample.stats_reset, now)
        for reason in reasons:
            log_module.get_logger().info(
                "statement_baseline_restarted", target=self.name, reason=reason
            )
        self.state = self._probe(conn, state, now)
        # A statement first seen since the last save needs no save of its own: after a
        # restart it is first seen again, with the same counts.
        self._save(now=bool(reasons) or previous.samples == 0 or previous.unavailable is not None)

    def _probe(
        self, conn: psycopg.Connection[Any], state: evidence.StatementsState, now: datetime
    ) -> evidence.StatementsState:
        location = self._location
        tables = {f"{schema}.{table}" for schema, table, _ in self._new_indexes}
        if location is None or not tables:
            return state
        plans: dict[int, statements.Plan] = {}
        for statement in evidence.probe_candidates(state, tables, self._config.statements.probes):
            shape = self._classifier.shapes.get(statement.queryid)
            if shape is not None:  # its text: known since this process started
                plans[statement.queryid] = statements.probe(
                    conn, shape.text, statement.parameters, location.server_version_num
                )
        refused = [p for p in plans.values() if p.refused]
        if refused:
            self._events.once(
                self.name,
                "plan-probe-refused",
                "plan_probe_refused",
                statements=len(refused),
                error=refused[0].error,
                fix="grant the monitor's role SELECT on the spec's tables (docs/deploy.md)",
            )
        elif plans:
            self._events.rearm(self.name, "plan-probe-refused")
        return evidence.with_plans(state, plans, now)

    def _unavailable(self, reason: str) -> None:
        self._events.once(self.name, "statements", "statements_unavailable", reason=reason)
        if self.state.unavailable != reason:
            self.state = replace(self.state, unavailable=reason)
            self._save(now=True)

    def _save(self, *, now: bool) -> None:
        due = now or time.monotonic() - self._saved_at >= WATCH_SAVE_SECONDS
        state = self.state
        if due and self._window.save_file(lambda s: evidence.save(self._window.files, s), state):
            self._saved_at = time.monotonic()

    def close(self) -> None:
        self._save(now=True)

    # -- what /metrics shows -------------------------------------------------------------

    def result(self, datname: str, now: datetime) -> StatementsResult:
        state = self.state
        settings = self._config.statements
        plans = evidence.index_plans(state, self._new_indexes, settings.probes)
        advisories = evidence.advisories(
            state,
            plans,
            now=now,
            unplanned_after=settings.unplanned_after,
            slower_ratio=settings.slower_ratio,
        )
        not_planned = {
            (a.schema, a.object) for a in advisories if a.rule == evidence.INDEX_NOT_PLANNED
        }
        return StatementsResult(
            datname=datname,
            available=state.unavailable is None and state.samples > 0,
            resets=state.resets_total,
            statements=tuple(
                StatementTiming(
                    s.queryid,
                    s.fingerprint,
                    s.since.calls,
                    s.since.mean_ms,
                    s.before.mean_ms if s.before is not None else None,
                )
                for s in evidence.ranked(state, settings.top)
            ),
            tables=tuple(
                TableTiming(t.schema, t.table, t.before.mean_ms, t.since.mean_ms)
                for t in evidence.table_timings(state, self._tables)
            ),
            indexes=tuple(
                IndexPlanning(
                    p.schema, p.table, p.name, len(p.using), (p.schema, p.name) in not_planned
                )
                for p in plans
            ),
            advisories=advisories,
        )
