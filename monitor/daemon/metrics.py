"""The /metrics exposition, rendered from the latest immutable results.

Each new :class:`~monitor.daemon.results.Results` value is rendered once, off
the scrape path (:class:`~monitor.daemon.web.Exposition`); it never queries
PostgreSQL, and a series exists only while its object does (an index dropped
since the last sample has no series in the next scrape).

The text is written directly, as prometheus_client's exposition would write it
(labels in name order, values as Go prints them), not through MetricFamily
objects: a series' label string is kept from one rendering to the next, since
an index's or a table's identity does not change between cycles, only its
values do; and a part of a target's results that is the same object as last
time (the usage of a drift-only update, the expected objects of a quiet drift
cycle) reuses its lines as they were.

Exposition for one target, one series per family (HELP lines left out). For
width, T stands for ``target="supabase"``, D for ``datname="app",``, R for
``D relname="integrations",schemaname="public",T`` and I for R with
``indexrelname="idx_integrations_type"`` as well::

    # TYPE schema_monitor_build_info gauge
    schema_monitor_build_info{version="0.1.0"} 1.0
    # TYPE schema_monitor_config_reload_success gauge
    schema_monitor_config_reload_success 1.0
    # TYPE schema_monitor_config_last_reload_success_timestamp_seconds gauge
    schema_monitor_config_last_reload_success_timestamp_seconds 1.7376336e+09
    # TYPE schema_monitor_up gauge
    schema_monitor_up{T} 1.0
    # TYPE schema_monitor_check_success gauge
    schema_monitor_check_success{check="drift",T} 1.0
    # TYPE schema_monitor_check_duration_seconds gauge
    schema_monitor_check_duration_seconds{check="drift",T} 0.25
    # TYPE schema_monitor_check_last_success_timestamp_seconds gauge
    schema_monitor_check_last_success_timestamp_seconds{check="drift",T} 1.7376336e+09
    # TYPE schema_monitor_check_errors_total counter
    schema_monitor_check_errors_total{check="drift",T} 0.0
    # TYPE schema_monitor_drift_objects gauge
    schema_monitor_drift_objects{change="missing",kind="index",severity="critical",T} 1.0
    # TYPE schema_monitor_expected_object_present gauge
    schema_monitor_expected_object_present{kind="index",object="idx_active_integrations",
        relname="integrations",schemaname="public",T} 0.0
    # TYPE schema_monitor_advisory_rules gauge
    schema_monitor_advisory_rules{level="warning",rule="duplicate_index",T} 1.0
    # TYPE schema_monitor_advisories gauge
    schema_monitor_advisories{level="warning",object="idx_copy",relname="integrations",
        rule="duplicate_index",schemaname="public",T} 1.0
    # TYPE schema_monitor_locked_relations_skipped gauge
    schema_monitor_locked_relations_skipped{T} 0.0
    # TYPE schema_monitor_index_scans_total counter
    schema_monitor_index_scans_total{I} 12.0
    # TYPE schema_monitor_index_size_bytes gauge
    schema_monitor_index_size_bytes{I} 16384.0
    # TYPE schema_monitor_index_valid gauge
    schema_monitor_index_valid{I} 1.0
    # TYPE schema_monitor_index_building gauge
    schema_monitor_index_building{I} 1.0
    # TYPE schema_monitor_index_scans_since_watch_start gauge
    schema_monitor_index_scans_since_watch_start{I} 3.0
    # TYPE schema_monitor_table_seq_scans_total counter
    schema_monitor_table_seq_scans_total{R} 7.0
    # TYPE schema_monitor_table_index_scans_total counter
    schema_monitor_table_index_scans_total{R} 3.0
    # TYPE schema_monitor_stats_reset_timestamp_seconds gauge
    schema_monitor_stats_reset_timestamp_seconds{D T} 1.7375472e+09
    # TYPE schema_monitor_database_connections gauge
    schema_monitor_database_connections{D state="active",T} 2.0
    # TYPE schema_monitor_lock_waiting_sessions gauge
    schema_monitor_lock_waiting_sessions{D T} 0.0
    # TYPE schema_monitor_longest_transaction_seconds gauge
    schema_monitor_longest_transaction_seconds{D T} 0.5
    # TYPE schema_monitor_deadlocks_since_watch_start gauge
    schema_monitor_deadlocks_since_watch_start{D T} 0.0
    # TYPE schema_monitor_rollbacks_since_watch_start gauge
    schema_monitor_rollbacks_since_watch_start{D T} 4.0
    # TYPE schema_monitor_watch_window_start_timestamp_seconds gauge
    schema_monitor_watch_window_start_timestamp_seconds{T} 1.73763e+09
    # TYPE schema_monitor_watch_window_end_timestamp_seconds gauge
    schema_monitor_watch_window_end_timestamp_seconds{T} 1.7378028e+09
    # TYPE schema_monitor_watch_window_active gauge
    schema_monitor_watch_window_active{T} 1.0

Rules worth knowing when writing alerts:

- ``drift_objects`` has the combinations that have findings, and 0 for the closed
  set the alert rules select (:data:`ALERTED_DRIFT`) once a drift check has completed;
  every combination is one the diff can make (``DRIFT_COMBINATIONS``).
- ``drift_finding`` has one series per finding naming its object, worst first, at
  most :data:`DRIFT_FINDING_SERIES` per target; ``drift_findings_not_shown`` counts
  the rest.
- ``expected_object_present`` covers the spec's tables, RLS switches, indexes,
  policies, triggers and constraints (not columns: their drift shows in
  ``drift_objects{kind="column"}``), functions, views, types, sequences,
  extensions, publications and event triggers; ``owner`` (object: the expected
  owner) and ``privilege`` (object: a grantee holding at least what the spec
  gives it) per object. Missing objects always have a series; present ones
  only of the kinds the alerts name or join on (tables, RLS, indexes, policies,
  constraints an index enforces), capped by ``limits.present_objects``.
- ``advisory_rules`` has the rules that flag something (no zeros) after a full check;
  ``advisories`` has one series (value 1) per advisory of the last full snapshot, worst
  first, capped at 1,000 (``advisory_rules`` counts them all); ``relname`` is empty for
  objects not on a table.
- Per-index series cover the spec's indexes (capped by ``limits.spec_relations``)
  and the ``limits.other_indexes`` most scanned others. ``index_valid`` is 0
  only for an index that is invalid and not being built: while
  ``pg_stat_progress_create_index`` shows a build, ``index_building`` is 1 (it has
  no series otherwise) and ``index_valid`` has none.
- Per-table series cover the spec's tables (same cap) and the tables of the
  other indexes shown.
- Series of a check that has never completed are absent (``check_success`` is 0).
  While a target is unreachable its last results stay, with ``up`` 0 and
  ``check_success`` 0, so a drift alert keeps its state instead of resolving.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from prometheus_client import ProcessCollector
from prometheus_client import utils as prometheus_utils
from prometheus_client.registry import CollectorRegistry

from monitor.daemon.results import (
    DriftResult,
    ExpectedObject,
    Results,
    StatementsResult,
    TargetResults,
    UsageResult,
)
from monitor.schema.advisors import RULES, Advisory
from monitor.schema.model import DRIFT_COMBINATIONS, Change, Finding, Kind, Severity
from monitor.window import evidence

PREFIX = "schema_monitor_"
CHECKS = ("drift", "stats")
# Per-advisory series, worst first: a catalog of thousands of tables without a
# primary key must not turn into thousands of series; advisory_rules still counts all.
ADVISORY_SERIES = 1000
# Per-finding series per target, worst first: enough to name every object of a bad
# deploy, bounded when a spec meets the wrong database; drift_findings_not_shown counts
# the rest.
DRIFT_FINDING_SERIES = 100
# The drift_objects series kept at 0 while clean: the combinations that the alert rules
# (deploy/prometheus/alerts.yml) select, so that their dashboards read 0, not "no data".
# Others exist only while non-zero; all are combinations the diff can make.
ALERTED_DRIFT = frozenset(
    {
        (Kind.INDEX, Change.MISSING, Severity.CRITICAL),
        (Kind.INDEX, Change.INVALID, Severity.CRITICAL),
        (Kind.POLICY, Change.MISSING, Severity.CRITICAL),
        (Kind.POLICY, Change.CHANGED, Severity.CRITICAL),
        (Kind.POLICY, Change.CHANGED, Severity.WARNING),
        (Kind.RLS, Change.DISABLED, Severity.CRITICAL),
        (Kind.TABLE, Change.MISSING, Severity.CRITICAL),
        (Kind.PRIVILEGE, Change.WIDENED, Severity.CRITICAL),
        (Kind.FUNCTION, Change.CHANGED, Severity.CRITICAL),
        (Kind.FUNCTION, Change.WIDENED, Severity.CRITICAL),
        (Kind.MIGRATION, Change.PENDING, Severity.INFO),
    }
)
assert ALERTED_DRIFT <= DRIFT_COMBINATIONS
_DRIFT_ORDER = {
    combination: position
    for position, combination in enumerate(
        (kind, change, severity) for kind in Kind for change in Change for severity in Severity
    )
}
# expected_object_present series of present objects: the kinds the alert rules name.
PRESENT_SERIES_KINDS = frozenset({Kind.TABLE, Kind.RLS, Kind.INDEX, Kind.POLICY})
_SEVERITY_ORDER = {severity: position for position, severity in enumerate(Severity)}


# --- families -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Family:
    """One metric family: the name its samples carry and its headers in both formats."""

    sample: str  # counters: with the _total suffix, in both formats
    text_bytes: bytes  # HELP and TYPE
    openmetrics_bytes: bytes  # counters: named without _total, as OpenMetrics wants


def _family(kind: str, name: str, documentation: str) -> Family:
    full = PREFIX + name
    sample = f"{full}_total" if kind == "counter" else full
    text_help = documentation.replace("\\", r"\\").replace("\n", r"\n")
    openmetrics_help = text_help.replace('"', r"\"")
    return Family(
        sample,
        f"# HELP {sample} {text_help}\n# TYPE {sample} {kind}\n".encode(),
        f"# HELP {full} {openmetrics_help}\n# TYPE {full} {kind}\n".encode(),
    )


def _gauge(name: str, documentation: str) -> Family:
    return _family("gauge", name, documentation)


def _counter(name: str, documentation: str) -> Family:
    return _family("counter", name, documentation)


BUILD_INFO = _gauge("build_info", "Version of schema-monitor; always 1.")
CONFIG_RELOAD_SUCCESS = _gauge(
    "config_reload_success", "Whether the last configuration (re)load succeeded."
)
CONFIG_LAST_RELOAD_SUCCESS = _gauge(
    "config_last_reload_success_timestamp_seconds",
    "When the configuration was last loaded successfully.",
)
UP = _gauge("up", "Whether the target database answered the last attempt to reach it.")
CHECK_SUCCESS = _gauge("check_success", "Whether the last run of the check succeeded.")
CHECK_DURATION = _gauge("check_duration_seconds", "How long the last run of the check took.")
CHECK_LAST_SUCCESS = _gauge(
    "check_last_success_timestamp_seconds", "When the check last succeeded (0: never)."
)
CHECK_ERRORS = _counter("check_errors", "Runs of the check that failed.")
DRIFT_OBJECTS = _gauge(
    "drift_objects",
    "Objects departing from the spec, by kind, change and severity (0 kept for those alerted on).",
)
DRIFT_FINDING = _gauge(
    "drift_finding",
    "One series per drift finding, naming its object (worst first, capped): always 1.",
)
DRIFT_FINDINGS_NOT_SHOWN = _gauge(
    "drift_findings_not_shown", "Drift findings left out of drift_finding by its cap."
)
EXPECTED_OBJECT_PRESENT = _gauge(
    "expected_object_present",
    "Whether an object the spec lists exists in the database (RLS: is enabled).",
)
LOCKED_RELATIONS_SKIPPED = _gauge(
    "locked_relations_skipped",
    "Tables the last drift check left out: their AccessExclusiveLock was held or awaited.",
)
ADVISORY_RULES = _gauge(
    "advisory_rules",
    "Advisories of the last full drift check, by rule (the rules that have some).",
)
ADVISORIES = _gauge(
    "advisories",
    "One series per advisory (what a reviewer would flag; not drift): always 1.",
)
INDEX_SCANS = _counter("index_scans", "Index scans (pg_stat_user_indexes.idx_scan).")
INDEX_SIZE = _gauge("index_size_bytes", "Size of the index on disk.")
INDEX_VALID = _gauge(
    "index_valid", "1 valid, 0 invalid and not being built; absent while building."
)
INDEX_BUILDING = _gauge(
    "index_building",
    "1 while pg_stat_progress_create_index shows the index being built; absent otherwise.",
)
INDEX_SCANS_SINCE = _gauge(
    "index_scans_since_watch_start", "Index scans since the watch window began."
)
TABLE_SEQ_SCANS = _counter("table_seq_scans", "Sequential scans (pg_stat_user_tables.seq_scan).")
TABLE_INDEX_SCANS = _counter("table_index_scans", "Index scans (pg_stat_user_tables.idx_scan).")
STATS_RESET = _gauge(
    "stats_reset_timestamp_seconds", "When the database's statistics were last reset (0: never)."
)
DATABASE_CONNECTIONS = _gauge("database_connections", "Client sessions by state.")
LOCK_WAITING_SESSIONS = _gauge("lock_waiting_sessions", "Sessions waiting for a lock.")
LONGEST_TRANSACTION = _gauge(
    "longest_transaction_seconds", "Age of the oldest open transaction (other than ours)."
)
DEADLOCKS_SINCE = _gauge("deadlocks_since_watch_start", "Deadlocks since the watch window began.")
ROLLBACKS_SINCE = _gauge(
    "rollbacks_since_watch_start", "Rolled back transactions since the watch window began."
)
STATE_WRITE_ERRORS = _counter(
    "state_write_errors", "Writes of the state files (watch window, history, report) that failed."
)
STATE_FILES_CORRUPT = _counter(
    "state_files_corrupt", "Corrupt state files found and renamed aside (*.corrupt-<time>)."
)
STATEMENTS_AVAILABLE = _gauge(
    "statements_available", "Whether the last stats check read pg_stat_statements."
)
STATEMENT_ADVISORIES = _gauge(
    "statement_advisories", "Query evidence advisories by rule (every rule, 0 when clean)."
)
STATEMENT_BASELINE_RESETS = _counter(
    "statement_baseline_resets",
    "Times the statement baseline restarted during the window (statistics reset, evictions).",
)
TABLE_MEAN_BEFORE = _gauge(
    "table_statement_mean_seconds_before_watch_start",
    "Mean time of the table's statements before the watch window began.",
)
TABLE_MEAN_SINCE = _gauge(
    "table_statement_mean_seconds_since_watch_start",
    "Mean time of the table's statements since the watch window began.",
)
TABLE_MEAN_RATIO = _gauge(
    "table_statement_mean_ratio", "Mean statement time since the window began over before it."
)
INDEX_PLANNED_STATEMENTS = _gauge(
    "index_planned_statements",
    "New index: probed top statements on its table whose generic plan uses it.",
)
INDEX_NOT_PLANNED = _gauge(
    "index_not_planned",
    "New index: 1 when its table's probed top statements all plan without it (after a while).",
)
STATEMENT_CALLS_SINCE = _gauge(
    "statement_calls_since_watch_start", "Calls of a top statement since the window began."
)
STATEMENT_MEAN_SINCE = _gauge(
    "statement_mean_seconds_since_watch_start",
    "Mean time of a top statement since the window began.",
)
STATEMENT_MEAN_BEFORE = _gauge(
    "statement_mean_seconds_before_watch_start",
    "Mean time of a top statement before the window began.",
)
WINDOW_START = _gauge("watch_window_start_timestamp_seconds", "When the watch window began.")
WINDOW_END = _gauge("watch_window_end_timestamp_seconds", "When the watch window ends.")
WINDOW_ACTIVE = _gauge("watch_window_active", "Whether the watch window is running.")


# --- lines ----------------------------------------------------------------------------------------

# A section's output: each family it announces (in order) with its sample lines.
# Bytes, encoded once when a section is rendered: a rendering only joins them.
Chunks = tuple[tuple[Family, bytes], ...]
# Label strings by label names, then by values (keyed apart: the values alone are the
# smallest key, and the names are the same few tuples every time).
_LabelStrings = dict[tuple[str, ...], dict[tuple[str, ...], str]]
_DRIFT_LABELS = ("target", "kind", "change", "severity")
_FINDING_LABELS = ("target", "kind", "change", "severity", "schemaname", "relname", "object")
_EXPECTED_LABELS = ("target", "kind", "schemaname", "relname", "object")
_RULE_LABELS = ("target", "rule", "level")
_ADVISORY_LABELS = ("target", "rule", "level", "schemaname", "relname", "object")
_INDEX_LABELS = ("target", "datname", "schemaname", "relname", "indexrelname")
_TABLE_LABELS = ("target", "datname", "schemaname", "relname")
_DATABASE_LABELS = ("target", "datname")
_CONNECTION_LABELS = ("target", "datname", "state")
_STATEMENT_RULE_LABELS = ("target", "rule", "level")
_STATEMENT_LABELS = ("target", "datname", "queryid", "fingerprint")


# Values as Go prints them (1e+06, +Inf), exactly as prometheus_client's exposition does.
_go_float: Callable[[float], str] = prometheus_utils.floatToGoString


def _timestamp(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


def _flag(value: bool) -> float:
    return 1.0 if value else 0.0


def _label_string(labels: dict[str, str]) -> str:
    """``{name="value",...}`` in name order, escaped as the exposition formats want."""
    if not labels:
        return ""
    pairs = ",".join(
        '{}="{}"'.format(
            name, str(value).replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
        )
        for name, value in sorted(labels.items())
    )
    return "{" + pairs + "}"


def _line(family: Family, labels: str, value: float) -> str:
    return f"{family.sample}{labels} {_go_float(value)}\n"


class _Lines:
    """Sample lines by family, the families in the order they were first announced."""

    __slots__ = ("_by_family",)

    def __init__(self) -> None:
        self._by_family: dict[Family, list[str]] = {}

    def announce(self, family: Family) -> list[str]:
        """The family's lines so far; announced (HELP and TYPE) even if none follow."""
        lines = self._by_family.get(family)
        if lines is None:
            lines = self._by_family[family] = []
        return lines

    def add(self, family: Family, labels: str, value: float) -> None:
        self.announce(family).append(_line(family, labels, value))

    def chunks(self) -> Chunks:
        return tuple((family, "".join(lines).encode()) for family, lines in self._by_family.items())


