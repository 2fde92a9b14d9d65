"""Query evidence, pure: which statements, baselines and resets, the state file, the probes' SQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pglast import parser

from monitor.postgres import statements
from monitor.postgres.statements import Plan, RawRow
from monitor.window import evidence
from monitor.window.shapes import EXCERPT_CHARS, Classifier, Shape
from monitor.window.watch import CorruptStateFile, StateFiles

START = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
TABLES = [("public", "integrations"), ("public", "organizations"), ("billing", "invoices")]
POSTGREST = (
    'WITH pgrst_source AS (SELECT "public"."integrations".* FROM "public"."integrations"'
    ' WHERE "public"."integrations"."organization_id" = $1)'
    " SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total,"
    " coalesce(json_agg(_postgrest_t), $2) AS body FROM (SELECT * FROM pgrst_source) _postgrest_t"
)


def shape_of(text: str) -> Shape | None:
    return Classifier(TABLES).shape(1, text)


def test_postgrest_statements_are_found_by_the_table_inside_their_cte() -> None:
    shape = shape_of(POSTGREST)
    assert shape is not None
    assert (shape.tables, shape.parameters, shape.plannable) == (("public.integrations",), 2, True)
    assert shape.fingerprint == parser.fingerprint(POSTGREST)
    assert len(shape.excerpt) == EXCERPT_CHARS and shape.text == POSTGREST


def test_unqualified_names_resolve_to_the_spec_tables_and_ctes_shadow_them() -> None:
    joined = shape_of("SELECT * FROM integrations i JOIN billing.invoices v ON v.id = i.id")
    assert joined is not None and joined.tables == ("billing.invoices", "public.integrations")
    shadowed = "WITH integrations AS (SELECT 1 AS id) SELECT * FROM integrations"
    assert shape_of(shadowed) is None
    assert shape_of("SELECT * FROM other.integrations") is None


def test_writes_are_kept_but_not_probed_and_utility_statements_are_not_workload() -> None:
    for write in (
        "UPDATE public.integrations SET is_active = $1 WHERE id = $2",
        "INSERT INTO integrations (id) VALUES ($1)",
        "DELETE FROM public.integrations WHERE id = $1",
    ):
        shape = shape_of(write)
        assert shape is not None and shape.tables == ("public.integrations",), write
        assert not shape.plannable
    assert shape_of("EXPLAIN (GENERIC_PLAN) SELECT * FROM public.integrations") is None
    assert shape_of("PREPARE p AS SELECT * FROM public.integrations") is None
    assert shape_of("SELECT 1") is None


def test_a_text_that_does_not_parse_is_skipped_counted_and_never_parsed_again() -> None:
    classifier = Classifier(TABLES)
    bad = "SELECT count(*) FROM public.integrations WHERE integration_type = $1 UESCAPE '\\'"
    assert classifier.shape(7, bad) is None
    assert classifier.shape(7, None) is None
    assert classifier.unparseable == 1
    assert 7 in classifier.known
    classifier.keep_only(set())
    assert 7 not in classifier.known


def row(queryid: int, calls: int, total_ms: float) -> RawRow:
    return (queryid, None, calls, total_ms, calls, calls * 3, None)


SHAPE = Shape(("public.integrations",), "abcdef0123456789", "SELECT ...", 1, True, "SELECT ...")


def fold(
    state: evidence.StatementsState,
    rows: list[RawRow],
    reset: datetime | None = None,
    at: timedelta = timedelta(),
) -> tuple[evidence.StatementsState, tuple[str, ...]]:
    return evidence.observe(state, [(r, SHAPE) for r in rows], reset, START + at)


def test_the_first_sample_is_the_baseline_and_later_gains_are_the_window() -> None:
    state, reasons = fold(evidence.begin(START), [row(1, 10, 100.0)])
    assert reasons == ()
    state, _ = fold(state, [row(1, 30, 120.0), row(2, 5, 5.0)])
    first, new = state.statements[1], state.statements[2]
    assert first.before == evidence.Counters(10, 100.0, 10, 30)
    assert (first.since.calls, first.since.total_ms) == (20, 20.0)
    assert first.change == pytest.approx(1.0 / 10.0 - 1.0)  # 10 ms to 1 ms: -90 %
    assert new.before is None and new.since.calls == 5  # first seen in the window: all its own


def test_no_gain_is_computed_across_any_kind_of_reset() -> None:
    state, _ = fold(evidence.begin(START), [row(1, 10, 100.0), row(2, 10, 10.0)])
    state, _ = fold(state, [row(1, 14, 104.0), row(2, 12, 12.0)])
    # Statement 1 reset on its own (counters down); statement 2 evicted.
    state, reasons = fold(state, [row(1, 3, 3.0)])
    assert state.statements[1].since.calls == 4 + 3
    assert state.statements[2].last is None and state.statements[2].since.calls == 2
    assert len(reasons) == 2 and state.resets_total == 2
    # Statement 2 comes back: its counters restarted, all of them are new.
    state, _ = fold(state, [row(1, 4, 4.0), row(2, 6, 6.0)])
    assert (state.statements[1].since.calls, state.statements[2].since.calls) == (8, 8)
    # The whole view reset: every statement restarts, one reason.
    moved = START + timedelta(hours=1)
    state, reasons = fold(state, [row(1, 1, 1.0), row(2, 1, 1.0)], reset=moved)
    assert reasons == (f"pg_stat_statements was reset at {moved.isoformat()}",)
    assert (state.statements[1].since.calls, state.statements[2].since.calls) == (9, 9)
    assert state.statements[1].before == evidence.Counters(10, 100.0, 10, 30)


def test_advisories_name_the_unplanned_index_and_the_slower_statement() -> None:
    state, _ = fold(evidence.begin(START), [row(1, 100, 100.0), row(2, 100, 100.0)])
    state, _ = fold(state, [row(1, 200, 400.0), row(2, 200, 110.0)])
    state = evidence.with_plans(
        state,
        {1: Plan(("integrations_pkey",)), 2: Plan(("integrations_pkey",))},
        START,
    )
    plans = evidence.index_plans(state, [("public", "integrations", "idx_new")], 20)
    found = evidence.advisories(
        state, plans, now=START + timedelta(hours=2), unplanned_after=3600, slower_ratio=1.5
    )
    assert [(a.rule, a.object) for a in found] == [
        ("new_index_not_planned", "idx_new"),
        ("statement_slower", "abcdef0123456789"),
    ]
    early = evidence.advisories(state, plans, now=START, unplanned_after=3600, slower_ratio=1.5)
    assert [a.rule for a in early] == ["statement_slower"]


def test_the_state_file_round_trips_and_refuses_what_no_monitor_writes(tmp_path: Path) -> None:
    files = StateFiles(tmp_path, "app")
    state, _ = fold(evidence.begin(START), [row(-(2**63), 10, 100.0), row(2**63 - 1, 1, 1.5)])
    state = evidence.with_plans(state, {-(2**63): Plan(error="denied", refused=True)}, START)
    evidence.save(files, state)
    assert evidence.load(files) == state
    text = evidence.path(files).read_text()
    for hostile in (
        text.replace("100.0", "1e999"),
        text.replace('"samples":1', '"samples":-1'),
        text.replace('"samples":1', '"samples":true'),
        text.replace("2026-01-10T09:00:00+00:00", "2026-01-10T09:00:00", 1),
        text.replace(str(2**63 - 1), "99999999999999999999"),
        "[" * 100_000 + "]" * 100_000,
    ):
        evidence.path(files).write_text(hostile)
        with pytest.raises(CorruptStateFile):
            evidence.load(files)


def test_the_16_path_asks_for_a_generic_plan_and_the_15_path_executes_nothing() -> None:
    explain = statements.generic_plan_statement("SELECT * FROM t WHERE a = $1")
    (stmt,) = json.loads(parser.parse_sql_json(explain))["stmts"]
    options = [o["DefElem"]["defname"] for o in stmt["stmt"]["ExplainStmt"]["options"]]
    assert options == ["generic_plan", "format"]
    assert "analyze" not in options
    assert statements.execute_statement(3) == (
        "EXPLAIN (FORMAT JSON) EXECUTE schema_monitor_probe(NULL, NULL, NULL)"
    )
    assert statements.execute_statement(0) == "EXPLAIN (FORMAT JSON) EXECUTE schema_monitor_probe"


def test_plan_indexes_are_found_at_any_depth() -> None:
    plan = [
        {
            "Plan": {
                "Node Type": "Nested Loop",
                "Plans": [
                    {"Node Type": "Index Scan", "Index Name": "a"},
                    {"Node Type": "Bitmap Heap Scan", "Plans": [{"Index Name": "b"}]},
                ],
            }
        }
    ]
    assert sorted(statements.plan_indexes(plan)) == ["a", "b"]
