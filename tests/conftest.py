"""Real PostgreSQL for every test: the server named by MONITOR_TEST_DSN, or an embedded one.

Each test that asks for a database gets its own, created from a template
that already holds the example migrations, and dropped afterwards.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from monitor.postgres.migrations import deploy

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_MIGRATIONS = ROOT / "examples" / "supabase" / "migrations"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI a skipped test is a failure: whatever it needed must be installed there."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true): {report.longrepr}"


def with_database(dsn: str, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(dsn, dbname=dbname)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A DSN for a server where tests may create and drop databases."""
    dsn = os.environ.get("MONITOR_TEST_DSN")
    if dsn:
        yield dsn
        return
    import pgserver

    datadir = tempfile.mkdtemp(prefix="schema-monitor-test-")
    server = pgserver.get_server(datadir, cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def _admin(pg_server: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(pg_server, autocommit=True)


def _drop_database(pg_server: str, name: str) -> None:
    with _admin(pg_server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def phase3_template(pg_server: str) -> Iterator[str]:
    """Name of a template database holding the bootstrap and the example migrations, recorded in
    the migration ledger as a deploy would."""
    name = f"sm_tmpl_{uuid.uuid4().hex[:8]}"
    with _admin(pg_server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    deploy(with_database(pg_server, name), EXAMPLE_MIGRATIONS)
    try:
        yield name
    finally:
        _drop_database(pg_server, name)


@pytest.fixture
def make_database(pg_server: str) -> Iterator[Callable[..., str]]:
    """Factory: a fresh database (empty, or copied from a template); returns its DSN."""
    created: list[str] = []

    def make(template: str | None = None) -> str:
        name = f"sm_test_{uuid.uuid4().hex[:12]}"
        clause = f' TEMPLATE "{template}"' if template else ""
        with _admin(pg_server) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{clause}')
        created.append(name)
        return with_database(pg_server, name)

    yield make
    for name in created:
        _drop_database(pg_server, name)


@pytest.fixture
def phase3_dsn(make_database: Callable[..., str], phase3_template: str) -> str:
    """A private database holding the example migrations."""
    return make_database(phase3_template)


@pytest.fixture
def sql(phase3_dsn: str) -> Callable[[str], None]:
    """Run DDL or DML on the test's database, as a person would in a SQL editor."""

    def run(statement: str) -> None:
        with psycopg.connect(phase3_dsn, autocommit=True) as conn:
            conn.execute(statement.encode())

    return run
