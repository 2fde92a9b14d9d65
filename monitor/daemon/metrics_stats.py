"""The stats check's series: index and table usage, database health, query evidence.

Rendered by :class:`monitor.daemon.metrics.Renderer`, whose docstring shows the
exposition and the rules worth knowing when writing alerts.
"""

from __future__ import annotations

from monitor.daemon.metrics_format import (
    Chunks,
    Labels,
    Lines,
    counter,
    flag,
    gauge,
    line,
    timestamp,
)
from monitor.daemon.results import StatementsResult, UsageResult
from monitor.window import evidence

INDEX_SCANS = counter("index_scans", "Index scans (pg_stat_user_indexes.idx_scan).")
INDEX_SIZE = gauge("index_size_bytes", "Size of the index on disk.")
INDEX_VALID = gauge("index_valid", "1 valid, 0 invalid and not being built; absent while building.")
INDEX_BUILDING = gauge(
    "index_building",
    "1 while pg_stat_progress_create_index shows the index being built; absent otherwise.",
)
INDEX_SCANS_SINCE = gauge(
    "index_scans_since_watch_start", "Index scans since the watch window began."
)
TABLE_SEQ_SCANS = counter("table_seq_scans", "Sequential scans (pg_stat_user_tables.seq_scan).")
TABLE_INDEX_SCANS = counter("table_index_scans", "Index scans (pg_stat_user_tables.idx_scan).")
STATS_RESET = gauge(
    "stats_reset_timestamp_seconds", "When the database's statistics were last reset (0: never)."
)
DATABASE_CONNECTIONS = gauge("database_connections", "Client sessions by state.")
LOCK_WAITING_SESSIONS = gauge("lock_waiting_sessions", "Sessions waiting for a lock.")
LONGEST_TRANSACTION = gauge(
    "longest_transaction_seconds", "Age of the oldest open transaction (other than ours)."
)
DEADLOCKS_SINCE = gauge("deadlocks_since_watch_start", "Deadlocks since the watch window began.")
ROLLBACKS_SINCE = gauge(
    "rollbacks_since_watch_start", "Rolled back transactions since the watch window began."
)

STATEMENTS_AVAILABLE = gauge(
    "statements_available", "Whether the last stats check read pg_stat_statements."
)
STATEMENT_ADVISORIES = gauge(
    "statement_advisories", "Query evidence advisories by rule (every rule, 0 when clean)."
)
STATEMENT_BASELINE_RESETS = counter(
    "statement_baseline_resets",
    "Times the statement baseline restarted during the window (statistics reset, evictions).",
)
TABLE_MEAN_BEFORE = gauge(
    "table_statement_mean_seconds_before_watch_start",
    "Mean time of the table's statements before the watch window began.",
)
TABLE_MEAN_SINCE = gauge(
    "table_statement_mean_seconds_since_watch_start",
    "Mean time of the table's statements since the watch window began.",
)
TABLE_MEAN_RATIO = gauge(
    "table_statement_mean_ratio", "Mean statement time since the window began over before it."
)
INDEX_PLANNED_STATEMENTS = gauge(
    "index_planned_statements",
    "New index: probed top statements on its table whose generic plan uses it.",
)
INDEX_NOT_PLANNED = gauge(
    "index_not_planned",
    "New index: 1 when its table's probed top statements all plan without it (after a while).",
)
STATEMENT_CALLS_SINCE = gauge(
    "statement_calls_since_watch_start", "Calls of a top statement since the window began."
)
STATEMENT_MEAN_SINCE = gauge(
    "statement_mean_seconds_since_watch_start",
    "Mean time of a top statement since the window began.",
)
STATEMENT_MEAN_BEFORE = gauge(
    "statement_mean_seconds_before_watch_start",
    "Mean time of a top statement before the window began.",
)

_INDEX_LABELS = ("target", "datname", "schemaname", "relname", "indexrelname")
_TABLE_LABELS = ("target", "datname", "schemaname", "relname")
_DATABASE_LABELS = ("target", "datname")
_CONNECTION_LABELS = ("target", "datname", "state")
_STATEMENT_RULE_LABELS = ("target", "rule", "level")
_STATEMENT_LABELS = ("target", "datname", "queryid", "fingerprint")


