"""The migration ledger promise: only a ledger's `version` column is read, and a ledger that
cannot be read costs the ledger comparison, not the check."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace

import psycopg
import pytest

from monitor import check
from monitor.schema import spec
from monitor.schema.model import Change, Kind
from tests.support.paths import SPEC


@pytest.fixture
def unprivileged(pg_server: str, phase3_dsn: str) -> Iterator[str]:
    """A DSN for a login role that may read catalogs but holds no grant on the ledger."""
    role = f"sm_nogrant_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
    try:
        yield psycopg.conninfo.make_conninfo(phase3_dsn, user=role)
    finally:
        with psycopg.connect(phase3_dsn, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")


def test_a_missing_grant_on_the_ledger_fails_only_the_ledger_comparison(
    unprivileged: str, sql: Callable[[str], None]
) -> None:
    sql("REVOKE ALL ON supabase_migrations.schema_migrations FROM PUBLIC")
    sql("DROP INDEX public.idx_active_integrations")
    findings = check.run_check(spec.load(SPEC), unprivileged)
    (ledger,) = [f for f in findings if f.kind is Kind.MIGRATION]
    assert ledger.change is Change.MISSING
    assert "permission denied" in ledger.message and "GRANT SELECT (version)" in ledger.message
    assert [f.name for f in findings if f.kind is Kind.INDEX] == ["idx_active_integrations"]


def test_a_table_that_is_no_ledger_is_never_read(
    phase3_dsn: str, sql: Callable[[str], None]
) -> None:
    sql("CREATE TABLE public.secrets (version text)")
    sql("INSERT INTO public.secrets VALUES ('hunter2-Secret')")
    expected = spec.load(SPEC)
    assert expected.ledger is not None
    aimed = replace(expected, ledger=replace(expected.ledger, table="public.secrets"))
    findings = check.run_check(aimed, phase3_dsn)
    assert "hunter2-Secret" not in repr(findings)
    (ledger,) = [f for f in findings if f.kind is Kind.MIGRATION]
    assert "public.secrets is not read" in ledger.message


def test_a_renamed_ledger_is_read_when_its_name_says_what_it_is(
    phase3_dsn: str, sql: Callable[[str], None]
) -> None:
    sql("CREATE TABLE public.app_migrations (version text, name text)")
    sql(
        "INSERT INTO public.app_migrations"
        " SELECT version, 'x' FROM supabase_migrations.schema_migrations"
    )
    expected = spec.load(SPEC)
    assert expected.ledger is not None
    aimed = replace(expected, ledger=replace(expected.ledger, table="public.app_migrations"))
    findings = check.run_check(aimed, phase3_dsn)
    assert [f for f in findings if f.kind is Kind.MIGRATION] == []
