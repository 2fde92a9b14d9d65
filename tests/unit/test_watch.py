"""The watch window: counters since its start across resets, drift history, the report."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.errors import MonitorError
from monitor.postgres.stats import DatabaseStat, IndexStat, Sample
from monitor.schema.advisors import Advisory, Category, Level
from monitor.schema.model import (
    Change,
    Finding,
    Index,
    Kind,
    Ledger,
    Policy,
    Rls,
    Schema,
    Severity,
    State,
    Table,
)
from monitor.window import report, watch
from tests.support import hostile_state

START = datetime(2025, 1, 23, 10, tzinfo=UTC)
EMPTY_HISTORY = watch.History()
DAY = timedelta(days=1)


def sample(
    scans: dict[str, int],
    *,
    reset: datetime | None = None,
    deadlocks: int = 0,
    rollbacks: int = 0,
    connections: int = 1,
) -> Sample:
    return Sample(
        database=DatabaseStat(
            datname="app",
            stats_reset=reset,
            deadlocks=deadlocks,
            rollbacks=rollbacks,
            connections=(("active", connections),),
            lock_waiting_sessions=0,
            longest_transaction_seconds=0.0,
        ),
        indexes=tuple(
            IndexStat("public", "integrations", name, n, 8192, False, True, False)
            for name, n in scans.items()
        ),
        tables=(),
        queries=3,
    )


def fold(*samples: Sample) -> watch.WatchState:
    state = watch.begin(START)
    for one in samples:
        state, _ = watch.observe(state, one)
    return state


def since(state: watch.WatchState, name: str) -> int | None:
    return watch.scans_since_start(state, "public", name)


def test_the_first_sample_is_the_baseline() -> None:
    state = fold(sample({"a": 100}), sample({"a": 130}))
    assert since(state, "a") == 30


def test_an_index_created_during_the_window_counts_all_its_scans() -> None:
    state = fold(sample({"a": 1}), sample({"a": 1, "new": 7}))
    assert since(state, "new") == 7


def test_a_statistics_reset_keeps_what_was_counted_before_it() -> None:
    later = START + DAY
    state, reset = watch.observe(
        fold(sample({"a": 100}), sample({"a": 150})), sample({"a": 20}, reset=later)
    )
    assert reset
    assert since(state, "a") == 70  # 50 before the reset, 20 after it
    assert state.resets == 1
    state, reset = watch.observe(state, sample({"a": 25}, reset=later))
    assert not reset and since(state, "a") == 75


def test_a_reset_that_raised_the_counter_past_its_old_value_is_still_a_reset() -> None:
    state, reset = watch.observe(fold(sample({"a": 5})), sample({"a": 40}, reset=START + DAY))
    assert reset and since(state, "a") == 40


def test_a_counter_that_went_down_was_reset_on_its_own() -> None:
    assert since(fold(sample({"a": 100}), sample({"a": 3})), "a") == 3


def test_dropped_indexes_leave_the_state() -> None:
    assert since(fold(sample({"a": 1, "b": 1}), sample({"a": 1})), "b") is None


def test_deadlocks_rollbacks_and_peaks() -> None:
    state = fold(
        sample({}, deadlocks=2, rollbacks=10, connections=3),
        sample({}, deadlocks=3, rollbacks=14, connections=9),
        sample({}, deadlocks=3, rollbacks=15, connections=2),
    )
    assert (state.deadlocks.since, state.rollbacks.since) == (1, 5)
    assert state.peaks.connections == 9


def test_window_status() -> None:
    state = watch.begin(START)
    assert watch.status(state, 3600, START + timedelta(minutes=59)).active
    ended = watch.status(state, 3600, START + timedelta(hours=1))
    assert not ended.active and ended.end == START + timedelta(hours=1)
    assert not watch.status(state, 3600, START - timedelta(seconds=1)).active


def finding(name: str, change: Change = Change.MISSING) -> Finding:
    return Finding(
        Kind.INDEX,
        change,
        Severity.CRITICAL,
        "public",
        "integrations",
        name,
        f"index {name} is {change}",
    )


def test_history_records_first_and_last_seen_and_resolution() -> None:
    history = watch.History()
    for minute, findings in enumerate([[finding("x")], [finding("x")], [], [finding("x")]]):
        history = watch.record(history, findings, START + timedelta(minutes=minute))
    (entry,) = history.records
    assert entry.first_seen == START
    assert entry.last_seen == START + timedelta(minutes=3)
    assert entry.resolved_at is None
    assert entry.occurrences == 2
    history = watch.record(history, [], START + timedelta(minutes=4))
    assert history.records[0].resolved_at == START + timedelta(minutes=4)


def test_another_change_of_the_same_object_is_another_drift() -> None:
    history = watch.record(watch.History(), [finding("x")], START)
    history = watch.record(history, [finding("x", Change.INVALID)], START + DAY)
    assert [(r.finding.change, r.resolved_at) for r in history.records] == [
        (Change.MISSING, START + DAY),
        (Change.INVALID, None),
    ]


def test_state_files_round_trip(tmp_path: Path) -> None:
    files = watch.StateFiles(tmp_path, "app")
    state = replace(
        fold(sample({"a": 1}), sample({"a": 4}, reset=START)), failed_checks=2, ended=START + DAY
    )
    files.save_watch(state)
    assert files.load_watch() == state
    history = watch.record(watch.History(), [finding("x")], START)
    files.save_history(history)
    assert files.load_history() == history
    evidence = watch.Evidence(START, (finding("x"),), ("1", "2"), ("public.t",), ())
    files.save_evidence(evidence)
    assert files.load_evidence() == evidence


def test_missing_state_files_are_a_fresh_start(tmp_path: Path) -> None:
    files = watch.StateFiles(tmp_path, "app")
    assert files.load_watch() is None
    assert files.load_history() == watch.History()
    assert files.load_evidence() is None


def test_a_corrupt_state_file_is_a_clear_error(tmp_path: Path) -> None:
    files = watch.StateFiles(tmp_path, "app")
    files.directory.mkdir()
    files.watch.write_text("{not json")
    with pytest.raises(MonitorError, match=r"corrupt state file .*watch\.json"):
        files.load_watch()
    files.watch.write_text('{"start": "2025-01-23T10:00:00+00:00"}')
    with pytest.raises(MonitorError, match="corrupt state file"):
        files.load_watch()


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    files = watch.StateFiles(tmp_path, "app")
    files.save_history(watch.History())
    before = files.history.read_text()
    with pytest.raises(MonitorError, match=r"cannot write .*history\.json"):
        files.write(files.history, "\udcff not encodable")  # fails half way through the write
    assert files.history.read_text() == before
    assert sorted(p.name for p in files.directory.iterdir()) == ["history.json"]


def test_a_rename_that_fails_leaves_no_temporary_file(tmp_path: Path) -> None:
    files = watch.StateFiles(tmp_path, "app")
    files.watch.mkdir(parents=True)  # a directory where the file goes: the rename fails
    with pytest.raises(MonitorError, match=r"cannot write .*watch\.json"):
        files.save_watch(watch.begin(START))
    assert [p.name for p in files.directory.iterdir()] == ["watch.json"]


def test_a_corrupt_file_is_set_aside_not_overwritten(tmp_path: Path) -> None:
    files = watch.StateFiles(tmp_path, "app")
    files.directory.mkdir()
    files.watch.write_bytes(b"\xff\xfe not json")
    with pytest.raises(watch.CorruptStateFile) as corrupt:
        files.load_watch()
    aside = files.set_aside(corrupt.value.path, START)
    assert aside.name == "watch.json.corrupt-20250123T100000000000Z"
    assert aside.read_bytes() == b"\xff\xfe not json"
    assert not files.watch.exists()


@pytest.mark.parametrize("name", hostile_state.FILES)
@pytest.mark.parametrize("case", hostile_state.CASES)
def test_a_hostile_state_file_is_corrupt_not_a_crash(tmp_path: Path, case: str, name: str) -> None:
    files = watch.StateFiles(tmp_path, "app")
    files.directory.mkdir()
    (files.directory / name).write_bytes(hostile_state.FILES[name](case))
    load = files.load_watch if name == "watch.json" else files.load_history
    with pytest.raises(watch.CorruptStateFile, match=rf"corrupt state file .*{name}: \S"):
        load()


def test_hostile_values_are_named_in_the_error(tmp_path: Path) -> None:
    files = watch.StateFiles(tmp_path, "app")
    files.directory.mkdir()
    expected = {
        "infinite number": "number out of range: 1e999",
        "deep nesting": "nested too deeply",
        "no time zone": "start: '2025-01-23T10:00:00' has no time zone",
        "year 9999": "start: '9999-12-31T00:00:00+00:00' is out of range",
        "wrong type": "peaks.longest_transaction_seconds: expected a number of seconds",
    }
    for case, message in expected.items():
        files.watch.write_bytes(hostile_state.watch_file(case))
        with pytest.raises(watch.CorruptStateFile) as corrupt:
            files.load_watch()
        assert message in str(corrupt.value), case


# --- the report ----------------------------------------------------------------------------

SPEC = State(
    schemas=(
        Schema(
            "public",
            tables=(
                Table(
                    "integrations",
                    columns=(),
                    indexes=(
                        Index(
                            "integrations_pkey",
                            ("id",),
                            unique=True,
                            constraint="integrations_pkey",
                        ),
                        Index(
                            "idx_active_integrations",
                            ("organization_id",),
                            migration="20250123000000_phase3_performance_indexes",
                        ),
                        Index(
                            "idx_integrations_type",
                            ("integration_type",),
                            migration="20250122000000_create_integrations_table",
                        ),
                    ),
                    policies=(
                        Policy("Users can view organization integrations", command="SELECT"),
                    ),
                    rls=Rls(enabled=True),
                ),
            ),
        ),
    ),
    ledger=Ledger(applied=("20250122000000", "20250123000000")),
)


def build(
    evidence: watch.Evidence | None,
    history: watch.History = EMPTY_HISTORY,
    state: watch.WatchState | None = None,
    since: str | None = None,
) -> report.Report:
    return report.build(
        "app",
        SPEC,
        state
        if state is not None
        else fold(sample({"idx_active_integrations": 0, "idx_integrations_type": 0})),
        history,
        evidence,
        duration_seconds=48 * 3600,
        new_indexes_since=since,
        now=START + 2 * DAY + timedelta(hours=1),
    )


def verdicts(built: report.Report) -> dict[str, str]:
    return {c.title: c.verdict for c in built.criteria}


def test_a_clean_window_passes_every_criterion() -> None:
    evidence = watch.Evidence(START + DAY, (), ("20250122000000", "20250123000000"), (), ())
    built = build(evidence)
    assert set(verdicts(built).values()) == {report.PASS}
    assert built.passed
    assert built.criteria[0].evidence == (
        "all 2 expected migrations recorded in supabase_migrations.schema_migrations, in order: "
        "20250122000000, 20250123000000",
    )
    markdown = report.to_markdown(built)
    assert "### PASS: Indexes created and valid" in markdown
    assert "- public.integrations.idx_active_integrations: present and valid" in markdown
    assert "RLS enabled, 1 policy active (Users can view organization integrations)" in markdown


def test_no_check_yet_is_unknown_not_pass() -> None:
    built = build(None)
    assert verdicts(built)["Table structure verified"] == report.UNKNOWN
    assert not built.passed


def test_current_findings_fail_their_criterion_and_drift_lists_first_and_last_seen() -> None:
    missing = finding("idx_active_integrations")
    history = watch.record(watch.History(), [missing], START + timedelta(hours=5))
    history = watch.record(history, [], START + timedelta(hours=6))
    evidence = watch.Evidence(START + DAY, (missing,), ("20250122000000", "20250123000000"), (), ())
    built = build(evidence, history)
    assert verdicts(built)["Indexes created and valid"] == report.FAIL
    assert verdicts(built)["RLS policies active"] == report.PASS
    drift = next(c for c in built.criteria if c.title == "No drift during the watch window")
    assert drift.verdict == report.FAIL
    assert drift.evidence == (
        "index idx_active_integrations is missing: first seen 2025-01-23T15:00:00Z, "
        "last seen 2025-01-23T15:00:00Z, resolved 2025-01-23T16:00:00Z",
    )
    as_json = report.to_json(built)
    assert as_json["drift"][0]["first_seen"] == "2025-01-23T15:00:00Z"
    assert json.loads(json.dumps(as_json)) == as_json


def test_an_index_still_being_built_is_not_yet_a_pass() -> None:
    evidence = watch.Evidence(
        START + DAY,
        (),
        ("20250122000000", "20250123000000"),
        (),
        ("public.idx_active_integrations",),
    )
    criterion = next(c for c in build(evidence).criteria if c.title == "Indexes created and valid")
    assert criterion.verdict == report.UNKNOWN
    assert "public.integrations.idx_active_integrations: being built" in criterion.evidence


def test_new_indexes_used_and_never_used() -> None:
    state = fold(
        sample({"idx_active_integrations": 5, "idx_integrations_type": 2}),
        sample({"idx_active_integrations": 9, "idx_integrations_type": 2}),
    )
    built = build(None, state=state)
    used = {i.name: i.used for i in built.new_indexes}
    assert used == {
        "idx_active_integrations": True,
        "idx_integrations_type": False,
    }  # pkey excluded
    since_phase3 = build(None, state=state, since="20250123000000")
    assert [i.name for i in since_phase3.new_indexes] == ["idx_active_integrations"]
    assert "| idx_integrations_type | public.integrations | 0 | never |" in report.to_markdown(
        built
    )


def test_deadlocks_during_the_window_fail_health() -> None:
    state = fold(sample({}, deadlocks=1), sample({}, deadlocks=2))
    criterion = next(c for c in build(None, state=state).criteria if c.title.startswith("Database"))
    assert criterion.verdict == report.FAIL
    assert "deadlocks: 1" in criterion.evidence


# --- advisories in the window ------------------------------------------------------------

NO_KEY = Advisory(
    "no_primary_key",
    Level.INFO,
    Category.PERFORMANCE,
    "public",
    "events",
    "events",
    "table public.events has no primary key | and a pipe",
    "ALTER TABLE public.events ADD PRIMARY KEY (...)",
)


def test_advisories_survive_the_state_file_and_files_without_them_still_load(
    tmp_path: Path,
) -> None:
    files = watch.StateFiles(tmp_path, "app")
    evidence = watch.Evidence(START, (), None, (), (), advisories=(NO_KEY,))
    files.save_evidence(evidence)
    assert files.load_evidence() == evidence
    older = json.loads(files.evidence.read_text())
    del older["advisories"]
    files.evidence.write_text(json.dumps(older))
    loaded = files.load_evidence()
    assert loaded is not None and loaded.advisories == ()


def test_the_report_lists_advisories_without_failing_the_window() -> None:
    ledger = ("20250122000000", "20250123000000")
    built = build(watch.Evidence(START + DAY, (), ledger, (), (), advisories=(NO_KEY,)))
    assert built.passed
    markdown = report.to_markdown(built)
    section = markdown.split("## Advisories", 1)[1]
    assert (
        "| info | no_primary_key | public.events | table public.events has no primary key \\|"
        in (section)
    )
    assert report.to_json(built)["advisories"] == [NO_KEY.as_json()]
    clean = report.to_markdown(build(watch.Evidence(START + DAY, (), ledger, (), ())))
    assert "The last drift check raised no advisory" in clean


def test_index_activity_for_the_unused_index_advisor_needs_a_baseline_and_a_sample() -> None:
    assert report.index_activity(None, START) is None
    baseline = fold(sample({"idx_a": 3}))
    assert report.index_activity(baseline, START + DAY) is None
    later = fold(sample({"idx_a": 3}), sample({"idx_a": 3}))
    activity = report.index_activity(later, later.start + timedelta(hours=2))
    assert activity is not None
    assert activity.scans == {"public.idx_a": 0}
    assert activity.observed_seconds == 7200.0
