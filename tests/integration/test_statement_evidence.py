"""Query evidence on a real workload: pg_stat_statements across a deploy that adds an index."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import structlog

from monitor.daemon import events as log
from monitor.daemon import metrics
from monitor.daemon import runner as daemon
from monitor.daemon.results import StatementsResult
from monitor.daemon.target import TargetRunner
from monitor.postgres import db, statements
from monitor.schema import spec
from monitor.window import report, watch
from tests.support.clock import ManualClock
from tests.support.deploy_files import documented_metrics, exported_metrics
from tests.support.statements import (
    APP_QUERY,
    NEEDS_PG_STAT_STATEMENTS,
    NEW_INDEX,
    POSTGREST_QUERY,
    SPEC,
    UNPARSEABLE_QUERY,
    deploy_index,
    execute,
    organization,
    run_workload,
    write_config,
)

START = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


def statements_of(running: daemon.Daemon) -> StatementsResult:
    target = running.store.latest().target("app")
    assert target is not None and target.stats_check.ok, target
    assert target.statements is not None
    return target.statements


def daemon_on(dsn: str, directory: Path) -> tuple[ManualClock, daemon.Daemon, TargetRunner]:
    """A daemon in this process watching `dsn`, its checks run by the test, its clock too."""
    clock = ManualClock(START)
    config, specs = daemon.load(write_config(directory, dsn))
    running = daemon.Daemon(config, specs, clock=clock)
    return clock, running, running.runners["app"]


def test_the_report_shows_the_new_index_used_and_the_statements_faster(
    pgss_database: str, tmp_path: Path
) -> None:
    clock, running, runner = daemon_on(pgss_database, tmp_path)
    run_workload(pgss_database, 15)
    execute(pgss_database, UNPARSEABLE_QUERY)
    runner.run_stats()  # the baseline
    first = statements_of(running)
    assert first.available and first.resets == 0
    assert len(first.statements) == 2  # the app's and PostgREST's; the unparseable one skipped

    deploy_index(pgss_database)
    clock.advance(timedelta(minutes=5))
    run_workload(pgss_database, 30)
    runner.run_stats()
    after = statements_of(running)
    (index,) = after.indexes
    assert (index.indexrelname, index.planned_statements) == (NEW_INDEX, 1)
    exported = exported_metrics(metrics.Renderer(running.store.latest).text().decode())
    documented = documented_metrics()
    for name in NEEDS_PG_STAT_STATEMENTS:
        assert exported[name] == documented[name], name

    clock.advance(timedelta(hours=3))  # past the window's end: the report is written
    runner.run_stats()
    runner.close()
    written = json.loads((tmp_path / "state" / "app" / "report.json").read_text())
    (evidence,) = written["query_evidence"]["indexes"]
    (using,) = evidence["using"]
    assert using["query"].startswith("SELECT id, integration_type FROM public.integrations")
    assert using["calls_during"] == 30 and using["calls_before"] == 15
    assert using["mean_ms_during"] < using["mean_ms_before"] / 2, using
    assert evidence["change_percent"] < -50
    (postgrest,) = evidence["not_using"]  # `is_active = $2`: no generic plan proves the predicate
    assert postgrest["query"].startswith("WITH pgrst_source AS")
    markdown = (tmp_path / "state" / "app" / "report.md").read_text()
    assert f"### {NEW_INDEX} on public.integrations" in markdown
    assert "1 of 2 probed top statements plan through it" in markdown
    assert APP_QUERY.split("%s")[0].strip()[:40] in markdown


def test_a_reset_mid_window_starts_a_new_baseline_and_mixes_nothing(
    pgss_database: str, tmp_path: Path
) -> None:
    clock, running, runner = daemon_on(pgss_database, tmp_path)
    run_workload(pgss_database, 5)
    runner.run_stats()  # baseline
    run_workload(pgss_database, 4)
    runner.run_stats()
    assert {s.calls_since_watch_start for s in statements_of(running).statements} == {4}
    run_workload(pgss_database, 2)  # lost: between the last sample and the reset
    execute(pgss_database, "SELECT extensions.pg_stat_statements_reset()")
    run_workload(pgss_database, 3)
    clock.advance(timedelta(minutes=1))
    runner.run_stats()
    after = statements_of(running)
    assert after.resets == 1
    # 4 before the reset and 3 after; never 3 - 9 nor 3 + 9 - 5.
    assert {s.calls_since_watch_start for s in after.statements} == {7}
    runner.close()
    saved = json.loads((tmp_path / "state" / "app" / "statements.json").read_text())
    (reset,) = saved["resets"]
    assert reset["reason"].startswith("pg_stat_statements was reset at ")
    files = watch.StateFiles(tmp_path / "state", "app")
    expected = spec.load(SPEC)
    built = report.for_target(
        files, expected, duration_seconds=7200, new_indexes_since=None, now=START
    )
    markdown = report.to_markdown(built)
    assert "- New baseline at 2026-01-10T09:01:00Z: pg_stat_statements was reset at " in markdown
    assert {s["before"][0] for s in saved["statements"].values()} == {5}


def test_a_role_without_the_grant_gets_one_advisory_per_refused_statement(
    pgss_database: str, tmp_path: Path
) -> None:
    execute(
        pgss_database,
        "CREATE ROLE evidence_monitor LOGIN",
        "GRANT pg_read_all_stats TO evidence_monitor",
        "GRANT USAGE ON SCHEMA extensions TO evidence_monitor",
    )
    dsn = psycopg.conninfo.make_conninfo(pgss_database, user="evidence_monitor")
    deploy_index(pgss_database)
    _clock, running, runner = daemon_on(dsn, tmp_path)
    for _ in range(3):
        run_workload(pgss_database, 2)
        runner.run_stats()
    result = statements_of(running)
    assert result.available
    refused = [a for a in result.advisories if a.rule == "plan_probe_refused"]
    assert len(refused) == 2  # the two statements, not one per cycle
    assert all("permission denied for table integrations" in a.message for a in refused)
    runner.close()


def test_without_the_extension_the_stats_check_stands_and_says_why(
    make_database: Callable[..., str], tmp_path: Path
) -> None:
    """The machine's server: the extension not installed, then installed but not preloaded."""
    dsn = make_database()
    _clock, running, runner = daemon_on(dsn, tmp_path)
    runner.run_stats()
    result = statements_of(running)
    assert not result.available
    (missing,) = result.advisories
    assert missing.rule == "pg_stat_statements_missing"
    assert "not installed" in missing.message
    execute(dsn, "CREATE EXTENSION pg_stat_statements")
    runner.run_stats()
    (missing,) = statements_of(running).advisories
    assert "shared_preload_libraries" in missing.message
    runner.close()


