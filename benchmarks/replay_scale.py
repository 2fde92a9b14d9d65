"""How `spec build` scales, with each scratch server side by side: prints figures, asserts nothing.

For every PostgreSQL installation found (the machine's own, the embedded wheels
installed in this environment, and any ``--bindir`` given), as a user runs it
(a fresh process: interpreter, imports, private server start, bootstrap,
replay, YAML):

- the raw floor: a private server started and stopped, nothing else;
- cold build of the example migrations (median of ``--runs``);
- cold build of a generated folder of ``--files`` migrations (default 250,
  tables with columns, keys, indexes, RLS, policies and triggers, then files
  that add, change and drop things, some in DO blocks), and the cost per file:
  (that build - a one-file build) / (files - 1).

Then, on ``--shadow-dsn`` or the first installation: the time the build's own
apply path takes for the generated files in this process, with no catalog read
(the floor of this design, beside psql's); one read of the versions of the final
state's objects (the build reads them after every file) and one whole catalog
snapshot (the build takes two); and the generated folder built with
``--shadow-dsn`` on that server beside psql applying the same files (the
bootstrap, then each file with ``-1 -f`` in one session) to an empty database
there: the floor of any replay.

Targets: cold example build <= 5 s; 250 generated files <= 40 s, and at most
2x what psql takes to apply them.

    python benchmarks/replay_scale.py [--files 250] [--runs 3] [--bindir DIR]... [--shadow-dsn DSN]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
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
from tests.support import migrations as support_migrations

EXAMPLES = ROOT / "examples" / "supabase" / "migrations"
BOOTSTRAP = ROOT / "monitor" / "postgres" / "sql" / "supabase_bootstrap.sql"
CREATING_SHARE = 0.25  # the first quarter of the files each create a table


def cold_build(directory: Path, bindir: Path) -> float:
    """Wall time of `schema-monitor spec build DIRECTORY` in a fresh process on `bindir`."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "monitor",
                "spec",
                "build",
                str(directory),
                "-o",
                str(Path(folder) / "spec.yaml"),
            ],
            cwd=ROOT,
            check=True,
            env={**os.environ, scratch.BINDIR_VARIABLE: str(bindir)},
        )
        return time.perf_counter() - started


