"""`schema-monitor demo`: the whole flow on an embedded PostgreSQL, for a first look.

It starts a private server, applies the example Supabase migrations the way
a deploy would (recording each in the migration ledger), checks the result
against the committed expected-state spec, then shows what drift looks like.
"""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg

from monitor import migrations, spec
from monitor.cli import print_findings, run_check
from monitor.embedded import embedded_server
from monitor.errors import MonitorError
from monitor.model import State

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_MIGRATIONS = ROOT / "examples" / "supabase" / "migrations"
EXAMPLE_SPEC = ROOT / "config" / "expected" / "phase3.yaml"
DEMO_DATABASE = "demo"

# What --drift does to the demo database: the two hand edits the alerts exist for.
DRIFT_STATEMENTS = (
    "DROP INDEX public.idx_active_integrations",
    'ALTER POLICY "Users can view organization integrations" ON public.integrations'
    " TO authenticated, anon",
)


def main(*, drift: bool, listen_address: str | None, duration: float | None) -> int:
    if not EXAMPLE_MIGRATIONS.is_dir() or not EXAMPLE_SPEC.is_file():
        raise MonitorError(
            f"demo needs the example migrations and spec of a source checkout ({ROOT})"
        )
    expected = spec.load(EXAMPLE_SPEC)
    out = sys.stdout
    print("starting an embedded PostgreSQL ...", file=out, flush=True)
    with embedded_server() as server_dsn:
        dsn = create_demo_database(server_dsn)
        print(f"applied {len(deploy(dsn))} example migrations to database {DEMO_DATABASE!r}")
        print(f"\n$ schema-monitor check --spec {EXAMPLE_SPEC.relative_to(ROOT)}")
        print_findings(run_check(expected, dsn), out)
        if drift:
            return _show_drift(expected, dsn)
    return 0


def create_demo_database(server_dsn: str) -> str:
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DEMO_DATABASE}")
    return psycopg.conninfo.make_conninfo(server_dsn, dbname=DEMO_DATABASE)


def deploy(dsn: str, directory: Path = EXAMPLE_MIGRATIONS) -> list[migrations.Migration]:
    """Apply the bootstrap and the migrations, recording each version as `supabase db push` does."""
    applied = migrations.discover(directory)
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrations.apply_sql(conn, migrations.supabase_bootstrap(), "supabase_bootstrap.sql")
        for migration in applied:
            migrations.apply_file(conn, migration.path)
            conn.execute(
                "INSERT INTO supabase_migrations.schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name.partition("_")[2]),
            )
    return applied


def _show_drift(expected: State, dsn: str) -> int:
    print("\nhand edits in a SQL editor:")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in DRIFT_STATEMENTS:
            print(f"  {statement};")
            conn.execute(statement.encode())
    print(f"\n$ schema-monitor check --spec {EXAMPLE_SPEC.relative_to(ROOT)}")
    findings = run_check(expected, dsn)
    print_findings(findings, sys.stdout)
    return 1 if findings else 0
