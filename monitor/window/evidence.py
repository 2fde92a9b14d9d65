"""Query evidence across the watch window: did the statements on the spec's tables get faster,
and do their plans use the new indexes? Pure; the I/O is ``monitor/postgres/statements.py``.

``pg_stat_statements`` counters only grow until a reset. The first sample of the
window is the baseline: each statement's counters then are its history *before*
the window. After that, what a statement gained between two samples is added to
its counters *since* the window started. A gain is never computed across a
reset: when ``pg_stat_statements_info.stats_reset`` moves, a statement leaves the
view (evicted, or reset on its own) or its counters go down, its counters
restarted from zero and all of their new value is new, so a new baseline starts
and the reset is recorded. What happened between the last sample and the reset
is lost; nothing before and after it is mixed.

Statements are kept when their normalised text touches one of the spec's tables
(:mod:`monitor.window.shapes`).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.postgres.statements import Plan, RawRow
from monitor.schema.advisors import Advisory, Category, Level
from monitor.window import strict
from monitor.window.shapes import Shape
from monitor.window.watch import CorruptStateFile, StateFiles

RESETS_KEPT = 50  # the newest; older ones are counted
STATE_FILE = "statements.json"


# --- the window's counters ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Counters:
    calls: int = 0
    total_ms: float = 0.0
    rows: int = 0
    blocks: int = 0

    def plus(self, other: Counters) -> Counters:
        return Counters(
            self.calls + other.calls,
            self.total_ms + other.total_ms,
            self.rows + other.rows,
            self.blocks + other.blocks,
        )

    def gained_since(self, earlier: Counters) -> Counters | None:
        """What grew since `earlier`; None when a counter went down (it was reset)."""
        if (
            self.calls < earlier.calls
            or self.total_ms < earlier.total_ms
            or self.rows < earlier.rows
            or self.blocks < earlier.blocks
        ):
            return None
        return Counters(
            self.calls - earlier.calls,
            self.total_ms - earlier.total_ms,
            self.rows - earlier.rows,
            self.blocks - earlier.blocks,
        )

    @property
    def mean_ms(self) -> float | None:
        return self.total_ms / self.calls if self.calls else None


ZERO = Counters()


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """The latest plan probe of a statement."""

    at: datetime
    indexes: tuple[str, ...]
    error: str | None = None
    refused: bool = False


@dataclass(frozen=True, slots=True)
class Statement:
    queryid: int
    fingerprint: str
    excerpt: str
    tables: tuple[str, ...]
    before: Counters | None  # at the window's first sample; None: first seen during the window
    since: Counters  # gained during the window, each gain within one baseline
    last: Counters | None  # raw at the last sample; None: it has left the view since
    plannable: bool = False
    parameters: int = 0
    plan: PlanRecord | None = None

    @property
    def change(self) -> float | None:
        """Mean time since the start over mean time before it, minus one (-0.4: 40 % faster)."""
        before = self.before.mean_ms if self.before is not None else None
        since = self.since.mean_ms
        if before is None or since is None or before <= 0:
            return None
        return since / before - 1.0


@dataclass(frozen=True, slots=True)
class Reset:
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class StatementsState:
    start: datetime  # the watch window's start: a file of another window is not ours
    samples: int = 0
    stats_reset: datetime | None = None  # pg_stat_statements_info.stats_reset at the last sample
    resets: tuple[Reset, ...] = ()  # the newest RESETS_KEPT
    resets_total: int = 0
    unavailable: str | None = None  # why pg_stat_statements could not be read, last time
    statements: Mapping[int, Statement] = field(default_factory=dict)


def begin(start: datetime) -> StatementsState:
    return StatementsState(start=start)


def observe(
    state: StatementsState,
    rows: Iterable[tuple[RawRow, Shape]],
    stats_reset: datetime | None,
    now: datetime,
) -> tuple[StatementsState, tuple[str, ...]]:
    """Fold one sample of the spec's statements in; also returns why baselines restarted."""
    first = state.samples == 0
    reset_all = not first and stats_reset != state.stats_reset
    statements: dict[int, Statement] = {}
    restarted = 0
    for (queryid, _, calls, total_ms, returned, blocks, _), shape in rows:
        known = state.statements.get(queryid)
        last = known.last if known is not None else None
        if (
            not reset_all
            and last is not None
            and known is not None
            and calls == last.calls
            and total_ms == last.total_ms
            and blocks == last.blocks
        ):
            statements[queryid] = known  # idle since the last sample: most of them
            continue
        current = Counters(calls, total_ms, returned, blocks)
        if known is None:
            # Seen first at the baseline: its counters are history. Later: it is new, or
            # came back after an eviction; either way all of its counts are the window's.
            before, since = (current, ZERO) if first else (None, current)
            statements[queryid] = Statement(
                queryid,
                shape.fingerprint,
                shape.excerpt,
                shape.tables,
                before,
                since,
                current,
                shape.plannable,
                shape.parameters,
            )
            continue
        gained = None if reset_all or last is None else current.gained_since(last)
        if gained is None:
            gained = current
            restarted += int(not reset_all and last is not None)
        statements[queryid] = replace(known, since=known.since.plus(gained), last=current)
    left = 0
    for queryid, known in state.statements.items():
        if queryid not in statements:
            left += int(known.last is not None)
            statements[queryid] = replace(known, last=None) if known.last is not None else known
    reasons = []
    if reset_all:
        reasons.append(f"pg_stat_statements was reset at {_iso(stats_reset)}")
    if restarted:
        reasons.append(f"{restarted} statement(s) had their counters go down (reset one by one)")
    if left and not reset_all:
        reasons.append(f"{left} statement(s) left pg_stat_statements (evicted or reset)")
    resets = state.resets + tuple(Reset(now, reason) for reason in reasons)
    observed = replace(
        state,
        samples=state.samples + 1,
        stats_reset=stats_reset,
        resets=resets[-RESETS_KEPT:],
        resets_total=state.resets_total + len(reasons),
        unavailable=None,
        statements=statements,
    )
    return observed, tuple(reasons)


