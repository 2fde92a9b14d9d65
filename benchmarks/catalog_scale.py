"""How a drift check scales with the catalog: prints figures, asserts nothing.

Builds two synthetic catalogs in fresh databases, in one run:

- tables only (by default 5,000 tables, each with 8 columns, 4 indexes one of
  them partial, a CHECK constraint, row level security, 2 policies and a
  trigger);
- full: the same tables with grants to anon, authenticated and service_role
  on every one, plus 5,000 functions (SQL and PL/pgSQL, a fifth SECURITY
  DEFINER with a fixed search_path and EXECUTE revoked from PUBLIC) and
  1,000 views,

writes each one's spec with ``spec.dumps``, then measures, each in a fresh
process so that building the catalog does not count:

- raw reads: ``psql`` running the snapshot's own SQL (same statements, same
  transaction, parameters spelled as literals, rows sent to /dev/null), the
  floor any client pays;
- the snapshot alone (statements, rows -> model), best of ``--repeat``;
- ``spec.load`` of the spec file alone;
- ``schema-monitor check --spec FILE`` as a user runs it: wall time and the
  peak RSS of its process (RUSAGE_CHILDREN of a process that has no other child);

and prints the ratio check / raw for both catalogs side by side. The issue's
target: the full check costs no more, relative to its raw reads, than the
tables-only check does.

    python benchmarks/catalog_scale.py [--tables 5000] [--dsn postgresql://...]

Without ``--dsn`` it uses MONITOR_TEST_DSN, else an embedded pgserver.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
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
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.postgres import catalog, db
from monitor.postgres.catalog_limits import DEFAULT_LIMITS
from monitor.postgres.queries import load_query
from monitor.schema import model, spec
from tests.support.postgres import server

TABLES_PER_TRANSACTION = 200  # each table takes ~8 relation locks until commit
LEDGER_VERSIONS = ("20250122000000", "20250122235959", "20250123000000")
VIEWS = 1000
DEFINER_EVERY = 5  # a fifth of the functions are SECURITY DEFINER

PREAMBLE = f"""
DO $$
DECLARE role text;
BEGIN
  FOREACH role IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role) THEN
      -- As Supabase and the bootstrap make them: roles are the server's, not the database's.
      EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', role);
    END IF;
  END LOOP;
END $$;
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

# The security surface of table t{n}: grants to three roles, a function (SQL or
# PL/pgSQL; every fifth SECURITY DEFINER with a fixed search_path, executable by
# authenticated only) and, for the first VIEWS tables, a view.
GRANTS_DDL = """
GRANT SELECT ON public.t{n} TO anon;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.t{n} TO authenticated;
GRANT ALL ON public.t{n} TO service_role;
"""
SQL_FUNCTION_DDL = """
CREATE FUNCTION public.f{n}(amount integer, label text) RETURNS integer
    LANGUAGE sql STABLE {definer}AS $$ SELECT amount + length(label) $$;
"""
PLPGSQL_FUNCTION_DDL = """
CREATE FUNCTION public.f{n}(amount integer, label text) RETURNS integer
    LANGUAGE plpgsql {definer}AS $$
BEGIN
  -- a comment the comparison ignores
  IF amount IS NULL THEN RETURN 0; END IF;
  RETURN amount + length(label);
END $$;
"""
DEFINER = "SECURITY DEFINER SET search_path = '' "
DEFINER_GRANTS = """
REVOKE ALL ON FUNCTION public.f{n}(integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.f{n}(integer, text) TO authenticated;
"""
VIEW_DDL = """
CREATE VIEW public.v{n} WITH (security_invoker = true) AS
    SELECT id, organization_id, name, status FROM public.t{n} WHERE is_active;
GRANT SELECT ON public.v{n} TO authenticated;
"""


def surface_ddl(n: int) -> str:
    definer = n % DEFINER_EVERY == 0
    function = SQL_FUNCTION_DDL if n % 2 == 0 else PLPGSQL_FUNCTION_DDL
    parts = [GRANTS_DDL, function.format(n=n, definer=DEFINER if definer else "")]
    if definer:
        parts.append(DEFINER_GRANTS)
    if n < VIEWS:
        parts.append(VIEW_DDL)
    return "".join(part.replace("{n}", str(n)) for part in parts)


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


def build_catalog(dsn: str, tables: int, *, surface: bool = False) -> float:
    """Create the synthetic catalog in batches of DDL, one transaction each; seconds taken."""
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(PREAMBLE.encode())
        for first in range(0, tables, TABLES_PER_TRANSACTION):
            batch = range(first, min(first + TABLES_PER_TRANSACTION, tables))
            ddl = "".join(
                TABLE_DDL.format(n=n) + (surface_ddl(n) if surface else "") for n in batch
            )
            script = "BEGIN;" + ddl + "COMMIT;"
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
    public = state.schemas[0]
    text, seconds = timed(lambda: spec.dumps(state))
    spec_file.write_text(text, encoding="utf-8")
    return {
        "dumps_s": seconds,
        "spec_bytes": len(text.encode()),
        "tables": len(public.tables),
        "functions": len(public.functions or ()),
        "views": len(public.views or ()),
    }


