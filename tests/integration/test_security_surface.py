"""The security surface on real PostgreSQL: each hand edit is found with its kind,
change and severity; each benign restatement is quiet.

The expected state is the snapshot of the freshly migrated example database
(the same model a spec loads into); the edit is applied; the diff of the two
snapshots is what `check` would report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from monitor.postgres import catalog, db, replay, scratch
from monitor.postgres.migrations import deploy
from monitor.schema import model, spec
from monitor.schema.compare.diff import diff
from monitor.schema.model import Schema
from tests.support.drifts import SECURITY_DRIFTS as DRIFTS
from tests.support.drifts import Found
from tests.support.paths import EXAMPLE_MIGRATIONS

Sql = Callable[[str], None]


def snapshot(dsn: str) -> model.State:
    with db.connect(dsn) as conn:
        return catalog.snapshot(conn, ["public"]).state


def findings_after(dsn: str, sql: Sql, edit: str, before: str = "") -> tuple[model.Finding, ...]:
    if before:
        sql(before)
    expected = snapshot(dsn)
    sql(edit)
    return diff(expected, snapshot(dsn))


def found(findings: tuple[model.Finding, ...]) -> Found:
    return {(str(f.kind), f.table, f.name, str(f.change), str(f.severity)) for f in findings}


@pytest.mark.parametrize("case", sorted(DRIFTS))
def test_hand_edit_is_found_with_kind_change_and_severity(
    case: str, phase3_dsn: str, sql: Sql
) -> None:
    edit, setup, wanted = DRIFTS[case]
    assert found(findings_after(phase3_dsn, sql, edit, setup)) == wanted


def test_publication_of_a_table_is_widened(phase3_dsn: str, sql: Sql) -> None:
    # The Supabase bootstrap makes it, as the platform does; plain PostgreSQL may not.
    sql(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_publication WHERE pubname = 'supabase_realtime')"
        " THEN CREATE PUBLICATION supabase_realtime; END IF; END $$"
    )
    expected = snapshot(phase3_dsn)
    sql("ALTER PUBLICATION supabase_realtime ADD TABLE public.integrations")
    # Critical: the rows of a table that holds credentials are now broadcast.
    assert found(diff(expected, snapshot(phase3_dsn))) == {
        ("publication", None, "supabase_realtime", "widened", "critical")
    }


def test_event_trigger_disabled_and_unexpected(phase3_dsn: str, sql: Sql) -> None:
    sql(
        """
        CREATE FUNCTION public.note_ddl() RETURNS event_trigger LANGUAGE plpgsql
            AS $$ BEGIN NULL; END $$;
        CREATE EVENT TRIGGER note_ddl ON ddl_command_end EXECUTE FUNCTION public.note_ddl();
        """
    )
    expected = snapshot(phase3_dsn)
    sql("ALTER EVENT TRIGGER note_ddl DISABLE")
    sql("CREATE EVENT TRIGGER other_ddl ON sql_drop EXECUTE FUNCTION public.note_ddl()")
    assert found(diff(expected, snapshot(phase3_dsn))) == {
        ("event_trigger", None, "note_ddl", "disabled", "warning"),
        ("event_trigger", None, "other_ddl", "unexpected", "warning"),
    }


def test_materialized_view_index_dropped(phase3_dsn: str, sql: Sql) -> None:
    sql(
        """
        CREATE MATERIALIZED VIEW public.integration_counts AS
            SELECT organization_id, count(*) AS n FROM public.integrations GROUP BY 1;
        CREATE UNIQUE INDEX integration_counts_org ON public.integration_counts (organization_id);
        """
    )
    expected = snapshot(phase3_dsn)
    sql("DROP INDEX public.integration_counts_org")
    assert found(diff(expected, snapshot(phase3_dsn))) == {
        ("index", "integration_counts", "integration_counts_org", "missing", "critical")
    }


BENIGN = {
    "function re-created identically": """
        CREATE OR REPLACE FUNCTION public.update_updated_at_column()
        RETURNS trigger
        LANGUAGE plpgsql
        SET search_path = ''
        AS $$
        BEGIN
          NEW.updated_at = now();
          RETURN NEW;
        END;
        $$""",
    "PL/pgSQL re-created with other whitespace, case and comments": """
        CREATE OR REPLACE FUNCTION public.update_updated_at_column() RETURNS trigger
        LANGUAGE plpgsql SET search_path = '' AS $$
        begin  -- stamp the row
          new.updated_at   =   NOW();  /* transaction time */
          return new;
        end $$""",
    "SQL function re-created with other whitespace and comments": """
        CREATE OR REPLACE FUNCTION public.is_super_admin() RETURNS boolean
        LANGUAGE sql STABLE SET search_path = '' AS $$
          -- the JWT says so
          SELECT COALESCE(auth.jwt() -> 'app_metadata' ->> 'role' = 'super_admin',  false)
        $$""",
    "grant re-issued": "GRANT SELECT ON public.integrations TO authenticated",
    "grants revoked and given back": (
        "REVOKE ALL ON public.integrations FROM authenticated;"
        " GRANT ALL ON public.integrations TO authenticated"
    ),
    "search_path set to the value it had": (
        "ALTER FUNCTION public.log_audit_event() SET search_path = ''"
    ),
    "search_path set again with TO": (
        "ALTER FUNCTION public.log_audit_event() SET search_path TO ''"
    ),
    "execute granted to PUBLIC, as by default": (
        "GRANT EXECUTE ON FUNCTION public.is_super_admin() TO PUBLIC"
    ),
    "owner granted what ownership gives": "GRANT ALL ON public.integrations TO postgres",
    "view re-created identically": """
        CREATE OR REPLACE VIEW public.table_activity_stats
        WITH (security_invoker = on)
        AS SELECT schemaname, relname, seq_scan, seq_tup_read, idx_scan, n_live_tup,
            n_dead_tup, last_vacuum, last_autovacuum, last_analyze, last_autoanalyze
        FROM pg_catalog.pg_stat_user_tables""",
    "sequence value moved": "SELECT nextval('public.audit_log_id_seq')",
    "extension in the platform schema": (
        "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA extensions"
    ),
}


@pytest.mark.parametrize("case", sorted(BENIGN))
def test_benign_restatement_is_quiet(case: str, phase3_dsn: str, sql: Sql) -> None:
    assert findings_after(phase3_dsn, sql, BENIGN[case]) == ()


def test_null_acl_equals_the_defaults_spelled_out(
    make_database: Callable[..., str],
) -> None:
    dsn = make_database()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            b"CREATE TABLE t (id int); CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN 1;"
            b" CREATE TYPE e AS ENUM ('a'); CREATE SEQUENCE s;"
        )
    null_acls = snapshot(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        acls: Any = conn.execute(
            b"SELECT (SELECT relacl FROM pg_class WHERE relname = 't'),"
            b" (SELECT proacl FROM pg_proc WHERE proname = 'f')"
        ).fetchone()
        assert acls == (None, None)
        conn.execute(
            b"GRANT ALL ON t TO CURRENT_USER; GRANT EXECUTE ON FUNCTION f() TO PUBLIC;"
            b" GRANT USAGE ON TYPE e TO PUBLIC; GRANT ALL ON SEQUENCE s TO CURRENT_USER"
        )
        spelled: Any = conn.execute(
            b"SELECT (SELECT relacl FROM pg_class WHERE relname = 't'),"
            b" (SELECT proacl FROM pg_proc WHERE proname = 'f')"
        ).fetchone()
        assert None not in spelled
    assert diff(null_acls, snapshot(dsn)) == ()


def other_major(dsn: str) -> int:
    """The major version the cross-check builds on: 16 against a 15 server, else 15."""
    with psycopg.connect(dsn) as conn:
        return 16 if conn.info.server_version // 10000 != 16 else 15


@pytest.mark.slow
def test_a_spec_built_on_one_major_version_checks_clean_on_the_other(
    phase3_dsn: str, make_database: Callable[..., str]
) -> None:
    major = other_major(phase3_dsn)
    if not any(i.major == major for i in scratch.installations()):
        pytest.skip(f"no PostgreSQL {major} installation (pgserver ships 16)")
    with scratch.scratch_server(major) as other:
        built_there = replay.build(EXAMPLE_MIGRATIONS, shadow_dsn=other.dsn)
        with psycopg.connect(other.dsn, autocommit=True) as conn:
            conn.execute(b"CREATE DATABASE live_there")
        live_there = psycopg.conninfo.make_conninfo(other.dsn, dbname="live_there")
        deploy(live_there, EXAMPLE_MIGRATIONS)
        snapshot_there = snapshot(live_there)
    built_here = replay.build(
        EXAMPLE_MIGRATIONS, shadow_dsn=psycopg.conninfo.make_conninfo(phase3_dsn, dbname="postgres")
    )
    assert built_there.schema("public") is not None
    assert (built_there.schema("public") or Schema("")).functions, "the surface was built"
    assert diff(built_there, snapshot(phase3_dsn)) == ()
    assert diff(built_here, snapshot_there) == ()
    assert spec.dumps(built_there) == spec.dumps(built_here)