def usage(name: str, result: UsageResult, labels: Labels) -> Chunks:
    datname = result.datname
    lines = Lines()
    scans, size, valid, since = (
        lines.announce(family)
        for family in (INDEX_SCANS, INDEX_SIZE, INDEX_VALID, INDEX_SCANS_SINCE)
    )
    for index in result.indexes:
        series = labels(
            _INDEX_LABELS, name, datname, index.schemaname, index.relname, index.indexrelname
        )
        scans.append(line(INDEX_SCANS, series, float(index.scans)))
        size.append(line(INDEX_SIZE, series, float(index.size_bytes)))
        if index.building:  # only while building: none, the family is not announced
            lines.add(INDEX_BUILDING, series, 1.0)
        else:
            valid.append(line(INDEX_VALID, series, flag(index.valid)))
        if index.scans_since_watch_start is not None:
            since.append(line(INDEX_SCANS_SINCE, series, float(index.scans_since_watch_start)))
    seq, idx = lines.announce(TABLE_SEQ_SCANS), lines.announce(TABLE_INDEX_SCANS)
    for table in result.tables:
        series = labels(_TABLE_LABELS, name, datname, table.schemaname, table.relname)
        seq.append(line(TABLE_SEQ_SCANS, series, float(table.seq_scans)))
        idx.append(line(TABLE_INDEX_SCANS, series, float(table.index_scans)))
    database = labels(_DATABASE_LABELS, name, datname)
    health = result.health
    lines.add(STATS_RESET, database, timestamp(result.stats_reset))
    lines.announce(DATABASE_CONNECTIONS)
    for state, count in health.connections:
        lines.add(DATABASE_CONNECTIONS, labels(_CONNECTION_LABELS, name, datname, state), count)
    lines.add(LOCK_WAITING_SESSIONS, database, float(health.lock_waiting_sessions))
    lines.add(LONGEST_TRANSACTION, database, float(health.longest_transaction_seconds))
    lines.add(DEADLOCKS_SINCE, database, float(health.deadlocks_since_watch_start))
    lines.add(ROLLBACKS_SINCE, database, float(health.rollbacks_since_watch_start))
    return lines.chunks()


def statements(name: str, result: StatementsResult, labels: Labels) -> Chunks:
    datname = result.datname
    lines = Lines()
    target = labels(("target",), name)
    lines.add(STATEMENTS_AVAILABLE, target, flag(result.available))
    lines.add(STATEMENT_BASELINE_RESETS, target, float(result.resets))
    counts: dict[str, int] = {}
    for advisory in result.advisories:
        counts[advisory.rule] = counts.get(advisory.rule, 0) + 1
    for rule in evidence.RULES:
        series = labels(_STATEMENT_RULE_LABELS, name, rule, evidence.LEVELS[rule])
        lines.add(STATEMENT_ADVISORIES, series, float(counts.get(rule, 0)))
    for table in result.tables:
        series = labels(_TABLE_LABELS, name, datname, table.schemaname, table.relname)
        before, since = table.mean_ms_before_watch_start, table.mean_ms_since_watch_start
        if before is not None:
            lines.add(TABLE_MEAN_BEFORE, series, before / 1000.0)
        if since is not None:
            lines.add(TABLE_MEAN_SINCE, series, since / 1000.0)
        if before and since is not None:
            lines.add(TABLE_MEAN_RATIO, series, since / before)
    for index in result.indexes:
        series = labels(
            _INDEX_LABELS, name, datname, index.schemaname, index.relname, index.indexrelname
        )
        lines.add(INDEX_PLANNED_STATEMENTS, series, float(index.planned_statements))
        lines.add(INDEX_NOT_PLANNED, series, flag(index.not_planned))
    for statement in result.statements:
        series = labels(
            _STATEMENT_LABELS, name, datname, str(statement.queryid), statement.fingerprint
        )
        lines.add(STATEMENT_CALLS_SINCE, series, float(statement.calls_since_watch_start))
        if statement.mean_ms_since_watch_start is not None:
            lines.add(STATEMENT_MEAN_SINCE, series, statement.mean_ms_since_watch_start / 1000.0)
        if statement.mean_ms_before_watch_start is not None:
            lines.add(STATEMENT_MEAN_BEFORE, series, statement.mean_ms_before_watch_start / 1000.0)
    return lines.chunks()