def measure_load(dsn: str, spec_file: Path, repeat: int) -> dict[str, Any]:
    rss_start = peak_rss_mb()
    started_cpu = time.process_time()
    _, seconds = timed(lambda: spec.load(spec_file))
    return {
        "load_s": seconds,
        "load_cpu_s": time.process_time() - started_cpu,
        "rss_start_mb": rss_start,
        "rss_after_mb": peak_rss_mb(),
    }


def measure_snapshot(dsn: str, spec_file: Path, repeat: int) -> dict[str, Any]:
    """The snapshot alone, on one connection: the first run and the best of ``repeat``."""
    runs = []
    with db.connect(dsn, statement_timeout_ms=120_000) as conn:
        for _ in range(repeat + 1):
            snap, seconds = timed(lambda: catalog.snapshot(conn))
            runs.append(seconds)
    return {"cold_s": runs[0], "best_s": min(runs[1:]), "queries": snap.queries}


def measure_command(dsn: str, spec_file: Path, repeat: int) -> dict[str, Any]:
    """`schema-monitor check` in a process of its own: this one's only child, so
    RUSAGE_CHILDREN is that process's peak RSS."""
    command = [sys.executable, "-m", "monitor", "check", "--spec", str(spec_file), "--dsn", dsn]
    done, seconds = timed(
        lambda: subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    )
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "seconds": seconds,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "exit_code": done.returncode,
        "output": (done.stdout + done.stderr).strip().splitlines()[-1:],
        "rss_peak_mb": peak_rss_mb(resource.RUSAGE_CHILDREN),
    }


MEASURES = {
    "dump": measure_dump,
    "load": measure_load,
    "snapshot": measure_snapshot,
    "command": measure_command,
}


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


# --- the raw floor: psql running the same SQL ---------------------------------------------

_PARAMETER = re.compile(r"%\((\w+)\)s")


def _literal(value: Any) -> str:
    if isinstance(value, list):
        return "'{" + ",".join(str(item) for item in value) + "}'"
    return "'" + str(value).replace("'", "''") + "'"


def raw_script(dsn: str) -> str:
    """The snapshot's statements, in its order and transaction, parameters as literals.

    The parameters (table and materialized view oids) are the ones the snapshot
    would pass; they are found beforehand, as the snapshot finds them in its
    first statement.
    """
    schemas = ["public"]
    with psycopg.connect(dsn) as conn:
        context = (
            conn.cursor(row_factory=dict_row)
            .execute(
                load_query("catalog_context"),
                {"schemas": schemas, "ledger": model.DEFAULT_LEDGER_TABLE},
            )
            .fetchone()
        )
        assert context is not None
        # By name: the statement gains columns as the catalog read grows.
        skipped, skipped_functions = context["skipped_oids"], context["skipped_functions"]
        matviews = context["matviews"]
        ledger_schema, ledger_name = context["ledger_schema"], context["ledger_name"]
        tables = [
            row[0]
            for row in conn.execute(
                load_query("catalog_tables"), {"schemas": schemas, "skipped": skipped}
            )
        ]
    text_cap = DEFAULT_LIMITS.definition_bytes
    values: dict[str, dict[str, Any]] = {
        "catalog_context": {"schemas": schemas, "ledger": model.DEFAULT_LEDGER_TABLE},
        "catalog_tables": {"schemas": schemas, "skipped": skipped},
        "catalog_columns": {"tables": tables, "text_cap": text_cap},
        "catalog_constraints": {"tables": tables, "text_cap": text_cap},
        "catalog_indexes": {"tables": tables + matviews},
        "catalog_policies": {"tables": tables, "text_cap": text_cap},
        "catalog_triggers": {"tables": tables},
        "catalog_functions": {
            "schemas": schemas,
            "skipped": skipped_functions,
            "text_cap": text_cap,
        },
        "catalog_objects": {"schemas": schemas},
        "catalog_views": {"schemas": schemas, "skipped": skipped, "text_cap": text_cap},
    }
    statements = [
        "SET search_path = pg_catalog, public;",
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;",
    ]
    for name, params in values.items():
        text = _PARAMETER.sub(lambda m: _literal(params[m.group(1)]), load_query(name))  # noqa: B023
        statements.append(text.rstrip().rstrip(";") + ";")
    ledger = sql.Identifier(ledger_schema, ledger_name).as_string()
    statements.append(load_query("catalog_ledger").format(ledger=ledger).rstrip() + ";")
    statements.append("COMMIT;")
    return "\n".join(statements) + "\n"


