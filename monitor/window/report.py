"""The watch-window report: did the deploy do what it promised, with the evidence.

It answers the success criteria of the deployment note one by one
(migrations applied in order, table structure verified, indexes created and
valid, RLS policies active), lists every drift seen during the window with
when it was first and last seen, says which new indexes were used and which
never were, and how the database's health held up.

Advisories (what a reviewer would flag, not drift) seen by the last drift
check get a section of their own: they never fail the window.

It is built only from what the daemon persisted in ``state_dir`` and from
the spec, so `schema-monitor report` gives the same answer from another
process, at any time, without touching the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.schema.advisors import Advisory, IndexActivity
from monitor.schema.compare.diff import migration_version
from monitor.schema.model import Finding, Kind, State, Table
from monitor.window import evidence as statement_evidence
from monitor.window.evidence import Counters, IndexPlans, Statement, StatementsState
from monitor.window.watch import (
    DriftRecord,
    Evidence,
    History,
    StateFiles,
    WatchState,
    WindowStatus,
    status,
)

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"
_STRUCTURE_KINDS = frozenset({Kind.TABLE, Kind.COLUMN, Kind.CONSTRAINT})


@dataclass(frozen=True, slots=True)
class Criterion:
    title: str
    verdict: str  # pass | fail | unknown
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NewIndex:
    schema: str
    table: str
    name: str
    migration: str | None
    scans_since_watch_start: int | None  # None: not sampled yet (or missing)

    @property
    def used(self) -> bool | None:
        return None if self.scans_since_watch_start is None else self.scans_since_watch_start > 0


@dataclass(frozen=True, slots=True)
class QueryEvidence:
    """pg_stat_statements across the window: per new index, the statements that plan
    through it and how their mean time moved; per table, the same for all its statements."""

    unavailable: str | None
    samples: int
    resets: tuple[statement_evidence.Reset, ...]
    resets_total: int
    indexes: tuple[IndexPlans, ...]
    tables: tuple[statement_evidence.TableTiming, ...]


@dataclass(frozen=True, slots=True)
class Report:
    target: str
    generated_at: datetime
    window: WindowStatus | None
    window_ended: datetime | None
    last_check: datetime | None
    criteria: tuple[Criterion, ...]
    drift: tuple[DriftRecord, ...]
    new_indexes: tuple[NewIndex, ...]
    health: dict[str, Any]
    advisories: tuple[Advisory, ...] = ()  # at the last drift check
    queries: QueryEvidence | None = None  # None: the daemon kept no statement evidence

    @property
    def passed(self) -> bool:
        return all(c.verdict == PASS for c in self.criteria)


def build(
    target: str,
    expected: State,
    watch: WatchState | None,
    history: History,
    evidence: Evidence | None,
    *,
    duration_seconds: float,
    new_indexes_since: str | None,
    now: datetime,
    statements: StatementsState | None = None,
) -> Report:
    """The report of one target, from its spec and its persisted state. Pure."""
    window = status(watch, duration_seconds, now) if watch is not None else None
    in_window = tuple(r for r in history.records if window is None or r.last_seen >= window.start)
    added = new_indexes(expected, watch, new_indexes_since)
    return Report(
        target=target,
        generated_at=now,
        window=window,
        window_ended=watch.ended if watch is not None else None,
        last_check=evidence.checked_at if evidence is not None else None,
        criteria=(
            _migrations(expected, evidence),
            _structure(expected, evidence),
            _indexes(expected, evidence),
            _rls(expected, evidence),
            _drift(in_window, evidence),
            _health(watch),
        ),
        drift=in_window,
        new_indexes=added,
        health=_health_figures(watch),
        advisories=evidence.advisories if evidence is not None else (),
        queries=_queries(expected, statements, added),
    )


def _queries(
    expected: State, state: StatementsState | None, added: Sequence[NewIndex]
) -> QueryEvidence | None:
    if state is None:
        return None
    return QueryEvidence(
        unavailable=state.unavailable,
        samples=state.samples,
        resets=state.resets,
        resets_total=state.resets_total,
        indexes=tuple(
            statement_evidence.index_plans(
                state, [(i.schema, i.table, i.name) for i in added], None
            )
        ),
        tables=tuple(
            t
            for t in statement_evidence.table_timings(
                state, [(schema, table.name) for schema, table in _tables(expected)]
            )
            if t.before.calls or t.since.calls
        ),
    )


def _no_check(title: str) -> Criterion:
    return Criterion(title, UNKNOWN, ("no drift check has completed yet",))


def _verdict(problems: Sequence[Finding], good: Iterable[str]) -> tuple[str, tuple[str, ...]]:
    if problems:
        return FAIL, tuple(f.message for f in problems)
    return PASS, tuple(good)


def _migrations(expected: State, evidence: Evidence | None) -> Criterion:
    title = "Migrations applied in order"
    if expected.ledger is None:
        return Criterion(title, UNKNOWN, ("the spec lists no migrations to check",))
    if evidence is None:
        return _no_check(title)
    problems = [f for f in evidence.findings if f.kind is Kind.MIGRATION]
    applied = evidence.ledger or ()
    good = [
        f"all {len(expected.ledger.applied)} expected migrations recorded in "
        f"{expected.ledger.table}, in order: {', '.join(applied)}"
    ]
    verdict, lines = _verdict(problems, good)
    return Criterion(title, verdict, lines)


def _tables(expected: State) -> list[tuple[str, Table]]:
    return [(schema.name, table) for schema in expected.schemas for table in schema.tables]


def _structure(expected: State, evidence: Evidence | None) -> Criterion:
    title = "Table structure verified"
    if evidence is None:
        return _no_check(title)
    structural = [f for f in evidence.findings if f.kind in _STRUCTURE_KINDS]
    good = []
    for schema, table in _tables(expected):
        columns = f"{len(table.columns)} columns" if table.columns is not None else "columns"
        constraints = (
            f", {len(table.constraints)} constraints" if table.constraints is not None else ""
        )
        good.append(f"{schema}.{table.name}: {columns}{constraints} as expected")
    return Criterion(title, *_verdict(structural, good))


def _indexes(expected: State, evidence: Evidence | None) -> Criterion:
    title = "Indexes created and valid"
    if evidence is None:
        return _no_check(title)
    problems = [f for f in evidence.findings if f.kind is Kind.INDEX]
    building = set(evidence.building)
    good = []
    for schema, table in _tables(expected):
        for index in table.indexes or ():
            state = "being built" if f"{schema}.{index.name}" in building else "present and valid"
            good.append(f"{schema}.{table.name}.{index.name}: {state}")
    verdict, lines = _verdict(problems, good)
    if verdict == PASS and building & {
        f"{schema}.{i.name}" for schema, t in _tables(expected) for i in t.indexes or ()
    }:
        verdict = UNKNOWN  # a build in progress may still fail
    return Criterion(title, verdict, lines)


def _rls(expected: State, evidence: Evidence | None) -> Criterion:
    title = "RLS policies active"
    if evidence is None:
        return _no_check(title)
    problems = [f for f in evidence.findings if f.kind in (Kind.RLS, Kind.POLICY)]
    good = []
    for schema, table in _tables(expected):
        if table.rls is not None and table.rls.enabled:
            policies = table.policies or ()
            names = ", ".join(p.name for p in policies)
            count = f"{len(policies)} {'policy' if len(policies) == 1 else 'policies'}"
            good.append(f"{schema}.{table.name}: RLS enabled, {count} active ({names})")
    if not good:
        return Criterion(title, UNKNOWN, ("the spec expects RLS on no table",))
    return Criterion(title, *_verdict(problems, good))


def _drift(records: Sequence[DriftRecord], evidence: Evidence | None) -> Criterion:
    title = "No drift during the watch window"
    if evidence is None and not records:
        return _no_check(title)
    if not records:
        return Criterion(title, PASS, ("no check during the window found any drift",))
    lines = tuple(
        f"{r.finding.message}: first seen {_iso(r.first_seen)}, last seen {_iso(r.last_seen)}, "
        + (f"resolved {_iso(r.resolved_at)}" if r.resolved_at else "still present")
        for r in records
    )
    return Criterion(title, FAIL, lines)


def _health(watch: WatchState | None) -> Criterion:
    title = "Database health during the window"
    if watch is None or watch.samples == 0:
        return Criterion(title, UNKNOWN, ("no statistics sample has completed yet",))
    figures = _health_figures(watch)
    lines = tuple(f"{name.replace('_', ' ')}: {value}" for name, value in figures.items())
    verdict = FAIL if watch.deadlocks.since > 0 else PASS
    return Criterion(title, verdict, lines)


def _health_figures(watch: WatchState | None) -> dict[str, Any]:
    if watch is None:
        return {}
    return {
        "deadlocks": watch.deadlocks.since,
        "rollbacks": watch.rollbacks.since,
        "peak_connections": watch.peaks.connections,
        "peak_lock_waiting_sessions": watch.peaks.lock_waiting_sessions,
        "longest_transaction_seconds": round(watch.peaks.longest_transaction_seconds, 1),
        "statistics_resets": watch.resets,
        "failed_checks": watch.failed_checks,
        "samples": watch.samples,
    }


def new_indexes(
    expected: State, watch: WatchState | None, since: str | None
) -> tuple[NewIndex, ...]:
    """The spec's indexes that a deploy adds: not backing a constraint, and from a migration
    at or after `since` when given."""
    found = []
    for schema, table in _tables(expected):
        for index in table.indexes or ():
            if index.constraint is not None:
                continue
            if since is not None and (
                index.migration is None or migration_version(index.migration) < since
            ):
                continue
            counter = watch.indexes.get(f"{schema}.{index.name}") if watch is not None else None
            found.append(
                NewIndex(
                    schema=schema,
                    table=table.name,
                    name=index.name,
                    migration=index.migration,
                    scans_since_watch_start=counter.since if counter is not None else None,
                )
            )
    return tuple(found)


def index_activity(watch: WatchState | None, now: datetime) -> IndexActivity | None:
    """Index scans since the window began, for the unused_index advisor; None before the
    second statistics sample (one sample is only the baseline)."""
    if watch is None or watch.samples < 2:
        return None
    return IndexActivity(
        scans={key: counter.since for key, counter in watch.indexes.items()},
        observed_seconds=(now - watch.start).total_seconds(),
    )


# --- rendering ---------------------------------------------------------------------------


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z") if value else "never"


def _iso_or_none(value: datetime | None) -> str | None:
    return _iso(value) if value else None


def to_json(report: Report) -> dict[str, Any]:
    window = report.window
    return {
        "target": report.target,
        "generated_at": _iso(report.generated_at),
        "passed": report.passed,
        "window": None
        if window is None
        else {
            "start": _iso(window.start),
            "end": _iso(window.end),
            "active": window.active,
            "report_written_at": _iso(report.window_ended) if report.window_ended else None,
        },
        "last_check": _iso(report.last_check) if report.last_check else None,
        "criteria": [
            {"title": c.title, "verdict": c.verdict, "evidence": list(c.evidence)}
            for c in report.criteria
        ],
        "drift": [r.as_json(_iso_or_none) for r in report.drift],
        "new_indexes": [
            {
                "schema": i.schema,
                "table": i.table,
                "name": i.name,
                "migration": i.migration,
                "scans_since_watch_start": i.scans_since_watch_start,
                "used": i.used,
            }
            for i in report.new_indexes
        ],
        "health": report.health,
        "advisories": [a.as_json() for a in report.advisories],
        "query_evidence": _queries_json(report.queries) if report.queries else None,
    }


def _timing_json(before: Counters | None, since: Counters) -> dict[str, Any]:
    mean_before = before.mean_ms if before is not None else None
    return {
        "calls_before": before.calls if before is not None else None,
        "mean_ms_before": _round(mean_before),
        "calls_during": since.calls,
        "mean_ms_during": _round(since.mean_ms),
        "change_percent": _change(mean_before, since.mean_ms),
    }


def _statement_json(statement: Statement) -> dict[str, Any]:
    plan = statement.plan
    return {
        "queryid": str(statement.queryid),
        "fingerprint": statement.fingerprint,
        "query": statement.excerpt,
        **_timing_json(statement.before, statement.since),
        "plan_indexes": list(plan.indexes) if plan is not None else None,
        "planned_at": _iso(plan.at) if plan is not None else None,
    }


def _queries_json(queries: QueryEvidence) -> dict[str, Any]:
    return {
        "unavailable": queries.unavailable,
        "samples": queries.samples,
        "resets": [{"at": _iso(r.at), "reason": r.reason} for r in queries.resets],
        "resets_total": queries.resets_total,
        "indexes": [
            {
                "schema": i.schema,
                "table": i.table,
                "name": i.name,
                **_timing_json(*statement_evidence.combined(i.using)),
                "using": [_statement_json(s) for s in i.using],
                "not_using": [_statement_json(s) for s in i.not_using],
                "not_planned": i.unplanned,
            }
            for i in queries.indexes
        ],
        "tables": [
            {"schema": t.schema, "table": t.table, **_timing_json(t.before, t.since)}
            for t in queries.tables
        ],
    }


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def _change(before: float | None, during: float | None) -> float | None:
    """Mean time during over before, in percent: -45.0 is 45 % faster."""
    if before is None or during is None or before <= 0:
        return None
    return round((during / before - 1.0) * 100.0, 1)


_MARK = {PASS: "PASS", FAIL: "FAIL", UNKNOWN: "UNKNOWN"}


def to_markdown(report: Report) -> str:
    lines = [f"# Watch window report: {report.target}", ""]
    window = report.window
    if window is None:
        lines.append("The watch window has not started: the daemon has not run for this target.")
    else:
        state = "active" if window.active else "ended" if report.generated_at >= window.end else ""
        lines.append(
            f"- Window: {_iso(window.start)} to {_iso(window.end)} ({state or 'not started'})"
        )
    lines.append(f"- Last drift check: {_iso(report.last_check)}")
    lines.append(f"- Generated: {_iso(report.generated_at)}")
    lines += ["", "## Success criteria", ""]
    for criterion in report.criteria:
        lines.append(f"### {_MARK[criterion.verdict]}: {criterion.title}")
        lines.append("")
        lines += [f"- {line}" for line in criterion.evidence]
        lines.append("")
    lines.append(
        "Not covered by this report: backend API tests and documentation; check those by hand."
    )
    lines += ["", "## New indexes", ""]
    if not report.new_indexes:
        lines.append("The spec names no new index.")
    else:
        lines += ["| Index | Table | Scans since window start | Used |", "|---|---|---|---|"]
        for index in report.new_indexes:
            scans = (
                "not sampled"
                if index.scans_since_watch_start is None
                else index.scans_since_watch_start
            )
            used = {True: "yes", False: "never", None: "unknown"}[index.used]
            lines.append(f"| {index.name} | {index.schema}.{index.table} | {scans} | {used} |")
    if report.queries is not None:
        lines += ["", *_query_lines(report.queries)]
    lines += ["", "## Advisories", ""]
    lines += _advisory_lines(report.advisories)
    lines.append("")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g} ms"


def _percent(before: float | None, during: float | None) -> str:
    change = _change(before, during)
    return "-" if change is None else f"{change:+.1f} %"


def _statement_row(statement: Statement, extra: str) -> str:
    before = statement.before.mean_ms if statement.before is not None else None
    since = statement.since
    cells = (
        f"`{statement.fingerprint}` {statement.excerpt}",
        str(since.calls),
        _ms(before),
        _ms(since.mean_ms),
        _percent(before, since.mean_ms),
        extra,
    )
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _query_lines(queries: QueryEvidence) -> list[str]:
    lines = ["## Query evidence (pg_stat_statements)", ""]
    if queries.unavailable is not None:
        lines += [f"No query evidence: {queries.unavailable}.", ""]
    if queries.samples == 0:
        return [*lines, "No statement statistics were sampled during the window."]
    lines.append(
        f"Mean statement times during the window against before it, from {queries.samples}"
        " samples. A statistics reset starts a new baseline: no figure spans one."
    )
    for reset in queries.resets:
        lines.append(f"- New baseline at {_iso(reset.at)}: {reset.reason}")
    if queries.resets_total > len(queries.resets):
        lines.append(f"- ({queries.resets_total - len(queries.resets)} earlier ones not listed)")
    head = "| Statement | Calls during | Mean before | Mean during | Change | Plan |"
    for index in queries.indexes:
        before, since = statement_evidence.combined(index.using)
        lines += ["", f"### {index.name} on {index.schema}.{index.table}", ""]
        probed = len(index.using) + len(index.not_using)
        if not probed:
            lines.append("No plan probe of a top statement on the table yet.")
            continue
        lines.append(
            f"{len(index.using)} of {probed} probed top statements plan through it; together"
            f" their mean time went from {_ms(before.mean_ms)} to {_ms(since.mean_ms)}"
            f" ({_percent(before.mean_ms, since.mean_ms)}) over {since.calls} calls."
        )
        lines += ["", head, "|---|---|---|---|---|---|"]
        lines += [_statement_row(s, "uses it") for s in index.using]
        for statement in index.not_using:
            used = ", ".join(statement.plan.indexes) if statement.plan else ""
            lines.append(_statement_row(statement, f"uses {used or 'no index'}"))
        if index.not_using:
            lines.append(
                "\nPlans are generic (parameters unknown): a partial index whose WHERE a"
                " parameter would have to prove (`is_active = $2`) is never in them, while the"
                " statement's own executions may use it; its mean time says whether they do."
            )
        if index.unplanned:
            lines.append(f"\n{index.unplanned} more could not be planned (see the log).")
    if queries.tables:
        lines += ["", "### Tables", "", "| Table | Calls before | Mean before | Calls during"]
        lines[-1] += " | Mean during | Change |"
        lines.append("|---|---|---|---|---|---|")
        for t in queries.tables:
            b, d = t.before.mean_ms, t.since.mean_ms
            lines.append(
                f"| {t.schema}.{t.table} | {t.before.calls} | {_ms(b)} | {t.since.calls}"
                f" | {_ms(d)} | {_percent(b, d)} |"
            )
    return lines


def _advisory_lines(advisories: Sequence[Advisory]) -> list[str]:
    if not advisories:
        return ["The last drift check raised no advisory (docs/advisors.md lists the rules)."]
    lines = [
        "Not drift: what a reviewer would flag in the database as it is (docs/advisors.md).",
        "",
        "| Level | Rule | Object | Finding | Fix |",
        "|---|---|---|---|---|",
    ]
    for a in advisories:
        cells = (a.level.value, a.rule, a.qualified_name, a.message, a.remediation)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# --- per target ------------------------------------------------------------------------------


def for_target(
    files: StateFiles,
    expected: State,
    *,
    duration_seconds: float,
    new_indexes_since: str | None,
    now: datetime,
) -> Report:
    """The report of one target from what its state files hold now."""
    return build(
        files.target,
        expected,
        files.load_watch(),
        files.load_history(),
        files.load_evidence(),
        duration_seconds=duration_seconds,
        new_indexes_since=new_indexes_since,
        now=now,
        statements=statement_evidence.load(files),
    )


def write_files(files: StateFiles, report: Report) -> None:
    files.write(files.report_markdown, to_markdown(report))
    files.write(files.report_json, json.dumps(to_json(report), indent=2) + "\n")
