"""Layouts' rules without a server: order, sections, detection, and the choice of server."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import InputError, MonitorError
from monitor.postgres import layouts, migrations, scratch
from monitor.postgres.layouts import Layout


def folder(tmp_path: Path, *names: str, text: str = "SELECT 1;\n") -> Path:
    directory = tmp_path / "db"
    directory.mkdir()
    for name in names:
        (directory / name).write_text(text)
    return directory


def test_flyway_versions_compare_part_by_part_as_numbers() -> None:
    versions = ["10", "1.10", "2", "1_1", "1.2", "1"]
    assert sorted(versions, key=layouts.flyway_version_key) == [
        "1",
        "1_1",
        "1.2",
        "1.10",
        "2",
        "10",
    ]
    assert layouts.flyway_version_key("1.0") == layouts.flyway_version_key("1")


def test_supabase_files_run_in_byte_order_and_others_are_skipped(tmp_path: Path) -> None:
    directory = folder(tmp_path, "20240102000000_b.sql", "20240101000000_a.sql", "seed.sql")
    found = migrations.plan(directory)
    assert found.layout is Layout.SUPABASE
    assert [m.version for m in found.migrations] == ["20240101000000", "20240102000000"]
    assert found.ignored == ("seed.sql",)


def test_an_explicit_layout_wins_over_detection(tmp_path: Path) -> None:
    directory = folder(tmp_path, "1_a.sql", "2_b.sql")
    assert migrations.plan(directory).layout is Layout.PLAIN
    with pytest.raises(InputError, match="dbmate migration without"):
        migrations.plan(directory, Layout.DBMATE)


def test_dbmate_up_section_keeps_line_numbers_and_drops_the_down_section() -> None:
    text = "-- migrate:up\nCREATE TABLE a (id int);\n\n-- migrate:down\nDROP TABLE a;\n"
    section = layouts.dbmate_up_section(text)
    assert section.splitlines()[1] == "CREATE TABLE a (id int);"
    assert "DROP TABLE" not in section
    assert section.count("\n") == text.count("\n")


def test_a_dbmate_file_without_its_marker_is_reported(tmp_path: Path) -> None:
    directory = folder(tmp_path, "20240101000000_a.sql", text="-- migrate:up\nSELECT 1;\n")
    (directory / "20240102000000_b.sql").write_text("SELECT 2;\n")
    with pytest.raises(InputError, match=r"20240102000000_b\.sql: dbmate migration without"):
        migrations.plan(directory)


def test_golang_migrate_versions_repeat_by_number(tmp_path: Path) -> None:
    directory = folder(tmp_path, "1_a.up.sql", "001_b.up.sql")
    with pytest.raises(InputError, match="version 1 repeats"):
        migrations.plan(directory)


def test_flyway_executes_outside_a_transaction_when_its_conf_says_so(tmp_path: Path) -> None:
    directory = folder(tmp_path, "V1__a.sql", "V2__b.sql")
    (directory / "V2__b.sql.conf").write_text("executeInTransaction=false\n")
    found = migrations.plan(directory)
    assert [m.transaction for m in found.migrations] == [True, False]


def test_statements_that_refuse_a_transaction_block_are_recognised() -> None:
    def needs(sql: str) -> bool:
        return migrations.needs_autocommit(migrations.split(sql))

    assert needs("CREATE INDEX CONCURRENTLY i ON t (a);")
    assert needs("DROP INDEX CONCURRENTLY i;")
    assert needs("VACUUM t;")
    assert needs("ALTER TYPE e ADD VALUE 'x';\nSELECT 'x'::e;")
    assert needs("DO $$ BEGIN COMMIT; END $$;")
    assert not needs("ALTER TYPE e ADD VALUE 'x';")  # last: nothing can use it in the file
    assert not needs("CREATE INDEX i ON t (a);\nCREATE TABLE c (id int);")


def test_the_nearest_installed_major_version_is_chosen_and_the_machines_first() -> None:
    system = [
        scratch.Installation(Path("/a"), 14, "system"),
        scratch.Installation(Path("/b"), 16, "system"),
    ]
    embedded = scratch.Installation(Path("/c"), 15, "pgserver")
    assert scratch.choose([*system, embedded], 15).major == 16  # newer wins a tie
    assert scratch.choose([*system, embedded], 14).major == 14
    assert scratch.choose([embedded, *system], None).source == "system"


def test_no_server_at_all_is_one_message_with_the_remedies() -> None:
    with pytest.raises(MonitorError) as failed:
        scratch.choose([], 15)
    message = str(failed.value)
    assert "schema-monitor[embedded]" in message
    assert "--shadow-dsn" in message


def test_stand_in_objects_leave_the_state_and_the_stand_in_joins_its_extensions() -> None:
    from monitor.postgres import extensions
    from monitor.schema import model

    standins = extensions.Standins(frozenset({"plpgsql"}))
    standins.created["http"] = "public"
    standins.members |= {("function", "public", "http_get"), ("type", "public", "http_header")}
    mine = model.Function("touch()", returns="trigger", language="plpgsql")
    state = model.State(
        schemas=(
            model.Schema(
                "public",
                functions=(model.Function("http_get(character varying)"), mine),
                types=(model.Type("http_header", "composite"),),
            ),
        ),
        extensions=(model.Extension("citext", "public"),),
    )
    replayed = extensions.with_standins(state, standins)
    public = replayed.schema("public")
    assert public is not None
    assert public.functions == (mine,)
    assert public.types == ()
    assert [(e.name, e.schema) for e in replayed.extensions or ()] == [
        ("citext", "public"),
        ("http", "public"),
    ]


def test_sqitch_follows_the_plan_its_tags_and_reworked_changes(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    for script in ("schema", "users@v1", "users", "roles", "orphan"):
        (tmp_path / "deploy" / f"{script}.sql").write_text("SELECT 1;\n")
    (tmp_path / "sqitch.plan").write_text(
        "%syntax-version=1.0.0\n%project=app\n\n"
        "schema 2024-01-01T00:00:00Z A <a@x> # the schema\n"
        "users [schema] 2024-01-02T00:00:00Z A <a@x> # users\n"
        "@v1 2024-01-03T00:00:00Z A <a@x> # tag\n"
        "# a comment line\n"
        "roles [users schema:other] 2024-01-04T00:00:00Z A <a@x>\n"
        "users [users@v1] 2024-01-05T00:00:00Z A <a@x> # reworked\n"
    )
    found = migrations.plan(tmp_path)
    assert found.layout is Layout.SQITCH
    assert [(m.version, m.name, m.path.name) for m in found.migrations] == [
        ("schema", "schema", "schema.sql"),
        ("users", "users@v1", "users@v1.sql"),
        ("roles", "roles", "roles.sql"),
        ("users", "users", "users.sql"),
    ]
    assert not any(m.transaction for m in found.migrations)  # psql runs each as written
    assert found.versions == ("schema", "users", "roles")
    assert found.ignored == ("orphan.sql",)
    assert found.ledger is layouts.SQITCH_LEDGER


def test_a_sqitch_plan_naming_a_missing_script_is_a_problem_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "sqitch.plan").write_text("%project=app\n\nwidgets 2024-01-01T00:00:00Z A <a@x>\n")
    with pytest.raises(InputError) as refused:
        migrations.plan(tmp_path)
    assert [(p.file, p.line) for p in refused.value.problems] == [("sqitch.plan", 3)]
    assert "deploy/widgets.sql" in refused.value.problems[0].message


def test_flyway_applies_the_latest_baseline_then_the_versions_above_it(tmp_path: Path) -> None:
    directory = folder(
        tmp_path, "V1__a.sql", "V2__b.sql", "B2__base.sql", "B1__old.sql", "V3__c.sql", "R__v.sql"
    )
    found = migrations.plan(directory)
    assert [m.path.name for m in found.migrations] == ["B2__base.sql", "V3__c.sql", "R__v.sql"]
    assert sorted(found.ignored) == ["B1__old.sql", "V1__a.sql", "V2__b.sql"]
    assert found.versions == ("2", "3")


def test_postgres_migrations_by_its_package_json_with_its_own_ledger_row(tmp_path: Path) -> None:
    directory = folder(tmp_path, "2_b.sql", "10-c.sql", "1_a.sql")
    (tmp_path / "package.json").write_text('{"dependencies": {"postgres-migrations": "5"}}')
    (directory / "10-c.sql").write_text(
        "-- postgres-migrations disable-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);\n"
    )
    found = migrations.plan(directory)
    assert found.layout is Layout.POSTGRES_MIGRATIONS
    assert [(m.version, m.transaction) for m in found.migrations] == [
        ("1", True),
        ("2", True),
        ("10", False),
    ]
    assert found.versions == ("0", "1", "2", "10")  # 0: the tool's own ledger table


def test_a_file_no_layout_reads_is_refused_without_suggesting_a_layout(tmp_path: Path) -> None:
    directory = folder(tmp_path, "1_init.sql", "schema.sql")
    with pytest.raises(InputError) as refused:
        migrations.plan(directory)
    (problem,) = refused.value.problems
    assert problem.file == "schema.sql" and "--layout" not in problem.message
