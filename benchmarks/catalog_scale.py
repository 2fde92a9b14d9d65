"""How a drift check scales with the catalog: prints figures, asserts nothing.

Builds a synthetic catalog in a fresh database (by default 5,000 tables, each
with 8 columns, 4 indexes one of them partial, a CHECK constraint, row level
security, 2 policies and a trigger), writes its spec with ``spec.dumps``,
then measures, each in a fresh Python process so that building the catalog
does not count:

- the spec: ``spec.dumps`` of the snapshot, ``spec.load`` of the file and the
  memory the loaded spec holds;
- the check cycle the daemon and ``check`` repeat, snapshot + ``diff``
  against the already loaded spec, taking turns with the same catalog SQL
  run raw (execute each query file, fetch the rows as tuples, nothing else),
  the floor any client pays; and the statements one snapshot issues;
- ``schema-monitor check --spec FILE`` as a user runs it: its wall time and
  the peak RSS of its process.

Targets: check cycle <= 1.3x the raw read, <= 10 statements, <= 80 MB peak
RSS of the check.

    python benchmarks/catalog_scale.py [--tables 5000] [--dsn postgresql://...]

Without ``--dsn`` it uses MONITOR_TEST_DSN, else an embedded pgserver.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.postgres import catalog, db
from monitor.postgres.queries import load_query
from monitor.schema import (
    diff,
    model,
    spec,
)
from tests.support.postgres import server

TABLES_PER_TRANSACTION = 200  # each table takes ~8 relation locks until commit
CATALOG_QUERIES = (
    "catalog_columns",
    "catalog_constraints",
    "catalog_indexes",
    "catalog_policies",
    "catalog_triggers",
)
LEDGER_VERSIONS = ("20250122000000", "20250122235959", "20250123000000")

PREAMBLE = f"""
CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql
    AS 'BEGIN NEW.updated_at := now(); RETURN NEW; END';
CREATE SCHEMA supabase_migrations;
CREATE TABLE supabase_migrations.schema_migrations (version text PRIMARY KEY, name text);
INSERT INTO supabase_migrations.schema_migrations (version)
    VALUES {", ".join(f"('{v}')" for v in LEDGER_VERSIONS)};
"""

TABLE_DDL = """
CREATE TABLE public.t{n} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id uuid NOT NULL,
    name text NOT NULL,
    status text DEFAULT 'pending' CHECK (status IN ('pending', 'active', 'closed')),
    is_active boolean NOT NULL DEFAULT true,
    payload jsonb DEFAULT '{{}}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX t{n}_organization_status ON public.t{n} (organization_id, status);
CREATE INDEX t{n}_created_at ON public.t{n} (created_at DESC);
CREATE INDEX t{n}_active ON public.t{n} (organization_id)
    WHERE is_active AND status <> 'closed';
ALTER TABLE public.t{n} ENABLE ROW LEVEL SECURITY;
CREATE POLICY t{n}_read ON public.t{n} FOR SELECT TO PUBLIC USING (is_active);
CREATE POLICY t{n}_write ON public.t{n} FOR UPDATE
    USING (status <> 'closed') WITH CHECK (status <> 'closed');
CREATE TRIGGER t{n}_touch BEFORE UPDATE ON public.t{n}
    FOR EACH ROW EXECUTE FUNCTION public.touch();
