"""What the advisors add to a drift check's CPU time: prints figures, asserts nothing.

The advisors issue no statement (tests/integration/test_advisors_live.py proves
the count); their only cost is Python over the snapshot. This builds a
synthetic snapshot in memory (by default 5,000 tables, each with 8 columns, a
primary key, a foreign key, 3 indexes one of them partial, RLS, 2 policies
whose USING wraps auth.uid(), a SECURITY DEFINER function with a fixed
search_path that only the service role may call, and a view with grants), then times,
in the same run:

- ``diff(spec, snapshot)``: the drift check's own pure work, the floor the
  advisors are compared with;
- ``advisors.evaluate(snapshot)`` with every rule on: the first run (each
  distinct expression and index key parsed once, as in a ``check`` process)
  and the next ones (the daemon's later cycles, parses cached).

Target: the advisors cost no more than the diff they sit beside.

    python benchmarks/advisors_scale.py [--tables 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.schema import advisors, normalize
from monitor.schema.advisors import base, exposure, indexes, parsing, security
from monitor.schema.compare.diff import diff
from monitor.schema.model import (
    Column,
    Constraint,
    ConstraintType,
    ForeignKey,
    Function,
    Grant,
    Index,
    Policy,
    Rls,
    Schema,
    State,
    Table,
    View,
)
from tests.support.advisors import MEMBER

API = frozenset({Grant("authenticated", "SELECT"), Grant("service_role", "SELECT")})


def table(n: int) -> Table:
    return Table(
        name=f"t{n}",
        rls=Rls(enabled=True),
        columns=(
            Column("id", "uuid", nullable=False, default="gen_random_uuid()"),
            Column("organization_id", "uuid", nullable=False),
            *(Column(f"c{i}", "text") for i in range(5)),
            Column("created_at", "timestamp with time zone", nullable=False, default="now()"),
        ),
        constraints=(
            Constraint(f"t{n}_pkey", ConstraintType.PRIMARY_KEY, ("id",)),
            Constraint(
                f"t{n}_organization_id_fkey",
                ConstraintType.FOREIGN_KEY,
                ("organization_id",),
                ForeignKey("public.organizations", ("id",), on_delete="CASCADE"),
            ),
        ),
        indexes=(
            Index(f"t{n}_pkey", ("id",), unique=True, constraint=f"t{n}_pkey"),
            Index(f"t{n}_org", ("organization_id", "created_at DESC")),
            Index(f"t{n}_active", ("c0",), where="c1 IS NOT NULL"),
        ),
        policies=(
            Policy("read", "SELECT", roles=frozenset({"authenticated"}), using=MEMBER),
            Policy("write", "INSERT", roles=frozenset({"authenticated"}), with_check=MEMBER),
        ),
        triggers=(),
        grants=API,
    )


def state(tables: int) -> State:
    functions = tuple(
        Function(
            f"f{n}(uuid)",
            "boolean",
            body="SELECT true",
            security_definer=True,
            settings=(("search_path", '""'),),
            # Callable by the service role only: a definer function signed-in users may
            # call is an advisory of its own (as in the examples), not a clean catalog.
            grants=frozenset({Grant("service_role", "EXECUTE")}),
        )
        for n in range(tables)
    )
    views = tuple(
        View(f"v{n}", f" SELECT id FROM t{n}", security_invoker=True, grants=API)
        for n in range(tables // 5)
    )
    schema = Schema(
        "public", tuple(table(n) for n in range(tables)), functions=functions, views=views
    )
    return State(schemas=(schema,), extensions=())


# What the advisors parse: a `check` process starts with all of them empty.
COLD_CACHES = (
    parsing.unwrapped_calls_of,
    parsing.unwrapped_calls_parsed,
    parsing._expression_json,
    parsing.always_true,
    parsing.references_user_metadata,
    parsing.null_auth_disjunct,
    indexes.plain_column,
    parsing.body_reads_auth_users,
    parsing.sql_reads_auth_users,
    exposure.looks_sensitive,
    security._reg_type,
    base.applies_to_api,
    normalize.expression_key,
    normalize.index_column_key,
    normalize._column_names,
)


def best_of(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    snapshot = state(args.tables)
    spec = state(args.tables)  # equal, not the same objects: the diff's real work
    floor = best_of(args.repeat, lambda: diff(spec, snapshot))

    def cold() -> object:
        # The first cycle (all a `check` runs) parses every distinct expression once.
        for cache in COLD_CACHES:
            cache.cache_clear()
        return advisors.evaluate(snapshot)

    first = best_of(args.repeat, cold)
    found = advisors.evaluate(snapshot)
    cost = best_of(args.repeat, lambda: advisors.evaluate(snapshot))
    print(f"catalog: {args.tables} tables, {args.tables} functions, {args.tables // 5} views")
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"diff (floor):        {floor * 1000:8.1f} ms")
    print(f"advisors, first run: {first * 1000:8.1f} ms  ({first / floor:.2f}x the diff)")
    print(f"advisors, next runs: {cost * 1000:8.1f} ms  ({cost / floor:.2f}x the diff)")
    print(f"advisories on the synthetic catalog: {len(found)} (expected 0: it is clean)")


if __name__ == "__main__":
    main()
