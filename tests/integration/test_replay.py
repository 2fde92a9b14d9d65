"""`spec build` on real PostgreSQL: replay, provenance, ledger, errors and cleanup.

Most builds use the test server as the shadow server (``shadow_dsn=pg_server``);
the ones that name no shadow server start their own private PostgreSQL.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from monitor.errors import ConnectionFailed, InputError, MigrationFailed, MonitorError
from monitor.postgres import catalog, db, replay, scratch
from monitor.schema import spec
from monitor.schema.compare import diff
from monitor.schema.model import DEFAULT_LEDGER_TABLE, Absent, Extra, Kind, Ledger, Rls, State
from monitor.schema.spec import provenance
from tests.support import deploy_tools
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "supabase" / "migrations"
PHASE3_SPEC = ROOT / "config" / "expected" / "phase3.yaml"
CREATE = "20250122000000_create_integrations_table"
INDEXES = "20250123000000_phase3_performance_indexes"
EXAMPLE_VERSIONS = (
    "20250101000000",
    "20250122000000",
    "20250122235959",
    "20250123000000",
    "20250123000001",
    "20250123000002",
)


@pytest.fixture(scope="module")
def example_spec(pg_server: str) -> State:
    return replay.build(EXAMPLES, shadow_dsn=pg_server)


def scratch_databases(server: str) -> set[str]:
    with psycopg.connect(server, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            (f"{replay.SCRATCH_PREFIX}%",),
        ).fetchall()
    return {name for (name,) in rows}


@pytest.fixture
def no_scratch_left(pg_server: str) -> Iterator[None]:
    """Whatever the test does, it leaves no scratch database behind. Another process's build
    on a shared server (a second pytest worker) may hold one for a while: a leak never goes."""
    before = scratch_databases(pg_server)
    yield
    deadline = time.monotonic() + 60
    while not scratch_databases(pg_server) <= before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert scratch_databases(pg_server) <= before


def migrations_dir(tmp_path: Path, files: dict[str, str], *, examples: bool = False) -> Path:
    """A migrations directory: optionally a copy of the examples, plus `files`."""
    directory = tmp_path / "migrations"
    if examples:
        shutil.copytree(EXAMPLES, directory)
    else:
        directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def cli(*args: str, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "monitor", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


# --- the example migrations ------------------------------------------------------


def test_the_example_migrations_build_a_spec_with_provenance(example_spec: State) -> None:
    public = example_spec.schema("public")
    assert public is not None
    integrations = public.table("integrations")
    assert integrations is not None
    assert integrations.migration == CREATE
    assert integrations.rls == Rls(enabled=True)
    indexes = {i.name: i.migration for i in integrations.indexes or ()}
    assert indexes["idx_integrations_organization_id"] == CREATE
    assert indexes["idx_active_integrations"] == INDEXES
    assert {p.name for p in integrations.policies or ()} == {
        "Users can view organization integrations",
        "Admins can insert integrations",
        "Admins can update integrations",
        "Admins can delete integrations",
    }


def test_the_spec_records_the_ledger_in_file_order(example_spec: State) -> None:
    assert example_spec.ledger == Ledger(applied=EXAMPLE_VERSIONS, table=DEFAULT_LEDGER_TABLE)


def test_bootstrap_objects_are_left_out_of_the_example_spec(example_spec: State) -> None:
    assert [s.name for s in example_spec.schemas] == ["public"]


def test_a_policy_dropped_for_good_by_an_example_migration_is_absent(example_spec: State) -> None:
    public = example_spec.schema("public")
    assert public is not None
    assert public.absent == (
        Absent(
            Kind.POLICY,
            "Members can view workflow logs",
            "workflow_execution_logs",
            "20250122235959_add_organization_id_to_workflow_execution_logs",
        ),
    )


def test_the_spec_survives_its_yaml_form(example_spec: State) -> None:
    assert spec.loads(spec.dumps(example_spec)) == example_spec


def test_the_committed_phase3_spec_is_what_the_build_produces(example_spec: State) -> None:
    assert spec.load(PHASE3_SPEC) == example_spec, (
        "regenerate: schema-monitor spec build examples/supabase/migrations"
        " -o config/expected/phase3.yaml"
    )


def test_a_database_migrated_with_psql_matches_the_built_spec(
    example_spec: State, make_database: Callable[..., str], tmp_path: Path
) -> None:
    dsn = make_database()
    deploy_tools.deploy(dsn, EXAMPLES, "supabase", tmp_path)
    with db.connect(dsn) as conn:
        live = catalog.snapshot(conn, ["public"], DEFAULT_LEDGER_TABLE)
    assert live.state.schema("public") is not None
    assert diff.diff(example_spec, live.state, skipped=live.skipped) == ()


@pytest.mark.slow
def test_embedded_server_and_shadow_server_build_the_same_spec(
    example_spec: State, pg_server: str
) -> None:
    with psycopg.connect(pg_server) as conn:
        shadow_version = conn.info.server_version
    embedded = replay.build(EXAMPLES)
    assert embedded == example_spec, f"embedded PostgreSQL 16 vs shadow {shadow_version}"


# --- what the migrations do --------------------------------------------------------


def test_without_the_integrations_table_its_conditional_index_is_simply_not_expected(
    tmp_path: Path,
) -> None:
    """The seed's case: the Phase 3 migrations run where integrations is missing."""
    directory = migrations_dir(tmp_path, {}, examples=True)
    (directory / f"{CREATE}.sql").unlink()
    built = replay.build(directory)
    public = built.schema("public")
    assert public is not None
    assert public.table("integrations") is None
    assert "idx_active_integrations" not in {
        index.name for table in public.tables for index in table.indexes or ()
    }
    assert public.table("workflow_execution_logs") is not None
    assert built.ledger is not None
    assert "20250122000000" not in built.ledger.applied


