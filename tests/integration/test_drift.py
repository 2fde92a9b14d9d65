"""Drift made with real DDL on real PostgreSQL, found by `check` with the right kind, change and
severity; and changes that are not drift, found to be nothing."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from monitor import check
from monitor.check import run_check
from monitor.errors import InputError
from monitor.postgres import catalog, db
from monitor.schema import advisors, spec
from monitor.schema.model import Change, Kind, Severity, State, Table
from tests.support.drifts import DRIFT, INSERT, VIEW
from tests.support.processes import run_monitor


@pytest.fixture(scope="module")
def expected(phase3_template: str, pg_server: str) -> State:
    """The spec of the freshly migrated database, through a YAML round trip as a user keeps it."""
    dsn = psycopg.conninfo.make_conninfo(pg_server, dbname=phase3_template)
    with db.connect(dsn) as conn:
        snap = catalog.snapshot(conn, ["public"])
    return spec.loads(spec.dumps(snap.state), "phase3.yaml")


def findings_of(expected: State, dsn: str) -> set[tuple[str, str, str, str]]:
    return {
        (f.kind.value, f.change.value, f.severity.value, f.name) for f in run_check(expected, dsn)
    }


def test_untouched_database_has_no_drift(expected: State, phase3_dsn: str) -> None:
    assert findings_of(expected, phase3_dsn) == set()


@pytest.mark.parametrize(
    ("statement", "finding"), [c[1:] for c in DRIFT], ids=[c[0] for c in DRIFT]
)
def test_drift_is_found_with_its_kind_change_and_severity(
    expected: State,
    phase3_dsn: str,
    sql: Callable[[str], None],
    statement: str,
    finding: tuple[Kind, Change, Severity, str],
) -> None:
    sql(statement)
    assert findings_of(expected, phase3_dsn) == {tuple(str(part) for part in finding)}


NOT_DRIFT = [
    ("index recreated with other whitespace, case, USING btree and a schema-qualified table",
     "DROP INDEX idx_active_integrations; create   INDEX idx_active_integrations ON"
     " public.INTEGRATIONS USING BTREE (Organization_Id,integration_type)"
     " WHERE (IS_ACTIVE = TRUE) and organization_id is not null"),
    ("policy recreated with roles in another order and other spelling",
     f"DROP POLICY {INSERT} ON integrations; CREATE POLICY {INSERT} ON public.integrations"
     " AS PERMISSIVE FOR INSERT TO authenticated WITH CHECK ("
     " ORGANIZATION_ID in (select OM.organization_id from organization_members om"
     " where (om.user_id = (select AUTH.UID())) and om.role = any(array['owner', 'admin'])))"),
    ("vacuum, analyze and reindex",
     "VACUUM ANALYZE integrations; REINDEX TABLE integrations"),
    ("rows inserted",
     "INSERT INTO organizations (id, name, slug)"
     " VALUES ('00000000-0000-0000-0000-000000000001', 'A', 'a');"
     " INSERT INTO integrations (organization_id, integration_type)"
     " VALUES ('00000000-0000-0000-0000-000000000001', 'slack')"),
]  # fmt: skip


@pytest.mark.parametrize("statement", [c[1] for c in NOT_DRIFT], ids=[c[0] for c in NOT_DRIFT])
def test_changes_that_keep_the_meaning_are_not_drift(
    expected: State, phase3_dsn: str, sql: Callable[[str], None], statement: str
) -> None:
    for each in statement.split("; "):  # one at a time: VACUUM refuses a transaction block
        sql(each)
    assert findings_of(expected, phase3_dsn) == set()


def test_policy_roles_in_another_order_are_not_drift(
    expected: State, phase3_dsn: str, sql: Callable[[str], None]
) -> None:
    sql(f"ALTER POLICY {VIEW} ON integrations TO anon, authenticated")
    widened = findings_of(expected, phase3_dsn)
    sql(f"ALTER POLICY {VIEW} ON integrations TO authenticated")
    assert widened and findings_of(expected, phase3_dsn) == set()
    sql(f"ALTER POLICY {VIEW} ON integrations TO service_role, authenticated")
    sql(f"ALTER POLICY {VIEW} ON integrations TO authenticated, service_role")
    assert {f[1] for f in findings_of(expected, phase3_dsn)} == {"widened"}  # a role added


# --- the CLI, as a CI/CD gate runs it ----------------------------------------


@pytest.fixture
def spec_file(expected: State, tmp_path: Path) -> Path:
    path = tmp_path / "phase3.yaml"
    path.write_text(spec.dumps(expected))
    return path


def test_check_exits_zero_and_says_so_on_a_clean_database(spec_file: Path, phase3_dsn: str) -> None:
    result = run_monitor("check", "--spec", str(spec_file), "--dsn", phase3_dsn)
    assert (result.returncode, result.stdout.splitlines()[0]) == (
        0,
        "no drift: the database matches the spec",
    )
    quiet = run_monitor("check", "--spec", str(spec_file), "--dsn", phase3_dsn, "--no-advisors")
    assert quiet.stdout.strip() == "no drift: the database matches the spec"


def test_check_json_reports_a_missing_index_as_the_contract_says(
    spec_file: Path, phase3_dsn: str, sql: Callable[[str], None]
) -> None:
    sql("DROP INDEX idx_active_integrations")
    result = run_monitor("check", "--spec", str(spec_file), "--dsn", phase3_dsn, "--format", "json")
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert report["ok"] is False
    assert report["summary"] == {"critical": 1, "warning": 0, "info": 0}
    (finding,) = report["findings"]
    assert finding["message"] == "index public.integrations.idx_active_integrations is missing"
    assert finding["expected"]["where"] == "is_active = true AND organization_id IS NOT NULL"
    assert finding["actual"] is None


def test_check_text_groups_findings_by_table(
    spec_file: Path, phase3_dsn: str, sql: Callable[[str], None]
) -> None:
    sql(f"DROP POLICY {VIEW} ON integrations; CREATE TABLE public.scratch (id int)")
    result = run_monitor("check", "--spec", str(spec_file), "--dsn", phase3_dsn)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "public.integrations" in lines and "public.scratch" in lines
    assert "2 findings: 1 critical, 1 warning, 0 info" in lines
    assert lines.index("2 findings: 1 critical, 1 warning, 0 info") < lines.index(
        "advisories (not drift: what a reviewer would flag)"
    )


def test_check_takes_the_dsn_from_database_url(spec_file: Path, phase3_dsn: str) -> None:
    import os

    env = {**os.environ, "DATABASE_URL": phase3_dsn}
    assert run_monitor("check", "--spec", str(spec_file), env=env).returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dsn", "postgresql://postgres:s3cret@127.0.0.1:1/postgres"], "cannot connect"),
        (["--dsn", "postgresql://postgres@127.0.0.1:5432/no_such_database_here"], "cannot connect"),
    ],
    ids=["unreachable host", "unknown database"],
)
def test_connection_problems_are_one_line_and_exit_two(
    spec_file: Path, args: list[str], message: str
) -> None:
    result = run_monitor("check", "--spec", str(spec_file), *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "s3cret" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_spec_file_is_exit_two(tmp_path: Path, phase3_dsn: str) -> None:
    result = run_monitor("check", "--spec", str(tmp_path / "nope.yaml"), "--dsn", phase3_dsn)
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr and "Traceback" not in result.stderr


def test_invalid_spec_lists_every_problem_with_its_line(tmp_path: Path, phase3_dsn: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\n"
        "schemas:\n"
        "  public:\n"
        "    tables:\n"
        "      integrations:\n"
        "        colums: []\n"
        "        rls: {enabled: maybe}\n"
    )
    result = run_monitor("check", "--spec", str(bad), "--dsn", phase3_dsn)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{bad}:6" in result.stderr and f"{bad}:7" in result.stderr


def test_a_schema_of_the_spec_missing_is_drift(tmp_path: Path, phase3_dsn: str) -> None:
    """Not exit 2: a dropped schema is the database departing from the spec (kind schema)."""
    path = tmp_path / "other.yaml"
    path.write_text("version: 1\nschemas:\n  no_such_schema:\n    tables: {}\n")
    result = run_monitor("check", "--spec", str(path), "--dsn", phase3_dsn)
    assert result.returncode == 1, result.stderr
    assert "warning  schema no_such_schema is missing" in result.stdout
    assert "Traceback" not in result.stderr


def test_spec_snapshot_writes_a_spec_that_checks_clean(tmp_path: Path, phase3_dsn: str) -> None:
    out = tmp_path / "snap.yaml"
    result = run_monitor("spec", "snapshot", "--dsn", phase3_dsn, "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert run_monitor("check", "--spec", str(out), "--dsn", phase3_dsn).returncode == 0


# --- a large spec: its catalog is read while it loads ------------------------


def large(expected: State, tables: int = 4000) -> State:
    """The spec with tables the database lacks: large enough to start the snapshot early."""
    public = expected.schemas[0]
    columns = public.tables[0].columns
    extra = tuple(Table(f"absent_{n:04}", columns=columns) for n in range(tables))
    wider = dataclasses.replace(public, tables=tuple(sorted(public.tables + extra, key=str)))
    return dataclasses.replace(expected, schemas=(wider, *expected.schemas[1:]))


def test_a_large_spec_checks_the_same_with_its_catalog_read_while_it_loads(
    expected: State, phase3_dsn: str, tmp_path: Path
) -> None:
    path = tmp_path / "large.yaml"
    path.write_text(spec.dumps(large(expected)))
    assert path.stat().st_size > 1024 * 1024
    # The early snapshot's scope, guessed from the outline, is the loaded spec's.
    assert spec.guess_scope(path.read_text()) == spec.Scope.of(spec.load(path))
    settings = advisors.Settings()
    loaded, outcome = check.load_and_inspect(path, phase3_dsn, settings)
    assert loaded == spec.load(path)
    assert outcome == check.inspect(loaded, phase3_dsn, settings)
    assert len(outcome.findings) >= 4000


def test_a_large_spec_that_does_not_load_fails_on_its_problems_not_the_database(
    expected: State, tmp_path: Path
) -> None:
    path = tmp_path / "large.yaml"
    text = spec.dumps(large(expected))
    path.write_text(text.replace("absent_3999:\n        columns:", "absent_3999:\n        colums:"))
    # Port 9 on 127.0.0.1: nothing listens; the early snapshot's error is never raised.
    with pytest.raises(InputError, match="absent_3999: unknown key 'colums'"):
        check.load_and_inspect(path, "postgresql://x@127.0.0.1:9/x", advisors.Settings())
