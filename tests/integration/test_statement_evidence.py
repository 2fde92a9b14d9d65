"""Query evidence on a real workload: pg_stat_statements across a deploy that adds an index."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.clock import ManualClock
from monitor.daemon import runner as daemon
from monitor.daemon.results import StatementsResult
from tests.support.statements import (
    APP_QUERY,
    NEW_INDEX,
    UNPARSEABLE_QUERY,
    deploy_index,
    execute,
    run_workload,
    write_config,
)

START = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


def statements_of(running: daemon.Daemon) -> StatementsResult:
    target = running.store.latest().target("app")
    assert target is not None and target.stats_check.ok, target
    assert target.statements is not None
    return target.statements


def test_the_report_shows_the_new_index_used_and_the_statements_faster(
    pgss_database: str, tmp_path: Path
) -> None:
    clock = ManualClock(START)
    config, specs = daemon.load(write_config(tmp_path, pgss_database))
    running = daemon.Daemon(config, specs, clock=clock)
    runner = running.runners["app"]
    execute(pgss_database, "SELECT extensions.pg_stat_statements_reset()")
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

    clock.advance(timedelta(hours=3))  # past the window's end: the report is written
    runner.run_stats()
    runner.close()
    report = json.loads((tmp_path / "state" / "app" / "report.json").read_text())
    (evidence,) = report["query_evidence"]["indexes"]
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
