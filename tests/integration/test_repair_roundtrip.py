"""The repair round trip, for every drift the suite injects: make the drift on a real database,
print `check --format sql`, apply it with psql, and `check` is clean again."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from monitor.postgres import catalog, db
from monitor.schema import repair
from monitor.schema.compare.diff import diff
from monitor.schema.model import Change, Kind, Severity, State
from tests.support.drifts import DRIFT, SECURITY_DRIFTS
from tests.support.processes import run_monitor

# What a repair script cannot restore in place, and says so: a re-added column comes
# back at the end of the table (only re-creating the table would put it back).
LEFT_TO_A_PERSON = {
    "column dropped": {("column", "changed", "warning", "(column order)")},
}
# Statements that lose data are commented out unless --allow-data-loss.
LOSES_DATA = {"extra table"}
# A policy narrower than the spec is left (a hand hardening) unless --restore-narrowed.
NARROWINGS = {"policy made restrictive"}


def check(public_spec: Path, dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_monitor(
        "check", "--spec", str(public_spec), "--dsn", dsn, "--no-advisors", *args, timeout=120
    )


def findings(public_spec: Path, dsn: str) -> set[tuple[str, str, str, str]]:
    report = json.loads(check(public_spec, dsn, "--format", "json").stdout)
    return {(f["kind"], f["change"], f["severity"], f["name"]) for f in report["findings"]}


def psql(dsn: str, script: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("psql")
    if binary is None:
        pytest.skip("psql is not installed")
    return subprocess.run(
        [binary, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(script)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("name", "statement", "finding"), DRIFT, ids=[c[0] for c in DRIFT])
def test_the_printed_repair_script_makes_check_clean_again(
    public_spec: Path,
    phase3_dsn: str,
    sql: Callable[[str], None],
    tmp_path: Path,
    name: str,
    statement: str,
    finding: tuple[Kind, Change, Severity, str],
) -> None:
    sql(statement)
    assert findings(public_spec, phase3_dsn) == {tuple(str(part) for part in finding)}
    extra: tuple[str, ...] = ("--allow-data-loss",) if name in LOSES_DATA else ()
    extra += ("--restore-narrowed",) if name in NARROWINGS else ()
    printed = check(public_spec, phase3_dsn, "--format", "sql", *extra)
    assert printed.returncode == 1, printed.stderr
    script = tmp_path / "repair.sql"
    script.write_text(printed.stdout)
    applied = psql(phase3_dsn, script)
    assert applied.returncode == 0, f"{applied.stderr}\n--- script:\n{printed.stdout}"
    assert findings(public_spec, phase3_dsn) == LEFT_TO_A_PERSON.get(name, set()), printed.stdout


def test_a_script_that_would_lose_data_leaves_the_table_alone_by_default(
    public_spec: Path, phase3_dsn: str, sql: Callable[[str], None], tmp_path: Path
) -> None:
    sql("CREATE TABLE public.scratch (id int); INSERT INTO public.scratch VALUES (1)")
    printed = check(public_spec, phase3_dsn, "--format", "sql").stdout
    assert "-- DROP TABLE IF EXISTS public.scratch;" in printed
    script = tmp_path / "repair.sql"
    script.write_text(printed)
    assert psql(phase3_dsn, script).returncode == 0
    assert findings(public_spec, phase3_dsn) == {("table", "unexpected", "warning", "scratch")}


def test_a_hand_hardening_is_left_and_listed_unless_restore_narrowed(
    public_spec: Path, phase3_dsn: str, sql: Callable[[str], None], tmp_path: Path
) -> None:
    """A policy made restrictive by hand, a grant and default privileges revoked: narrower
    than the spec; row level security turned off beside them is restored."""
    restrictive = next(
        statement for name, statement, _ in DRIFT if name == "policy made restrictive"
    )
    sql(restrictive)
    sql("REVOKE SELECT ON public.index_usage_stats FROM service_role;"
        " ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM anon;"
        " ALTER TABLE integrations DISABLE ROW LEVEL SECURITY")  # fmt: skip
    before = findings(public_spec, phase3_dsn)
    printed = check(public_spec, phase3_dsn, "--format", "sql").stdout
    assert "update the migrations, or run with --restore-narrowed" in printed
    assert "CREATE POLICY" not in printed and "GRANT" not in printed
    assert "ENABLE ROW LEVEL SECURITY" in printed
    script = tmp_path / "repair.sql"
    script.write_text(printed)
    assert psql(phase3_dsn, script).returncode == 0
    left = findings(public_spec, phase3_dsn)
    assert left == {f for f in before if f[1] == "narrowed"} and left
    restoring = check(public_spec, phase3_dsn, "--format", "sql", "--restore-narrowed").stdout
    script.write_text(restoring)
    assert psql(phase3_dsn, script).returncode == 0
    assert findings(public_spec, phase3_dsn) == set()


def test_the_script_follows_fail_on_as_the_exit_code_does(
    public_spec: Path, phase3_dsn: str, sql: Callable[[str], None]
) -> None:
    sql("CREATE INDEX idx_hand_made ON integrations (status);"
        " ALTER TABLE integrations DISABLE ROW LEVEL SECURITY")  # fmt: skip
    printed = check(public_spec, phase3_dsn, "--format", "sql", "--fail-on", "critical").stdout
    assert "DISABLE" not in printed and "ENABLE ROW LEVEL SECURITY" in printed
    assert "idx_hand_made is not in the spec: below --fail-on critical" in printed
    assert "DROP INDEX" not in printed


def test_the_script_for_a_clean_database_does_nothing(public_spec: Path, phase3_dsn: str) -> None:
    printed = check(public_spec, phase3_dsn, "--format", "sql")
    assert printed.returncode == 0
    assert "-- no drift: nothing to repair" in printed.stdout
    assert "BEGIN" not in printed.stdout


@pytest.mark.slow
def test_several_drifts_at_once_are_repaired_by_one_script(
    public_spec: Path, phase3_dsn: str, sql: Callable[[str], None], tmp_path: Path
) -> None:
    """Drifts that depend on each other: the script's order must hold them together."""
    for _, statement, _ in DRIFT:
        if "invalid" in statement or "scratch" in statement or "DROP COLUMN" in statement:
            continue
        try:
            sql(statement)
        except psycopg.Error:
            continue  # an earlier drift already removed what this one changes
    assert len(findings(public_spec, phase3_dsn)) >= 10
    script = tmp_path / "repair.sql"
    script.write_text(check(public_spec, phase3_dsn, "--format", "sql").stdout)
    applied = psql(phase3_dsn, script)
    assert applied.returncode == 0, applied.stderr
    assert findings(public_spec, phase3_dsn) == set()


