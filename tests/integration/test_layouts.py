"""Every deploy tool's folder builds with `spec build` and no flag, and checks clean against
the same folder applied with psql the way that tool applies it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from monitor.check import run_check
from monitor.postgres import layouts, migrations, replay
from monitor.schema import spec
from tests.support.deploy_tools import deploy, psql
from tests.support.paths import ROOT
from tests.support.processes import run_monitor

FIXTURES = ROOT / "tests" / "fixtures" / "migrations"
LEDGERS = {
    "supabase": (
        "supabase_migrations.schema_migrations",
        ("20240105090000", "20240105090100", "20240105090200", "20240105090300", "20240105090400"),
    ),
    "golang-migrate": ("public.schema_migrations", ("1", "2", "3", "10", "11", "12")),
    "flyway": ("public.flyway_schema_history", ("1", "1.1", "2", "2.1", "3", "10")),
    "dbmate": (
        "public.schema_migrations",
        ("20240301100000", "20240301100100", "20240301100200", "20240301100300"),
    ),
    "plain": (None, ()),
}


# Supabase's in the fast suite (the richest folder); every layout in the full one.
@pytest.mark.parametrize(
    "layout",
    [
        name if name == "supabase" else pytest.param(name, marks=pytest.mark.slow)
        for name in LEDGERS
    ],
)
def test_a_folder_builds_with_no_flags_and_checks_clean_against_its_tools_deploy(
    layout: str, make_database: Callable[..., str], tmp_path: Path
) -> None:
    folder = FIXTURES / layout
    spec_file = tmp_path / "expected.yaml"
    built = run_monitor("spec", "build", str(folder), "-o", str(spec_file))
    assert built.returncode == 0, built.stderr
    assert "Traceback" not in built.stderr
    live = make_database()
    deploy(live, folder, layout, tmp_path)
    checked = run_monitor("check", "--spec", str(spec_file), "--dsn", live)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    expected = spec.load(spec_file)
    table, versions = LEDGERS[layout]
    if table is None:
        assert expected.ledger is None
    else:
        assert expected.ledger is not None
        assert (expected.ledger.table, expected.ledger.applied) == (table, versions)


def test_each_fixture_folder_is_detected_as_its_layout() -> None:
    for layout in LEDGERS:
        assert migrations.plan(FIXTURES / layout).layout == layouts.Layout(layout)


def test_golang_migrate_runs_up_files_in_numeric_order_and_ignores_down_files() -> None:
    found = migrations.plan(FIXTURES / "golang-migrate")
    assert [m.path.name for m in found.migrations] == [
        "1_create_users.up.sql",
        "2_create_orders.up.sql",
        "3_order_status_shipped.up.sql",
        "10_orders_user_idx.up.sql",
        "11_billing_schema.up.sql",
        "12_invoices.up.sql",
    ]
    assert all(name.endswith(".down.sql") for name in found.ignored)


def test_flyway_orders_versions_as_numbers_then_repeatables_and_ignores_undo() -> None:
    found = migrations.plan(FIXTURES / "flyway")
    assert [m.path.name for m in found.migrations] == [
        "V1__init.sql",
        "V1_1__customer_email_unique.sql",
        "V2__invoice.sql",
        "V2_1__invoice_state_void.sql",
        "V3__open_invoices_idx.sql",
        "V10__invoice_customer_idx.sql",
        "R__customer_balance_view.sql",
    ]
    assert found.ignored == ("U2__invoice.sql",)


def test_plain_numbered_files_run_in_numeric_order() -> None:
    found = migrations.plan(FIXTURES / "plain")
    assert [m.path.name for m in found.migrations][-2:] == [
        "0004-search.sql",
        "00010-housekeeping.sql",
    ]


def test_dbmate_runs_the_up_section_only(tmp_path: Path, pg_server: str) -> None:
    built = replay.build(FIXTURES / "dbmate", shadow_dsn=pg_server)
    public = built.schema("public")
    assert public is not None
    # The down section of the last file drops accounts: it must not have run.
    assert public.table("accounts") is not None
    assert public.table("accounts_old_handles") is not None


def test_a_dirty_golang_migrate_ledger_is_a_critical_finding(
    make_database: Callable[..., str], tmp_path: Path, pg_server: str
) -> None:
    folder = FIXTURES / "golang-migrate"
    expected = replay.build(folder, shadow_dsn=pg_server)
    live = make_database()
    deploy(live, folder, "golang-migrate", tmp_path)
    psql(live, "-c", "UPDATE public.schema_migrations SET dirty = true")
    findings = run_check(expected, live)
    assert [(f.kind, f.change, f.severity, f.name) for f in findings] == [
        ("migration", "invalid", "critical", "12")
    ]


def test_a_golang_migrate_database_behind_the_spec_has_its_later_versions_pending(
    make_database: Callable[..., str], tmp_path: Path, pg_server: str
) -> None:
    folder = FIXTURES / "golang-migrate"
    expected = replay.build(folder, shadow_dsn=pg_server)
    live = make_database()
    deploy(live, folder, "golang-migrate", tmp_path)
    with psycopg.connect(live, autocommit=True) as conn:
        conn.execute("DROP TABLE billing.invoices")
        conn.execute("UPDATE public.schema_migrations SET version = 11")
    findings = run_check(expected, live)
    assert {(f.kind, f.change, f.name) for f in findings} >= {("migration", "pending", "12")}
    assert all(f.change == "pending" for f in findings), findings
