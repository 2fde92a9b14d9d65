"""The /metrics exposition as it was first written: MetricFamily objects rendered by
prometheus_client's own exposition at every call. Slow (it builds and sorts every
series' labels each time) but plainly right: the reference the fast renderer of
:mod:`monitor.daemon.metrics` is held to, sample for sample.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from monitor.daemon.metrics import CHECKS
from monitor.daemon.metrics_drift import (
    ADVISORY_SERIES,
    ALERTED_DRIFT,
    DRIFT_FINDING_SERIES,
    PRESENT_SERIES_KINDS,
)
from monitor.daemon.metrics_format import PREFIX
from monitor.daemon.results import Results, TargetResults
from monitor.schema.advisors import RULES
from monitor.schema.model import Change, Finding, Kind, Severity
from monitor.window import evidence

F = TypeVar("F", GaugeMetricFamily, CounterMetricFamily)

_INDEX_LABELS = ["target", "datname", "schemaname", "relname", "indexrelname"]
_TABLE_LABELS = ["target", "datname", "schemaname", "relname"]
_DATABASE_LABELS = ["target", "datname"]


def _timestamp(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


class _Families:
    """Metric families created on first use, yielded in creation order."""

    def __init__(self) -> None:
        self._families: dict[str, Metric] = {}

    def gauge(self, name: str, documentation: str, labels: list[str]) -> GaugeMetricFamily:
        return self._family(GaugeMetricFamily, name, documentation, labels)

    def counter(self, name: str, documentation: str, labels: list[str]) -> CounterMetricFamily:
        return self._family(CounterMetricFamily, name, documentation, labels)

    def _family(self, kind: type[F], name: str, documentation: str, labels: list[str]) -> F:
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = kind(PREFIX + name, documentation, labels=labels)
        assert isinstance(family, kind)
        return family

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._families.values())


class ResultsCollector(Collector):
    """Renders whatever :class:`Results` `latest` returns at scrape time."""

    def __init__(self, latest: Callable[[], Results]) -> None:
        self._latest = latest

    def collect(self) -> Iterable[Metric]:
        results = self._latest()
        families = _Families()
        families.gauge(
            "build_info", "Version of schema-monitor; always 1.", ["version"]
        ).add_metric([results.version], 1.0)
        families.gauge(
            "web_info",
            "How this daemon serves /metrics and /runbooks (http or https); always 1.",
            ["scheme"],
        ).add_metric([results.web_scheme], 1.0)
        families.gauge(
            "config_reload_success", "Whether the last configuration (re)load succeeded.", []
        ).add_metric([], 1.0 if results.config_reload_success else 0.0)
        families.gauge(
            "config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully.",
            [],
        ).add_metric([], _timestamp(results.config_last_reload_success))
        for target in results.targets:
            _target(families, target)
        return families


def _target(families: _Families, target: TargetResults) -> None:
    name = target.name
    families.gauge(
        "up", "Whether the target database answered the last attempt to reach it.", ["target"]
    ).add_metric([name], 1.0 if target.up else 0.0)
    _checks(families, target)
    _drift(families, target)
    _advisories(families, target)
    _usage(families, target)
    _statements(families, target)
    _state_files(families, target)
    if target.window is not None:
        window = target.window
        for suffix, value, text in (
            ("start_timestamp_seconds", _timestamp(window.start), "When the watch window began."),
            ("end_timestamp_seconds", _timestamp(window.end), "When the watch window ends."),
            ("active", 1.0 if window.active else 0.0, "Whether the watch window is running."),
        ):
            families.gauge(f"watch_window_{suffix}", text, ["target"]).add_metric([name], value)


def _state_files(families: _Families, target: TargetResults) -> None:
    families.counter(
        "state_write_errors",
        "Writes of the state files (watch window, history, report) that failed.",
        ["target"],
    ).add_metric([target.name], float(target.state_write_errors))
    families.counter(
        "state_files_corrupt",
        "Corrupt state files found and renamed aside (*.corrupt-<time>).",
        ["target"],
    ).add_metric([target.name], float(target.state_files_corrupt))


def _checks(families: _Families, target: TargetResults) -> None:
    labels = ["target", "check"]
    for check in CHECKS:
        result = target.check(check)
        values = [target.name, check]
        families.gauge(
            "check_success", "Whether the last run of the check succeeded.", labels
        ).add_metric(values, 1.0 if result.ok else 0.0)
        families.gauge(
            "check_duration_seconds", "How long the last run of the check took.", labels
        ).add_metric(values, result.duration_seconds)
        families.gauge(
            "check_last_success_timestamp_seconds",
            "When the check last succeeded (0: never).",
            labels,
        ).add_metric(values, _timestamp(result.last_success))
        families.counter("check_errors", "Runs of the check that failed.", labels).add_metric(
            values, float(result.errors_total)
        )


def _drift(families: _Families, target: TargetResults) -> None:
    drift = target.drift
    if drift is None:
        return
    counts: dict[tuple[Kind, Change, Severity], int] = {}
    for finding in drift.findings:
        key = (finding.kind, finding.change, finding.severity)
        counts[key] = counts.get(key, 0) + 1
    objects = families.gauge(
        "drift_objects",
        "Objects departing from the spec, by kind, change and severity (0 kept for those"
        " alerted on).",
        ["target", "kind", "change", "severity"],
    )
    for kind in Kind:
        for change in Change:
            for severity in Severity:
                key = (kind, change, severity)
                if key in counts or key in ALERTED_DRIFT:
                    count = counts.get(key, 0)
                    objects.add_metric([target.name, kind, change, severity], float(count))
    _findings(families, target.name, drift.findings)
    present = families.gauge(
        "expected_object_present",
        "Whether an object the spec lists exists in the database (RLS: is enabled).",
        ["target", "kind", "schemaname", "relname", "object"],
    )
    indexes = {(i.schemaname, i.relname, i.object) for i in drift.expected if i.kind == "index"}
    for item in drift.expected:
        place = (item.schemaname, item.relname, item.object)
        backs_an_index = item.kind == "constraint" and place in indexes
        if item.present and item.kind not in PRESENT_SERIES_KINDS and not backs_an_index:
            continue
        present.add_metric(
            [target.name, item.kind, item.schemaname, item.relname, item.object],
            1.0 if item.present else 0.0,
        )
    families.gauge(
        "locked_relations_skipped",
        "Tables the last drift check left out: their AccessExclusiveLock was held or awaited.",
        ["target"],
    ).add_metric([target.name], float(len(drift.skipped)))


def _findings(families: _Families, name: str, findings: Iterable[Finding]) -> None:
    shown: dict[tuple[str, str, str, str, str, str, str], int] = {}
    left_out = 0
    order = list(Severity)
    for finding in sorted(findings, key=lambda f: order.index(f.severity)):
        labels = (
            name,
            str(finding.kind),
            str(finding.change),
            str(finding.severity),
            finding.schema,
            finding.table or "",
            finding.name,
        )
        if labels in shown:
            shown[labels] += 1
        elif len(shown) < DRIFT_FINDING_SERIES:
            shown[labels] = 1
        else:
            left_out += 1
    for labels, count in shown.items():
        families.gauge(
            "drift_finding",
            "One series per drift finding, naming its object (worst first, capped): always 1.",
            ["target", "kind", "change", "severity", "schemaname", "relname", "object"],
        ).add_metric(list(labels), float(count))
    families.gauge(
        "drift_findings_not_shown",
        "Drift findings left out of drift_finding by its cap.",
        ["target"],
    ).add_metric([name], float(left_out))


def _advisories(families: _Families, target: TargetResults) -> None:
    drift = target.drift
    if drift is None:
        return
    counts: dict[str, int] = {}
    for advisory in drift.advisories:
        counts[advisory.rule] = counts.get(advisory.rule, 0) + 1
    for rule in RULES.values():
        if rule.id in counts:
            families.gauge(
                "advisory_rules",
                "Advisories of the last full drift check, by rule (the rules that have some).",
                ["target", "rule", "level"],
            ).add_metric([target.name, rule.id, rule.level], float(counts[rule.id]))
    shown = drift.advisories[:ADVISORY_SERIES]
    if not shown:
        return  # a family without a sample is not announced
    series = families.gauge(
        "advisories",
        "One series per advisory (what a reviewer would flag; not drift): always 1.",
        ["target", "rule", "level", "schemaname", "relname", "object"],
    )
    for advisory in shown:
        labels = [advisory.rule, advisory.level, advisory.schema, advisory.table or ""]
        series.add_metric([target.name, *labels, advisory.object], 1.0)


def _usage(families: _Families, target: TargetResults) -> None:
    usage = target.usage
    if usage is None:
        return
    name, datname = target.name, usage.datname
    scans = families.counter(
        "index_scans", "Index scans (pg_stat_user_indexes.idx_scan).", _INDEX_LABELS
    )
    size = families.gauge("index_size_bytes", "Size of the index on disk.", _INDEX_LABELS)
    valid = families.gauge(
        "index_valid",
        "1 valid, 0 invalid and not being built; absent while building.",
        _INDEX_LABELS,
    )
    since = families.gauge(
        "index_scans_since_watch_start", "Index scans since the watch window began.", _INDEX_LABELS
    )
    for index in usage.indexes:
        labels = [name, datname, index.schemaname, index.relname, index.indexrelname]
        scans.add_metric(labels, float(index.scans))
        size.add_metric(labels, float(index.size_bytes))
        if index.building:
            families.gauge(
                "index_building",
                "1 while pg_stat_progress_create_index shows the index being built;"
                " absent otherwise.",
                _INDEX_LABELS,
            ).add_metric(labels, 1.0)
        else:
            valid.add_metric(labels, 1.0 if index.valid else 0.0)
        if index.scans_since_watch_start is not None:
            since.add_metric(labels, float(index.scans_since_watch_start))
    seq = families.counter(
        "table_seq_scans", "Sequential scans (pg_stat_user_tables.seq_scan).", _TABLE_LABELS
    )
    idx = families.counter(
        "table_index_scans", "Index scans (pg_stat_user_tables.idx_scan).", _TABLE_LABELS
    )
    for table in usage.tables:
        labels = [name, datname, table.schemaname, table.relname]
        seq.add_metric(labels, float(table.seq_scans))
        idx.add_metric(labels, float(table.index_scans))
    database = [name, datname]
    health = usage.health
    families.gauge(
        "stats_reset_timestamp_seconds",
        "When the database's statistics were last reset (0: never).",
        _DATABASE_LABELS,
    ).add_metric(database, _timestamp(usage.stats_reset))
    connections = families.gauge(
        "database_connections", "Client sessions by state.", ["target", "datname", "state"]
    )
    for state, count in health.connections:
        connections.add_metric([name, datname, state], float(count))
    for metric, value, text in (
        ("lock_waiting_sessions", health.lock_waiting_sessions, "Sessions waiting for a lock."),
        (
            "longest_transaction_seconds",
            health.longest_transaction_seconds,
            "Age of the oldest open transaction (other than ours).",
        ),
        (
            "deadlocks_since_watch_start",
            health.deadlocks_since_watch_start,
            "Deadlocks since the watch window began.",
        ),
        (
            "rollbacks_since_watch_start",
            health.rollbacks_since_watch_start,
            "Rolled back transactions since the watch window began.",
        ),
    ):
        families.gauge(metric, text, _DATABASE_LABELS).add_metric(database, float(value))


def _statements(families: _Families, target: TargetResults) -> None:
    result = target.statements
    if result is None:
        return
    name, datname = target.name, result.datname
    families.gauge(
        "statements_available",
        "Whether the last stats check read pg_stat_statements.",
        ["target"],
    ).add_metric([name], 1.0 if result.available else 0.0)
    families.counter(
        "statement_baseline_resets",
        "Times the statement baseline restarted during the window (statistics reset, evictions).",
        ["target"],
    ).add_metric([name], float(result.resets))
    rules = families.gauge(
        "statement_advisories",
        "Query evidence advisories by rule (every rule, 0 when clean).",
        ["target", "rule", "level"],
    )
    for rule in evidence.RULES:
        count = sum(1 for a in result.advisories if a.rule == rule)
        rules.add_metric([name, rule, evidence.LEVELS[rule]], float(count))
    for table in result.tables:
        labels = [name, datname, table.schemaname, table.relname]
        before, since = table.mean_ms_before_watch_start, table.mean_ms_since_watch_start
        for metric, value, text in (
            (
                "table_statement_mean_seconds_before_watch_start",
                None if before is None else before / 1000.0,
                "Mean time of the table's statements before the watch window began.",
            ),
            (
                "table_statement_mean_seconds_since_watch_start",
                None if since is None else since / 1000.0,
                "Mean time of the table's statements since the watch window began.",
            ),
            (
                "table_statement_mean_ratio",
                since / before if before and since is not None else None,
                "Mean statement time since the window began over before it.",
            ),
        ):
            if value is not None:
                families.gauge(metric, text, _TABLE_LABELS).add_metric(labels, value)
    for index in result.indexes:
        labels = [name, datname, index.schemaname, index.relname, index.indexrelname]
        families.gauge(
            "index_planned_statements",
            "New index: probed top statements on its table whose generic plan uses it.",
            _INDEX_LABELS,
        ).add_metric(labels, float(index.planned_statements))
        families.gauge(
            "index_not_planned",
            "New index: 1 when its table's probed top statements all plan without it"
            " (after a while).",
            _INDEX_LABELS,
        ).add_metric(labels, 1.0 if index.not_planned else 0.0)
    statement_labels = ["target", "datname", "queryid", "fingerprint"]
    for statement in result.statements:
        labels = [name, datname, str(statement.queryid), statement.fingerprint]
        since, before = statement.mean_ms_since_watch_start, statement.mean_ms_before_watch_start
        for metric, value, text in (
            (
                "statement_calls_since_watch_start",
                float(statement.calls_since_watch_start),
                "Calls of a top statement since the window began.",
            ),
            (
                "statement_mean_seconds_since_watch_start",
                None if since is None else since / 1000.0,
                "Mean time of a top statement since the window began.",
            ),
            (
                "statement_mean_seconds_before_watch_start",
                None if before is None else before / 1000.0,
                "Mean time of a top statement before the window began.",
            ),
        ):
            if value is not None:
                families.gauge(metric, text, statement_labels).add_metric(labels, value)


def registry(latest: Callable[[], Results]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ResultsCollector(latest))
    return registry