def with_plans(state: StatementsState, plans: Mapping[int, Plan], now: datetime) -> StatementsState:
    if not plans:
        return state
    statements = dict(state.statements)
    for queryid, plan in plans.items():
        known = statements.get(queryid)
        if known is not None:
            record = PlanRecord(now, plan.indexes, plan.error, plan.refused)
            statements[queryid] = replace(known, plan=record)
    return replace(state, statements=statements)


def _weight(statement: Statement) -> tuple[float, float, int]:
    before = statement.before.total_ms if statement.before is not None else 0.0
    return (-statement.since.total_ms, -before, statement.queryid)


def ranked(
    state: StatementsState, count: int, tables: AbstractSet[str] | None = None
) -> list[Statement]:
    """The `count` statements (on `tables`, if given) with the most time since the window
    started, then before it; ties by queryid, so the set does not flap."""
    chosen: Iterable[Statement] = state.statements.values()
    if tables is not None:
        chosen = [s for s in chosen if not tables.isdisjoint(s.tables)]
    return heapq.nsmallest(count, chosen, key=_weight)


# --- what it shows: pure summaries ----------------------------------------------------------

# A statement needs this many calls in the window before its mean can be called slower.
SLOWER_MIN_CALLS = 20
ADVISORIES_KEPT = 20  # per rule, worst first


@dataclass(frozen=True, slots=True)
class TableTiming:
    schema: str
    table: str
    before: Counters  # every kept statement on the table, at the baseline
    since: Counters

    @property
    def ratio(self) -> float | None:
        before, since = self.before.mean_ms, self.since.mean_ms
        return since / before if before and since is not None else None


@dataclass(frozen=True, slots=True)
class IndexPlans:
    """A new index and the probed top statements on its table: which plan through it."""

    schema: str
    table: str
    name: str
    using: tuple[Statement, ...]
    not_using: tuple[Statement, ...]  # planned without it (their plan's indexes say what instead)
    unplanned: int  # probes that gave no plan (refused, or the text cannot be prepared)


