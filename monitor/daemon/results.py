"""The latest results of every target, as immutable values.

Checks build new values and swap them in; the metrics collector and the
readiness probe only read. A scrape therefore never waits on, nor talks to,
PostgreSQL, and an object that is gone is simply absent from the next value.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from monitor.schema import normalize
from monitor.schema.advisors import Advisory
from monitor.schema.model import (
    Change,
    Extension,
    Finding,
    Grant,
    Grants,
    Kind,
    OwnerPolicy,
    Schema,
    State,
    Table,
)
from monitor.window.watch import WindowStatus


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Outcome of the latest run of one check (drift or stats) on one target."""

    ran: bool = False
    ok: bool = False
    duration_seconds: float = 0.0
    last_success: datetime | None = None
    errors_total: int = 0
    error: str | None = None

    def succeeded(self, duration_seconds: float, at: datetime) -> CheckResult:
        return replace(
            self, ran=True, ok=True, duration_seconds=duration_seconds, last_success=at, error=None
        )

    def failed(self, duration_seconds: float, error: str) -> CheckResult:
        return replace(
            self,
            ran=True,
            ok=False,
            duration_seconds=duration_seconds,
            errors_total=self.errors_total + 1,
            error=error,
        )


@dataclass(frozen=True, slots=True)
class ExpectedObject:
    """An object the spec lists, and whether the live database has it."""

    kind: Kind
    schemaname: str
    relname: str
    object: str  # the object's name; the table's name for kinds table and rls
    present: bool


@dataclass(frozen=True, slots=True)
class DriftResult:
    findings: tuple[Finding, ...]
    expected: tuple[ExpectedObject, ...]
    skipped: tuple[str, ...]  # "schema.table" not compared: AccessExclusiveLock held or awaited
    ledger: tuple[str, ...] | None  # live migration versions in applied order
    building: tuple[str, ...]  # "schema.index" being built right now
    checked_at: datetime
    full: bool  # False: the catalog fingerprint had not moved, the last findings stand
    advisories: tuple[Advisory, ...] = ()  # from the last full snapshot, worst first
    notes: tuple[str, ...] = ()  # definitions compared by hash, over the byte cap


@dataclass(frozen=True, slots=True)
class IndexUsage:
    schemaname: str
    relname: str
    indexrelname: str
    scans: int
    size_bytes: int
    valid: bool
    building: bool
    scans_since_watch_start: int | None


@dataclass(frozen=True, slots=True)
class TableUsage:
    schemaname: str
    relname: str
    seq_scans: int
    index_scans: int


@dataclass(frozen=True, slots=True)
class Health:
    connections: tuple[tuple[str, int], ...]  # (state, count), every known state
    lock_waiting_sessions: int
    longest_transaction_seconds: float
    deadlocks_since_watch_start: int
    rollbacks_since_watch_start: int


@dataclass(frozen=True, slots=True)
class UsageResult:
    datname: str
    stats_reset: datetime | None
    indexes: tuple[IndexUsage, ...]  # already capped to what the metrics should show
    tables: tuple[TableUsage, ...]
    health: Health
    sampled_at: datetime


@dataclass(frozen=True, slots=True)
class StatementTiming:
    """One of the top statements on the spec's tables (never its text: a fingerprint)."""

    queryid: int
    fingerprint: str
    calls_since_watch_start: int
    mean_ms_since_watch_start: float | None  # None: no call yet in the window
    mean_ms_before_watch_start: float | None  # None: not called before the window


@dataclass(frozen=True, slots=True)
class TableTiming:
    schemaname: str
    relname: str
    mean_ms_before_watch_start: float | None
    mean_ms_since_watch_start: float | None


@dataclass(frozen=True, slots=True)
class IndexPlanning:
    """A new index: how many probed top statements on its table plan through it."""

    schemaname: str
    relname: str
    indexrelname: str
    planned_statements: int
    not_planned: bool  # the advisory: probed statements, none through it, after the wait


@dataclass(frozen=True, slots=True)
class StatementsResult:
    """Query evidence from pg_stat_statements, as /metrics shows it."""

    datname: str
    available: bool
    resets: int  # baselines restarted since the window began
    statements: tuple[StatementTiming, ...]  # the top N
    tables: tuple[TableTiming, ...]
    indexes: tuple[IndexPlanning, ...]
    advisories: tuple[Advisory, ...]