def test_a_dropping_migration_gives_an_absent_entry_that_check_reports_when_it_reappears(
    tmp_path: Path, pg_server: str, phase3_dsn: str, sql: Callable[[str], None]
) -> None:
    drop = "20250124000000_drop_sync_index"
    directory = migrations_dir(
        tmp_path, {f"{drop}.sql": "DROP INDEX public.idx_integrations_sync_due;\n"}, examples=True
    )
    built = replay.build(directory, shadow_dsn=pg_server)
    public = built.schema("public")
    assert public is not None
    assert Absent(Kind.INDEX, "idx_integrations_sync_due", None, drop) in public.absent
    # The live database got the drop too, then someone re-created the index by hand.
    sql("DROP INDEX public.idx_integrations_sync_due")
    sql(f"INSERT INTO supabase_migrations.schema_migrations (version) VALUES ('{drop[:14]}')")
    sql(
        "CREATE INDEX idx_integrations_sync_due ON public.integrations (last_sync_at)"
        " WHERE is_active"
    )
    with db.connect(phase3_dsn) as conn:
        live = catalog.snapshot(conn, ["public"], DEFAULT_LEDGER_TABLE)
    findings = diff.diff(built, live.state, skipped=live.skipped)
    assert findings, "the re-created index went unnoticed"
    assert {(f.kind, f.change, f.name) for f in findings} == {
        (Kind.INDEX, "unexpected", "idx_integrations_sync_due")
    }
    assert any(f"dropped by migration {drop}" in f.message for f in findings)


def test_objects_of_a_migration_not_yet_applied_live_are_pending_not_missing(
    tmp_path: Path, pg_server: str, phase3_dsn: str
) -> None:
    """A deploy in progress: the spec knows the next migration, the live ledger does not yet."""
    upcoming = "20250124000000_integrations_by_type"
    directory = migrations_dir(
        tmp_path,
        {
            f"{upcoming}.sql": "ALTER TABLE public.integrations ADD COLUMN priority integer;\n"
            "CREATE INDEX idx_integrations_priority ON public.integrations (priority);\n"
        },
        examples=True,
    )
    built = replay.build(directory, shadow_dsn=pg_server)
    with db.connect(phase3_dsn) as conn:
        live = catalog.snapshot(conn, ["public"], DEFAULT_LEDGER_TABLE)
    findings = diff.diff(built, live.state, skipped=live.skipped)
    assert {(f.kind, f.change, f.severity, f.name) for f in findings} == {
        (Kind.MIGRATION, "pending", "info", upcoming[:14]),
        (Kind.COLUMN, "pending", "info", "priority"),
        (Kind.INDEX, "pending", "info", "idx_integrations_priority"),
    }