class _Labels:
    """A section's label strings, carried over from its previous rendering: a series'
    identity (an index, a table, an expected object) outlives the values it shows."""

    __slots__ = ("_previous", "kept")

    def __init__(self, previous: _LabelStrings) -> None:
        self._previous = previous
        self.kept: _LabelStrings = {}  # only the series of this rendering

    def __call__(self, names: tuple[str, ...], *values: str) -> str:
        kept = self.kept.get(names)
        if kept is None:
            kept = self.kept[names] = {}
        text = kept.get(values)
        if text is None:
            previous = self._previous.get(names)
            text = previous.get(values) if previous is not None else None
            if text is None:
                text = _label_string(dict(zip(names, values, strict=True)))
            kept[values] = text
        return text


# --- the sections of the exposition: pure --------------------------------------------------------


def _daemon(results: Results) -> Chunks:
    lines = _Lines()
    lines.add(BUILD_INFO, _label_string({"version": results.version}), 1.0)
    lines.add(CONFIG_RELOAD_SUCCESS, "", _flag(results.config_reload_success))
    lines.add(CONFIG_LAST_RELOAD_SUCCESS, "", _timestamp(results.config_last_reload_success))
    return lines.chunks()


def _checks(target: TargetResults) -> Chunks:
    lines = _Lines()
    lines.add(UP, _label_string({"target": target.name}), _flag(target.up))
    for check in CHECKS:
        result = target.check(check)
        labels = _label_string({"target": target.name, "check": check})
        lines.add(CHECK_SUCCESS, labels, _flag(result.ok))
        lines.add(CHECK_DURATION, labels, result.duration_seconds)
        lines.add(CHECK_LAST_SUCCESS, labels, _timestamp(result.last_success))
        lines.add(CHECK_ERRORS, labels, float(result.errors_total))
    return lines.chunks()