def table_timings(state: StatementsState, tables: Iterable[tuple[str, str]]) -> list[TableTiming]:
    # Plain sums, not Counters: this runs over every kept statement each cycle.
    sums: dict[str, list[float]] = {f"{s}.{t}": [0, 0.0, 0, 0, 0, 0.0, 0, 0] for s, t in tables}
    for statement in state.statements.values():
        before, since = statement.before or ZERO, statement.since
        for table in statement.tables:
            found = sums.get(table)
            if found is not None:
                found[0] += before.calls
                found[1] += before.total_ms
                found[2] += before.rows
                found[3] += before.blocks
                found[4] += since.calls
                found[5] += since.total_ms
                found[6] += since.rows
                found[7] += since.blocks
    timings = []
    for key, figures in sums.items():
        schema, _, table = key.partition(".")
        calls, total, rows, blocks, *after = figures
        timings.append(
            TableTiming(
                schema,
                table,
                Counters(int(calls), total, int(rows), int(blocks)),
                Counters(int(after[0]), after[1], int(after[2]), int(after[3])),
            )
        )
    return timings


def probe_candidates(
    state: StatementsState, tables: AbstractSet[str], count: int
) -> list[Statement]:
    """The top `count` reads still in the view on `tables` (those with a new index): the
    statements worth a plan probe."""
    chosen = [
        s
        for s in state.statements.values()
        if s.plannable and s.last is not None and not tables.isdisjoint(s.tables)
    ]
    return heapq.nsmallest(count, chosen, key=_weight)


def index_plans(
    state: StatementsState, new_indexes: Iterable[tuple[str, str, str]], count: int | None
) -> list[IndexPlans]:
    """Per new index (schema, table, name): the latest plans of its table's top `count`
    statements (None: of every statement on it that was ever probed, for the report)."""
    found = []
    for schema, table, name in new_indexes:
        on_table = frozenset((f"{schema}.{table}",))
        chosen = (
            ranked(state, len(state.statements), on_table)
            if count is None
            else probe_candidates(state, on_table, count)
        )
        probed = [s for s in chosen if s.plan is not None]
        planned = [s for s in probed if s.plan is not None and s.plan.error is None]
        found.append(
            IndexPlans(
                schema,
                table,
                name,
                using=tuple(s for s in planned if s.plan and name in s.plan.indexes),
                not_using=tuple(s for s in planned if s.plan and name not in s.plan.indexes),
                unplanned=len(probed) - len(planned),
            )
        )
    return found


def combined(statements: Iterable[Statement]) -> tuple[Counters, Counters]:
    """Before and since summed over statements that ran before the window too: a mean
    change of a group compares the same statements on both sides."""
    before, since = ZERO, ZERO
    for statement in statements:
        if statement.before is not None and statement.before.calls:
            before, since = before.plus(statement.before), since.plus(statement.since)
    return before, since