def test_policies_and_triggers_on_bootstrap_tables_are_kept_alone(
    tmp_path: Path, pg_server: str
) -> None:
    directory = migrations_dir(
        tmp_path,
        {
            "20250101000000_profiles.sql": """
CREATE TABLE public.profiles (id uuid PRIMARY KEY REFERENCES auth.users (id));
CREATE FUNCTION public.handle_new_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.profiles (id) VALUES (NEW.id);
  RETURN NEW;
END $$;
CREATE TRIGGER on_auth_user_created AFTER INSERT ON auth.users
  FOR EACH ROW EXECUTE FUNCTION public.handle_new_user();
ALTER TABLE auth.users ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users see themselves" ON auth.users FOR SELECT TO authenticated
  USING (id = auth.uid());
""",
        },
    )
    built = replay.build(directory, shadow_dsn=pg_server)
    assert [s.name for s in built.schemas] == ["auth", "public"]
    auth = built.schema("auth")
    assert auth is not None
    # The platform's other tables are ignored by name; a table of the user's own is not.
    assert auth.extra.tables is Extra.REPORT
    assert {"identities", "sessions", "refresh_tokens"} <= set(auth.ignore)
    assert "users" not in auth.ignore
    assert [t.name for t in auth.tables] == ["users"]
    users = auth.tables[0]
    assert users.rls == Rls(enabled=True)
    assert [(t.name, t.migration) for t in users.triggers or ()] == [
        ("on_auth_user_created", "20250101000000_profiles")
    ]
    assert [p.name for p in users.policies or ()] == ["Users see themselves"]
    assert (users.columns, users.indexes, users.constraints) == (None, None, None)
    assert spec.loads(spec.dumps(built)) == built


def test_extra_bootstrap_files_and_asked_schemas(tmp_path: Path, pg_server: str) -> None:
    bootstrap = tmp_path / "storage.sql"
    bootstrap.write_text(
        "CREATE SCHEMA storage;\n"
        "CREATE TABLE storage.objects (id bigint PRIMARY KEY, owner uuid);\n"
    )
    directory = migrations_dir(
        tmp_path,
        {
            "20250101000000_private.sql": "CREATE SCHEMA private;\n"
            "CREATE TABLE private.secrets (id bigint);\n"
            "ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;\n",
        },
    )
    built = replay.build(
        directory,
        shadow_dsn=pg_server,
        bootstrap_files=[bootstrap],
        supabase_bootstrap=False,
        schemas=["public", "private"],
    )
    assert [s.name for s in built.schemas] == ["private", "public", "storage"]
    storage = built.schema("storage")
    private = built.schema("private")
    assert storage is not None and private is not None
    assert [(t.name, t.rls, t.columns) for t in storage.tables] == [
        ("objects", Rls(enabled=True), None)
    ]
    assert [t.name for t in private.tables] == ["secrets"]


def test_each_file_starts_with_a_fresh_session(tmp_path: Path, pg_server: str) -> None:
    directory = migrations_dir(
        tmp_path,
        {
            "1_dump_style.sql": "SELECT pg_catalog.set_config('search_path', '', false);\n"
            "CREATE TABLE public.a (id int);\n",
            "2_unqualified.sql": "CREATE TABLE b (id int);\n",
        },
    )
    built = replay.build(directory, shadow_dsn=pg_server)
    public = built.schema("public")
    assert public is not None
    assert [t.name for t in public.tables] == ["a", "b"]