def _drift_objects(name: str, findings: tuple[Finding, ...], labels: _Labels) -> Chunks:
    counts: dict[tuple[Kind, Change, Severity], int] = dict.fromkeys(ALERTED_DRIFT, 0)
    for finding in findings:
        key = (finding.kind, finding.change, finding.severity)
        counts[key] = counts.get(key, 0) + 1
    lines = _Lines()
    for key in sorted(counts, key=lambda k: _DRIFT_ORDER.get(k, len(_DRIFT_ORDER))):
        kind, change, severity = key
        series = labels(_DRIFT_LABELS, name, kind, change, severity)
        lines.add(DRIFT_OBJECTS, series, float(counts[key]))
    return lines.chunks()


def _drift_findings(name: str, findings: tuple[Finding, ...], labels: _Labels) -> Chunks:
    """A series per finding (value: the findings with those labels, 1 but for rare twins),
    worst first up to :data:`DRIFT_FINDING_SERIES`, and the count of those left out."""
    shown: dict[str, int] = {}
    left_out = 0
    for finding in sorted(findings, key=lambda f: _SEVERITY_ORDER[f.severity]):
        series = labels(
            _FINDING_LABELS,
            name,
            finding.kind,
            finding.change,
            finding.severity,
            finding.schema,
            finding.table or "",
            finding.name,
        )
        if series in shown:
            shown[series] += 1
        elif len(shown) < DRIFT_FINDING_SERIES:
            shown[series] = 1
        else:
            left_out += 1
    lines = _Lines()
    for series, count in shown.items():  # none: the family is not announced
        lines.add(DRIFT_FINDING, series, float(count))
    lines.add(DRIFT_FINDINGS_NOT_SHOWN, _label_string({"target": name}), float(left_out))
    return lines.chunks()


