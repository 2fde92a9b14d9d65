"""What query evidence adds to a stats cycle: prints figures, asserts nothing.

A private PostgreSQL with pg_stat_statements preloaded holds ``--statements``
distinct statements (by default 5,000: a fifth of them on the spec's table
``public.integrations``, the rest on 100 other tables). The figures, each
beside its floor (the bare fetch of the view: every column of every row):

- CPU of the evidence part of a stats cycle (one pg_stat_statements read,
  the parse of new texts, the fold into the baseline, at most N plan probes,
  the results for /metrics): the first cycle (every text parsed) and the
  median of the next ones (parse cache warm; target <= 50 ms);
- the memory it adds: what the keeper holds after the first cycle, and the
  peak above that during a warm cycle (tracemalloc; target <= 20 MB);
- the series /metrics gains, with and without a new index in the spec
  (target: at most 3N + 2 per new index, N = ``statements.top``).

    python benchmarks/statement_evidence.py [--statements 5000]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.daemon import config as config_module
from monitor.daemon import events as log
from monitor.daemon import metrics
from monitor.daemon.evidence import EvidenceKeeper
from monitor.daemon.results import Results, TargetResults
from monitor.daemon.window_state import WindowKeeper
from monitor.postgres import db, scratch

SPEC = ROOT / "tests" / "fixtures" / "statement_evidence" / "spec.yaml"
MIGRATIONS = sorted((ROOT / "tests" / "fixtures" / "statement_evidence" / "migrations").glob("*"))
COLUMNS = ("id", "organization_id", "integration_type", "is_active", "configuration")
OTHER_COLUMNS = ("a", "b", "c", "d", "e", "f")
FAMILIES = (
    "statements_available",
    "statement_advisories",
    "statement_baseline_resets",
    "table_statement_mean",
    "index_planned_statements",
    "index_not_planned",
    "statement_calls_since",
    "statement_mean_seconds",
)


def statements(count: int, share: float) -> Iterator[str]:
    """`count` distinct statement shapes: `share` of them on integrations, the rest elsewhere."""
    subsets = [
        ", ".join(c)
        for size in range(1, len(COLUMNS) + 1)
        for c in itertools.combinations(COLUMNS, size)
    ]
    filters = [
        f"organization_id = %s{' AND is_active' * (k % 2)}{' AND integration_type = %s' * (k // 2)}"
        for k in range(4)
    ]
    orders = ["", *(f" ORDER BY {c}{d}" for c in COLUMNS for d in ("", " DESC"))]
    mine = [
        f"SELECT {columns} FROM public.integrations WHERE {where}{order}"
        for order, columns, where in itertools.product(orders, subsets, filters)
    ]
    mine += [  # more shapes, each joining another table
        f"SELECT i.id FROM public.integrations i {join} public.other_{table} o ON o.{column} = 1"
        f" WHERE i.{where}"
        for join, column, table, where in itertools.product(
            ("JOIN", "LEFT JOIN"), OTHER_COLUMNS, range(100), filters
        )
    ]
    other_subsets = [
        ", ".join(c)
        for size in range(1, len(OTHER_COLUMNS) + 1)
        for c in itertools.combinations(OTHER_COLUMNS, size)
    ]
    others = (
        f"SELECT {columns} FROM public.other_{table} WHERE a = %s"
        for table in range(100)
        for columns in other_subsets
    )
    on_spec = min(int(count * share), len(mine))
    yield from mine[:on_spec]
    yield from itertools.islice(others, count - on_spec)


def build(dsn: str, count: int, share: float) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA extensions")
        conn.execute("CREATE EXTENSION pg_stat_statements SCHEMA extensions")
        for migration in MIGRATIONS:
            conn.execute(migration.read_text())
        conn.execute(
            "INSERT INTO public.integrations (organization_id, integration_type)"
            " SELECT gen_random_uuid(), 'type_' || (i % 7) FROM generate_series(1, 2000) AS i"
        )
        for table in range(100):
            columns = ", ".join(f"{c} int" for c in OTHER_COLUMNS)
            conn.execute(f"CREATE TABLE public.other_{table} ({columns})")
        conn.execute("ANALYZE")
        conn.execute("SELECT extensions.pg_stat_statements_reset()")
        sent = 0
        for text in statements(count, share):
            arguments: list[Any] = []
            for position in range(text.count("%s")):
                arguments.append(
                    1
                    if "FROM public.other_" in text
                    else "type_1"
                    if position
                    else "00000000-0000-0000-0000-000000000001"
                )
            conn.execute(text, arguments)
            sent += 1
        found = conn.execute("SELECT count(*) FROM extensions.pg_stat_statements").fetchone()
    return int(found[0]) if found else sent


def config_for(dsn: str, directory: Path, since: str) -> config_module.Config:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "monitor.yaml"
    path.write_text(
        f"""\
version: 1
state_dir: {directory / "state"}
watch_window: {{duration: 48h, new_indexes_since: "{since}"}}
targets:
  - name: app
    dsn: "{dsn}"
    spec: {SPEC}
"""
    )
    return config_module.load(path)


def cpu(action: Callable[[], Any]) -> float:
    started = time.process_time()
    action()
    return time.process_time() - started


def touch(dsn: str) -> None:
    """Some calls between cycles, so that counters move as they do in production."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for number in range(50):
            conn.execute(
                "SELECT id FROM public.integrations WHERE organization_id = %s AND is_active",
                (f"00000000-0000-0000-0000-{number:012d}",),
            )


