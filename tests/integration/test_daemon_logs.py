"""The daemon's logs: one event per state change, and never a password."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog
from apscheduler.events import (
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
)

from monitor.daemon import events as log
from monitor.daemon.jobs import Jobs
from monitor.schema.model import Change, Finding, Kind, Severity


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "cannot connect to postgresql://app:hunter2@db:5432/app",
            "cannot connect to postgresql://app:***@db:5432/app",
        ),
        (
            "postgres://app:p%40ss@db/app?sslmode=require",
            "postgres://app:***@db/app?sslmode=require",
        ),
        ("host=db password=hunter2 dbname=app", "host=db password=*** dbname=app"),
        ("host=db password='two words' dbname=app", "host=db password=*** dbname=app"),
        ("PASSWORD = hunter2", "PASSWORD = ***"),
        ("postgresql://app@db/app", "postgresql://app@db/app"),
    ],
)
def test_dsn_passwords_are_masked_in_any_text(text: str, shown: str) -> None:
    assert log.redact_text(text) == shown


def test_a_registered_password_is_masked_wherever_it_appears() -> None:
    log.register_dsn("postgresql://app:Registered-Secret-1@db/app")
    assert (
        log.redact_text("server said: Registered-Secret-1 rejected") == "server said: *** rejected"
    )


def test_configured_logs_mask_passwords_in_fields_and_tracebacks() -> None:
    stream = io.StringIO()
    log.configure("json", stream)
    try:
        logger = log.get_logger()
        logger.error("database_unreachable", target="app", dsn="postgresql://u:pw1234@h/db")
        try:
            raise RuntimeError("failed for host=h password=pw1234")
        except RuntimeError:
            logger.exception("check_failed", target="app")
        logging.getLogger("some.library").warning("retrying postgresql://u:pw1234@h/db")
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    output = stream.getvalue()
    assert "pw1234" not in output
    events = [json.loads(line) for line in output.splitlines()]
    assert [e["event"] for e in events] == [
        "database_unreachable",
        "check_failed",
        "retrying postgresql://u:***@h/db",
    ]
    assert events[0]["dsn"] == "postgresql://u:***@h/db"
    assert "password=***" in events[1]["exception"]


def finding(name: str) -> Finding:
    return Finding(
        Kind.INDEX, Change.MISSING, Severity.CRITICAL, "public", "t", name, f"{name} gone"
    )


def test_events_are_logged_on_changes_only() -> None:
    events = log.Events()
    with structlog.testing.capture_logs() as logs:
        for reachable in (True, False, False, False, True, True):
            events.reachability("app", reachable, error=None if reachable else "refused")
        for ok in (True, True, False, False, True):
            events.check_outcome("app", "stats", ok, error=None if ok else "boom")
        for findings in ([], [finding("a")], [finding("a"), finding("b")], [finding("b")], []):
            events.findings("app", findings)
    assert [(e["event"], e.get("object")) for e in logs] == [
        ("database_unreachable", None),
        ("database_recovered", None),
        ("check_failed", None),
        ("check_recovered", None),
        ("drift_detected", "a"),
        ("drift_detected", "b"),
        ("drift_resolved", "a"),
        ("drift_resolved", "b"),
    ]
    assert logs[0]["log_level"] == "error" and logs[4]["log_level"] == "error"


def test_unreachable_from_the_very_start_is_logged_and_a_first_success_is_not() -> None:
    with structlog.testing.capture_logs() as logs:
        log.Events().reachability("a", False, "refused")
        log.Events().reachability("b", True)
    assert [e["event"] for e in logs] == ["database_unreachable"]


def test_once_logs_until_rearmed() -> None:
    events = log.Events()
    with structlog.testing.capture_logs() as logs:
        assert events.once("app", "misfire:drift", "check_misfired", check="drift")
        assert not events.once("app", "misfire:drift", "check_misfired", check="drift")
        events.rearm("app", "misfire:drift")
        assert events.once("app", "misfire:drift", "check_misfired", check="drift")
    assert [e["event"] for e in logs] == ["check_misfired", "check_misfired"]


def test_a_forgotten_target_starts_fresh() -> None:
    events = log.Events()
    with structlog.testing.capture_logs() as logs:
        events.findings("app", [finding("a")])
        events.forget("app")
        events.findings("app", [finding("a")])
    assert [e["event"] for e in logs] == ["drift_detected", "drift_detected"]


def test_a_misfiring_check_is_logged_once_until_it_runs_again() -> None:
    jobs = Jobs(1, log.Events(log.get_logger()))
    with structlog.testing.capture_logs() as logs:
        for code in (
            EVENT_JOB_MISSED,
            EVENT_JOB_MAX_INSTANCES,
            EVENT_JOB_EXECUTED,
            EVENT_JOB_MISSED,
        ):
            jobs.on_job_event(JobEvent(code, "app:drift", "default"))
    assert [(e["event"], e["check"], e["reason"]) for e in logs] == [
        ("check_misfired", "drift", "missed its start time"),
        ("check_misfired", "drift", "missed its start time"),
    ]