def _expected(name: str, expected: tuple[ExpectedObject, ...], labels: _Labels) -> Chunks:
    """Missing objects always; present ones of the kinds the alert rules name or join on
    (the drift of the others is named by drift_finding)."""
    indexes = {
        (item.schemaname, item.relname, item.object) for item in expected if item.kind == "index"
    }
    lines = _Lines()
    present = lines.announce(EXPECTED_OBJECT_PRESENT)
    for item in expected:
        if item.present and item.kind not in PRESENT_SERIES_KINDS:
            # A constraint enforced by an index keeps its series: the unused-index
            # alert leaves such indexes out by joining on it.
            backs_an_index = (item.schemaname, item.relname, item.object) in indexes
            if item.kind != "constraint" or not backs_an_index:
                continue
        series = labels(
            _EXPECTED_LABELS, name, item.kind, item.schemaname, item.relname, item.object
        )
        present.append(_line(EXPECTED_OBJECT_PRESENT, series, _flag(item.present)))
    return lines.chunks()


def _skipped(name: str, drift: DriftResult) -> Chunks:
    line = _line(LOCKED_RELATIONS_SKIPPED, _label_string({"target": name}), len(drift.skipped))
    return ((LOCKED_RELATIONS_SKIPPED, line.encode()),)


def _advisories(name: str, advisories: tuple[Advisory, ...], labels: _Labels) -> Chunks:
    counts: dict[str, int] = {}
    for advisory in advisories:
        counts[advisory.rule] = counts.get(advisory.rule, 0) + 1
    lines = _Lines()
    for rule in RULES.values():  # rules with advisories: none, the family is not announced
        if rule.id in counts:
            series = labels(_RULE_LABELS, name, rule.id, rule.level)
            lines.add(ADVISORY_RULES, series, float(counts[rule.id]))
    for advisory in advisories[:ADVISORY_SERIES]:  # none: the family is not announced
        series = labels(
            _ADVISORY_LABELS,
            name,
            advisory.rule,
            advisory.level,
            advisory.schema,
            advisory.table or "",
            advisory.object,
        )
        lines.add(ADVISORIES, series, 1.0)
    return lines.chunks()


