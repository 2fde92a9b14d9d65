"""The drift check of one target: a cheap probe each cycle, the full snapshot only when needed.

The probe's fingerprint of the watched catalogs answers a quiet cycle with the
last findings; a moved fingerprint, a skipped (locked) table last time, a new
spec or ``intervals.full_drift`` gone by since the last full check takes a
full snapshot, its diff and its advisories.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import psycopg

from monitor.daemon.results import DriftResult, expected_objects, without_building
from monitor.postgres import catalog, catalog_limits, stats
from monitor.schema import advisors
from monitor.schema.compare import diff
from monitor.schema.model import DEFAULT_LEDGER_TABLE, Finding, State

# A full check whose snapshot read this many tables ends with a full garbage collection.
COLLECT_AFTER_TABLES = 1000


@dataclass(frozen=True, slots=True)
class _Last:
    """What the last full drift check found, kept to answer quiet cycles."""

    fingerprint: str
    findings: tuple[Finding, ...]  # before removing indexes being built
    result: DriftResult
    at: float  # time.monotonic() of the full check


class DriftCheck:
    """Compares one target's live catalog with its spec; remembers the last full answer."""

    def __init__(
        self,
        expected: State,
        full_every: float,
        present_cap: int,
        advisor_settings: advisors.Settings,
        limits: catalog_limits.Limits = catalog_limits.DEFAULT_LIMITS,
    ) -> None:
        self.expected = expected
        self._limits = limits
        self._advisor_settings = advisor_settings
        self._full_every = full_every
        self._present_cap = present_cap
        self._last: _Last | None = None

    @property
    def ledger_table(self) -> str:
        ledger = self.expected.ledger
        return ledger.table if ledger is not None else DEFAULT_LEDGER_TABLE

    def run(
        self,
        conn: psycopg.Connection[Any],
        now: datetime,
        activity: advisors.IndexActivity | None = None,
    ) -> DriftResult:
        """`activity` (scans since the window began) feeds the unused_index advisor."""
        schemas = [s.name for s in self.expected.schemas]
        probe = stats.probe(conn, schemas, self.ledger_table)
        last = self._last
        quiet = (
            last is not None
            and last.fingerprint == probe.fingerprint
            and not last.result.skipped
            and time.monotonic() - last.at < self._full_every
        )
        if quiet and last is not None:
            raw, result = last.findings, replace(last.result, checked_at=now, full=False)
        else:
            raw, result, tables = self._full(conn, schemas, now, activity)
            self._last = _Last(probe.fingerprint, raw, result, time.monotonic())
            if tables >= COLLECT_AFTER_TABLES:
                # A large snapshot is a whole catalog's worth of objects, now garbage; a
                # full collection also empties the allocator's free lists, handing the
                # memory back before the next cycle instead of keeping the peak for good.
                # Not after a small one: a collection walks the whole heap (every
                # target's results) holding the GIL, and a fleet of 500 small catalogs
                # would pay it 500 times an interval while scrapes wait.
                gc.collect()
        findings = without_building(raw, probe.building)
        return replace(result, findings=findings, building=probe.building)

    def _full(
        self,
        conn: psycopg.Connection[Any],
        schemas: list[str],
        now: datetime,
        activity: advisors.IndexActivity | None,
    ) -> tuple[tuple[Finding, ...], DriftResult, int]:
        """The findings and result of a full check, and the tables its snapshot read."""
        snap = catalog.snapshot(conn, schemas, self.ledger_table, self._limits)
        raw = diff.explain_unread_ledger(
            diff.diff(self.expected, snap.state, skipped=snap.skipped), snap.ledger_problem
        ) + catalog_limits.findings(snap.over_cap, snap.limits)
        previous = self._last.result.expected if self._last is not None else ()
        result = DriftResult(
            findings=(),
            expected=expected_objects(
                self.expected, snap.state, snap.skipped, previous, cap=self._present_cap
            ),
            skipped=snap.skipped,
            ledger=snap.state.ledger.applied if snap.state.ledger is not None else None,
            building=(),
            checked_at=now,
            full=True,
            # From the same snapshot: the advisors cost no statement of their own.
            advisories=advisors.evaluate(snap.state, self._advisor_settings, activity),
            notes=catalog_limits.notes(snap.state, snap.limits),
        )
        return tuple(raw), result, sum(len(s.tables) for s in snap.state.schemas)
