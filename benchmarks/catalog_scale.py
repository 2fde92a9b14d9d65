"""How a drift check scales with the catalog: prints figures, asserts nothing.

Builds a synthetic catalog in a fresh database (by default 5,000 tables, each
with 8 columns, 4 indexes one of them partial, a CHECK constraint, row level
security, 2 policies and a trigger), then measures, each in a fresh Python
process so that building the catalog does not count:

- the same catalog SQL run raw (execute each query file, fetch the rows as
  tuples, nothing else), the floor any client pays, against the snapshot;
- the statements one snapshot issues;
- one full check, snapshot + ``spec.loads(spec.dumps(state))`` + ``diff``,
  with its peak RSS (``spec`` and ``diff`` are optional: without them the
  figures are for the snapshot only).

Targets: check <= 1.3x the raw read, <= 10 statements, <= 80 MB peak RSS.

    python benchmarks/catalog_scale.py [--tables 5000] [--dsn postgresql://...]

Without ``--dsn`` it uses MONITOR_TEST_DSN, else an embedded pgserver.
"""

from __future__ import annotations

import argparse
import json
import os
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

from monitor import catalog, db, model  # noqa: E402

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
def server(dsn: str | None) -> Iterator[str]:
    """A server where a database may be created: the given one, or an embedded one."""
    dsn = dsn or os.environ.get("MONITOR_TEST_DSN")
    if dsn:
        yield dsn
        return
    import pgserver

    datadir = tempfile.mkdtemp(prefix="schema-monitor-bench-")
    embedded = pgserver.get_server(datadir, cleanup_mode="delete")
    try:
        yield embedded.get_uri()
    finally:
        embedded.cleanup()


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


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def timed(action: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def measure_timing(dsn: str, repeat: int) -> dict[str, Any]:
    """Raw read and snapshot, each first on a fresh connection, then in turns on the same ones.

    Taking turns, and keeping the best of each, spares the comparison from
    whatever else the machine is doing at the time.
    """
    figures: dict[str, Any] = {}
    with (
        db.connect(dsn, statement_timeout_ms=120_000) as raw_conn,
        db.connect(dsn, statement_timeout_ms=120_000) as snapshot_conn,
    ):
        figures["raw_cold"] = read_raw(raw_conn)
        snap, figures["snapshot_cold_s"] = timed(lambda: catalog.snapshot(snapshot_conn))
        raw_runs, snapshot_runs = [], []
        for _ in range(repeat):
            raw_runs.append(read_raw(raw_conn))
            snapshot_runs.append(timed(lambda: catalog.snapshot(snapshot_conn))[1])
    figures["raw_warm"] = min(raw_runs, key=lambda run: run["total"])
    figures["snapshot_warm_s"] = min(snapshot_runs)
    figures["queries"] = snap.queries
    figures["tables"] = sum(len(schema.tables) for schema in snap.state.schemas)
    return figures


def read_raw(conn: psycopg.Connection[Any]) -> dict[str, float]:
    """The snapshot's SQL with the same parameters and transaction; rows as tuples, no model."""
    figures: dict[str, float] = {}
    started = time.perf_counter()
    with conn.transaction():
        context = conn.execute(
            catalog.load_query("catalog_context"),
            {"schemas": ["public"], "ledger": model.DEFAULT_LEDGER_TABLE},
        ).fetchall()
        _, skipped, _, ledger_schema, ledger_name = context[0]
        tables = conn.execute(
            catalog.load_query("catalog_tables"), {"schemas": ["public"], "skipped": skipped}
        ).fetchall()
        params = {"tables": [row[0] for row in tables]}
        for name in CATALOG_QUERIES:
            query = catalog.load_query(name)
            _, figures[name] = timed(lambda: conn.execute(query, params).fetchall())  # noqa: B023
        ledger = sql.SQL(catalog.load_query("catalog_ledger")).format(
            ledger=sql.Identifier(ledger_schema, ledger_name)
        )
        conn.execute(ledger).fetchall()
    figures["total"] = time.perf_counter() - started
    return figures


def measure_check(dsn: str, repeat: int) -> dict[str, Any]:
    """One full check from a fresh process, for its peak memory and the spec and diff steps."""
    figures: dict[str, Any] = {"rss_start_mb": peak_rss_mb()}
    with db.connect(dsn, statement_timeout_ms=120_000) as conn:
        snap = catalog.snapshot(conn)
    figures["rss_after_snapshot_mb"] = peak_rss_mb()
    try:
        from monitor import diff, spec
    except ImportError:
        figures["mode"] = "snapshot only"
        return figures
    figures["mode"] = "full check"
    text, figures["spec_dumps_s"] = timed(lambda: spec.dumps(snap.state))
    expected, figures["spec_loads_s"] = timed(lambda: spec.loads(text))
    findings, figures["diff_s"] = timed(
        lambda: diff.diff(expected, snap.state, skipped=snap.skipped)
    )
    figures["findings"] = len(findings)
    figures["spec_bytes"] = len(text)
    figures["rss_peak_mb"] = peak_rss_mb()
    return figures


MEASURES = {"timing": measure_timing, "check": measure_check}


def in_fresh_process(what: str, dsn: str, repeat: int) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, __file__, "--measure", what, "--dsn", dsn, "--repeat", str(repeat)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    figures: dict[str, Any] = json.loads(output)
    return figures


# --- report ---------------------------------------------------------------------------------


def line(label: str, value: str) -> None:
    print(f"  {label:<46} {value}")


def report(tables: int, build_s: float, timing: dict[str, Any], check: dict[str, Any]) -> None:
    print(f"catalog: {timing['tables']} tables ({tables} asked), built in {build_s:.1f} s")
    for run, title in (("cold", "fresh connection"), ("warm", "same connection, best run")):
        raw_s = timing[f"raw_{run}"]["total"]
        snapshot_s = timing[f"snapshot_{run}_s"]
        print(f"{title}:")
        line("raw catalog SQL, execute + fetch", f"{raw_s:.3f} s")
        for name in CATALOG_QUERIES:
            line(f"  {name}", f"{timing[f'raw_{run}'][name]:.3f} s")
        line(
            "snapshot (same SQL, rows -> model)",
            f"{snapshot_s:.3f} s  ({snapshot_s / raw_s:.2f}x raw)",
        )
    line("statements per snapshot", f"{timing['queries']}  (target <= 10)")
    print(f"one check in a fresh process ({check['mode']}):")
    line("peak RSS at start (imports)", f"{check['rss_start_mb']:.1f} MB")
    line(
        "peak RSS after the snapshot", f"{check['rss_after_snapshot_mb']:.1f} MB  (target <= 80 MB)"
    )
    if check["mode"] == "snapshot only":
        print("  (monitor.spec or monitor.diff is not importable)")
        return
    line(
        "spec.dumps", f"{check['spec_dumps_s']:.3f} s  ({check['spec_bytes'] / 1e6:.1f} MB of YAML)"
    )
    line("spec.loads", f"{check['spec_loads_s']:.3f} s")
    line("diff", f"{check['diff_s']:.3f} s  ({check['findings']} findings, expected 0)")
    line("peak RSS, whole check", f"{check['rss_peak_mb']:.1f} MB  (target <= 80 MB)")
    raw_s = timing["raw_warm"]["total"]
    total = (
        timing["snapshot_warm_s"] + check["spec_dumps_s"] + check["spec_loads_s"] + check["diff_s"]
    )
    print("full check = snapshot + spec.loads(spec.dumps(state)) + diff:")
    line("seconds", f"{total:.3f} s  ({total / raw_s:.2f}x raw, target <= 1.3x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=5000, help="tables to create (5000)")
    parser.add_argument("--dsn", help="server to use (default: MONITOR_TEST_DSN or embedded)")
    parser.add_argument("--repeat", type=int, default=5, help="warm runs, best kept (5)")
    parser.add_argument("--measure", choices=sorted(MEASURES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(MEASURES[args.measure](args.dsn, args.repeat)))
        return
    with server(args.dsn) as server_dsn, scratch_database(server_dsn) as dsn:
        print(f"building {args.tables} tables in {db.redact(dsn)} ...", flush=True)
        build_s = build_catalog(dsn, args.tables)
        timing = in_fresh_process("timing", dsn, args.repeat)
        check = in_fresh_process("check", dsn, args.repeat)
        report(args.tables, build_s, timing, check)


if __name__ == "__main__":
    main()