"""


# --- building the catalog -------------------------------------------------------------------


@contextmanager
def scratch_database(server_dsn: str) -> Iterator[str]:
    name = f"sm_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(server_dsn, dbname=name)
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def build_catalog(dsn: str, tables: int) -> float:
    """Create the synthetic catalog in batches of DDL, one transaction each; seconds taken."""
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(PREAMBLE.encode())
        for first in range(0, tables, TABLES_PER_TRANSACTION):
            batch = range(first, min(first + TABLES_PER_TRANSACTION, tables))
            script = "BEGIN;" + "".join(TABLE_DDL.format(n=n) for n in batch) + "COMMIT;"
            conn.execute(script.encode())  # no parameters: one simple-protocol round trip
        conn.execute("VACUUM ANALYZE")  # the catalogs grew a lot; plan them as in production
    return time.perf_counter() - started


# --- measuring, each in a fresh process -----------------------------------------------------


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux: kilobytes


def timed(action: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def measure_dump(dsn: str, spec_file: Path, repeat: int) -> dict[str, Any]:
    """The spec of the live catalog, written to ``spec_file``; the time spec.dumps takes."""
    with db.connect(dsn, statement_timeout_ms=120_000) as conn:
        state = catalog.snapshot(conn).state
    text, seconds = timed(lambda: spec.dumps(state))
    spec_file.write_text(text, encoding="utf-8")
    return {"dumps_s": seconds, "spec_bytes": len(text.encode())}


def measure_cycle(dsn: str, spec_file: Path, repeat: int) -> dict[str, Any]:
    """spec.load, then raw reads and check cycles, first on fresh connections, then in turns.

    Taking turns on the same connections, and keeping the best of each,
    spares the comparison from whatever else the machine is doing meanwhile.
    """
    figures: dict[str, Any] = {"rss_start_mb": peak_rss_mb()}
    expected, figures["load_s"] = timed(lambda: spec.load(spec_file))
    figures["rss_after_load_mb"] = peak_rss_mb()
    ledger = expected.ledger.table if expected.ledger is not None else None
    schemas = [schema.name for schema in expected.schemas]

    def cycle(conn: psycopg.Connection[Any]) -> dict[str, Any]:
        snap, snapshot_s = timed(lambda: catalog.snapshot(conn, schemas, ledger))
        findings, diff_s = timed(lambda: diff.diff(expected, snap.state, skipped=snap.skipped))
        return {
            "snapshot": snapshot_s,
            "diff": diff_s,
            "total": snapshot_s + diff_s,
            "findings": len(findings),
            "queries": snap.queries,
            "tables": sum(len(schema.tables) for schema in snap.state.schemas),
        }

    with (
        db.connect(dsn, statement_timeout_ms=120_000) as raw_conn,
        db.connect(dsn, statement_timeout_ms=120_000) as cycle_conn,
    ):
        figures["raw_cold"] = read_raw(raw_conn)
        figures["cycle_cold"] = cycle(cycle_conn)
        raw_runs, cycle_runs = [], []
        for _ in range(repeat):
            raw_runs.append(read_raw(raw_conn))
            cycle_runs.append(cycle(cycle_conn))
    figures["raw_warm"] = min(raw_runs, key=lambda run: run["total"])
    figures["cycle_warm"] = min(cycle_runs, key=lambda run: run["total"])
    figures["rss_peak_mb"] = peak_rss_mb()
    return figures


def read_raw(conn: psycopg.Connection[Any]) -> dict[str, float]:
    """The snapshot's SQL with the same parameters and transaction; rows as tuples, no model."""
    figures: dict[str, float] = {}
    started = time.perf_counter()
    with conn.transaction():
        context = conn.execute(
            load_query("catalog_context"),
            {"schemas": ["public"], "ledger": model.DEFAULT_LEDGER_TABLE},
        ).fetchall()
        _, skipped, _, ledger_schema, ledger_name = context[0]
        tables = conn.execute(
            load_query("catalog_tables"), {"schemas": ["public"], "skipped": skipped}
        ).fetchall()
        params = {"tables": [row[0] for row in tables]}
        for name in CATALOG_QUERIES:
            query = load_query(name)
            _, figures[name] = timed(lambda: conn.execute(query, params).fetchall())  # noqa: B023
        ledger = sql.SQL(load_query("catalog_ledger")).format(
            ledger=sql.Identifier(ledger_schema, ledger_name)
        )
        conn.execute(ledger).fetchall()
    figures["total"] = time.perf_counter() - started
    return figures


def measure_command(dsn: str, spec_file: Path, repeat: int) -> dict[str, Any]:
    """`schema-monitor check` in a process of its own: this one's only child, so
    RUSAGE_CHILDREN is that process's peak RSS."""
    command = [sys.executable, "-m", "monitor", "check", "--spec", str(spec_file), "--dsn", dsn]
    done, seconds = timed(
        lambda: subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    )
    return {
        "seconds": seconds,
        "exit_code": done.returncode,
        "output": (done.stdout + done.stderr).strip().splitlines()[-1:],
        "rss_peak_mb": peak_rss_mb(resource.RUSAGE_CHILDREN),
    }