def _usage(name: str, usage: UsageResult, labels: _Labels) -> Chunks:
    datname = usage.datname
    lines = _Lines()
    scans, size, valid, since = (
        lines.announce(family)
        for family in (INDEX_SCANS, INDEX_SIZE, INDEX_VALID, INDEX_SCANS_SINCE)
    )
    for index in usage.indexes:
        series = labels(
            _INDEX_LABELS, name, datname, index.schemaname, index.relname, index.indexrelname
        )
        scans.append(_line(INDEX_SCANS, series, float(index.scans)))
        size.append(_line(INDEX_SIZE, series, float(index.size_bytes)))
        if index.building:  # only while building: none, the family is not announced
            lines.add(INDEX_BUILDING, series, 1.0)
        else:
            valid.append(_line(INDEX_VALID, series, _flag(index.valid)))
        if index.scans_since_watch_start is not None:
            since.append(_line(INDEX_SCANS_SINCE, series, float(index.scans_since_watch_start)))
    seq, idx = lines.announce(TABLE_SEQ_SCANS), lines.announce(TABLE_INDEX_SCANS)
    for table in usage.tables:
        series = labels(_TABLE_LABELS, name, datname, table.schemaname, table.relname)
        seq.append(_line(TABLE_SEQ_SCANS, series, float(table.seq_scans)))
        idx.append(_line(TABLE_INDEX_SCANS, series, float(table.index_scans)))
    database = labels(_DATABASE_LABELS, name, datname)
    health = usage.health
    lines.add(STATS_RESET, database, _timestamp(usage.stats_reset))
    lines.announce(DATABASE_CONNECTIONS)
    for state, count in health.connections:
        lines.add(DATABASE_CONNECTIONS, labels(_CONNECTION_LABELS, name, datname, state), count)
    lines.add(LOCK_WAITING_SESSIONS, database, float(health.lock_waiting_sessions))
    lines.add(LONGEST_TRANSACTION, database, float(health.longest_transaction_seconds))
    lines.add(DEADLOCKS_SINCE, database, float(health.deadlocks_since_watch_start))
    lines.add(ROLLBACKS_SINCE, database, float(health.rollbacks_since_watch_start))
    return lines.chunks()


