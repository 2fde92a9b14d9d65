"""A real daemon process whose wall clock is stepped (``date -s`` for one process): the checks
go on and the watch window neither ends early nor loses time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.support.daemon import write_config
from tests.support.exposition import parse, value
from tests.support.processes import Processes, monitor_command
from tests.support.waiting import answers_200, fetch, free_port, wait_until
from tests.support.wallclock import ShiftedWallClock

HOUR = 3600.0


@contextmanager
def daemon_with_a_steppable_clock(
    processes: Processes, dsn: str, tmp_path: Path
) -> Iterator[tuple[str, ShiftedWallClock]]:
    clock = ShiftedWallClock(tmp_path)
    port = free_port()
    config = write_config(
        tmp_path, dsn, listen=f"127.0.0.1:{port}", extra="watch_window: {duration: 1h}"
    )
    command = [*monitor_command(), "run", "--config", str(config)]
    processes.start("monitor", command, env=clock.environment())
    url = f"http://127.0.0.1:{port}"
    wait_until(answers_200(f"{url}/readyz"), timeout=30, what="/readyz", processes=processes)
    wait_until(
        lambda: metric(url, "check_success", check="drift") == 1,
        timeout=30,
        what="a drift check",
        processes=processes,
    )
    yield url, clock


def metric(url: str, name: str, **labels: str) -> float | None:
    return value(parse(fetch(f"{url}/metrics")[1]), name, target="app", **labels)


def server_times(dsn: str) -> tuple[datetime, datetime]:
    """(when the monitor's session last started a statement, now), by the server's clock."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(max(query_start), '-infinity'), now() FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def logged(processes: Processes, event: str) -> list[dict[str, object]]:
    lines = (processes.directory / "monitor.log").read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    return [entry for entry in entries if entry.get("event") == event]


def wait_for_checks(processes: Processes, dsn: str, seconds: float = 2.5) -> None:
    """Until the monitor runs statements `seconds` from now (checks run every second)."""
    _, now = server_times(dsn)
    wait_until(
        lambda: server_times(dsn)[0] > now + timedelta(seconds=seconds),
        timeout=10 + seconds,
        what=f"checks still running {seconds:g}s later",
        processes=processes,
    )


@pytest.mark.slow
def test_a_step_back_of_an_hour_does_not_stop_the_checks(
    processes: Processes, phase3_dsn: str, tmp_path: Path
) -> None:
    with daemon_with_a_steppable_clock(processes, phase3_dsn, tmp_path) as (url, clock):
        clock.step(-HOUR)
        wait_for_checks(processes, phase3_dsn)
        assert metric(url, "up") == 1
        (event,) = logged(processes, "wall_clock_stepped")
        assert -HOUR - 1 < float(str(event["step_seconds"])) < -HOUR + 1


@pytest.mark.slow
def test_a_step_past_the_end_of_the_window_neither_ends_it_nor_writes_the_report(
    processes: Processes, phase3_dsn: str, tmp_path: Path
) -> None:
    state = tmp_path / "state" / "app"
    with daemon_with_a_steppable_clock(processes, phase3_dsn, tmp_path) as (url, clock):
        end = metric(url, "watch_window_end_timestamp_seconds")
        clock.step(2 * HOUR)  # a transient step: an hour past the window's end
        wait_for_checks(processes, phase3_dsn)
        assert not (state / "report.md").exists()
        assert metric(url, "watch_window_active") == 1
        clock.step(-2 * HOUR)  # and back
        wait_for_checks(processes, phase3_dsn)
        assert metric(url, "watch_window_active") == 1
        assert metric(url, "watch_window_end_timestamp_seconds") == end
        assert [
            round(float(str(e["step_seconds"])) / HOUR)
            for e in logged(processes, "wall_clock_stepped")
        ] == [2, -2]
    assert not (state / "report.md").exists()
    assert not logged(processes, "watch_window_ended")
    assert json.loads((state / "watch.json").read_text())["ended"] is None