def test_a_database_default_set_by_a_file_applies_to_the_next_and_nothing_else_leaks(
    tmp_path: Path, pg_server: str
) -> None:
    directory = migrations_dir(
        tmp_path,
        {
            "1_defaults.sql": "CREATE SCHEMA app;\n"
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = app, public',"
            " current_database()); END $$;\n"
            "CREATE TEMP TABLE staging (id int);\nSET search_path = pg_catalog;\n",
            "2_in_app.sql": "CREATE TEMP TABLE staging (id int);\nCREATE TABLE accounts (id int);",
            "3_still_app.sql": "CREATE TEMP TABLE staging (id int);\nCREATE TABLE users (id int);",
        },
    )
    built = replay.build(directory, shadow_dsn=pg_server, schemas=["app", "public"])
    app = built.schema("app")
    assert app is not None
    assert [t.name for t in app.tables] == ["accounts", "users"]


def test_a_file_with_its_own_transaction_and_many_statements_applies(
    tmp_path: Path, pg_server: str
) -> None:
    directory = migrations_dir(
        tmp_path,
        {
            "1_own_transaction.sql": "BEGIN;\nCREATE TABLE public.a (id int);\n"
            "CREATE FUNCTION public.one() RETURNS int LANGUAGE sql\n"
            "BEGIN ATOMIC SELECT 1; END;\n"
            "COMMIT;\n",
        },
    )
    built = replay.build(directory, shadow_dsn=pg_server)
    public = built.schema("public")
    assert public is not None
    assert public.table("a") is not None


def test_progress_names_each_file_in_order(tmp_path: Path, pg_server: str) -> None:
    directory = migrations_dir(
        tmp_path, {"1_a.sql": "CREATE TABLE a (id int);", "2_b.sql": "CREATE TABLE b (id int);"}
    )
    calls: list[tuple[int, int, str]] = []
    replay.build(directory, shadow_dsn=pg_server, progress=lambda n, m, f: calls.append((n, m, f)))
    assert calls == [(1, 2, "1_a.sql"), (2, 2, "2_b.sql")]


EVERY_KIND = """
CREATE SCHEMA app;
CREATE TYPE app.mood AS ENUM ('ok', 'sad');
CREATE DOMAIN app.positive AS integer CHECK (VALUE > 0);
CREATE TYPE app.pair AS (a int, b text);
CREATE TYPE app.span AS RANGE (subtype = integer);
CREATE SEQUENCE app.counter;
CREATE TABLE app.parent (id int PRIMARY KEY, mood app.mood DEFAULT 'ok', n app.positive);
CREATE TABLE app.child (
    id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id int REFERENCES app.parent (id),
    note text CHECK (note <> ''),
    UNIQUE (parent_id, note)
);
CREATE INDEX child_note ON app.child (note) WHERE note IS NOT NULL;
ALTER TABLE app.child ENABLE ROW LEVEL SECURITY;
CREATE POLICY "mine" ON app.child FOR SELECT USING (parent_id > 0);
CREATE FUNCTION app."Stamp"() RETURNS trigger LANGUAGE plpgsql
    AS $$ BEGIN RETURN NEW; END $$;
CREATE FUNCTION app.add(a integer, b text DEFAULT '') RETURNS int LANGUAGE sql AS 'SELECT a';
CREATE TRIGGER stamp BEFORE INSERT ON app.child FOR EACH ROW EXECUTE FUNCTION app."Stamp"(1, 'x');
CREATE VIEW app.notes AS SELECT note FROM app.child;
CREATE MATERIALIZED VIEW app.counts AS SELECT count(*) AS n FROM app.child;
CREATE INDEX counts_n ON app.counts (n);
ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO PUBLIC;
CREATE PUBLICATION feed FOR TABLE app.child;
CREATE FUNCTION app.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
CREATE EVENT TRIGGER watch_ddl ON ddl_command_end EXECUTE FUNCTION app.on_ddl();
"""


def test_the_versions_read_after_each_file_cover_every_object_a_snapshot_reads(
    make_database: Callable[..., str],
) -> None:
    dsn = make_database()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(EVERY_KIND)
    try:
        with db.connect(dsn) as conn:
            state = catalog.snapshot(conn, ["public", "app"], ledger_table=None).state
            found = catalog.versions(conn, ["public", "app"])
        expected = provenance.versions_of(state)
        assert {key[0] for key in expected} >= {
            "tables", "columns", "constraints", "indexes", "policies", "triggers", "functions",
            "views", "types", "sequences", "default_privileges", "publications", "event_triggers",
        }  # fmt: skip
        assert expected.keys() - found.keys() == set()
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP EVENT TRIGGER watch_ddl; DROP PUBLICATION feed")