def _statements(name: str, result: StatementsResult, labels: _Labels) -> Chunks:
    datname = result.datname
    lines = _Lines()
    target = labels(("target",), name)
    lines.add(STATEMENTS_AVAILABLE, target, _flag(result.available))
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
        lines.add(INDEX_NOT_PLANNED, series, _flag(index.not_planned))
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


def _state_files_and_window(target: TargetResults) -> Chunks:
    labels = _label_string({"target": target.name})
    lines = _Lines()
    lines.add(STATE_WRITE_ERRORS, labels, float(target.state_write_errors))
    lines.add(STATE_FILES_CORRUPT, labels, float(target.state_files_corrupt))
    window = target.window
    if window is not None:
        lines.add(WINDOW_START, labels, _timestamp(window.start))
        lines.add(WINDOW_END, labels, _timestamp(window.end))
        lines.add(WINDOW_ACTIVE, labels, _flag(window.active))
    return lines.chunks()


# --- rendering, reusing what has not changed ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rendered:
    """One rendering of the results: each family with the lines of every target."""

    families: tuple[tuple[Family, tuple[bytes, ...]], ...]  # the sections' lines, not copied

    def text(self) -> bytes:
        """The Prometheus text format (0.0.4)."""
        return b"".join(self.pieces(openmetrics=False))

    def openmetrics(self) -> bytes:
        """OpenMetrics 1.0, ``# EOF`` included."""
        return b"".join((*self.pieces(openmetrics=True), b"# EOF\n"))

    def pieces(self, openmetrics: bool) -> Iterator[bytes]:
        """Headers and the sections' lines, as kept (OpenMetrics without ``# EOF``)."""
        for family, chunks in self.families:
            yield family.openmetrics_bytes if openmetrics else family.text_bytes
            yield from chunks


