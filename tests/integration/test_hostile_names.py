"""Objects whose names are SQL: the repair script and the advisory's remediation, applied with
psql, touch only the objects they name, and the spec `spec snapshot` writes loads again."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from monitor.schema import quote
from tests.support.postgres import psql_binary
from tests.support.processes import run_monitor

# The function the issue was filed with, and names from the other hostile alphabets.
INJECTING = "g(); CREATE TABLE x(); --"
TABLE = 'Ta"b;le\n) DROP TABLE t; é'
INDEX = "i'dx\\ ); DROP INDEX y; --"
POLICY = 'p"ol ic\ty; --\n)x'
TRIGGER = "TrIG(); $$ --"
MIXED = "MixedCase"
# 63 bytes: the longest name PostgreSQL keeps. (No name here starts or ends with a space:
# the spec reader strips those, which is another defect.)
LONG = ("ñ" * 30 + "(;-")[:63]
UNEXPECTED = "h(); DROP FUNCTION public.g(); --"


def _schema(dsn: str) -> None:
    table, index, policy = quote.ident(TABLE), quote.ident(INDEX), quote.ident(POLICY)
    statements = [
        "CREATE TABLE public.x_sentinel ()",
        "CREATE FUNCTION public.g() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        f"CREATE TABLE public.{table} (id int PRIMARY KEY, {quote.ident(LONG)} text)",
        f"CREATE INDEX {index} ON public.{table} ({quote.ident(LONG)})",
        f"ALTER TABLE public.{table} ENABLE ROW LEVEL SECURITY",
        f"CREATE POLICY {policy} ON public.{table} FOR SELECT USING (id > 0)",
        f"CREATE FUNCTION public.{quote.ident(INJECTING)}() RETURNS trigger LANGUAGE plpgsql"
        " AS $$BEGIN RETURN NEW; END$$",
        f"CREATE FUNCTION public.{quote.ident(MIXED)}() RETURNS trigger LANGUAGE plpgsql"
        " AS $$BEGIN RETURN NEW; END$$",
        f"CREATE FUNCTION public.{quote.ident(LONG)}(a int, b public.{table}) RETURNS int"
        " LANGUAGE sql AS 'SELECT a'",
        f"CREATE TRIGGER {quote.ident(TRIGGER)} BEFORE INSERT ON public.{table} FOR EACH ROW"
        f" EXECUTE FUNCTION public.{quote.ident(INJECTING)}('a''b', 'c\\d')",
        f"CREATE TRIGGER mixed BEFORE UPDATE ON public.{table} FOR EACH ROW"
        f" EXECUTE FUNCTION public.{quote.ident(MIXED)}()",
    ]
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


def _drift(dsn: str) -> None:
    table = quote.ident(TABLE)
    statements = [
        f"DROP INDEX public.{quote.ident(INDEX)}",
        f"DROP POLICY {quote.ident(POLICY)} ON public.{table}",
        f"DROP TRIGGER {quote.ident(TRIGGER)} ON public.{table}",
        f"DROP TRIGGER mixed ON public.{table}",
        f"DROP FUNCTION public.{quote.ident(INJECTING)}()",
        f"DROP FUNCTION public.{quote.ident(MIXED)}()",
        f"DROP FUNCTION public.{quote.ident(LONG)}(int, public.{table})",
        f"CREATE FUNCTION public.{quote.ident(UNEXPECTED)}() RETURNS int LANGUAGE sql"
        " AS 'SELECT 2'",
    ]
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


def _psql(dsn: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [psql_binary(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn],
        input=script, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _tables_and_functions(dsn: str) -> tuple[set[str], set[str]]:
    with psycopg.connect(dsn) as conn:
        tables = {
            str(row[0])
            for row in conn.execute(
                "SELECT relname FROM pg_class WHERE relkind = 'r'"
                " AND relnamespace = 'public'::regnamespace"
            )
        }
        functions = {
            str(row[0])
            for row in conn.execute(
                "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
            )
        }
    return tables, functions


@pytest.mark.slow
def test_a_repair_of_hostile_names_touches_only_the_objects_it_names(
    make_database: Callable[..., str], tmp_path: Path
) -> None:
    dsn = make_database()
    _schema(dsn)
    spec = tmp_path / "spec.yaml"
    written = run_monitor("spec", "snapshot", "--dsn", dsn, "-o", str(spec), timeout=120)
    assert written.returncode == 0, written.stderr
    clean = run_monitor("check", "--spec", str(spec), "--dsn", dsn, "--no-advisors", timeout=120)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    tables, functions = _tables_and_functions(dsn)
    _drift(dsn)
    printed = run_monitor(
        "check", "--spec", str(spec), "--dsn", dsn, "--no-advisors", "--format", "sql",
        "--allow-data-loss", timeout=120,
    )  # fmt: skip
    assert printed.returncode == 1, printed.stderr
    assert "Not repaired" not in printed.stdout, printed.stdout
    applied = _psql(dsn, printed.stdout)
    assert applied.returncode == 0, f"{applied.stderr}\n--- script:\n{printed.stdout}"
    # Nothing created, nothing dropped but the unexpected function.
    assert _tables_and_functions(dsn) == (tables, functions)
    after = run_monitor("check", "--spec", str(spec), "--dsn", dsn, "--no-advisors", timeout=120)
    assert after.returncode == 0, after.stdout + after.stderr


@pytest.mark.slow
def test_the_pasted_remediation_of_a_hostile_function_revokes_only_its_execute(
    phase3_dsn: str, sql: Callable[[str], None], tmp_path: Path
) -> None:
    name = quote.ident(INJECTING)
    sql(
        "CREATE FUNCTION public.g() RETURNS int LANGUAGE sql AS 'SELECT 1';"
        f"CREATE FUNCTION public.{name}() RETURNS bigint LANGUAGE sql SECURITY DEFINER"
        " SET search_path = '' AS 'SELECT count(*) FROM auth.users';"
        f"GRANT EXECUTE ON FUNCTION public.{name}() TO anon"
    )
    spec = tmp_path / "spec.yaml"
    assert run_monitor("spec", "snapshot", "--dsn", phase3_dsn, "-o", str(spec)).returncode == 0
    report = run_monitor("check", "--spec", str(spec), "--dsn", phase3_dsn, "--format", "json")
    advisories = [
        a
        for a in json.loads(report.stdout)["advisories"]
        if a["rule"] == "auth_users_exposed" and a["object"] == f"{name}()"
    ]
    assert len(advisories) == 1, report.stdout
    remediation = advisories[0]["remediation"]
    statement = remediation[remediation.index("REVOKE EXECUTE") :]
    tables, functions = _tables_and_functions(phase3_dsn)
    applied = _psql(phase3_dsn, statement + ";")
    assert applied.returncode == 0, f"{applied.stderr}\n--- pasted: {statement}"
    assert _tables_and_functions(phase3_dsn) == (tables, functions)
    with psycopg.connect(phase3_dsn) as conn:
        row = conn.execute(
            "SELECT has_function_privilege('anon', %s, 'EXECUTE')", (f"public.{name}()",)
        ).fetchone()
    assert row == (False,)
