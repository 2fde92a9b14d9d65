"""The platform boundary and the layouts that bring their own ledger: each fixture folder
builds with no flags, checks clean against its tool's deploy, and drift (a pending
migration, a dropped index, a platform object widened) is still seen."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from monitor.postgres import platform
from monitor.schema import spec
from monitor.schema.model import State
from tests.support.deploy_tools import deploy
from tests.support.paths import ROOT
from tests.support.processes import run_monitor

FIXTURES = ROOT / "tests" / "fixtures" / "migrations"

# folder, its tool, its ledger after a full deploy, the last migration's ledger row
CASES = {
    "flyway-baseline": (
        "flyway",
        ("public.flyway_schema_history", ("3", "4")),
        "DELETE FROM flyway_schema_history WHERE version = '4'",
    ),
    "sqitch": (
        "sqitch",
        ("sqitch.changes", ("accounts", "appschema", "entries")),
        "DELETE FROM sqitch.changes WHERE change = 'entries'",
    ),
    "postgres-migrations/migrations": (
        "postgres-migrations",
        ("public.migrations", ("0", "1", "2", "3")),
        "DELETE FROM migrations WHERE id = 3",
    ),
    "dbmate-storage-comment": (
        "dbmate",
        ("public.schema_migrations", ("20240410080000", "20240410080100")),
        "DELETE FROM schema_migrations WHERE version = '20240410080100'",
    ),
    "owns-auth": (
        "golang-migrate",
        ("public.schema_migrations", ("1", "2")),
        "UPDATE schema_migrations SET version = 1",
    ),
}


def _build(folder: Path, out: Path, shadow: str, *flags: str) -> tuple[State, str]:
    built = run_monitor(
        "spec", "build", str(folder), "-o", str(out), "--shadow-dsn", shadow, *flags
    )
    assert built.returncode == 0, built.stderr
    return spec.load(out), built.stderr


def _findings(spec_file: Path, dsn: str) -> set[tuple[str, str, str, str]]:
    checked = run_monitor("check", "--spec", str(spec_file), "--dsn", dsn, "--format", "json")
    assert checked.returncode in (0, 1), checked.stderr
    report = json.loads(checked.stdout)
    return {(f["kind"], f["change"], f["severity"], f["name"]) for f in report["findings"]}


def _run(dsn: str, statement: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statement.encode())


@pytest.mark.slow  # every layout but Supabase's is left to `make test-all`, as in test_layouts
@pytest.mark.parametrize("name", list(CASES))
def test_a_folder_builds_checks_clean_and_its_pending_migration_is_seen(
    name: str, make_database: Callable[..., str], pg_server: str, tmp_path: Path
) -> None:
    layout, ledger, undo_last = CASES[name]
    spec_file = tmp_path / "expected.yaml"
    expected, stderr = _build(FIXTURES / name, spec_file, pg_server)
    assert "platform: none" in stderr  # none of them is written for Supabase
    assert expected.ledger is not None
    assert (expected.ledger.table, tuple(sorted(expected.ledger.applied))) == ledger
    live = make_database()
    deploy(live, FIXTURES / name, layout, tmp_path)
    assert _findings(spec_file, live) == set()
    _run(live, undo_last)
    assert {(kind, change) for kind, change, _, _ in _findings(spec_file, live)} == {
        ("migration", "pending")
    }


def test_flyway_runs_the_latest_baseline_instead_of_the_versions_up_to_it(
    pg_server: str, tmp_path: Path
) -> None:
    expected, stderr = _build(FIXTURES / "flyway-baseline", tmp_path / "s.yaml", pg_server)
    public = expected.schema("public")
    assert public is not None
    customers = public.table("customers")
    assert customers is not None and customers.migration == "3_baseline"
    ignored = stderr.split("ignored: ", 1)[1].split("\n", 1)[0].split(", ")
    assert sorted(ignored)[:2] == ["B2__baseline.sql", "V1__customers.sql"]


def test_the_platform_is_decided_by_structure_and_said() -> None:
    def decided(folder: Path) -> platform.Decision:
        sources = [(p.name, p.read_text()) for p in sorted(folder.glob("*.sql"))]
        return platform.decide(folder, sources)

    comment = decided(FIXTURES / "dbmate-storage-comment")
    assert not comment.supabase  # "storage." and "auth.users" in a comment and a string
    owner = decided(FIXTURES / "owns-auth")
    assert not owner.supabase and "creates schema auth itself" in owner.reason
    project = decided(FIXTURES / "supabase-storage" / "supabase" / "migrations")
    assert project.supabase and "Supabase CLI project" in project.reason
    used = decided(FIXTURES / "supabase")  # no config.toml: by what the statements use
    assert used.supabase and "uses the platform's" in used.reason


def test_platform_flag_overrides_the_decision(pg_server: str, tmp_path: Path) -> None:
    folder = FIXTURES / "dbmate-storage-comment"
    state, stderr = _build(folder, tmp_path / "s.yaml", pg_server, "--platform", "supabase")
    assert "platform: supabase (as asked)" in stderr
    assert state.schema("public") is not None
    _, stderr = _build(folder, tmp_path / "s.yaml", pg_server, "--no-supabase-bootstrap")
    assert "platform: none (as asked)" in stderr


def test_a_project_that_owns_storage_has_its_drift_there_seen(
    make_database: Callable[..., str], pg_server: str, tmp_path: Path
) -> None:
    folder = FIXTURES / "owns-storage"
    spec_file = tmp_path / "expected.yaml"
    expected, stderr = _build(folder, spec_file, pg_server)
    assert "platform: none" in stderr and expected.schema("storage") is not None
    live = make_database()
    deploy(live, folder, "dbmate", tmp_path)
    assert _findings(spec_file, live) == set()
    _run(live, "DROP INDEX storage.objects_owner_id_idx")
    _run(live, "ALTER TABLE storage.objects DISABLE ROW LEVEL SECURITY")
    found = {(kind, change, name) for kind, change, _, name in _findings(spec_file, live)}
    assert found == {("index", "missing", "objects_owner_id_idx"), ("rls", "disabled", "objects")}


def test_a_storage_policy_pins_the_policy_not_the_platform(
    make_database: Callable[..., str], pg_server: str, tmp_path: Path
) -> None:
    folder = FIXTURES / "supabase-storage" / "supabase" / "migrations"
    spec_file = tmp_path / "expected.yaml"
    expected, _ = _build(folder, spec_file, pg_server)
    storage = expected.schema("storage")
    assert storage is not None
    (objects,) = storage.tables
    assert objects.name == "objects"
    assert sorted(p.name for p in objects.policies or ()) == [
        "Avatar images are publicly accessible",
        "Users upload their own avatar",
    ]
    # None of the platform's own: no columns, grants, owner, functions or sequences.
    assert (objects.columns, objects.grants, objects.owner) == (None, None, None)
    assert not storage.functions and not storage.sequences and storage.grants is None
    live = _clean_on_a_newer_platform(spec_file, make_database(), tmp_path)

    # The platform's safe shape still holds, though the spec does not pin it.
    _run(live, "GRANT SELECT ON auth.users TO anon")
    _run(live, "ALTER TABLE storage.objects DISABLE ROW LEVEL SECURITY")
    _run(
        live,
        "GRANT EXECUTE ON FUNCTION vault.create_secret(text, text, text, uuid) TO authenticated",
    )
    assert _findings(spec_file, live) == {
        ("privilege", "widened", "critical", "anon"),
        ("rls", "disabled", "critical", "objects"),
        ("privilege", "widened", "critical", "authenticated"),
    }


def test_a_projects_own_table_in_a_platform_schema_has_its_unlisted_parts_reported(
    make_database: Callable[..., str], pg_server: str, tmp_path: Path
) -> None:
    folder = tmp_path / "supabase" / "migrations"
    shutil.copytree(FIXTURES / "supabase-storage" / "supabase" / "migrations", folder)
    (folder / "20240601120200_avatar_reviews.sql").write_text(
        "create table storage.avatar_reviews (\n"
        "  object_id uuid primary key references storage.objects (id) on delete cascade,\n"
        "  approved boolean not null default false\n"
        ");\n"
    )
    spec_file = tmp_path / "expected.yaml"
    _build(folder, spec_file, pg_server)
    live = make_database()
    deploy(live, folder, "supabase", tmp_path)
    assert _findings(spec_file, live) == set()
    _run(live, "ALTER TABLE storage.avatar_reviews ADD COLUMN reviewer text")
    _run(live, "CREATE INDEX avatar_reviews_reviewer ON storage.avatar_reviews (reviewer)")
    _run(live, "ALTER TABLE storage.objects ADD COLUMN thumbnail text")  # the platform's own
    assert _findings(spec_file, live) == {
        ("column", "unexpected", "warning", "reviewer"),
        ("index", "unexpected", "warning", "avatar_reviews_reviewer"),
    }


def test_wrappers_and_pg_jsonschema_get_stand_ins_where_the_server_lacks_them(
    pg_server: str, tmp_path: Path
) -> None:
    folder = FIXTURES / "supabase-extensions" / "supabase" / "migrations"
    expected, stderr = _build(folder, tmp_path / "s.yaml", pg_server)
    assert "wrappers" in stderr and "pg_jsonschema" in stderr  # the stand-ins, named
    public = expected.schema("public")
    assert public is not None
    submissions = public.table("form_submissions")
    assert submissions is not None
    (shape,) = [c for c in submissions.constraints or () if c.type == "check"]
    assert "jsonb_matches_schema" in (shape.check or "")
    assert {e.name for e in expected.extensions or ()} >= {"wrappers", "pg_jsonschema"}


def _clean_on_a_newer_platform(spec_file: Path, live: str, tmp_path: Path) -> str:
    """The storage folder deployed on a newer platform than the bootstrap: no finding."""
    assert "extension(name text)" not in spec_file.read_text()
    folder = FIXTURES / "supabase-storage" / "supabase" / "migrations"
    deploy(live, folder, "supabase", tmp_path)
    _upgrade_the_platform(live)
    assert _findings(spec_file, live) == set()
    return live


def _upgrade_the_platform(dsn: str) -> None:
    """What a newer platform version has: another body for storage.extension, a sequence,
    a function, a trigger, a column, a grant to its own role, other extension versions."""
    _run(
        dsn,
        "CREATE OR REPLACE FUNCTION storage.extension(name text) RETURNS text"
        " LANGUAGE sql IMMUTABLE AS $$ SELECT lower(split_part(name, '.', -1)) $$;"
        " CREATE SEQUENCE storage.upload_seq; CREATE FUNCTION storage.get_size_by_bucket()"
        " RETURNS bigint LANGUAGE sql AS $$ SELECT 0::bigint $$;"
        " CREATE FUNCTION storage.touch() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RETURN NEW; END $$;"
        " CREATE TRIGGER update_objects_updated_at BEFORE UPDATE ON storage.objects"
        " FOR EACH ROW EXECUTE FUNCTION storage.touch();"
        " GRANT ALL ON storage.objects TO dashboard_user;"
        " ALTER TABLE storage.objects ADD COLUMN level integer;"
        " CREATE INDEX objects_level_idx ON storage.objects (level)",
    )


def test_a_snapshot_of_a_supabase_database_leaves_the_platform_out(
    make_database: Callable[..., str], tmp_path: Path
) -> None:
    folder = FIXTURES / "supabase-storage" / "supabase" / "migrations"
    known_good = make_database()
    deploy(known_good, folder, "supabase", tmp_path)
    spec_file = tmp_path / "snapshot.yaml"
    taken = run_monitor(
        "spec",
        "snapshot",
        "--dsn",
        known_good,
        "--schema",
        "public",
        "--schema",
        "storage",
        "-o",
        str(spec_file),
    )
    assert taken.returncode == 0, taken.stderr
    assert "platform: supabase" in taken.stderr
    snapshot = spec.load(spec_file)
    storage = snapshot.schema("storage")
    assert storage is not None
    assert [t.name for t in storage.tables] == ["objects"]
    assert not storage.functions and storage.grants is None
    live = _clean_on_a_newer_platform(spec_file, make_database(), tmp_path)
    _run(live, 'DROP POLICY "Users upload their own avatar" ON storage.objects')
    assert _findings(spec_file, live) == {
        ("policy", "missing", "critical", "Users upload their own avatar")
    }


def test_a_long_build_says_how_far_it_is_outside_a_terminal(pg_server: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    for number in range(1, 61):
        (folder / f"{number:04d}_t{number}.sql").write_text(f"CREATE TABLE t{number} (id int);\n")
    _, stderr = _build(folder, tmp_path / "s.yaml", pg_server)  # stderr is a pipe here
    lines = stderr.splitlines()
    assert "schema-monitor: applying 50/60: 0050_t50.sql" in lines
    assert "schema-monitor: applying 60/60: 0060_t60.sql" in lines
    assert "schema-monitor: building the spec from 60 migrations" in lines
    assert "\r" not in stderr