def test_a_file_that_rewrites_an_object_stamps_it_and_one_that_leaves_it_does_not(
    tmp_path: Path, pg_server: str
) -> None:
    directory = migrations_dir(
        tmp_path,
        {
            "1_create.sql": "CREATE TABLE a (id int, n int DEFAULT 1);"
            " CREATE POLICY p ON a USING (true); CREATE INDEX a_n ON a (n);",
            "2_other.sql": "CREATE TABLE b (id int);",
            "3_policy.sql": "ALTER POLICY p ON a USING (id > 0);",
            "4_drop.sql": "DROP INDEX a_n;",
        },
    )
    built = replay.build(directory, shadow_dsn=pg_server)
    table = built.schema("public").table("a")  # type: ignore[union-attr]
    assert table is not None
    assert {p.name: p.migration for p in table.policies or ()} == {"p": "3_policy"}
    assert {c.name: c.migration for c in table.columns or ()} == {"id": "1_create", "n": "1_create"}
    assert Absent(Kind.INDEX, "a_n", None, "4_drop") in built.schema("public").absent  # type: ignore[union-attr]


def test_each_of_many_quick_files_stamps_exactly_what_it_made(
    tmp_path: Path, pg_server: str
) -> None:
    # The versions of what a file left are read while the next one runs: each must
    # still see the catalog as its own file left it.
    files = {"00_table.sql": "CREATE TABLE t (id int PRIMARY KEY);"}
    for k in range(1, 31):
        files[f"{k:02d}_c{k}.sql"] = (
            f"ALTER TABLE t ADD COLUMN c{k} int; CREATE INDEX i{k} ON t (c{k});"
            + (f" DROP INDEX i{k - 1};" if k % 10 == 0 else "")
        )
    built = replay.build(migrations_dir(tmp_path, files), shadow_dsn=pg_server)
    public = built.schema("public")
    assert public is not None
    table = public.table("t")
    assert table is not None
    stamps = {c.name: c.migration for c in table.columns or ()}
    assert stamps == {"id": "00_table", **{f"c{k}": f"{k:02d}_c{k}" for k in range(1, 31)}}
    assert {i.name: i.migration for i in table.indexes or ()} == {
        "t_pkey": "00_table",
        **{f"i{k}": f"{k:02d}_c{k}" for k in range(1, 31) if k % 10 != 9},
    }
    assert {(a.name, a.migration) for a in public.absent} == {
        (f"i{k - 1}", f"{k:02d}_c{k}") for k in (10, 20, 30)
    }


# --- failures ----------------------------------------------------------------------------

BROKEN_CASES = {
    "plain statement": (
        "CREATE TABLE a (id int);\n-- ✅ comment\nALTER TABLE nope ADD x int;\n",
        3,
    ),
    "syntax error": ("CREATE TABLE a (id int);\nCREATE INDEX i\n  ON a (id) WHERE;\n", 3),
    "DO block": (
        "CREATE TABLE a (id int);\n\nDO $$\nBEGIN\n  IF true THEN\n"
        "    CREATE INDEX i ON a (nope);\n  END IF;\nEND $$;\n",
        6,
    ),
    "function called later": (
        "CREATE FUNCTION public.f() RETURNS int\nLANGUAGE plpgsql\nAS $$\nBEGIN\n"
        "  RETURN 1 / 0;\nEND $$;\nSELECT public.f();\n",
        5,
    ),
    "trigger function": (
        "CREATE TABLE t (a int);\nCREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n  NEW.a := 1 / 0;\n  RETURN NEW;\nEND $$;\n"
        "CREATE TRIGGER s BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION stamp();\n"
        "INSERT INTO t VALUES (1);\n",
        4,
    ),
}


