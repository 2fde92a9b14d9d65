"""Readiness: once a check has completed, an unreachable database does not unready the sidecar."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.daemon.results import CheckResult, Results, TargetResults


def test_not_ready_before_any_check_completed() -> None:
    failed = CheckResult().failed(0.1, "connection refused")
    assert not Results("1", (TargetResults("db", drift_check=failed),)).ready


def test_stays_ready_when_a_later_check_fails() -> None:
    check = CheckResult().succeeded(0.1, datetime(2026, 1, 1, tzinfo=UTC)).failed(0.1, "gone")
    assert Results("1", (TargetResults("db", drift_check=check),)).ready
