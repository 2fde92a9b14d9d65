"""Extensions a scratch server lacks: stand-ins with the same surface, recorded in the spec;
one clear error when there is neither the extension nor a stand-in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from monitor.check import run_check
from monitor.errors import MigrationFailed
from monitor.postgres import migrations, replay, scratch
from monitor.schema.model import Extension, State, Table
from tests.support.paths import ROOT
from tests.support.processes import run_monitor

DOCUMENTS = """\
create extension if not exists vector with schema extensions;
create extension if not exists pg_net with schema extensions;
create extension if not exists pg_cron;

create table public.documents (
  id uuid primary key default gen_random_uuid(),
  body text not null,
  embedding extensions.vector(1536)
);
create index documents_embedding_idx on public.documents
  using hnsw (embedding extensions.vector_cosine_ops) with (m = 16, ef_construction = 64);

create function public.match_documents(query extensions.vector(1536), n int)
returns setof public.documents language sql stable as $$
  select * from public.documents order by embedding operator(extensions.<=>) query limit n
$$;

select cron.schedule('nightly-reindex', '0 3 * * *', 'select 1');
select net.http_post('https://example.invalid/hook', '{}'::jsonb);
"""


def folder(tmp_path: Path, text: str) -> Path:
    directory = tmp_path / "supabase" / "migrations"
    directory.mkdir(parents=True)
    (directory / "20240601000000_documents.sql").write_text(text)
    return directory


def test_missing_extensions_get_stand_ins_that_are_named_and_recorded(
    tmp_path: Path, pg_server: str
) -> None:
    notes: list[str] = []
    built = replay.build(folder(tmp_path, DOCUMENTS), shadow_dsn=pg_server, notice=notes.append)
    public = built.schema("public")
    assert public is not None
    documents = public.table("documents")
    assert documents is not None
    assert {c.name: c.type for c in documents.columns or ()}["embedding"] == (
        "extensions.vector(1536)"
    )
    (index,) = [i for i in documents.indexes or () if i.name == "documents_embedding_idx"]
    assert (index.method, index.columns) == ("hnsw", ("embedding extensions.vector_cosine_ops",))
    assert any("stand-ins used" in n and "vector" in n and "pg_net" in n for n in notes), notes
    recorded = {e.name: e for e in built.extensions or ()}
    assert recorded["vector"] == Extension("vector", "extensions", None, "20240601000000_documents")
    assert recorded["pg_cron"].schema == "public"
    # A stand-in's own schema and objects are a real extension's members: never the user's.
    assert "cron" not in {s.name for s in built.schemas}
    assert not [f for f in public.functions or () if f.name.startswith("vector_")]


@pytest.mark.slow
def test_a_spec_built_with_the_vector_stand_in_checks_clean_against_real_pgvector(
    tmp_path: Path,
) -> None:
    embedded = [i for i in scratch.installations() if "vector" in _shipped(i)]
    if not embedded:
        pytest.skip(
            "no PostgreSQL with pgvector installed (pip install 'schema-monitor[embedded]')"
        )
    text = (
        "create schema if not exists extensions;\n"
        + DOCUMENTS.split("create extension if not exists pg_net")[0]
    )
    text += DOCUMENTS[DOCUMENTS.index("create table") : DOCUMENTS.index("select cron")]
    with scratch.scratch_server(installation=embedded[0]) as server:
        system = [i for i in scratch.installations() if "vector" not in _shipped(i)]
        shadow = server.dsn
        if system:  # build on a server that lacks pgvector, so the stand-in is what ran
            with scratch.scratch_server(installation=system[0]) as other:
                built = replay.build(folder(tmp_path, text), shadow_dsn=other.dsn)
        else:
            built = replay.build(folder(tmp_path, text), shadow_dsn=shadow)
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute("CREATE DATABASE live")
        live = psycopg.conninfo.make_conninfo(server.dsn, dbname="live")
        migrations.deploy(live, tmp_path / "supabase" / "migrations")
        findings = run_check(built, live)
    assert [f for f in findings if f.severity != "info"] == []


def _shipped(install: scratch.Installation) -> frozenset[str]:
    from monitor.postgres import extensions

    return extensions.shipped(install)


def test_an_extension_with_neither_server_support_nor_stand_in_is_one_clear_error(
    tmp_path: Path, pg_server: str
) -> None:
    directory = folder(tmp_path, "select 1;\n\ncreate extension if not exists timescaledb;\n")
    with pytest.raises(MigrationFailed) as failed:
        replay.build(directory, shadow_dsn=pg_server)
    assert (failed.value.file, failed.value.line) == ("20240601000000_documents.sql", 3)
    assert 'extension "timescaledb"' in str(failed.value)
    assert "--shadow-dsn" in str(failed.value)


def test_a_column_added_then_dropped_on_a_platform_table_builds(tmp_path: Path) -> None:
    directory = folder(tmp_path, "alter table auth.users add column nickname text;\n")
    (directory / "20240602000000_drop.sql").write_text(
        "alter table auth.users drop column nickname;\n"
    )
    output = tmp_path / "spec.yaml"
    done = run_monitor("spec", "build", str(directory), "-o", str(output))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "nickname" in output.read_text()  # absent from auth.users, dropped by the second


def test_a_failing_build_exits_two_with_file_and_line_and_writes_nothing(
    tmp_path: Path, make_database: Callable[..., str]
) -> None:
    directory = folder(tmp_path, "create table t (id int);\ncreate index on missing (id);\n")
    output = tmp_path / "spec.yaml"
    done = run_monitor("spec", "build", str(directory), "-o", str(output))
    assert done.returncode == 2
    assert "20240601000000_documents.sql:2:" in done.stderr
    assert "Traceback" not in done.stderr
    assert not output.exists()


POSTGIS = (
    ROOT / "tests" / "fixtures" / "migrations" / "supabase-postgis" / "supabase" / "migrations"
)


def test_postgis_is_the_real_one_where_the_server_has_it(pg_server: str) -> None:
    with psycopg.connect(pg_server) as conn:
        row = conn.execute(
            "SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'postgis')"
        ).fetchone()
    if not (row and row[0]):
        pytest.skip("needs PostGIS installed (postgresql-15-postgis-3)")
    notes: list[str] = []
    built = replay.build(POSTGIS, shadow_dsn=pg_server, notice=notes.append)
    assert not [n for n in notes if n.startswith("stand-ins used")], notes
    places = _places(built)
    assert {c.name: c.type for c in places.columns or ()}["footprint"] == (
        "extensions.geometry(PolygonZ,4326)"
    )


@pytest.mark.slow
def test_a_spec_built_with_the_postgis_stand_in_checks_clean_against_real_postgis(
    pg_server: str, make_database: Callable[..., str]
) -> None:
    lacking = [i for i in scratch.installations() if "postgis" not in _shipped(i)]
    if not lacking:
        pytest.skip("every PostgreSQL installed here has PostGIS: no server for the stand-in")
    notes: list[str] = []
    with scratch.scratch_server(installation=lacking[0]) as server:
        built = replay.build(POSTGIS, shadow_dsn=server.dsn, notice=notes.append)
    assert any(n.startswith("stand-ins used") and "postgis" in n for n in notes), notes
    places = _places(built)
    assert {c.name: c.type for c in places.columns or ()} == {
        "id": "bigint",
        "name": "text",
        "location": "extensions.geography(Point,4326)",
        "footprint": "extensions.geometry(PolygonZ,4326)",
        "centre": "extensions.geometry(Point,4326)",
        "created_at": "timestamp with time zone",
    }
    assert {i.name: i.method for i in places.indexes or ()} == {
        "places_pkey": "btree",
        "places_location_idx": "gist",
        "places_footprint_idx": "gist",
    }
    live = make_database()
    migrations.deploy(live, POSTGIS)  # the real PostGIS of the machine's server
    assert [f for f in run_check(built, live) if f.severity != "info"] == []


def _places(built: State) -> Table:
    public = built.schema("public")
    assert public is not None
    places = public.table("places")
    assert places is not None
    return places


def test_a_real_extension_the_server_cannot_create_falls_back_to_its_stand_in(
    tmp_path: Path, pg_server: str
) -> None:
    with psycopg.connect(pg_server) as conn:
        row = conn.execute(
            "SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_cron'),"
            " current_setting('shared_preload_libraries')"
        ).fetchone()
    assert row is not None
    if not row[0] or "pg_cron" in row[1]:
        pytest.skip("needs pg_cron installed (postgresql-15-cron) but not preloaded")
    text = (
        "create extension if not exists pg_cron;\n"
        "select cron.schedule('j', '0 3 * * *', 'select 1');\n"
    )
    notes: list[str] = []
    built = replay.build(folder(tmp_path, text), shadow_dsn=pg_server, notice=notes.append)
    (used,) = [n for n in notes if n.startswith("stand-ins used")]
    assert "pg_cron (the server's own failed: " in used
    assert "pg_cron" in {e.name for e in built.extensions or ()}