@pytest.mark.parametrize("case", BROKEN_CASES)
def test_a_broken_migration_names_file_and_line_and_leaves_no_scratch_database(
    case: str, tmp_path: Path, pg_server: str, no_scratch_left: None
) -> None:
    text, line = BROKEN_CASES[case]
    directory = migrations_dir(
        tmp_path, {"1_fine.sql": "CREATE TABLE fine (id int);\n", "2_broken.sql": text}
    )
    with pytest.raises(MigrationFailed) as failed:
        replay.build(directory, shadow_dsn=pg_server)
    assert (failed.value.file, failed.value.line) == ("2_broken.sql", line)
    assert failed.value.server_message.startswith("ERROR: ")


def test_a_function_from_an_earlier_file_is_named_in_the_message(
    tmp_path: Path, pg_server: str
) -> None:
    directory = migrations_dir(
        tmp_path,
        {
            "1_function.sql": "CREATE FUNCTION public.f() RETURNS int LANGUAGE plpgsql AS $$\n"
            "BEGIN\n  RETURN 1 / 0;\nEND $$;\n",
            "2_call.sql": "\nSELECT public.f();\n",
        },
    )
    with pytest.raises(MigrationFailed) as failed:
        replay.build(directory, shadow_dsn=pg_server)
    assert failed.value.line == 2
    assert "division by zero" in failed.value.server_message
    assert "PL/pgSQL function f() line 3" in failed.value.server_message


def test_spec_build_exits_two_with_file_line_and_message_and_writes_nothing(
    tmp_path: Path, pg_server: str, no_scratch_left: None
) -> None:
    directory = migrations_dir(tmp_path, {"1_broken.sql": "SELECT 1;\nSELECT * FROM nope;\n"})
    output = tmp_path / "spec.yaml"
    build = cli("spec", "build", str(directory), "-o", str(output), "--shadow-dsn", pg_server)
    _, stderr = build.communicate(timeout=60)
    assert build.returncode == 2
    assert 'migration failed at 1_broken.sql:2: ERROR: relation "nope" does not exist' in stderr
    assert "Traceback" not in stderr
    assert not output.exists()
    assert list(tmp_path.glob(".spec.yaml*")) == []


def test_psql_meta_commands_are_all_reported_before_any_database_is_made(
    tmp_path: Path, pg_server: str, no_scratch_left: None
) -> None:
    directory = migrations_dir(
        tmp_path,
        {
            "1_include.sql": "SELECT 1;\n\\i other.sql\nSELECT '\\not a command';\n",
            "2_set.sql": "-- \\comment is fine\n  \\set ON_ERROR_STOP on\n",
        },
    )
    with pytest.raises(InputError) as failed:
        replay.build(directory, shadow_dsn=pg_server)
    assert [str(p) for p in failed.value.problems] == [
        "1_include.sql:2: psql meta-command '\\i other.sql' cannot be replayed:"
        " the server runs SQL only",
        "2_set.sql:2: psql meta-command '\\set ON_ERROR_STOP on' cannot be replayed:"
        " the server runs SQL only",
    ]


def test_unreadable_files_are_all_reported_before_any_database_is_made(
    tmp_path: Path, pg_server: str, no_scratch_left: None
) -> None:
    directory = migrations_dir(tmp_path, {"1_fine.sql": "SELECT 1;"})
    (directory / "2_latin1.sql").write_bytes("SELECT 'é';".encode("latin-1"))
    missing = tmp_path / "missing.sql"
    with pytest.raises(InputError) as failed:
        replay.build(directory, shadow_dsn=pg_server, bootstrap_files=[missing])
    assert [(p.file, p.message.split(":")[0]) for p in failed.value.problems] == [
        (str(missing), "SQL file not found"),
        (str(directory / "2_latin1.sql"), "not UTF-8 text"),
    ]


def test_repeated_versions_are_an_input_error(tmp_path: Path, pg_server: str) -> None:
    directory = migrations_dir(
        tmp_path, {"20250101000000_a.sql": "SELECT 1;", "20250101000000_b.sql": "SELECT 1;"}
    )
    with pytest.raises(InputError, match=r"version 20250101000000 repeats 20250101000000_a\.sql"):
        replay.build(directory, shadow_dsn=pg_server)


