"""The platform a folder is written for, decided from its parsed statements and its place."""

from __future__ import annotations

from pathlib import Path

from monitor.postgres import platform


def decide(tmp_path: Path, *texts: str) -> platform.Decision:
    return platform.decide(tmp_path, [(f"{n}_m.sql", text) for n, text in enumerate(texts)])


def test_comments_and_strings_never_make_a_platform(tmp_path: Path) -> None:
    decision = decide(
        tmp_path,
        "-- keeps what we need for storage.\n/* auth.users */\n"
        "CREATE TABLE files (path text DEFAULT 'storage.objects');\n"
        "COMMENT ON TABLE files IS 'like auth.uid() and anon';\n",
    )
    assert not decision.supabase
    assert decision.describe() == (
        "platform: none (no statement uses the platform's schemas or roles)"
    )


def test_a_policy_on_storage_objects_uses_the_platform(tmp_path: Path) -> None:
    decision = decide(
        tmp_path,
        "CREATE TABLE t (id int);",
        "CREATE POLICY p ON storage.objects FOR SELECT USING (bucket_id = 'a');",
    )
    assert decision.supabase
    assert decision.reason == "1_m.sql uses the platform's object storage.objects"


def test_functions_references_and_roles_are_uses(tmp_path: Path) -> None:
    assert decide(tmp_path, "CREATE TABLE t (o uuid DEFAULT auth.uid());").supabase
    assert decide(tmp_path, "CREATE TABLE t (o uuid REFERENCES auth.users (id));").supabase
    assert decide(tmp_path, "CREATE TABLE t (id int); GRANT SELECT ON t TO anon;").supabase


def test_roles_the_folder_creates_are_its_own(tmp_path: Path) -> None:
    decision = decide(
        tmp_path, "CREATE ROLE anon NOLOGIN; CREATE TABLE t (id int); GRANT SELECT ON t TO anon;"
    )
    assert not decision.supabase


def test_a_folder_that_creates_auth_owns_it(tmp_path: Path) -> None:
    decision = decide(
        tmp_path,
        "CREATE SCHEMA IF NOT EXISTS auth;",
        "CREATE TABLE auth.users (id uuid PRIMARY KEY);"
        " CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql AS 'SELECT NULL::uuid';",
    )
    assert not decision.supabase
    assert decision.reason == "0_m.sql creates schema auth itself, so the folder owns it"


def test_a_supabase_project_keeps_the_platform_through_if_not_exists(tmp_path: Path) -> None:
    migrations = tmp_path / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    decision = platform.decide(migrations, [("1_x.sql", "CREATE SCHEMA IF NOT EXISTS storage;")])
    assert decision.supabase and decision.reason == "a Supabase CLI project (supabase/migrations)"
    owned = platform.decide(migrations, [("1_x.sql", "CREATE SCHEMA storage;")])
    assert not owned.supabase


def test_the_cli_config_beside_the_folder_makes_a_project(tmp_path: Path) -> None:
    migrations = tmp_path / "db" / "migrations"
    migrations.mkdir(parents=True)
    (tmp_path / "db" / "config.toml").write_text('project_id = "x"\n')
    assert platform.decide(migrations, []).reason == "a Supabase CLI project (db/config.toml)"
    (tmp_path / "db" / "config.toml").write_text("[server]\nport = 1\n")  # someone else's
    assert not platform.decide(migrations, []).supabase
