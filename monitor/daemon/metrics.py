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
cycle) reuses its lines as they were. The families and sections of the drift check
are in :mod:`monitor.daemon.metrics_drift`, those of the stats check in
:mod:`monitor.daemon.metrics_stats`; lines and label strings in
:mod:`monitor.daemon.metrics_format`.

Exposition for one target, one series per family (HELP lines left out). For
width, T stands for ``target="supabase"``, D for ``datname="app",``, R for
``D relname="integrations",schemaname="public",T`` and I for R with
``indexrelname="idx_integrations_type"`` as well::

    # TYPE schema_monitor_build_info gauge
    schema_monitor_build_info{version="0.1.0"} 1.0
    # TYPE schema_monitor_web_info gauge
    schema_monitor_web_info{scheme="http"} 1.0
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
  set the alert rules select (:data:`.metrics_drift.ALERTED_DRIFT`) once a drift check
  has completed; every combination is one the diff can make (``DRIFT_COMBINATIONS``).
- ``drift_finding`` has one series per finding naming its object, worst first, at
  most :data:`.metrics_drift.DRIFT_FINDING_SERIES` per target;
  ``drift_findings_not_shown`` counts the rest.
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
from typing import TypeVar

from prometheus_client import ProcessCollector
from prometheus_client.registry import CollectorRegistry

from monitor.daemon import metrics_drift, metrics_stats
from monitor.daemon.metrics_format import (
    Chunks,
    Family,
    Labels,
    LabelStrings,
    Lines,
    counter,
    flag,
    gauge,
    label_string,
    timestamp,
)
from monitor.daemon.results import Results, TargetResults

CHECKS = ("drift", "stats")

BUILD_INFO = gauge("build_info", "Version of schema-monitor; always 1.")
WEB_INFO = gauge(
    "web_info", "How this daemon serves /metrics and /runbooks (http or https); always 1."
)
CONFIG_RELOAD_SUCCESS = gauge(
    "config_reload_success", "Whether the last configuration (re)load succeeded."
)
CONFIG_LAST_RELOAD_SUCCESS = gauge(
    "config_last_reload_success_timestamp_seconds",
    "When the configuration was last loaded successfully.",
)
UP = gauge("up", "Whether the target database answered the last attempt to reach it.")
CHECK_SUCCESS = gauge("check_success", "Whether the last run of the check succeeded.")
CHECK_DURATION = gauge("check_duration_seconds", "How long the last run of the check took.")
CHECK_LAST_SUCCESS = gauge(
    "check_last_success_timestamp_seconds", "When the check last succeeded (0: never)."
)
CHECK_ERRORS = counter("check_errors", "Runs of the check that failed.")
STATE_WRITE_ERRORS = counter(
    "state_write_errors", "Writes of the state files (watch window, history, report) that failed."
)
STATE_FILES_CORRUPT = counter(
    "state_files_corrupt", "Corrupt state files found and renamed aside (*.corrupt-<time>)."
)
WINDOW_START = gauge("watch_window_start_timestamp_seconds", "When the watch window began.")
WINDOW_END = gauge("watch_window_end_timestamp_seconds", "When the watch window ends.")
WINDOW_ACTIVE = gauge("watch_window_active", "Whether the watch window is running.")


# --- the daemon's and each check's sections: pure ----------------------------------------------


def _daemon(results: Results) -> Chunks:
    lines = Lines()
    lines.add(BUILD_INFO, label_string({"version": results.version}), 1.0)
    lines.add(WEB_INFO, label_string({"scheme": results.web_scheme}), 1.0)
    lines.add(CONFIG_RELOAD_SUCCESS, "", flag(results.config_reload_success))
    lines.add(CONFIG_LAST_RELOAD_SUCCESS, "", timestamp(results.config_last_reload_success))
    return lines.chunks()


def _checks(target: TargetResults) -> Chunks:
    lines = Lines()
    lines.add(UP, label_string({"target": target.name}), flag(target.up))
    for check in CHECKS:
        result = target.check(check)
        labels = label_string({"target": target.name, "check": check})
        lines.add(CHECK_SUCCESS, labels, flag(result.ok))
        lines.add(CHECK_DURATION, labels, result.duration_seconds)
        lines.add(CHECK_LAST_SUCCESS, labels, timestamp(result.last_success))
        lines.add(CHECK_ERRORS, labels, float(result.errors_total))
    return lines.chunks()


def _state_files_and_window(target: TargetResults) -> Chunks:
    labels = label_string({"target": target.name})
    lines = Lines()
    lines.add(STATE_WRITE_ERRORS, labels, float(target.state_write_errors))
    lines.add(STATE_FILES_CORRUPT, labels, float(target.state_files_corrupt))
    window = target.window
    if window is not None:
        lines.add(WINDOW_START, labels, timestamp(window.start))
        lines.add(WINDOW_END, labels, timestamp(window.end))
        lines.add(WINDOW_ACTIVE, labels, flag(window.active))
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
    labels: LabelStrings


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
        part: str, source: _Source, render: Callable[[str, _Source, Labels], Chunks]
    ) -> Chunks:
        last = previous.get(part)
        if last is not None and last.source is source:
            sections[part] = last
            return last.chunks
        labels = Labels(last.labels if last is not None else {})
        sections[part] = new = _Section(source, render(name, source, labels), labels.kept)
        return new.chunks

    parts = [_checks(target)]
    if target.drift is not None:
        drift = target.drift
        parts.append(section("drift_objects", drift.findings, metrics_drift.drift_objects))
        parts.append(section("drift_finding", drift.findings, metrics_drift.drift_findings))
        parts.append(section("expected", drift.expected, metrics_drift.expected_objects))
        parts.append(metrics_drift.locked_skipped(name, drift))
        parts.append(section("advisories", drift.advisories, metrics_drift.advisories))
    if target.usage is not None:
        parts.append(section("usage", target.usage, metrics_stats.usage))
    if target.statements is not None:
        parts.append(section("statements", target.statements, metrics_stats.statements))
    parts.append(_state_files_and_window(target))
    return parts


def process() -> CollectorRegistry:
    """``process_*`` (CPU, resident memory, open files, start time), read at each scrape."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    return registry