def test_an_unreachable_shadow_server_is_one_line_without_the_password(tmp_path: Path) -> None:
    directory = migrations_dir(tmp_path, {"1_a.sql": "SELECT 1;"})
    with pytest.raises(ConnectionFailed) as failed:
        replay.build(directory, shadow_dsn="postgresql://postgres:s3cret@127.0.0.1:1/postgres")
    assert str(failed.value).startswith("cannot connect to postgresql://postgres:***@127.0.0.1:1/")
    assert "s3cret" not in str(failed.value)
    assert "\n" not in str(failed.value)


def test_a_shadow_role_that_may_not_create_databases_is_told_so(
    tmp_path: Path, pg_server: str
) -> None:
    role = f"sm_nocreatedb_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN NOCREATEDB")
    try:
        directory = migrations_dir(tmp_path, {"1_a.sql": "SELECT 1;"})
        with pytest.raises(MonitorError, match=r"cannot create a scratch database on .*permission"):
            replay.build(directory, shadow_dsn=make_conninfo(pg_server, user=role))
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"DROP ROLE {role}")


def test_a_directory_without_migrations_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MonitorError, match=r"no migrations to replay"):
        replay.build(migrations_dir(tmp_path, {}))


# --- interrupted builds ----------------------------------------------------------------


def sleeping_migrations(tmp_path: Path, marker: str) -> Path:
    return migrations_dir(
        tmp_path,
        {
            "1_table.sql": "CREATE TABLE a (id int);\n",
            "2_slow.sql": f"SELECT pg_sleep(60) AS {marker};\n",
        },
    )


@pytest.mark.parametrize(
    ("signum", "returncode"), [(signal.SIGINT, 130), (signal.SIGTERM, -signal.SIGTERM)]
)
def test_an_interrupted_build_drops_its_scratch_database(
    signum: int, returncode: int, tmp_path: Path, pg_server: str
) -> None:
    marker = f"sleep_{uuid.uuid4().hex}"
    directory = sleeping_migrations(tmp_path, marker)

    def sleeping_in() -> str | None:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            row = conn.execute(
                "SELECT datname FROM pg_stat_activity WHERE query LIKE %s AND datname LIKE %s",
                (f"%{marker}%", f"{replay.SCRATCH_PREFIX}%"),
            ).fetchone()
        return None if row is None else str(row[0])

    build = cli("spec", "build", str(directory), "--shadow-dsn", pg_server)
    database = wait_until(sleeping_in, timeout=60, what="the slow migration")
    build.send_signal(signum)
    _, stderr = build.communicate(timeout=30)
    assert build.returncode == returncode, stderr
    assert "Traceback" not in stderr
    assert database not in scratch_databases(pg_server)
    assert sleeping_in() is None


def test_ctrl_c_stops_and_removes_the_private_server(tmp_path: Path) -> None:
    started = Path(tempfile.mkdtemp(prefix="sm-started-", dir="/tmp")) / "started"
    started.parent.chmod(0o777)  # the server may run as a user of its own
    directory = migrations_dir(
        tmp_path,
        {"1_slow.sql": f"COPY (SELECT 1) TO '{started}';\nSELECT pg_sleep(60);\n"},
    )
    build = cli("spec", "build", str(directory), "--no-supabase-bootstrap")
    try:
        wait_until(started.exists, timeout=60, what="the slow migration")
        (server,) = servers_of(build.pid)
        build.send_signal(signal.SIGINT)
        _, stderr = build.communicate(timeout=30)
    finally:
        build.kill()
        shutil.rmtree(started.parent, ignore_errors=True)
    assert build.returncode == 130, stderr
    assert not server.exists()
    assert not processes_using(server)


def servers_of(pid: int) -> list[Path]:
    """The private server directories that process `pid` owns."""
    return [
        folder
        for folder in scratch.base_directory().glob("server-*")
        if (folder / "owner").is_file() and (folder / "owner").read_text().split()[:1] == [str(pid)]
    ]


def processes_using(folder: Path) -> list[psutil.Process]:
    return [
        process
        for process in psutil.process_iter(["cmdline"])
        if str(folder) in " ".join(process.info["cmdline"] or ())
    ]