def series(result: Any, name: str = "app") -> int:
    target = TargetResults(name=name, statements=result)
    text = metrics.Renderer(lambda: Results(version="bench", targets=(target,))).text().decode()
    return sum(
        1
        for line in text.splitlines()
        if not line.startswith("#") and any(f"schema_monitor_{f}" in line for f in FAMILIES)
    )


def measure(
    dsn: str, directory: Path, since: str, cycles: int, profile: bool = False
) -> dict[str, Any]:
    config = config_for(dsn, directory, since)
    expected = config_module.load_specs(config)["app"]
    events = log.Events(log.get_logger())
    now = datetime(2026, 1, 10, tzinfo=UTC)
    window = WindowKeeper("app", config, events, now, lambda change: None)
    conn = db.connect(dsn, statement_timeout_ms=10_000)
    fetch_all = "SELECT * FROM extensions.pg_stat_statements"
    floor = [cpu(lambda: conn.execute(fetch_all).fetchall())]
    keeper = EvidenceKeeper("app", expected, config, window, events, now)
    first = cpu(lambda: keeper.cycle(conn, "bench", now))
    warm = []
    for cycle in range(1, cycles):
        touch(dsn)
        floor.append(cpu(lambda: conn.execute(fetch_all).fetchall()))
        at = now + timedelta(minutes=cycle)
        if profile and cycle == cycles - 1:
            import cProfile
            import pstats

            with cProfile.Profile() as profiler:
                keeper.cycle(conn, "bench", at)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
        warm.append(cpu(lambda at=at: keeper.cycle(conn, "bench", at)))  # type: ignore[misc]
    # Memory apart from the timings (tracemalloc slows every allocation): what a new
    # keeper holds after its first cycle, and the peak above that in a warm one.
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    fresh = EvidenceKeeper("app", expected, config, window, events, now)
    fresh.cycle(conn, "bench", now)
    held = tracemalloc.get_traced_memory()[0] - before
    touch(dsn)
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fresh.cycle(conn, "bench", now + timedelta(minutes=1))
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    result = keeper.result("bench", now + timedelta(hours=2))
    conn.close()
    return {
        "first_ms": first * 1000,
        "warm_ms": statistics.median(warm) * 1000,
        "warm_max_ms": max(warm) * 1000,
        "floor_ms": statistics.median(floor) * 1000,
        "held_mb": held / 2**20,
        "peak_mb": peak / 2**20,
        "kept": len(keeper.state.statements),
        "series": series(result),
        "new_indexes": len(result.indexes),
        "top": config.statements.top,
        "tables": len(result.tables),
        "probed": sum(1 for s in keeper.state.statements.values() if s.plan is not None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=5000)
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument(
        "--on-spec", type=float, default=0.2, help="share of the statements on the spec's table"
    )
    parser.add_argument("--profile", action="store_true", help="profile a warm cycle")
    arguments = parser.parse_args()
    settings = (
        "shared_preload_libraries=pg_stat_statements",
        f"pg_stat_statements.max={max(5000, arguments.statements + 500)}",
    )
    with (
        scratch.signals_unwind(),
        scratch.scratch_server(settings=settings) as server,
        tempfile.TemporaryDirectory() as scratch_dir,
    ):
        started = time.perf_counter()
        distinct = build(server.dsn, arguments.statements, arguments.on_spec)
        built = time.perf_counter() - started
        with_index = measure(
            server.dsn,
            Path(scratch_dir) / "new",
            "20250123000000",
            arguments.cycles,
            arguments.profile,
        )
        without = measure(server.dsn, Path(scratch_dir) / "none", "99990101000000", 2)
    print(f"pg_stat_statements: {distinct} distinct statements (built in {built:.1f} s)")
    print(f"  kept (on the spec's tables): {with_index['kept']}, probed: {with_index['probed']}")
    line = "  {:<58} {}"
    print(
        line.format(
            "floor: SELECT * FROM pg_stat_statements, fetched (CPU)",
            f"{with_index['floor_ms']:.1f} ms",
        )
    )
    print(
        line.format(
            "evidence, first cycle (every text parsed) (CPU)", f"{with_index['first_ms']:.1f} ms"
        )
    )
    print(
        line.format(
            "evidence, warm cycle, median (CPU; target <= 50 ms)",
            f"{with_index['warm_ms']:.1f} ms (max {with_index['warm_max_ms']:.1f} ms)",
        )
    )
    print(
        line.format(
            "memory held after the first cycle (tracemalloc)", f"{with_index['held_mb']:.1f} MB"
        )
    )
    print(
        line.format(
            "peak above that in a warm cycle (target <= 20 MB)", f"{with_index['peak_mb']:.1f} MB"
        )
    )
    top = with_index["top"]
    grown = with_index["series"] - without["series"]
    per_index = grown / max(1, with_index["new_indexes"])
    print(
        line.format(
            f"series: {without['series']} without a new index, {with_index['series']} with"
            f" {with_index['new_indexes']}",
            f"+{per_index:.0f} per new index (target <= 3N + 2 = {3 * top + 2})",
        )
    )


if __name__ == "__main__":
    main()