def advisories(
    state: StatementsState,
    plans: Iterable[IndexPlans],
    *,
    now: datetime,
    unplanned_after: float,
    slower_ratio: float,
) -> tuple[Advisory, ...]:
    """pg_stat_statements missing; new indexes no top statement plans through (once the
    window is `unplanned_after` seconds old); statements slower by more than `slower_ratio`;
    probes refused. Each a single advisory however many cycles it lasts."""
    if state.unavailable is not None:
        return (
            _advisory(
                STATEMENTS_MISSING,
                "",
                None,
                "pg_stat_statements",
                f"no query evidence: {state.unavailable}",
                "install pg_stat_statements (shared_preload_libraries, CREATE EXTENSION) and"
                " grant the monitor's role pg_read_all_stats (docs/deploy.md)",
            ),
        )
    found: list[Advisory] = []
    old_enough = (now - state.start).total_seconds() >= unplanned_after
    for index in plans:
        if old_enough and index.not_using and not index.using:
            chosen = sorted({i for s in index.not_using if s.plan for i in s.plan.indexes})
            found.append(
                _advisory(
                    INDEX_NOT_PLANNED,
                    index.schema,
                    index.table,
                    index.name,
                    f"none of the {len(index.not_using)} top statements on {index.schema}."
                    f"{index.table} plans through {index.name}"
                    f" (their plans use: {', '.join(chosen) or 'no index'})",
                    "compare the index's columns and WHERE with the statements' filters"
                    " (docs/runbooks.md#schemanewindexnotplanned)",
                )
            )
    slower = [
        s
        for s in state.statements.values()
        if s.since.calls >= SLOWER_MIN_CALLS and (s.change or 0.0) + 1.0 > slower_ratio
    ]
    slower.sort(key=lambda s: (-(s.change or 0.0), s.queryid))
    for statement in slower[:ADVISORIES_KEPT]:
        found.append(
            _advisory(
                STATEMENT_SLOWER,
                *_table_of(statement),
                statement.fingerprint,
                f"statement {statement.fingerprint} ({statement.excerpt}) takes"
                f" {_ms(statement.since.mean_ms)} on average since the window started,"
                f" {_ms(statement.before.mean_ms if statement.before else None)} before",
                "look at its plan (docs/runbooks.md#schemastatementslower)",
            )
        )
    refused = [s for s in state.statements.values() if s.plan is not None and s.plan.refused]
    for statement in sorted(refused, key=lambda s: s.queryid)[:ADVISORIES_KEPT]:
        found.append(
            _advisory(
                PROBE_REFUSED,
                *_table_of(statement),
                statement.fingerprint,
                f"the monitor's role may not plan statement {statement.fingerprint}:"
                f" {statement.plan.error if statement.plan else ''}",
                "grant the monitor's role SELECT on the table (docs/deploy.md)",
            )
        )
    return tuple(found)


STATEMENTS_MISSING = "pg_stat_statements_missing"
INDEX_NOT_PLANNED = "new_index_not_planned"
STATEMENT_SLOWER = "statement_slower"
PROBE_REFUSED = "plan_probe_refused"
RULES = (STATEMENTS_MISSING, INDEX_NOT_PLANNED, STATEMENT_SLOWER, PROBE_REFUSED)
LEVELS = {
    STATEMENTS_MISSING: Level.INFO,
    INDEX_NOT_PLANNED: Level.WARNING,
    STATEMENT_SLOWER: Level.WARNING,
    PROBE_REFUSED: Level.INFO,
}


def _advisory(
    rule: str, schema: str, table: str | None, name: str, message: str, fix: str
) -> Advisory:
    return Advisory(rule, LEVELS[rule], Category.PERFORMANCE, schema, table, name, message, fix)


def _table_of(statement: Statement) -> tuple[str, str | None]:
    schema, _, table = statement.tables[0].partition(".")
    return schema, table


def _ms(value: float | None) -> str:
    return "no calls" if value is None else f"{value:.3g} ms"


# --- persistence -------------------------------------------------------------------------------


def path(files: StateFiles) -> Path:
    return files.directory / STATE_FILE


def save(files: StateFiles, state: StatementsState) -> None:
    files.write(path(files), json.dumps(to_json(state), separators=(",", ":")))


def load(files: StateFiles) -> StatementsState | None:
    """The saved state, None when there is none; :class:`CorruptStateFile` when unreadable.

    Read as the window's own files are (``StateFiles``): finite numbers, bounded depth,
    then every value checked before anything computes with it."""
    where = path(files)
    data = files._read(where)
    if data is None:
        return None
    try:
        return from_json(data)
    except KeyError as exc:
        raise CorruptStateFile(where, f"missing {exc}") from None
    except (ValueError, TypeError) as exc:
        raise CorruptStateFile(where, str(exc)) from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _counters_json(counters: Counters | None) -> list[Any] | None:
    if counters is None:
        return None
    return [counters.calls, counters.total_ms, counters.rows, counters.blocks]


