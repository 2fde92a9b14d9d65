"""No blind kinds, on real PostgreSQL: schemas, persistence, collations, partitioning,
inheritance, owner privileges and publication membership. Each case takes a snapshot,
writes it as a spec and reads it back, changes the database, finds the change with
the right kind, change and severity, applies the repair script with psql
(ON_ERROR_STOP) and finds nothing more."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from monitor.postgres import catalog, db
from monitor.schema import repair, spec
from monitor.schema.compare import layout
from monitor.schema.compare.diff import diff
from monitor.schema.model import State
from tests.support.postgres import psql_binary
from tests.support.processes import run_monitor

Found = set[tuple[str, str, str, str]]


@dataclasses.dataclass(frozen=True)
class Case:
    setup: str
    drift: str
    found: Found  # (kind, change, severity, name)
    schemas: tuple[str, ...] = ("public",)
    allow_data_loss: bool = False
    restore_narrowed: bool = False  # a narrowing is left as it is unless asked
    edit: Callable[[State], State] = lambda state: state  # a spec that says more, or less


def _without_publication(name: str) -> Callable[[State], State]:
    def edit(state: State) -> State:
        kept = tuple(p for p in state.publications or () if p.name != name)
        return dataclasses.replace(state, publications=kept)

    return edit


PARTITIONED = """
    CREATE TABLE public.events (id int, at date NOT NULL) PARTITION BY RANGE (at);
    CREATE TABLE public.events_2024 PARTITION OF public.events
        FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
"""
REALTIME = """
    CREATE PUBLICATION supabase_realtime;
    CREATE TABLE public.integrations (id int PRIMARY KEY, api_key text);