@dataclass(frozen=True, slots=True)
class TargetResults:
    name: str
    up: bool = False
    drift_check: CheckResult = CheckResult()
    stats_check: CheckResult = CheckResult()
    drift: DriftResult | None = None
    usage: UsageResult | None = None
    window: WindowStatus | None = None
    state_write_errors: int = 0  # state file writes that failed (full disk, permissions)
    state_files_corrupt: int = 0  # corrupt state files renamed aside
    statements: StatementsResult | None = None

    def check(self, name: str) -> CheckResult:
        return self.drift_check if name == "drift" else self.stats_check


@dataclass(frozen=True, slots=True)
class Results:
    version: str
    targets: tuple[TargetResults, ...] = ()
    config_reload_success: bool = True
    config_last_reload_success: datetime | None = None
    web_scheme: str = "http"  # how /metrics and /runbooks are served: https with TLS

    def target(self, name: str) -> TargetResults | None:
        return next((t for t in self.targets if t.name == name), None)


class ResultsStore:
    """Holds the one current :class:`Results`; writers swap whole values under a lock."""

    def __init__(self, initial: Results) -> None:
        self._results = initial
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[], None]] = []

    def subscribe(self, changed: Callable[[], None]) -> None:
        """Call `changed` (quickly: it runs on the writer's thread) after each new value."""
        self._subscribers.append(changed)

    def latest(self) -> Results:
        # Reading a reference is atomic; readers never need the lock.
        return self._results

    def update(self, change: Callable[[Results], Results]) -> Results:
        with self._lock:
            previous = self._results
            self._results = results = change(previous)
        if results is not previous:  # the same value back: nothing to render again
            for changed in self._subscribers:
                changed()
        return results

    def update_target(self, name: str, change: Callable[[TargetResults], TargetResults]) -> None:
        """Apply `change` to one target's results; a target removed meanwhile stays removed."""

        def apply(results: Results) -> Results:
            targets = tuple(change(t) if t.name == name else t for t in results.targets)
            if all(new is old for new, old in zip(targets, results.targets, strict=True)):
                return results
            return replace(results, targets=targets)

        self.update(apply)


# --- from a snapshot to result values: pure -------------------------------------------------


def expected_objects(
    expected: State,
    live: State,
    skipped: Collection[str],
    previous: Sequence[ExpectedObject] = (),
    cap: int | None = None,
) -> tuple[ExpectedObject, ...]:
    """The objects the spec lists (columns aside) and whether `live` has them.

    Every missing object is kept; present ones only while the total stays
    within `cap`, in spec order, so a catalog of thousands of tables costs a
    bounded number of series (and of objects here). A table in `skipped` was
    not read: its objects keep their `previous` answer, as unknown is not missing.
    """
    kept: list[ExpectedObject] = []
    present = 0
    for item in _all_expected(expected, live, skipped, previous):
        if not item.present:
            kept.append(item)
        elif cap is None or present < cap:
            kept.append(item)
            present += 1
    excess = 0 if cap is None else max(len(kept) - cap, 0)
    for position in range(len(kept) - 1, -1, -1):  # the last present ones make room
        if excess == 0:
            break
        if kept[position].present:
            del kept[position]
            excess -= 1
    return tuple(kept)


def _all_expected(
    expected: State, live: State, skipped: Collection[str], previous: Sequence[ExpectedObject]
) -> Iterator[ExpectedObject]:
    live_tables = {
        (schema.name, table.name): table for schema in live.schemas for table in schema.tables
    }
    for schema in expected.schemas:
        for table in schema.tables:
            if f"{schema.name}.{table.name}" in skipped:
                yield from (
                    o for o in previous if (o.schemaname, o.relname) == (schema.name, table.name)
                )
                continue
            yield from _table_objects(
                schema.name, table, live_tables.get((schema.name, table.name)), expected.owners
            )
        live_schema = live.schema(schema.name)
        if live_schema is not None:
            yield from _schema_objects(schema, live_schema, skipped, previous, expected.owners)
    yield from _database_objects(expected, live)