def test_probes_plan_in_the_monitors_read_only_session_and_leave_nothing_behind(
    pgss_database: str,
) -> None:
    deploy_index(pgss_database)
    text = "SELECT id FROM public.integrations WHERE organization_id = $1 AND is_active"
    with db.connect(pgss_database) as conn:
        on_15 = statements.probe(conn, text, 1, server_version_num=150000)
        assert on_15 == statements.Plan(indexes=(NEW_INDEX,))
        unplannable = statements.probe(
            conn, "SELECT id FROM public.integrations WHERE $1 IS NULL", 1, 150000
        )
        assert unplannable.error and not unplannable.refused
        # Only 15 is installed here: the 16 path's statement reaches the server, which
        # does not know the option yet (a parameter-free text, so that it gets that far).
        on_16 = statements.probe(conn, "SELECT id FROM public.integrations", 0, 160000)
        assert on_16.error == 'unrecognized EXPLAIN option "generic_plan"'
        # Whatever a text holds, it never becomes two commands (nor a write).
        two = "SELECT 1 FROM public.integrations; SET default_transaction_read_only = off"
        for version in (150000, 160000):
            smuggled = statements.probe(conn, two, 0, version)
            assert smuggled.error is not None and "multiple commands" in smuggled.error
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with psycopg.connect(pgss_database) as conn:
        calls = conn.execute(
            "SELECT coalesce(sum(calls), 0) FROM extensions.pg_stat_statements"
            " WHERE query LIKE 'SELECT id FROM public.integrations%' AND toplevel"
        ).fetchone()
    assert calls == (0,)  # planned, never executed


def test_a_new_index_no_top_statement_plans_through_is_flagged_once_its_wait_is_over(
    pgss_database: str, tmp_path: Path
) -> None:
    """PostgREST's `is_active = $2`: no generic plan can prove the partial index's WHERE."""
    deploy_index(pgss_database)
    clock, running, runner = daemon_on(pgss_database, tmp_path)
    stream = io.StringIO()
    log.configure("json", stream)
    try:
        for _ in range(2):
            with psycopg.connect(pgss_database, autocommit=True) as conn:
                conn.execute(POSTGREST_QUERY, (organization(1), True))
            runner.run_stats()
        assert statements_of(running).indexes[0].not_planned is False  # within the hour
        clock.advance(timedelta(hours=1, minutes=1))
        for _ in range(2):
            runner.run_stats()
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    (index,) = statements_of(running).indexes
    assert (index.planned_statements, index.not_planned) == (0, True)
    exposition = metrics.Renderer(running.store.latest).text().decode()
    assert 'schema_monitor_index_not_planned{datname="' in exposition
    assert 'indexrelname="idx_active_integrations",relname="integrations"' in exposition
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    advised = [e for e in events if e["event"] == "statement_advisory"]
    assert [a["rule"] for a in advised] == ["new_index_not_planned"]  # once, not per cycle
    assert advised[0]["object"] == f"public.integrations.{NEW_INDEX}"
    runner.close()