def to_json(state: StatementsState) -> dict[str, Any]:
    return {
        "start": _iso(state.start),
        "samples": state.samples,
        "stats_reset": _iso(state.stats_reset),
        "resets": [{"at": _iso(r.at), "reason": r.reason} for r in state.resets],
        "resets_total": state.resets_total,
        "unavailable": state.unavailable,
        "statements": {
            str(q): {
                "fingerprint": s.fingerprint,
                "excerpt": s.excerpt,
                "tables": list(s.tables),
                "before": _counters_json(s.before),
                "since": _counters_json(s.since),
                "last": _counters_json(s.last),
                "plannable": s.plannable,
                "parameters": s.parameters,
                "plan": None
                if s.plan is None
                else {
                    "at": _iso(s.plan.at),
                    "indexes": list(s.plan.indexes),
                    "error": s.plan.error,
                    "refused": s.plan.refused,
                },
            }
            for q, s in sorted(state.statements.items())
        },
    }


def _counters(value: Any, what: str) -> Counters:
    items = strict.items(value, what)
    if len(items) != 4:
        raise ValueError(f"{what}: expected [calls, total_ms, rows, blocks]")
    return Counters(
        strict.count(items[0], f"{what}[0]"),
        strict.seconds(items[1], f"{what}[1]"),  # milliseconds: the same rule, finite and >= 0
        strict.count(items[2], f"{what}[2]"),
        strict.count(items[3], f"{what}[3]"),
    )


def _optional_counters(value: Any, what: str) -> Counters | None:
    return None if value is None else _counters(value, what)


def _boolean(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{what}: expected true or false")
    return value


def _queryid(key: str) -> int:
    queryid = int(key)
    if not -(2**63) <= queryid < 2**63:
        raise ValueError(f"statements: {key[:40]!r} is not a queryid")
    return queryid


def _plan(value: Any, what: str) -> PlanRecord | None:
    if value is None:
        return None
    item = strict.mapping(value, what)
    return PlanRecord(
        at=strict.moment(item["at"], f"{what}.at"),
        indexes=tuple(
            strict.text(i, f"{what}.indexes") for i in strict.items(item["indexes"], what)
        ),
        error=strict.optional_text(item["error"], f"{what}.error"),
        refused=_boolean(item["refused"], f"{what}.refused"),
    )


def _statement(queryid: int, value: Any) -> Statement:
    what = f"statements.{queryid}"
    item = strict.mapping(value, what)
    return Statement(
        queryid=queryid,
        fingerprint=strict.text(item["fingerprint"], f"{what}.fingerprint"),
        excerpt=strict.text(item["excerpt"], f"{what}.excerpt"),
        tables=tuple(strict.text(t, f"{what}.tables") for t in strict.items(item["tables"], what)),
        before=_optional_counters(item["before"], f"{what}.before"),
        since=_counters(item["since"], f"{what}.since"),
        last=_optional_counters(item["last"], f"{what}.last"),
        plannable=_boolean(item["plannable"], f"{what}.plannable"),
        parameters=strict.count(item["parameters"], f"{what}.parameters"),
        plan=_plan(item["plan"], f"{what}.plan"),
    )


def from_json(data: Any) -> StatementsState:
    top = strict.mapping(data, "statements state")
    resets = tuple(
        Reset(
            strict.moment(strict.mapping(r, "resets")["at"], "resets.at"),
            strict.text(r["reason"], "resets.reason"),
        )
        for r in strict.items(top["resets"], "resets")
    )
    statements = strict.mapping(top["statements"], "statements")
    return StatementsState(
        start=strict.moment(top["start"], "start"),
        samples=strict.count(top["samples"], "samples"),
        stats_reset=strict.optional_moment(top["stats_reset"], "stats_reset"),
        resets=resets,
        resets_total=strict.count(top["resets_total"], "resets_total"),
        unavailable=strict.optional_text(top["unavailable"], "unavailable"),
        statements={_queryid(k): _statement(_queryid(k), v) for k, v in statements.items()},
    )
