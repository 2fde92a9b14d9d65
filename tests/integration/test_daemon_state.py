"""The daemon's state files on real PostgreSQL: failures counted and retried, corruption kept aside,
and a window that stops at its end."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from monitor.clock import SYSTEM_CLOCK
from monitor.daemon import runner as daemon
from monitor.daemon.results import TargetResults
from monitor.daemon.target import TargetRunner
from tests.support.clock import ManualClock
from tests.support.daemon import events_named, write_config

INDEX = "idx_active_integrations"


def results(runner: TargetRunner) -> TargetResults:
    found = runner._store.latest().target(runner.name)
    assert found is not None
    return found


def started(config_path: Path, clock: ManualClock | None = None) -> TargetRunner:
    config, specs = daemon.load(config_path)
    monitor = daemon.Daemon(config, specs, clock=clock or SYSTEM_CLOCK)
    return monitor.runners["app"]


def history(state: Path) -> Any:
    return json.loads((state / "history.json").read_text())


def test_a_corrupt_watch_file_is_kept_aside_reported_and_counted(
    phase3_dsn: str, tmp_path: Path
) -> None:
    state = tmp_path / "state" / "app"
    state.mkdir(parents=True)
    (state / "watch.json").write_bytes(b'{"start": "2025-01-23T10:00:00+00:00", \xff')
    with structlog.testing.capture_logs() as logs:
        runner = started(write_config(tmp_path, phase3_dsn))
    (aside,) = state.glob("watch.json.corrupt-*")
    assert aside.read_bytes().endswith(b"\xff")
    (event,) = events_named(logs, "state_file_corrupt")
    assert event["kept_as"] == str(aside)
    assert results(runner).state_files_corrupt == 1
    assert json.loads((state / "watch.json").read_text())["samples"] == 0  # a fresh window
    runner.close()


def test_history_that_failed_to_save_is_written_with_the_next_check(
    phase3_dsn: str, sql: Callable[[str], None], tmp_path: Path
) -> None:
    state = tmp_path / "state" / "app"
    runner = started(write_config(tmp_path, phase3_dsn))
    index_ddl = "CREATE INDEX idx_active_integrations ON public.integrations"
    sql(f"DROP INDEX public.{INDEX}")
    runner.run_drift()
    assert [h["resolved_at"] for h in history(state)] == [None]
    (state / "history.json").unlink()
    (state / "history.json").mkdir()  # the next write of history.json fails
    sql(
        f"{index_ddl} (organization_id, integration_type)"
        " WHERE is_active = true AND organization_id IS NOT NULL"
    )
    runner.run_drift()  # resolves the drift: the history changes but cannot be saved
    assert results(runner).state_write_errors == 1
    assert not list(state.glob(".history.json.*"))  # no temporary file left behind
    shutil.rmtree(state / "history.json")
    runner.run_drift()  # nothing new happened; the unsaved history is written now
    assert [h["resolved_at"] is not None for h in history(state)] == [True]
    assert results(runner).state_write_errors == 1
    runner.close()


def test_nothing_is_folded_into_a_window_after_its_end(phase3_dsn: str, tmp_path: Path) -> None:
    clock = ManualClock(datetime.now(UTC))
    state = tmp_path / "state" / "app"
    config = write_config(tmp_path, phase3_dsn, extra="watch_window: {duration: 48h}")
    runner = started(config, clock)
    runner.run_drift()
    runner.run_stats()
    clock.advance(timedelta(hours=49))
    runner.run_stats()  # samples, then sees the end: writes the report
    reported = json.loads((state / "report.json").read_text())
    runner.run_stats()  # a check that was already due when the window ended
    runner.run_drift()
    runner.close()
    saved = json.loads((state / "watch.json").read_text())
    assert saved["samples"] == reported["health"]["samples"] == 2