MEASURES = {"dump": measure_dump, "cycle": measure_cycle, "command": measure_command}


def in_fresh_process(what: str, dsn: str, spec_file: Path, repeat: int) -> dict[str, Any]:
    arguments = ["--measure", what, "--dsn", dsn, "--spec-file", str(spec_file)]
    output = subprocess.run(
        [sys.executable, __file__, *arguments, "--repeat", str(repeat)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    figures: dict[str, Any] = json.loads(output)
    return figures


# --- report ---------------------------------------------------------------------------------


def line(label: str, value: str) -> None:
    print(f"  {label:<46} {value}")


def report(
    tables: int,
    build_s: float,
    dump: dict[str, Any],
    cycle: dict[str, Any],
    command: dict[str, Any],
) -> None:
    warm = cycle["cycle_warm"]
    print(f"catalog: {warm['tables']} tables ({tables} asked), built in {build_s:.1f} s")
    print("the spec of the whole catalog:")
    line("spec.dumps", f"{dump['dumps_s']:.3f} s  ({dump['spec_bytes'] / 1e6:.1f} MB of YAML)")
    line("spec.load of the file", f"{cycle['load_s']:.3f} s")
    line(
        "peak RSS before / after spec.load",
        f"{cycle['rss_start_mb']:.1f} / {cycle['rss_after_load_mb']:.1f} MB",
    )
    for run, title in (("cold", "fresh connection"), ("warm", "same connection, best run")):
        raw, checked = cycle[f"raw_{run}"], cycle[f"cycle_{run}"]
        print(f"check cycle against the loaded spec, {title}:")
        line("raw catalog SQL, execute + fetch", f"{raw['total']:.3f} s")
        for name in CATALOG_QUERIES:
            line(f"  {name}", f"{raw[name]:.3f} s")
        line("snapshot (same SQL, rows -> model)", f"{checked['snapshot']:.3f} s")
        line("diff", f"{checked['diff']:.3f} s  ({checked['findings']} findings, expected 0)")
        ratio = checked["total"] / raw["total"]
        line("check cycle = snapshot + diff", f"{checked['total']:.3f} s  ({ratio:.2f}x raw)")
    line("target", "check cycle <= 1.3x raw, same connection")
    line("statements per snapshot", f"{warm['queries']}  (target <= 10)")
    line("peak RSS of that process", f"{cycle['rss_peak_mb']:.1f} MB")
    print("`schema-monitor check --spec FILE` in a fresh process (load + snapshot + diff):")
    line("wall time, with interpreter start", f"{command['seconds']:.3f} s")
    line("exit code, last line", f"{command['exit_code']}, {' '.join(command['output'])}")
    line("peak RSS", f"{command['rss_peak_mb']:.1f} MB  (target <= 80 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=5000, help="tables to create (5000)")
    parser.add_argument("--dsn", help="server to use (default: MONITOR_TEST_DSN or embedded)")
    parser.add_argument("--repeat", type=int, default=5, help="warm runs, best kept (5)")
    parser.add_argument("--measure", choices=sorted(MEASURES), help=argparse.SUPPRESS)
    parser.add_argument("--spec-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(MEASURES[args.measure](args.dsn, args.spec_file, args.repeat)))
        return
    with (
        server(args.dsn) as server_dsn,
        scratch_database(server_dsn) as dsn,
        tempfile.TemporaryDirectory(prefix="schema-monitor-bench-") as directory,
    ):
        print(f"building {args.tables} tables in {db.redact(dsn)} ...", flush=True)
        build_s = build_catalog(dsn, args.tables)
        spec_file = Path(directory) / "spec.yaml"
        dump = in_fresh_process("dump", dsn, spec_file, args.repeat)
        cycle = in_fresh_process("cycle", dsn, spec_file, args.repeat)
        command = in_fresh_process("command", dsn, spec_file, args.repeat)
        report(args.tables, build_s, dump, cycle, command)


if __name__ == "__main__":
    main()
