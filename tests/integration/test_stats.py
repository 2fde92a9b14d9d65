"""Statistics sampling and the catalog probe against a real PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from monitor.postgres import db, stats
from monitor.window import watch
from tests.support.postgres import use_an_index
from tests.support.waiting import wait_until

LEDGER = "supabase_migrations.schema_migrations"


class CountingCursor(psycopg.Cursor[Any]):
    """Counts the statements a session sends: the proof of "a fixed number per cycle"."""

    statements = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        CountingCursor.statements += 1
        return super().execute(*args, **kwargs)


@pytest.fixture
def monitor_session(phase3_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    conn = db.connect(phase3_dsn)
    conn.cursor_factory = CountingCursor
    try:
        yield conn
    finally:
        conn.close()


def statements(action: Callable[[], object]) -> int:
    before = CountingCursor.statements
    action()
    return CountingCursor.statements - before


@contextmanager
def open_transaction(dsn: str, *statements: str) -> Iterator[psycopg.Connection[Any]]:
    """Another session holding whatever its statements took, until the block ends."""
    conn = psycopg.connect(dsn)
    try:
        for statement in statements:
            conn.execute(statement.encode())
        yield conn
    finally:
        conn.rollback()
        conn.close()


def by_name(sample: stats.Sample) -> dict[str, stats.IndexStat]:
    return {i.indexrelname: i for i in sample.indexes}


def test_a_sample_reads_indexes_tables_and_health_in_three_statements(
    monitor_session: psycopg.Connection[Any],
) -> None:
    found: list[stats.Sample] = []
    assert statements(lambda: found.append(stats.sample(monitor_session, ["public"]))) == 3
    sample = found[0]
    index = by_name(sample)["idx_active_integrations"]
    assert (index.relname, index.valid, index.building, index.size_lock_free) == (
        "integrations",
        True,
        False,
        False,
    )
    assert index.size_bytes > 0
    assert "integrations" in {t.relname for t in sample.tables}
    assert sample.database.datname == monitor_session.info.dbname
    assert dict(sample.database.connections)["active"] >= 1
    assert [state for state, _ in sample.database.connections][
        : len(stats.CONNECTION_STATES)
    ] == list(stats.CONNECTION_STATES)


def test_scans_are_counted(phase3_dsn: str, monitor_session: psycopg.Connection[Any]) -> None:
    name = use_an_index(phase3_dsn, times=3)
    wait_until(lambda: by_name(stats.sample(monitor_session, ["public"]))[name].scans >= 3)


def test_a_lock_waiting_session_and_a_long_transaction_show(
    phase3_dsn: str, monitor_session: psycopg.Connection[Any]
) -> None:
    waiter = threading.Thread(
        target=run_quietly,
        args=(phase3_dsn, "BEGIN; LOCK TABLE public.audit_log IN EXCLUSIVE MODE; COMMIT"),
    )
    with open_transaction(phase3_dsn, "LOCK TABLE public.audit_log IN SHARE MODE"):
        waiter.start()
        wait_until(
            lambda: stats.sample(monitor_session, ["public"]).database.lock_waiting_sessions == 1
        )
        time.sleep(0.2)
        database = stats.sample(monitor_session, ["public"]).database
        assert database.longest_transaction_seconds >= 0.2
    waiter.join(timeout=10)
    assert stats.sample(monitor_session, ["public"]).database.lock_waiting_sessions == 0


def test_sizes_of_locked_relations_are_read_without_waiting(
    phase3_dsn: str, monitor_session: psycopg.Connection[Any]
) -> None:
    with open_transaction(phase3_dsn, "LOCK TABLE public.integrations IN ACCESS EXCLUSIVE MODE"):
        started = time.monotonic()
        sample = stats.sample(monitor_session, ["public"])
        # Well inside the 200 ms lock_timeout: it never queued for the lock at all.
        assert time.monotonic() - started < 0.2
    indexes = by_name(sample)
    assert indexes["idx_active_integrations"].size_lock_free
    assert not indexes["organizations_pkey"].size_lock_free


def test_an_index_being_built_concurrently_is_building(
    phase3_dsn: str, monitor_session: psycopg.Connection[Any]
) -> None:
    builder = threading.Thread(
        target=run_quietly,
        args=(
            phase3_dsn,
            "CREATE INDEX CONCURRENTLY idx_being_built ON public.integrations (status)",
        ),
    )
    # CREATE INDEX CONCURRENTLY waits for this writer to finish: the build is held mid-way.
    with open_transaction(phase3_dsn, "LOCK TABLE public.integrations IN ROW EXCLUSIVE MODE"):
        builder.start()
        wait_until(
            lambda: (
                "public.idx_being_built"
                in stats.probe(monitor_session, ["public"], LEDGER).building
            )
        )
        index = by_name(stats.sample(monitor_session, ["public"]))["idx_being_built"]
        assert index.building and not index.valid
    builder.join(timeout=10)
    index = by_name(stats.sample(monitor_session, ["public"]))["idx_being_built"]
    assert index.valid and not index.building
    assert stats.probe(monitor_session, ["public"], LEDGER).building == ()


def test_the_probe_is_one_statement_and_ignores_what_is_not_ddl(
    phase3_dsn: str, sql: Callable[[str], None], monitor_session: psycopg.Connection[Any]
) -> None:
    found: list[stats.Probe] = []
    assert statements(lambda: found.append(stats.probe(monitor_session, ["public"], LEDGER))) == 1
    before = found[0].fingerprint
    sql("INSERT INTO public.organizations (name, slug) VALUES ('Acme', 'acme')")
    sql("VACUUM ANALYZE public.organizations")
    sql("ANALYZE")
    assert stats.probe(monitor_session, ["public"], LEDGER).fingerprint == before


@pytest.mark.parametrize(
    "ddl",
    [
        "DROP INDEX public.idx_active_integrations",
        'DROP POLICY "Users can view organization integrations" ON public.integrations',
        'ALTER POLICY "Users can view organization integrations" ON public.integrations TO anon',
        "ALTER TABLE public.integrations DISABLE TRIGGER update_integrations_updated_at",
        "ALTER TABLE public.integrations DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE public.integrations ALTER COLUMN integration_type DROP NOT NULL",
        "ALTER TABLE public.integrations ADD COLUMN note text",
        "CREATE TABLE public.extra (id int)",
        "ALTER TABLE public.integrations DROP CONSTRAINT integrations_status_check",
        "ALTER FUNCTION public.update_updated_at_column() RENAME TO touch_updated_at",
        "INSERT INTO supabase_migrations.schema_migrations (version) VALUES ('20990101000000')",
        # The security surface.
        "GRANT ALL ON public.integrations TO anon",
        "GRANT SELECT (credentials) ON public.integrations TO anon",
        "GRANT EXECUTE ON FUNCTION public.check_system_health() TO anon",
        "REVOKE USAGE ON SCHEMA public FROM authenticated",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM anon",
        "CREATE OR REPLACE FUNCTION public.is_super_admin() RETURNS boolean"
        " LANGUAGE sql STABLE SET search_path = '' AS $$ SELECT true $$",
        "ALTER FUNCTION public.log_audit_event() RESET search_path",
        "ALTER FUNCTION public.record_system_health() SECURITY INVOKER",
        "ALTER TABLE public.audit_log OWNER TO service_role",
        "CREATE OR REPLACE VIEW public.table_activity_stats WITH (security_invoker = true) AS"
        " SELECT schemaname, relname, seq_scan, seq_tup_read, idx_scan, n_live_tup, n_dead_tup,"
        " last_vacuum, last_autovacuum, last_analyze, last_autoanalyze"
        " FROM pg_catalog.pg_stat_user_tables WHERE schemaname <> 'secret'",
        "ALTER VIEW public.table_activity_stats SET (security_invoker = false)",
        "CREATE TYPE public.mood AS ENUM ('happy')",
        "CREATE SEQUENCE public.invoice_numbers",
        "ALTER SEQUENCE public.audit_log_id_seq CYCLE",
        "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public",
        "CREATE PUBLICATION everything_published",
    ],
)
def test_the_probe_moves_on_every_change_a_snapshot_would_see(
    ddl: str, sql: Callable[[str], None], monitor_session: psycopg.Connection[Any]
) -> None:
    before = stats.probe(monitor_session, ["public"], LEDGER).fingerprint
    sql(ddl)
    wait_until(lambda: stats.probe(monitor_session, ["public"], LEDGER).fingerprint != before)


def test_a_statistics_reset_is_detected_and_nothing_counted_is_lost(
    phase3_dsn: str, sql: Callable[[str], None], monitor_session: psycopg.Connection[Any]
) -> None:
    name = use_an_index(phase3_dsn, times=0)
    state, _ = watch.observe(watch.begin(now()), stats.sample(monitor_session, ["public"]))
    use_an_index(phase3_dsn, times=4)
    state = observe_until(
        state, monitor_session, lambda s: watch.scans_since_start(s, "public", name) == 4
    )
    sql("SELECT pg_stat_reset()")
    state = observe_until(state, monitor_session, lambda s: s.resets == 1)
    use_an_index(phase3_dsn, times=2)
    state = observe_until(
        state, monitor_session, lambda s: watch.scans_since_start(s, "public", name) == 6
    )
    assert by_name(stats.sample(monitor_session, ["public"]))[name].scans == 2


# --- helpers ---------------------------------------------------------------------------------


def now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def run_quietly(dsn: str, statement: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statement.encode())


def observe_until(
    state: watch.WatchState,
    conn: psycopg.Connection[Any],
    condition: Callable[[watch.WatchState], bool],
) -> watch.WatchState:
    holder = [state]

    def step() -> bool:
        holder[0], _ = watch.observe(holder[0], stats.sample(conn, ["public"]))
        return condition(holder[0])

    wait_until(step)
    return holder[0]
