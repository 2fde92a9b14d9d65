"""Real PostgreSQL for every test: the server named by MONITOR_TEST_DSN, or one of our own.

Each test that asks for a database gets its own, created from a template
that already holds the example migrations, and dropped afterwards. The
benchmarks use :func:`server` the same way.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from monitor.postgres import catalog, db, scratch
from monitor.postgres.migrations import deploy
from monitor.schema import spec
from tests.support.paths import EXAMPLE_MIGRATIONS


@contextmanager
def server(dsn: str | None = None) -> Iterator[str]:
    """A DSN for a server where databases may be created: `dsn`, MONITOR_TEST_DSN, or a
    private server (the machine's PostgreSQL, else the embedded one) started for the caller
    and removed afterwards, whatever signal ends the run."""
    dsn = dsn or os.environ.get("MONITOR_TEST_DSN")
    if dsn:
        yield dsn
        return
    with scratch.signals_unwind(), scratch.scratch_server() as private:
        yield private.dsn


def with_database(dsn: str, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(dsn, dbname=dbname)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A DSN for a server where tests may create and drop databases."""
    with server() as dsn:
        yield dsn


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


def use_an_index(dsn: str, times: int) -> str:
    """Run an index scan on integrations `times` times; returns the index the planner picks."""
    query = (
        "SELECT id FROM public.integrations WHERE organization_id = "
        "'00000000-0000-0000-0000-000000000000' AND is_active"
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = conn.execute(f"EXPLAIN (FORMAT JSON) {query}").fetchone()
        assert plan is not None
        name: str = find_index_name(plan[0][0]["Plan"])
        for _ in range(times):
            conn.execute(query).fetchall()
    # Closing the session flushes its statistics.
    return name


def find_index_name(plan: dict[str, Any]) -> str:
    if "Index Name" in plan:
        return str(plan["Index Name"])
    for child in plan.get("Plans", []):
        return find_index_name(child)
    raise AssertionError(f"no index scan in {plan}")


def psql_binary() -> str:
    found = shutil.which("psql")
    if found:
        return found
    import pgserver

    bundled = Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql"
    if bundled.exists():
        return str(bundled)
    pytest.skip("no psql binary on PATH nor in pgserver")


@pytest.fixture(scope="module")
def public_spec(
    phase3_template: str, pg_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A spec file of the example migrations' `public` schema, snapshotted from the template."""
    dsn = psycopg.conninfo.make_conninfo(pg_server, dbname=phase3_template)
    with db.connect(dsn) as conn:
        snap = catalog.snapshot(conn, ["public"])
    path = tmp_path_factory.mktemp("spec") / "phase3.yaml"
    path.write_text(spec.dumps(snap.state))
    return path