def server_floor(install: scratch.Installation, runs: int) -> float:
    """Median time to start and stop a private server on `install`: the floor of a build."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        with scratch.scratch_server(installation=install):
            pass
        times.append(time.perf_counter() - started)
    return statistics.median(times)


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


def compare_servers(installs: list[scratch.Installation], files: int, runs: int) -> Path:
    """Every figure for every installation, side by side; returns the generated folder."""
    generated = Path(tempfile.mkdtemp(prefix="replay-bench-"))
    synthetic_migrations(generated, files)
    single = Path(tempfile.mkdtemp(prefix="replay-bench-one-"))
    synthetic_migrations(single, 2)
    header = f"{'server':<44} {'floor':>7} {'examples':>9} {'1 file':>7}"
    print(f"{header} {files:>4} files {'per file':>9}")
    for install in installs:
        floor = server_floor(install, runs)
        examples = statistics.median(cold_build(EXAMPLES, install.bindir) for _ in range(runs))
        one = cold_build(single, install.bindir)
        many = cold_build(generated, install.bindir)
        per_file = (many - one) / (files - 1)
        # An installation given by --bindir is named by the package or folder it lives in.
        where = install.source if install.source != "system" else install.bindir.parts[-3]
        label = f"PostgreSQL {install.major} ({where})"
        print(
            f"{label:<44} {floor:6.2f}s {examples:8.2f}s {one:6.2f}s {many:9.2f}s"
            f" {per_file * 1000:7.1f}ms"
        )
    return generated


@contextmanager
def private_server() -> Iterator[str]:
    with scratch.scratch_server() as server:
        yield server.dsn


@dataclass(frozen=True)
class Reads:
    apply_s: float  # the bootstrap and the files, by the build's apply path, in one session
    versions_ms: float  # median of one catalog.versions read of the final state
    snapshot_ms: float  # median of one whole catalog snapshot of it


def final_reads(directory: Path, shadow_dsn: str | None, repeat: int = 20) -> Reads:
    """The files applied as the build applies them, then the two reads of what they built."""
    with private_server() if shadow_dsn is None else nullcontext(shadow_dsn) as server:
        name = f"{replay.SCRATCH_PREFIX}bench"
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name}")
            admin.execute(f"CREATE DATABASE {name}")
        dsn = make_conninfo(server, dbname=name)
        try:
            started = time.perf_counter()
            with psycopg.connect(dsn, autocommit=True) as conn:
                migrations.apply_sql(conn, migrations.supabase_bootstrap(), "bootstrap")
                for migration in support_migrations.discover(directory):
                    support_migrations.apply_file(conn, migration.path)
            applied = time.perf_counter() - started
            with db.connect(dsn) as conn:
                schemas = [name for (name,) in conn.execute(SCHEMAS)]
                versions = timed(lambda: catalog.versions(conn, schemas), repeat)
                snapshots = timed(
                    lambda: catalog.snapshot(conn, schemas, ledger_table=None), repeat
                )
        finally:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return Reads(applied, versions * 1000, snapshots * 1000)


SCHEMAS = "SELECT nspname FROM pg_namespace WHERE nspname !~ '^(pg_|information_schema)'"


def timed(read: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        read()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def psql_apply(directory: Path, server_dsn: str) -> float:
    """Wall time of psql applying the bootstrap and the files to an empty database."""
    files = [m.path for m in support_migrations.discover(directory)]
    with scratch_database(server_dsn) as dsn:
        started = time.perf_counter()
        bootstrap = ("-1", "-f", str(BOOTSTRAP))
        arguments = [a for path in files for a in ("-1", "-f", str(path))]
        subprocess.run(
            [psql_binary(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, *bootstrap, *arguments],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return time.perf_counter() - started


def shadow_build(directory: Path, server_dsn: str) -> float:
    """Wall time of `spec build DIRECTORY --shadow-dsn` in a fresh process."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        subprocess.run(
            [
                *(sys.executable, "-m", "monitor", "spec", "build", str(directory)),
                *("-o", str(Path(folder) / "spec.yaml"), "--shadow-dsn", server_dsn),
            ],
            cwd=ROOT,
            check=True,
            stderr=subprocess.DEVNULL,
        )
        return time.perf_counter() - started


@contextmanager
def scratch_database(server_dsn: str) -> Iterator[str]:
    name = f"{replay.SCRATCH_PREFIX}psql_bench"
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name} TEMPLATE template0")
    try:
        yield make_conninfo(server_dsn, dbname=name)
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def psql_binary() -> str:
    found = shutil.which("psql")
    if found is None:
        raise SystemExit("psql is not on PATH: install postgresql-client")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=int, default=250)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--bindir", type=Path, action="append", default=[], help="another installation"
    )
    parser.add_argument("--shadow-dsn", default=None, help="for the snapshot timing")
    args = parser.parse_args()

    installs = scratch.installations()
    for bindir in args.bindir:
        os.environ[scratch.BINDIR_VARIABLE] = str(bindir)
        installs += scratch.installations()
        del os.environ[scratch.BINDIR_VARIABLE]
    generated = compare_servers(installs, args.files, args.runs)
    with private_server() if args.shadow_dsn is None else nullcontext(args.shadow_dsn) as dsn:
        reads = final_reads(generated, dsn)
        floor = statistics.median(psql_apply(generated, dsn) for _ in range(args.runs))
        build = statistics.median(shadow_build(generated, dsn) for _ in range(args.runs))
        print(
            f"the {args.files}-file state: its versions read in {reads.versions_ms:.1f} ms"
            f" (after every file), a whole snapshot in {reads.snapshot_ms:.1f} ms (median)"
        )
        print(
            f"{args.files} files on one server: psql applies them in {floor:.2f} s; the build's"
            f" apply path, no read, {reads.apply_s:.2f} s in this process"
            f" ({reads.apply_s / floor:.2f}x); spec build --shadow-dsn takes {build:.2f} s"
            f" ({build / floor:.2f}x; target <= 2x)"
        )


if __name__ == "__main__":
    main()
