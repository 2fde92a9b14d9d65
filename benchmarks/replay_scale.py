"""How `spec build` scales: prints figures, asserts nothing.

- cold build of the example migrations on the embedded server, as a user runs
  it (a fresh process: interpreter, imports, server start, bootstrap, replay,
  YAML), several times;
- replay of N synthetic migration files (default 100, about 500 objects:
  tables with columns, keys, indexes, RLS, policies and triggers, then files
  that add, change and drop things, some in DO blocks), on the embedded
  server or on ``--shadow-dsn``; with the time one catalog snapshot of the
  final state takes, since the build reads the catalog after every file.

Targets: cold example build <= 5 s; 100 synthetic files <= 15 s.

    python benchmarks/replay_scale.py [--files 100] [--runs 3] [--shadow-dsn postgresql://...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.postgres import (
    catalog,
    db,
    migrations,
    replay,
    scratch,
)

EXAMPLES = ROOT / "examples" / "supabase" / "migrations"
CREATING_SHARE = 0.25  # the first quarter of the files each create a table


def cold_example_builds(runs: int) -> list[float]:
    """Wall time of `schema-monitor spec build examples/...` in a fresh process, per run."""
    times = []
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "phase3.yaml"
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "monitor",
                    "spec",
                    "build",
                    str(EXAMPLES),
                    "-o",
                    str(output),
                ],
                cwd=ROOT,
                check=True,
            )
            times.append(time.perf_counter() - started)
    return times


def synthetic_migrations(directory: Path, files: int) -> None:
    """`files` migration files in the style of a real project's history."""
    creating = max(1, int(files * CREATING_SHARE))
    (directory / "00000000000000_functions.sql").write_text(
        "CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n  NEW.updated_at := now();\n  RETURN NEW;\nEND $$;\n"
    )
    for number in range(1, files):
        version = f"2025{number:010d}"
        if number <= creating:
            name, text = f"create_t{number}", _create_table(number)
        else:
            target = (number - creating) % creating + 1
            first_round = number - creating <= creating  # each table loses its index once
            name, text = f"change_t{target}", _change_table(number, target, first_round)
        (directory / f"{version}_{name}.sql").write_text(text)


def _create_table(n: int) -> str:
    return f"""-- Table {n}: an organization-scoped resource.
CREATE TABLE public.t{n} (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  organization_id uuid NOT NULL,
  name text NOT NULL CHECK (length(name) > 0),
  status text NOT NULL DEFAULT 'new',
  payload jsonb NOT NULL DEFAULT '{{}}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, name)
);
CREATE INDEX t{n}_org_created ON public.t{n} (organization_id, created_at DESC);
CREATE INDEX t{n}_failed ON public.t{n} (organization_id) WHERE status = 'failed';
ALTER TABLE public.t{n} ENABLE ROW LEVEL SECURITY;
CREATE POLICY "members read t{n}" ON public.t{n} FOR SELECT TO authenticated
  USING (organization_id = (SELECT auth.uid()));
CREATE TRIGGER t{n}_touch BEFORE UPDATE ON public.t{n}
  FOR EACH ROW EXECUTE FUNCTION public.touch();
"""


def _change_table(n: int, target: int, drop: bool) -> str:
    parts = [
        f"ALTER TABLE public.t{target} ADD COLUMN extra_{n} integer;",
        f"""DO $$
BEGIN
  IF EXISTS (SELECT FROM information_schema.tables
             WHERE table_schema = 'public' AND table_name = 't{target}') THEN
    CREATE INDEX IF NOT EXISTS t{target}_extra_{n} ON public.t{target} (extra_{n});
  END IF;
END $$;""",
    ]
    if n % 5 == 0:
        parts.append(f"ALTER TABLE public.t{target} ALTER COLUMN status SET DEFAULT 'queued';")
    if drop and n % 10 == 0:
        parts.append(f"DROP INDEX public.t{target}_failed;")
    return "\n".join(parts) + "\n"


def objects_in(state: object) -> int:
    count = 0
    for schema in state.schemas:  # type: ignore[attr-defined]
        count += len(schema.absent)
        for table in schema.tables:
            count += 1
            for collection in ("columns", "constraints", "indexes", "policies", "triggers"):
                count += len(getattr(table, collection) or ())
    return count


def synthetic_build(files: int, shadow_dsn: str | None) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        synthetic_migrations(directory, files)
        seen: list[float] = []
        started = time.perf_counter()
        state = replay.build(
            directory, shadow_dsn=shadow_dsn, progress=lambda *_: seen.append(time.perf_counter())
        )
        total = time.perf_counter() - started
        setup = seen[0] - started
        per_file = (seen[-1] - seen[0]) / max(1, len(seen) - 1)
        print(f"synthetic replay: {files} files, {objects_in(state)} objects in the spec")
        print(f"  total build        {total:6.2f} s   (target <= 15 s)")
        print(f"  before first file  {setup:6.2f} s   (server start, scratch database, bootstrap)")
        print(f"  per file           {per_file * 1000:6.1f} ms  (apply + catalog snapshot)")
        print(f"  final snapshot     {final_snapshot_ms(directory, shadow_dsn):6.1f} ms")


@contextmanager
def private_server() -> Iterator[str]:
    with scratch.scratch_server() as server:
        yield server.dsn


def final_snapshot_ms(directory: Path, shadow_dsn: str | None, repeat: int = 20) -> float:
    """Median time of one catalog snapshot of everything the files built."""
    with private_server() if shadow_dsn is None else nullcontext(shadow_dsn) as server:
        name = f"{replay.SCRATCH_PREFIX}bench"
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name}")
            admin.execute(f"CREATE DATABASE {name}")
        dsn = make_conninfo(server, dbname=name)
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                migrations.apply_sql(conn, migrations.supabase_bootstrap(), "bootstrap")
                for migration in migrations.discover(directory):
                    migrations.apply_file(conn, migration.path)
            times = []
            with db.connect(dsn) as conn:
                for _ in range(repeat):
                    started = time.perf_counter()
                    catalog.snapshot(conn, ["public", "auth"], ledger_table=None)
                    times.append(time.perf_counter() - started)
        finally:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shadow-dsn", default=None, help="default: an embedded PostgreSQL")
    args = parser.parse_args()

    times = cold_example_builds(args.runs)
    print(f"cold example build (fresh process, embedded server), {args.runs} runs")
    print(f"  median {statistics.median(times):6.2f} s   min {min(times):.2f} s   (target <= 5 s)")
    synthetic_build(args.files, args.shadow_dsn)


if __name__ == "__main__":
    main()