def _table_objects(
    schema: str, table: Table, actual: Table | None, owners: OwnerPolicy
) -> Iterator[ExpectedObject]:
    def item(kind: Kind, name: str, present: bool) -> ExpectedObject:
        return ExpectedObject(kind, schema, table.name, name, present)

    yield item(Kind.TABLE, table.name, actual is not None)
    if table.rls is not None and table.rls.enabled:
        live_rls = actual.rls if actual is not None else None
        yield item(Kind.RLS, table.name, live_rls is not None and live_rls.enabled)
    for kind, wanted, have in (
        (Kind.INDEX, table.indexes, actual.indexes if actual else None),
        (Kind.POLICY, table.policies, actual.policies if actual else None),
        (Kind.TRIGGER, table.triggers, actual.triggers if actual else None),
        (Kind.CONSTRAINT, table.constraints, actual.constraints if actual else None),
    ):
        if actual is not None and have is None:
            continue  # not read (too many of the kind): unknown, which is not missing
        names = {o.name for o in have or ()}
        for wanted_object in wanted or ():
            yield item(kind, wanted_object.name, wanted_object.name in names)
    if actual is None:
        return
    if table.owner is not None and not owners.ignore:
        owner = owners.live(table.owner)
        yield item(Kind.OWNER, owner, actual.owner == owner)
    yield from _grantees(schema, table.name, table.grants, actual.grants, owners)


def _schema_objects(
    schema: Schema,
    live: Schema,
    skipped: Collection[str],
    previous: Sequence[ExpectedObject],
    owners: OwnerPolicy,
) -> Iterator[ExpectedObject]:
    """Functions, views, types and sequences the spec lists, their owners and grantees.

    An owner is "present" when it is the expected one; a grantee when it holds at
    least the expected privileges (more shows as drift, widened).
    """
    name = schema.name
    for kind, wanted, have in (
        (Kind.FUNCTION, schema.functions, live.functions),
        (Kind.VIEW, schema.views, live.views),
        (Kind.TYPE, schema.types, live.types),
        (Kind.SEQUENCE, schema.sequences, live.sequences),
    ):
        if wanted is None or have is None:
            continue
        key = normalize.function_key if kind is Kind.FUNCTION else str
        found = {key(o.name): o for o in have}
        for item in wanted:
            if f"{name}.{item.name}" in skipped:
                yield from (o for o in previous if (o.schemaname, o.relname) == (name, item.name))
                continue
            actual = found.get(key(item.name))
            yield ExpectedObject(kind, name, item.name, item.name, actual is not None)
            if actual is None:
                continue
            if item.owner is not None and not owners.ignore:
                owner = owners.live(item.owner)
                yield ExpectedObject(Kind.OWNER, name, item.name, owner, actual.owner == owner)
            yield from _grantees(name, item.name, item.grants, actual.grants, owners)


def _grantees(
    schema: str, relname: str, wanted: Grants | None, have: Grants | None, owners: OwnerPolicy
) -> Iterator[ExpectedObject]:
    if wanted is None or have is None:
        return
    held = set(have)
    by_grantee: dict[str, list[Grant]] = {}
    for grant in wanted:
        live_grant = replace(grant, grantee=owners.live(grant.grantee))
        by_grantee.setdefault(live_grant.grantee, []).append(live_grant)
    for grantee, grants in sorted(by_grantee.items()):
        present = all(
            g in held or (not g.grantable and replace(g, grantable=True) in held) for g in grants
        )
        yield ExpectedObject(Kind.PRIVILEGE, schema, relname, grantee, present)


def _database_objects(expected: State, live: State) -> Iterator[ExpectedObject]:
    """Extensions (under their schema), publications and event triggers (no schema)."""
    for kind, wanted, have in (
        (Kind.EXTENSION, expected.extensions, live.extensions),
        (Kind.PUBLICATION, expected.publications, live.publications),
        (Kind.EVENT_TRIGGER, expected.event_triggers, live.event_triggers),
    ):
        if wanted is None or have is None:
            continue
        names = {o.name for o in have}
        for item in wanted:
            schema = item.schema if isinstance(item, Extension) else ""
            yield ExpectedObject(kind, schema, item.name, item.name, item.name in names)


def without_building(findings: Iterable[Finding], building: Collection[str]) -> tuple[Finding, ...]:
    """Findings minus "invalid" for indexes still being built: building is not broken."""
    return tuple(
        f
        for f in findings
        if not (
            f.kind is Kind.INDEX
            and f.change is Change.INVALID
            and f"{f.schema}.{f.name}" in building
        )
    )