# --- the security surface ------------------------------------------------------------------

# What a script cannot take back in place, and says so: none left.
SECURITY_LEFT_TO_A_PERSON: dict[str, set[tuple[str, str, str, str]]] = {}


def snapshot(dsn: str) -> State:
    with db.connect(dsn) as conn:
        return catalog.snapshot(conn, ["public"]).state


def found(expected: State, dsn: str) -> set[tuple[str, str, str, str]]:
    return {
        (str(f.kind), str(f.change), str(f.severity), f.name) for f in diff(expected, snapshot(dsn))
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SECURITY_DRIFTS))
def test_the_repair_script_undoes_every_security_drift(
    phase3_dsn: str, sql: Callable[[str], None], tmp_path: Path, name: str
) -> None:
    """The spec is the snapshot before the edit, kept in memory: the YAML spec does not
    carry the security surface yet, and the repair reads only the expected state."""
    edit, setup, wanted = SECURITY_DRIFTS[name]
    if setup:
        sql(setup)
    expected = snapshot(phase3_dsn)
    sql(edit)
    drift = diff(expected, snapshot(phase3_dsn))
    assert {(str(f.kind), str(f.change), f.name) for f in drift} == {
        (kind, change, object_name) for kind, _, object_name, change, _ in wanted
    }
    options = repair.Options(allow_data_loss=True, restore_narrowed=True)
    text = repair.script(drift, expected, options=options)
    script = tmp_path / "repair.sql"
    script.write_text(text)
    applied = psql(phase3_dsn, script)
    assert applied.returncode == 0, f"{applied.stderr}\n--- script:\n{text}"
    assert found(expected, phase3_dsn) == SECURITY_LEFT_TO_A_PERSON.get(name, set()), text