"""

CASES = {
    "schema dropped": Case(
        "CREATE SCHEMA app; CREATE TABLE app.accounts (id int PRIMARY KEY, name text)",
        "DROP SCHEMA app CASCADE",
        {
            ("schema", "missing", "critical", "app"),
            ("table", "missing", "critical", "accounts"),
        },
        schemas=("app", "public"),
    ),
    "schema unexpected": Case(
        "",
        "CREATE SCHEMA stray; CREATE TABLE stray.t (id int)",
        {("schema", "unexpected", "warning", "stray")},
        allow_data_loss=True,
    ),
    "schema that must be gone": Case(
        "",
        "CREATE SCHEMA legacy",
        {("schema", "unexpected", "warning", "legacy")},
        allow_data_loss=True,
        edit=lambda state: dataclasses.replace(state, absent_schemas=("legacy",)),
    ),
    "table made unlogged": Case(
        "CREATE TABLE public.sessions (id int PRIMARY KEY)",
        "ALTER TABLE public.sessions SET UNLOGGED",
        {("table", "changed", "critical", "sessions")},
    ),
    "column collation changed": Case(
        'CREATE TABLE public.users (email text COLLATE "C", name text)',
        'ALTER TABLE public.users ALTER COLUMN email TYPE text COLLATE "POSIX",'
        ' ALTER COLUMN name TYPE text COLLATE "C"',
        {("column", "changed", "warning", "email"), ("column", "changed", "warning", "name")},
    ),
    "collation dropped": Case(
        "CREATE COLLATION public.nocase"
        " (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
        "DROP COLLATION public.nocase",
        {("collation", "missing", "warning", "nocase")},
    ),
    "collation unexpected": Case(
        "",
        "CREATE COLLATION public.stray (provider = libc, locale = 'C')",
        {("collation", "unexpected", "warning", "stray")},
    ),
    "partition detached": Case(
        PARTITIONED,
        "ALTER TABLE public.events DETACH PARTITION public.events_2024",
        {("partition", "missing", "critical", "events_2024")},
    ),
    "partition bound changed": Case(
        PARTITIONED,
        "ALTER TABLE public.events DETACH PARTITION public.events_2024;"
        " ALTER TABLE public.events ATTACH PARTITION public.events_2024"
        " FOR VALUES FROM ('2024-01-01') TO ('2024-07-01')",
        {("partition", "changed", "warning", "events_2024")},
    ),
    "partition dropped": Case(
        PARTITIONED,
        "DROP TABLE public.events_2024",
        {
            ("partition", "missing", "critical", "events_2024"),
            ("table", "missing", "critical", "events_2024"),
        },
    ),
    "partition unexpected": Case(
        PARTITIONED,
        "CREATE TABLE public.events_2025 PARTITION OF public.events"
        " FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')",
        {
            ("partition", "unexpected", "warning", "events_2025"),
            ("table", "unexpected", "warning", "events_2025"),
        },
        allow_data_loss=True,
    ),
    "parent removed": Case(
        "CREATE TABLE public.base (id int); CREATE TABLE public.child (note text) INHERITS"
        " (public.base)",
        "ALTER TABLE public.child NO INHERIT public.base",
        {("table", "changed", "warning", "child")},
    ),
    "privileges revoked from the owner": Case(
        "CREATE TABLE public.ledger (id int)",
        "REVOKE DELETE, TRUNCATE ON public.ledger FROM CURRENT_USER",
        {("privilege", "narrowed", "warning", "postgres (owner)")},
        restore_narrowed=True,
    ),
    "table added to a publication the spec lists": Case(
        REALTIME,
        "ALTER PUBLICATION supabase_realtime ADD TABLE public.integrations",
        {("publication", "widened", "critical", "supabase_realtime")},
    ),
    "table added to a platform publication the spec lacks": Case(
        REALTIME,
        "ALTER PUBLICATION supabase_realtime ADD TABLE public.integrations",
        {("publication", "unexpected", "critical", "supabase_realtime")},
        edit=_without_publication("supabase_realtime"),
    ),
}


def _snapshot(dsn: str, schemas: tuple[str, ...]) -> State:
    with db.connect(dsn) as conn:
        return catalog.snapshot(conn, schemas).state


def _found(expected: State, dsn: str) -> Found:
    findings = diff(expected, _snapshot(dsn, tuple(s.name for s in expected.schemas)))
    return {(str(f.kind), str(f.change), str(f.severity), f.name) for f in findings}


def _run(dsn: str, statements: str) -> None:
    if statements:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(statements.encode())


def _spec_of(dsn: str, case: Case) -> State:
    """The snapshot as `spec snapshot` writes it, read back from its text."""
    state = layout.with_schema_policy(_snapshot(dsn, case.schemas))
    return spec.loads(spec.dumps(case.edit(state)))


@pytest.mark.parametrize("name", list(CASES))
def test_each_kind_is_found_and_repaired(
    make_database: Callable[..., str], tmp_path: Path, name: str
) -> None:
    case = CASES[name]
    dsn = make_database()
    _run(dsn, case.setup)
    expected = _spec_of(dsn, case)
    assert _found(expected, dsn) == set()
    _run(dsn, case.drift)
    assert _found(expected, dsn) == case.found
    with db.connect(dsn) as conn:
        live = catalog.snapshot(conn, [s.name for s in expected.schemas]).state
    findings = diff(expected, live)
    script = tmp_path / "repair.sql"
    options = repair.Options(
        allow_data_loss=case.allow_data_loss, restore_narrowed=case.restore_narrowed
    )
    script.write_text(repair.script(findings, expected, options=options))
    applied = subprocess.run(
        [psql_binary(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(script)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert applied.returncode == 0, f"{applied.stderr}\n--- script:\n{script.read_text()}"
    assert _found(expected, dsn) == set(), script.read_text()


def test_a_table_partitioned_or_not_is_found_and_the_script_says_why_it_is_left(
    make_database: Callable[..., str],
) -> None:
    dsn = make_database()
    _run(dsn, PARTITIONED)
    expected = _spec_of(dsn, CASES["partition detached"])
    _run(dsn, "DROP TABLE public.events; CREATE TABLE public.events (id int, at date NOT NULL)")
    assert _found(expected, dsn) == {
        ("table", "changed", "warning", "events"),
        ("table", "missing", "critical", "events_2024"),
    }
    findings = diff(expected, _snapshot(dsn, ("public",)))
    script = repair.script(findings, expected)
    assert "-- Not repaired by this script:" in script
    assert "is partitioned (or not) when it is created" in script


def test_check_reports_a_missing_schema_as_drift_not_an_error(
    make_database: Callable[..., str], tmp_path: Path
) -> None:
    dsn = make_database()
    _run(dsn, "CREATE SCHEMA app; CREATE TABLE app.accounts (id int)")
    path = tmp_path / "spec.yaml"
    path.write_text(spec.dumps(_snapshot(dsn, ("app", "public"))))
    _run(dsn, "DROP SCHEMA app CASCADE")
    checked = run_monitor(
        "check", "--spec", str(path), "--dsn", dsn, "--no-advisors", "--format", "json",
        timeout=120,
    )  # fmt: skip
    assert checked.returncode == 1, checked.stderr
    findings = json.loads(checked.stdout)["findings"]
    assert {(f["kind"], f["change"], f["severity"], f["name"]) for f in findings} == {
        ("schema", "missing", "critical", "app"),
        ("table", "missing", "critical", "accounts"),
    }
    snapshot = run_monitor("spec", "snapshot", "--dsn", dsn, "--schema", "app", timeout=120)
    assert snapshot.returncode == 2
    assert 'schema "app" does not exist' in snapshot.stderr
