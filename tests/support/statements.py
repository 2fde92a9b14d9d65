"""A private PostgreSQL with pg_stat_statements preloaded, and a workload on it.

The server is started once per session (the machine's PostgreSQL, in a temporary
directory, on a unix socket); each test gets a database of its own with the
extension in schema ``extensions`` (where Supabase puts it) and either the
integrations table of ``tests/fixtures/statement_evidence``, filled with enough
rows that a sequential scan clearly loses to the deploy's partial index, or the
example migrations as a deploy leaves them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg
import pytest

from monitor.errors import MonitorError
from monitor.postgres import scratch
from monitor.postgres.migrations import deploy
from tests.support import daemon
from tests.support.paths import EXAMPLE_MIGRATIONS, ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "statement_evidence"
SPEC = FIXTURE / "spec.yaml"
CREATE_TABLE, ADD_INDEX = sorted((FIXTURE / "migrations").glob("*.sql"))
NEW_INDEX = "idx_active_integrations"
ORGANIZATIONS = 400
ROWS = 120_000

# As the app's server code sends it: the bare boolean column proves the partial
# index's predicate, so the generic plan can use it.
APP_QUERY = (
    "SELECT id, integration_type FROM public.integrations WHERE organization_id = %s AND is_active"
)
# As PostgREST sends `.from('integrations').select('id,integration_type')
# .eq('organization_id', org).eq('is_active', true)`: CTEs and parameters.
POSTGREST_QUERY = (
    'WITH pgrst_source AS (SELECT "public"."integrations"."id",'
    ' "public"."integrations"."integration_type" FROM "public"."integrations"'
    ' WHERE "public"."integrations"."organization_id" = %s'
    ' AND "public"."integrations"."is_active" = %s)'
    " SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total,"
    " coalesce(json_agg(_postgrest_t), '[]') AS body"
    " FROM (SELECT * FROM pgrst_source) _postgrest_t"
)
# Normalised, the string's constant becomes $1 but its UESCAPE clause stays: no
# parser accepts `$1 UESCAPE '\\'`.
UNPARSEABLE_QUERY = (
    "SELECT count(*) FROM public.integrations"
    " WHERE integration_type = U&'d\\0061t\\+000061' UESCAPE '\\'"
)
# The query evidence families only a server with pg_stat_statements and a workload exports.
NEEDS_PG_STAT_STATEMENTS = frozenset(
    f"schema_monitor_{name}"
    for name in (
        "table_statement_mean_seconds_before_watch_start",
        "table_statement_mean_seconds_since_watch_start",
        "table_statement_mean_ratio",
        "index_planned_statements",
        "index_not_planned",
        "statement_calls_since_watch_start",
        "statement_mean_seconds_since_watch_start",
        "statement_mean_seconds_before_watch_start",
    )
)
PGSS_SETTINGS = (
    "shared_preload_libraries=pg_stat_statements",
    "pg_stat_statements.track=top",
    "max_parallel_workers_per_gather=0",  # steady timings on a shared machine
)


@pytest.fixture(scope="session")
def pgss_server() -> Iterator[str]:
    """A superuser DSN of a private server with pg_stat_statements preloaded; skipped (a
    failure in CI) only where the machine's PostgreSQL has no such library."""
    with scratch.signals_unwind(), ExitStack() as stack:
        try:
            server = stack.enter_context(scratch.scratch_server(settings=PGSS_SETTINGS))
        except MonitorError as exc:
            if 'could not access file "pg_stat_statements"' not in str(exc):
                raise
            pytest.skip(
                "the machine's PostgreSQL cannot preload pg_stat_statements"
                f" (Debian: apt-get install postgresql-contrib): {exc}"
            )
        yield server.dsn


@contextmanager
def _database(server: str) -> Iterator[str]:
    """A new empty database on `server`, dropped afterwards; its DSN."""
    name = f"evidence_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield psycopg.conninfo.make_conninfo(server, dbname=name)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reset_statements(dsn: str) -> None:
    """Forget every statement so far: setting a database up is no workload."""
    execute(dsn, "SELECT extensions.pg_stat_statements_reset()")


@pytest.fixture
def pgss_database(pgss_server: str) -> Iterator[str]:
    """A fresh database: the extension in `extensions`, the table filled, no index yet."""
    with _database(pgss_server) as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA extensions")
            conn.execute("CREATE EXTENSION pg_stat_statements SCHEMA extensions")
            conn.execute(CREATE_TABLE.read_text())
            conn.execute(
                "INSERT INTO public.integrations (organization_id, integration_type, is_active,"
                " credentials) SELECT ('00000000-0000-0000-0000-' || lpad((i %% %s)::text, 12,"
                " '0'))::uuid, 'type_' || (i %% 7), i %% 10 = 0, '{\"token\": \"secret\"}'"
                " FROM generate_series(1, %s) AS i",
                (ORGANIZATIONS, ROWS),
            )
            conn.execute("ANALYZE public.integrations")
        reset_statements(dsn)
        yield dsn


@pytest.fixture
def pgss_phase3_dsn(pgss_server: str) -> Iterator[str]:
    """A fresh database holding the example migrations, deployed as for `phase3_dsn` (the
    bootstrap creates pg_stat_statements in `extensions`), with no statement recorded yet."""
    with _database(pgss_server) as dsn:
        deploy(dsn, EXAMPLE_MIGRATIONS)
        reset_statements(dsn)
        yield dsn


def organization(number: int) -> str:
    return f"00000000-0000-0000-0000-{number % ORGANIZATIONS:012d}"


def run_workload(dsn: str, calls: int) -> None:
    """The app's and PostgREST's reads, `calls` times each, as an API would send them."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for number in range(calls):
            conn.execute(APP_QUERY, (organization(number),))
            conn.execute(POSTGREST_QUERY, (organization(number), True))


def deploy_index(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(ADD_INDEX.read_text())
        conn.execute("ANALYZE public.integrations")


def execute(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def write_config(directory: Path, dsn: str) -> Path:
    """A daemon config watching `dsn` against the fixture's spec; the deploy's index is new."""
    return daemon.write_config(
        directory,
        dsn,
        extra='watch_window: {duration: 2h, new_indexes_since: "20250123000000"}',
        intervals="{drift: 60s, stats: 60s}",
        spec=SPEC,
    )