@dataclass(frozen=True, slots=True)
class _Section:
    source: object  # what it was rendered from: the same object again renders the same lines
    chunks: Chunks
    labels: _LabelStrings


_Source = TypeVar("_Source")


class Renderer:
    """Renders whatever :class:`Results` `latest` returns, once per new value.

    A target whose results are the very object rendered last time is reused
    whole (in a fleet, one target changes at a time); in the others, sections
    whose source is the same object are reused as they were, and the rest are
    rendered again with the label strings they had.
    """

    def __init__(self, latest: Callable[[], Results]) -> None:
        self._latest = latest
        self._lock = threading.Lock()
        # By target: the results last rendered, their chunks, and their sections.
        self._targets: dict[str, tuple[TargetResults, list[Chunks], dict[str, _Section]]] = {}
        self._last: tuple[Results, Rendered] | None = None

    def text(self) -> bytes:
        return self.render().text()

    def openmetrics(self) -> bytes:
        return self.render().openmetrics()

    def pieces(self, openmetrics: bool) -> tuple[bytes, ...]:
        return tuple(self.render().pieces(openmetrics))

    def render(self) -> Rendered:
        with self._lock:
            results = self._latest()
            if self._last is None or self._last[0] is not results:
                self._last = (results, self._render(results))
            return self._last[1]

    def _render(self, results: Results) -> Rendered:
        rendered = {}
        for target in results.targets:
            last = self._targets.get(target.name)
            if last is not None and last[0] is target:
                rendered[target.name] = last
            else:
                previous = last[2] if last is not None else {}
                sections: dict[str, _Section] = {}
                rendered[target.name] = (target, _target(target, previous, sections), sections)
        self._targets = rendered  # a target or section gone takes its strings with it
        by_family: dict[Family, list[bytes]] = {}
        for chunks in (_daemon(results), *(c for _, parts, _ in rendered.values() for c in parts)):
            for family, lines in chunks:
                by_family.setdefault(family, []).append(lines)
        return Rendered(tuple((family, tuple(chunks)) for family, chunks in by_family.items()))