def measure_psql(dsn: str, script: Path, repeat: int) -> dict[str, float]:
    """Wall time of `psql -f` running the script, output thrown away: first and best."""
    psql = shutil.which("psql")
    if psql is None:
        raise SystemExit("psql is needed for the raw floor (apt install postgresql-client)")
    command = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null", "-f", str(script), dsn]
    runs = []
    for _ in range(repeat + 1):
        _, seconds = timed(lambda: subprocess.run(command, check=True, capture_output=True))
        runs.append(seconds)
    return {"cold_s": runs[0], "best_s": min(runs[1:])}


# --- report ---------------------------------------------------------------------------------


def line(label: str, *values: str) -> None:
    print(f"  {label:<44} " + "".join(f"{value:>22}" for value in values))


def report(tables: int, figures: dict[str, dict[str, Any]]) -> None:
    shapes = list(figures)
    print(f"catalogs of {tables} tables; the second with the security surface:")
    line("", *shapes)
    get = figures.__getitem__
    counts = [get(k)["dump"] for k in shapes]
    line(
        "tables / functions / views",
        *(f"{c['tables']} / {c['functions']} / {c['views']}" for c in counts),
    )
    line("built in", *(f"{get(k)['build_s']:.1f} s" for k in shapes))
    line(
        "spec.dumps (size)",
        *(
            f"{get(k)['dump']['dumps_s']:.2f} s ({get(k)['dump']['spec_bytes'] / 1e6:.1f} MB)"
            for k in shapes
        ),
    )
    line(
        "spec.load alone, wall / CPU",
        *(f"{get(k)['load']['load_s']:.2f} / {get(k)['load']['load_cpu_s']:.2f} s" for k in shapes),
    )
    line(
        "raw: psql, same SQL, first / best",
        *(f"{get(k)['psql']['cold_s']:.2f} / {get(k)['psql']['best_s']:.2f} s" for k in shapes),
    )
    line(
        "snapshot alone, first / best",
        *(
            f"{get(k)['snapshot']['cold_s']:.2f} / {get(k)['snapshot']['best_s']:.2f} s"
            for k in shapes
        ),
    )
    line("statements per snapshot (<= 14)", *(f"{get(k)['snapshot']['queries']}" for k in shapes))
    line(
        "schema-monitor check, wall (whole process)",
        *(f"{get(k)['command']['seconds']:.2f} s" for k in shapes),
    )
    line(
        "schema-monitor check, CPU (user + sys)",
        *(f"{get(k)['command']['cpu_s']:.2f} s" for k in shapes),
    )
    line("schema-monitor check, exit code", *(f"{get(k)['command']['exit_code']}" for k in shapes))
    line(
        "schema-monitor check, peak RSS",
        *(f"{get(k)['command']['rss_peak_mb']:.0f} MB" for k in shapes),
    )
    line(
        "ratio check / raw psql (first run)",
        *(f"{get(k)['command']['seconds'] / get(k)['psql']['cold_s']:.2f}x" for k in shapes),
    )
    for shape in shapes:
        output = " ".join(get(shape)["command"]["output"])
        print(f"  check's last line, {shape}: {output}")
    print("  target: check <= 1.2x raw psql, peak RSS <= 120 MB")


def measure_catalog(server_dsn: str, tables: int, repeat: int, *, surface: bool) -> dict[str, Any]:
    with (
        scratch_database(server_dsn) as dsn,
        tempfile.TemporaryDirectory(prefix="schema-monitor-bench-") as directory,
    ):
        what = "tables and the security surface" if surface else "tables"
        print(f"building {tables} {what} in {db.redact(dsn)} ...", flush=True)
        figures: dict[str, Any] = {"build_s": build_catalog(dsn, tables, surface=surface)}
        spec_file = Path(directory) / "spec.yaml"
        script = Path(directory) / "raw.sql"
        figures["dump"] = in_fresh_process("dump", dsn, spec_file, repeat)
        script.write_text(raw_script(dsn), encoding="utf-8")
        figures["psql"] = measure_psql(dsn, script, repeat)
        figures["load"] = in_fresh_process("load", dsn, spec_file, repeat)
        figures["snapshot"] = in_fresh_process("snapshot", dsn, spec_file, repeat)
        figures["command"] = in_fresh_process("command", dsn, spec_file, repeat)
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=5000, help="tables to create (5000)")
    parser.add_argument("--dsn", help="server to use (default: MONITOR_TEST_DSN or embedded)")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs, best kept (3)")
    parser.add_argument("--measure", choices=sorted(MEASURES), help=argparse.SUPPRESS)
    parser.add_argument("--spec-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(MEASURES[args.measure](args.dsn, args.spec_file, args.repeat)))
        return
    with server(args.dsn) as server_dsn:
        figures = {
            "tables only": measure_catalog(server_dsn, args.tables, args.repeat, surface=False),
            "full": measure_catalog(server_dsn, args.tables, args.repeat, surface=True),
        }
    report(args.tables, figures)


if __name__ == "__main__":
    main()
