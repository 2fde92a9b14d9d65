"""The collector: renders the latest results, every documented series, nothing stale."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from monitor.daemon import metrics
from monitor.daemon.metrics_drift import ADVISORY_SERIES, ALERTED_DRIFT, DRIFT_FINDING_SERIES
from monitor.daemon.results import (
    CheckResult,
    DriftResult,
    ExpectedObject,
    Health,
    IndexUsage,
    Results,
    ResultsStore,
    TableUsage,
    TargetResults,
    UsageResult,
    expected_objects,
    without_building,
)
from monitor.schema.advisors import RULES, Advisory, Category, Level
from monitor.schema.model import (
    Change,
    Extension,
    Finding,
    Function,
    Grant,
    Index,
    Kind,
    OwnerPolicy,
    Policy,
    Rls,
    Schema,
    Severity,
    State,
    Table,
    View,
)
from monitor.window.watch import WindowStatus
from tests.support.exposition import Samples, names, parse, value

NOW = datetime(2025, 1, 23, 12, tzinfo=UTC)


def scrape(results: Results) -> Samples:
    return parse(metrics.Renderer(lambda: results).text().decode())


MISSING_INDEX = Finding(
    Kind.INDEX,
    Change.MISSING,
    Severity.CRITICAL,
    "public",
    "integrations",
    "idx_active_integrations",
    "index public.integrations.idx_active_integrations is missing",
)


DUPLICATE = Advisory(
    "duplicate_index",
    Level.WARNING,
    Category.PERFORMANCE,
    "public",
    "integrations",
    "idx_copy",
    "index idx_copy on public.integrations is identical to idx_integrations_type",
    "DROP INDEX CONCURRENTLY public.idx_copy",
)


def index(name: str, *, valid: bool = True, building: bool = False) -> IndexUsage:
    return IndexUsage("public", "integrations", name, 12, 16384, valid, building, 3)


def target(**changes: object) -> TargetResults:
    base = TargetResults(
        name="supabase",
        up=True,
        drift_check=CheckResult().succeeded(0.25, NOW),
        stats_check=CheckResult().failed(1.5, "statistics read failed: boom"),
        drift=DriftResult(
            findings=(MISSING_INDEX,),
            expected=(
                ExpectedObject(
                    Kind.INDEX, "public", "integrations", "idx_active_integrations", False
                ),
                ExpectedObject(Kind.RLS, "public", "integrations", "integrations", True),
            ),
            skipped=("public.audit_log",),
            ledger=("20250122000000",),
            building=(),
            checked_at=NOW,
            full=True,
            advisories=(DUPLICATE,),
        ),
        usage=UsageResult(
            datname="app",
            stats_reset=NOW - timedelta(days=1),
            indexes=(index("idx_integrations_type"), index("idx_broken", valid=False)),
            tables=(TableUsage("public", "integrations", 7, 3),),
            health=Health((("active", 2), ("idle", 5)), 1, 0.5, 0, 4),
            sampled_at=NOW,
        ),
        window=WindowStatus(NOW - timedelta(hours=1), NOW + timedelta(hours=47), True),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def results(*targets: TargetResults) -> Results:
    return Results(version="1.2.3", targets=targets, config_last_reload_success=NOW)


def test_every_documented_metric_is_rendered() -> None:
    usage = target().usage
    assert usage is not None
    built = index("idx_new", valid=False, building=True)  # index_building: only while one is
    samples = scrape(results(target(usage=replace(usage, indexes=(*usage.indexes, built)))))
    expected = {
        "up",
        "check_success",
        "check_duration_seconds",
        "check_last_success_timestamp_seconds",
        "check_errors_total",
        "drift_objects",
        "drift_finding",
        "drift_findings_not_shown",
        "expected_object_present",
        "advisory_rules",
        "advisories",
        "index_scans_total",
        "index_size_bytes",
        "index_valid",
        "index_building",
        "index_scans_since_watch_start",
        "table_seq_scans_total",
        "table_index_scans_total",
        "stats_reset_timestamp_seconds",
        "locked_relations_skipped",
        "watch_window_start_timestamp_seconds",
        "watch_window_end_timestamp_seconds",
        "watch_window_active",
        "build_info",
        "web_info",
        "database_connections",
        "lock_waiting_sessions",
        "longest_transaction_seconds",
        "deadlocks_since_watch_start",
        "rollbacks_since_watch_start",
        "config_reload_success",
        "config_last_reload_success_timestamp_seconds",
        "state_write_errors_total",
        "state_files_corrupt_total",
    }
    assert names(samples) == {f"schema_monitor_{name}" for name in expected}


def test_every_series_but_the_process_wide_ones_names_its_target() -> None:
    process_wide = {
        "schema_monitor_build_info",
        "schema_monitor_web_info",
        "schema_monitor_config_reload_success",
        "schema_monitor_config_last_reload_success_timestamp_seconds",
    }
    for name, labels in scrape(results(target())):
        if name not in process_wide:
            assert ("target", "supabase") in labels, name


def test_check_outcomes() -> None:
    samples = scrape(results(target()))
    assert value(samples, "up", target="supabase") == 1
    assert value(samples, "check_success", target="supabase", check="drift") == 1
    assert value(samples, "check_success", target="supabase", check="stats") == 0
    assert value(samples, "check_duration_seconds", target="supabase", check="stats") == 1.5
    assert (
        value(samples, "check_last_success_timestamp_seconds", target="supabase", check="drift")
        == NOW.timestamp()
    )
    assert (
        value(samples, "check_last_success_timestamp_seconds", target="supabase", check="stats")
        == 0
    )
    assert value(samples, "check_errors_total", target="supabase", check="stats") == 1
    assert value(samples, "build_info", version="1.2.3") == 1
    assert value(samples, "web_info", scheme="http") == 1
    assert value(samples, "config_reload_success") == 1


def test_drift_objects_has_the_alerted_combinations_and_the_findings_counted() -> None:
    samples = scrape(results(target()))
    drift = {labels: v for (name, labels), v in samples.items() if name.endswith("drift_objects")}
    assert len(drift) == len(ALERTED_DRIFT)  # the one finding is of an alerted combination
    assert sum(drift.values()) == 1
    assert (
        value(
            samples,
            "drift_objects",
            target="supabase",
            kind="index",
            change="missing",
            severity="critical",
        )
        == 1
    )


def test_each_finding_has_a_series_naming_its_object() -> None:
    samples = scrape(results(target()))
    assert (
        value(
            samples,
            "drift_finding",
            target="supabase",
            kind="index",
            change="missing",
            severity="critical",
            schemaname="public",
            relname="integrations",
            object="idx_active_integrations",
        )
        == 1
    )
    assert value(samples, "drift_findings_not_shown", target="supabase") == 0


def test_finding_series_are_capped_worst_first_and_the_rest_counted() -> None:
    grants = [
        Finding(Kind.PRIVILEGE, Change.NARROWED, Severity.WARNING, "public", f"t{i}", "anon", "")
        for i in range(DRIFT_FINDING_SERIES + 30)
    ]
    policy = Finding(Kind.POLICY, Change.CHANGED, Severity.CRITICAL, "public", "t", "p", "")
    base = target()
    assert base.drift is not None
    findings = (*grants, policy)
    samples = scrape(results(replace(base, drift=replace(base.drift, findings=findings))))
    shown = [labels for (name, labels) in samples if name.endswith("drift_finding")]
    assert len(shown) == DRIFT_FINDING_SERIES
    assert value(samples, "drift_findings_not_shown", target="supabase") == 31
    assert value(
        samples, "drift_finding", target="supabase", kind="policy", change="changed",
        severity="critical", schemaname="public", relname="t", object="p",
    ) == 1  # fmt: skip


def test_drift_objects_shows_no_impossible_combination_and_zero_only_where_alerted() -> None:
    samples = scrape(results(target()))
    zeros = {
        (dict(labels)["kind"], dict(labels)["change"], dict(labels)["severity"])
        for (name, labels), v in samples.items()
        if name.endswith("drift_objects") and v == 0
    }
    assert zeros == {tuple(map(str, c)) for c in ALERTED_DRIFT} - {("index", "missing", "critical")}


def test_expected_objects_and_skipped_tables() -> None:
    samples = scrape(results(target()))
    assert (
        value(
            samples,
            "expected_object_present",
            target="supabase",
            kind="index",
            schemaname="public",
            relname="integrations",
            object="idx_active_integrations",
        )
        == 0
    )
    assert (
        value(
            samples,
            "expected_object_present",
            target="supabase",
            kind="rls",
            schemaname="public",
            relname="integrations",
            object="integrations",
        )
        == 1
    )
    assert value(samples, "locked_relations_skipped", target="supabase") == 1


def test_usage_and_health() -> None:
    samples = scrape(results(target()))
    labels = {
        "target": "supabase",
        "datname": "app",
        "schemaname": "public",
        "relname": "integrations",
        "indexrelname": "idx_integrations_type",
    }
    assert value(samples, "index_scans_total", **labels) == 12
    assert value(samples, "index_size_bytes", **labels) == 16384
    assert value(samples, "index_valid", **labels) == 1
    assert value(samples, "index_building", **labels) is None  # only while building
    assert value(samples, "index_scans_since_watch_start", **labels) == 3
    assert value(samples, "index_valid", **{**labels, "indexrelname": "idx_broken"}) == 0
    table = {k: v for k, v in labels.items() if k != "indexrelname"}
    assert value(samples, "table_seq_scans_total", **table) == 7
    assert value(samples, "table_index_scans_total", **table) == 3
    database = {"target": "supabase", "datname": "app"}
    assert (
        value(samples, "stats_reset_timestamp_seconds", **database)
        == (NOW - timedelta(days=1)).timestamp()
    )
    assert value(samples, "database_connections", state="idle", **database) == 5
    assert value(samples, "lock_waiting_sessions", **database) == 1
    assert value(samples, "longest_transaction_seconds", **database) == 0.5
    assert value(samples, "rollbacks_since_watch_start", **database) == 4
    assert value(samples, "watch_window_active", target="supabase") == 1
    assert (
        value(samples, "watch_window_end_timestamp_seconds", target="supabase")
        == (NOW + timedelta(hours=47)).timestamp()
    )


def test_an_index_being_built_is_building_not_invalid() -> None:
    usage = target().usage
    assert usage is not None
    building = replace(usage, indexes=(index("idx_new", valid=False, building=True),))
    samples = scrape(results(target(usage=building)))
    labels = {
        "target": "supabase",
        "datname": "app",
        "schemaname": "public",
        "relname": "integrations",
        "indexrelname": "idx_new",
    }
    assert value(samples, "index_building", **labels) == 1
    assert value(samples, "index_valid", **labels) is None


def test_an_object_gone_from_the_results_is_gone_from_the_scrape() -> None:
    store = ResultsStore(results(target()))
    renderer = metrics.Renderer(store.latest)
    before = renderer.text().decode()
    usage = target().usage
    assert usage is not None
    store.update(
        lambda r: replace(
            r, targets=(target(usage=replace(usage, indexes=(index("idx_integrations_type"),))),)
        )
    )
    after = renderer.text().decode()
    assert 'indexrelname="idx_broken"' in before
    assert 'indexrelname="idx_broken"' not in after


def test_a_target_removed_by_a_reload_leaves_no_series() -> None:
    other = target(name="other")
    both = scrape(results(target(), other))
    assert value(both, "up", target="other") == 1
    one = scrape(results(target()))
    assert not [labels for _, labels in one if ("target", "other") in labels]


def test_a_target_that_never_checked_shows_up_and_checks_only() -> None:
    samples = scrape(results(TargetResults(name="fresh")))
    assert value(samples, "up", target="fresh") == 0
    assert value(samples, "check_success", target="fresh", check="drift") == 0
    assert not [name for name, _ in samples if name.endswith("drift_objects")]
    assert not [name for name, _ in samples if name.endswith("index_scans_total")]


def test_a_failed_reload_shows() -> None:
    samples = scrape(replace(results(target()), config_reload_success=False))
    assert value(samples, "config_reload_success") == 0
    assert value(samples, "config_last_reload_success_timestamp_seconds") == NOW.timestamp()


# --- from snapshot to results ------------------------------------------------------------------


def spec_table(name: str, indexes: tuple[str, ...], rls: bool = True) -> Table:
    return Table(
        name,
        indexes=tuple(Index(i, ("id",)) for i in indexes),
        policies=(Policy(f"{name}_read"),),
        rls=Rls(enabled=rls),
    )


SPEC_STATE = State(
    schemas=(Schema("public", tables=(spec_table("a", ("a_1", "a_2")), spec_table("b", ("b_1",)))),)
)


def live_state(*tables: Table) -> State:
    return State(schemas=(Schema("public", tables=tables),))


def test_expected_objects_say_what_is_present() -> None:
    live = live_state(
        replace(spec_table("a", ("a_1",)), rls=Rls(enabled=False), policies=()),
    )
    found = {(o.kind, o.object): o.present for o in expected_objects(SPEC_STATE, live, ())}
    assert found == {
        (Kind.TABLE, "a"): True,
        (Kind.RLS, "a"): False,
        (Kind.INDEX, "a_1"): True,
        (Kind.INDEX, "a_2"): False,
        (Kind.POLICY, "a_read"): False,
        (Kind.TABLE, "b"): False,
        (Kind.RLS, "b"): False,
        (Kind.INDEX, "b_1"): False,
        (Kind.POLICY, "b_read"): False,
    }


def test_a_locked_table_keeps_its_previous_answers() -> None:
    everything = live_state(spec_table("a", ("a_1", "a_2")), spec_table("b", ("b_1",)))
    before = expected_objects(SPEC_STATE, everything, ())
    without_b = live_state(spec_table("a", ("a_1", "a_2")))
    during = expected_objects(SPEC_STATE, without_b, ("public.b",), before)
    assert during == before


def test_the_cap_keeps_every_missing_object_and_present_ones_in_spec_order() -> None:
    live = live_state(spec_table("a", ("a_1",)), spec_table("b", ("b_1",)))
    capped = expected_objects(SPEC_STATE, live, (), cap=3)
    assert [(o.object, o.present) for o in capped] == [("a", True), ("a", True), ("a_2", False)]
    assert len(expected_objects(SPEC_STATE, live, (), cap=0)) == 1  # the missing one only


def test_an_index_being_built_is_not_reported_invalid() -> None:
    invalid = replace(MISSING_INDEX, change=Change.INVALID, name="idx_new")
    assert without_building([invalid, MISSING_INDEX], {"public.idx_new"}) == (MISSING_INDEX,)
    assert without_building([invalid], ()) == (invalid,)


def test_advisories_name_their_object_and_every_rule_is_counted() -> None:
    samples = scrape(results(target()))
    labels = {
        "target": "supabase",
        "rule": "duplicate_index",
        "level": "warning",
        "schemaname": "public",
        "relname": "integrations",
        "object": "idx_copy",
    }
    assert value(samples, "advisories", **labels) == 1.0
    for rule in RULES.values():
        count = 1.0 if rule.id == "duplicate_index" else None  # no zeros
        assert value(
            samples, "advisory_rules", target="supabase", rule=rule.id,
            level=rule.level.value,
        ) == count  # fmt: skip


def test_without_advisories_the_per_object_family_is_absent_but_the_counts_stay() -> None:
    clean = target()
    assert clean.drift is not None
    samples = scrape(results(replace(clean, drift=replace(clean.drift, advisories=()))))
    assert "schema_monitor_advisories" not in names(samples)
    assert "schema_monitor_advisory_rules" not in names(samples)


def test_advisories_beyond_the_cap_are_counted_not_shown() -> None:
    many = tuple(replace(DUPLICATE, object=f"idx_{n:05}") for n in range(ADVISORY_SERIES + 5))
    clean = target()
    assert clean.drift is not None
    samples = scrape(results(replace(clean, drift=replace(clean.drift, advisories=many))))
    shown = [name for name, _ in samples if name == "schema_monitor_advisories"]
    assert len(shown) == ADVISORY_SERIES
    assert value(
        samples, "advisory_rules", target="supabase", rule="duplicate_index",
        level="warning",
    ) == float(len(many))  # fmt: skip


def test_expected_objects_of_the_security_surface() -> None:
    definer = Function("check_system_health()", owner="postgres", security_definer=True)
    spec = State(
        schemas=(
            Schema(
                "public",
                functions=(
                    replace(definer, grants=frozenset({Grant("service_role", "EXECUTE")})),
                    Function("gone()"),
                ),
                views=(View("index_usage_stats"),),
            ),
        ),
        extensions=(Extension("pg_trgm", "extensions"),),
        owners=OwnerPolicy(roles=(("postgres", "supabase_admin"),)),
    )
    live = State(
        schemas=(
            Schema(
                "public",
                functions=(
                    replace(definer, owner="supabase_admin", grants=frozenset()),
                    Function("new()"),
                ),
                views=(),
            ),
        ),
        extensions=(Extension("pg_trgm", "extensions"),),
    )
    found = {(o.kind, o.relname, o.object): o.present for o in expected_objects(spec, live, ())}
    assert found == {
        (Kind.FUNCTION, "check_system_health()", "check_system_health()"): True,
        (Kind.OWNER, "check_system_health()", "supabase_admin"): True,
        (Kind.PRIVILEGE, "check_system_health()", "service_role"): False,
        (Kind.FUNCTION, "gone()", "gone()"): False,
        (Kind.VIEW, "index_usage_stats", "index_usage_stats"): False,
        (Kind.EXTENSION, "pg_trgm", "pg_trgm"): True,
    }