def _target(
    target: TargetResults, previous: dict[str, _Section], sections: dict[str, _Section]
) -> list[Chunks]:
    """The chunks of one target, reusing the `previous` sections whose source is the same
    object; `sections` receives this rendering's."""
    name = target.name

    def section(
        part: str, source: _Source, render: Callable[[str, _Source, _Labels], Chunks]
    ) -> Chunks:
        last = previous.get(part)
        if last is not None and last.source is source:
            sections[part] = last
            return last.chunks
        labels = _Labels(last.labels if last is not None else {})
        sections[part] = new = _Section(source, render(name, source, labels), labels.kept)
        return new.chunks

    parts = [_checks(target)]
    if target.drift is not None:
        drift = target.drift
        parts.append(section("drift_objects", drift.findings, _drift_objects))
        parts.append(section("drift_finding", drift.findings, _drift_findings))
        parts.append(section("expected", drift.expected, _expected))
        parts.append(_skipped(name, drift))
        parts.append(section("advisories", drift.advisories, _advisories))
    if target.usage is not None:
        parts.append(section("usage", target.usage, _usage))
    if target.statements is not None:
        parts.append(section("statements", target.statements, _statements))
    parts.append(_state_files_and_window(target))
    return parts


def process() -> CollectorRegistry:
    """``process_*`` (CPU, resident memory, open files, start time), read at each scrape."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    return registry
