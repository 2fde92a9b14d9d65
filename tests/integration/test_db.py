"""Connecting: DSN resolution, password redaction, session settings, clear failures."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from monitor.errors import ConnectionFailed, MonitorError
from monitor.postgres import db

SECRET = "s3cr#t?pa/ss"


@pytest.mark.parametrize(
    ("dsn", "redacted"),
    [
        (
            "postgresql://app:hunter2@db.example.com:5432/prod?sslmode=require",
            "postgresql://app:***@db.example.com:5432/prod?sslmode=require",
        ),
        # The user info ends at an "@" before the first "/"; a password may hold "@#?".
        ("postgres://app:p#?x@h/db", "postgres://app:***@h/db"),
        ("postgresql://app:p@ss@h/db", "postgresql://app:***@h/db"),
        (
            "postgresql://app@h1:5432,h2:5433/db?password=pw&sslmode=disable",
            "postgresql://app@h1:5432,h2:5433/db?password=***&sslmode=disable",
        ),
        ("postgresql://h/db?pass%77ord=pw", "postgresql://h/db?pass%77ord=***"),
        ("postgresql://app@h/db", "postgresql://app@h/db"),
        ("postgresql:///db", "postgresql:///db"),
    ],
)
def test_redact_uri_keeps_its_form(dsn: str, redacted: str) -> None:
    assert db.redact(dsn) == redacted


def test_redact_key_value_masks_the_password_and_keeps_the_rest() -> None:
    dsn = "host=db.example.com port=5432 user=app password='it\\'s a secret' dbname=prod"
    redacted = db.redact(dsn)
    assert "secret" not in redacted
    assert conninfo_to_dict(redacted) == {
        "host": "db.example.com",
        "port": "5432",
        "user": "app",
        "password": "***",
        "dbname": "prod",
    }
    assert db.redact("host=h dbname=d") == "host=h dbname=d"


@pytest.mark.parametrize(
    "dsn", ["host=h password='unterminated", "postgresql://app:pw@h/db?no_such_option=1"]
)
def test_redact_unparsable_dsn_shows_nothing(dsn: str) -> None:
    assert db.redact(dsn) == "<unparsable connection string>"


def test_resolve_dsn_prefers_flag_then_database_url_then_libpq(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("DATABASE_URL", "PGHOST", "PGHOSTADDR", "PGDATABASE", "PGSERVICE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(MonitorError, match="no database given"):
        db.resolve_dsn(None)
    monkeypatch.setenv("PGDATABASE", "app")
    assert db.resolve_dsn(None) == ""
    monkeypatch.setenv("DATABASE_URL", "postgresql://env/db")
    assert db.resolve_dsn(None) == "postgresql://env/db"
    assert db.resolve_dsn("postgresql://flag/db") == "postgresql://flag/db"


def refused_port() -> int:
    """A local port nobody listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable_host_is_one_line_without_the_password() -> None:
    dsn = f"postgresql://postgres:{quote(SECRET, safe='')}@127.0.0.1:{refused_port()}/x"
    with pytest.raises(ConnectionFailed) as failure:
        db.connect(dsn, connect_timeout_s=2)
    message = str(failure.value)
    assert message.startswith("cannot connect to postgresql://postgres:***@127.0.0.1:")
    assert "connection refused" in message.lower()
    assert SECRET not in message
    assert quote(SECRET, safe="") not in message
    assert "\n" not in message


def test_unknown_database_is_one_line_without_the_password(pg_server: str) -> None:
    name = f"missing_{uuid.uuid4().hex[:8]}"
    dsn = make_conninfo(pg_server, dbname=name, password=SECRET)
    with pytest.raises(ConnectionFailed) as failure:
        db.connect(dsn)
    message = str(failure.value)
    assert f'database "{name}" does not exist' in message
    assert "password=***" in message
    assert SECRET not in message
    assert "\n" not in message


def test_role_refused_login_names_the_role_without_the_password(pg_server: str) -> None:
    role = f"sm_nologin_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} NOLOGIN")
        try:
            with pytest.raises(ConnectionFailed) as failure:
                db.connect(make_conninfo(pg_server, user=role, password=SECRET))
        finally:
            admin.execute(f"DROP ROLE {role}")
    message = str(failure.value)
    assert f'role "{role}" is not permitted to log in' in message
    assert SECRET not in message


def test_unparsable_dsn_is_a_connection_failure_that_echoes_nothing() -> None:
    with pytest.raises(ConnectionFailed) as failure:
        db.connect(f"host=h {SECRET}")
    assert SECRET not in str(failure.value)


@pytest.fixture
def monitor_conn(make_database: Callable[..., str]) -> Iterator[psycopg.Connection[object]]:
    dsn = make_database()
    # The user's own options survive next to ours.
    with db.connect(
        make_conninfo(dsn, options="-c work_mem=8MB"),
        lock_timeout_ms=150,
        statement_timeout_ms=1_000,
    ) as conn:
        yield conn


def show(conn: psycopg.Connection[Any], setting: str) -> Any:
    row = conn.execute(f"SHOW {setting}").fetchone()
    assert row is not None
    return row[0]


def test_session_settings_are_visible_on_the_server(
    monitor_conn: psycopg.Connection[object],
) -> None:
    assert show(monitor_conn, "application_name") == "schema-monitor"
    assert show(monitor_conn, "lock_timeout") == "150ms"
    assert show(monitor_conn, "statement_timeout") == "1s"
    assert show(monitor_conn, "idle_in_transaction_session_timeout") == "1s"
    assert show(monitor_conn, "default_transaction_read_only") == "on"
    assert show(monitor_conn, "search_path") == "pg_catalog,public"
    assert show(monitor_conn, "work_mem") == "8MB"
    activity = monitor_conn.execute(
        "SELECT application_name, state FROM pg_stat_activity WHERE pid = pg_backend_pid()"
    ).fetchone()
    assert activity == ("schema-monitor", "active")


def test_session_is_autocommit_and_cannot_write(
    monitor_conn: psycopg.Connection[object],
) -> None:
    assert monitor_conn.autocommit
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        monitor_conn.execute("CREATE TABLE written (id int)")


def test_statement_timeout_stops_a_long_statement(
    monitor_conn: psycopg.Connection[object],
) -> None:
    with pytest.raises(psycopg.errors.QueryCanceled):
        monitor_conn.execute("SELECT pg_sleep(10)")


def test_transactions_are_repeatable_read_read_only(
    monitor_conn: psycopg.Connection[object],
) -> None:
    with monitor_conn.transaction():
        assert show(monitor_conn, "transaction_isolation") == "repeatable read"
        assert show(monitor_conn, "transaction_read_only") == "on"
