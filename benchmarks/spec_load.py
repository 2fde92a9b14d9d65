"""How fast the spec and the config load: prints figures beside their floor, asserts nothing.

Writes the spec of a synthetic 5,000-table state (the shape of
catalog_scale.py's catalog: 8 columns, a primary key and a CHECK, 4 indexes
one of them partial, row level security, 2 policies and a trigger per table;
no database needed), then measures in this one run, best of ``--repeat``:

- the floor: each YAML parser installed here turning the text into Python
  data (yaml-rs, which spec.load uses, first: the parse floor; PyYAML with
  libyaml; rapidyaml and msgspec when installed), no validation;
- the floor under any load of this design: yaml-rs parsing the very pieces
  ``spec.load`` parses, and constructing the loaded model's distinct objects
  from their own field values (no parsing, no checks), and the two together;
- ``spec.load`` end to end (file to State, the SQL checks' caches cold as in
  a new process), of the tables alone, of the same tables with no body the
  same as another table's (every default, predicate and trigger function
  numbered: real tables differ, and each distinct body is read), and of the
  full spec (catalog_scale.py's full catalog: grants on every table, a
  function per table, 1,000 views);
- what a load costs when a problem must be reported with its line: the
  tables-only spec with one typo in one table (lines looked up in the whole
  text once the walk is done);
- ``spec.dumps`` of the state;
- ``config.load`` of the example config;
- the time a merge-key bomb and a billion-laughs bomb take to fail.

Targets: spec.load of the 5,000-table spec at most 2.5x the yaml-rs parse floor
printed in the same run; the typo reported with its line in at most 3 s.

    python benchmarks/spec_load.py [--tables 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml

from monitor.daemon import config
from monitor.documents import pieces
from monitor.errors import InputError
from monitor.schema import model, normalize, spec


def table(n: int, *, distinct: bool = False) -> model.Table:
    """Table ``t{n}``; ``distinct``: its defaults, predicates and trigger function numbered
    with ``n``, as real tables differ, so that no body is the same as another table's."""
    mark = str(n) if distinct else ""
    closed = f"status <> 'closed{mark}'::text"
    readable = f"is_active AND id > {n}" if distinct else "is_active"
    statuses = "'active'::text, 'closed'::text"
    return model.Table(
        name=f"t{n}",
        columns=(
            model.Column("id", "bigint", nullable=False, identity="always"),
            model.Column("organization_id", "uuid", nullable=False),
            model.Column("name", "text", nullable=False),
            model.Column("status", "text", default=f"'pending{mark}'::text"),
            model.Column("is_active", "boolean", nullable=False, default="true"),
            model.Column("payload", "jsonb", default="'{}'::jsonb"),
            model.Column("created_at", "timestamp with time zone", nullable=False, default="now()"),
            model.Column("updated_at", "timestamp with time zone", nullable=False, default="now()"),
        ),
        constraints=(
            model.Constraint(f"t{n}_pkey", model.ConstraintType.PRIMARY_KEY, ("id",)),
            model.Constraint(
                f"t{n}_status_check",
                model.ConstraintType.CHECK,
                check=f"status = ANY (ARRAY['pending{mark}'::text, {statuses}])",
            ),
        ),
        indexes=(
            model.Index(f"t{n}_active", ("organization_id",), where=f"is_active AND {closed}"),
            model.Index(f"t{n}_created_at", ("created_at DESC",)),
            model.Index(f"t{n}_organization_status", ("organization_id", "status")),
            model.Index(f"t{n}_pkey", ("id",), unique=True, constraint=f"t{n}_pkey"),
        ),
        policies=(
            model.Policy(f"t{n}_read", command="SELECT", using=readable),
            model.Policy(f"t{n}_write", command="UPDATE", using=closed, with_check=closed),
        ),
        triggers=(model.Trigger(f"t{n}_touch", "BEFORE", ("UPDATE",), "ROW", f"touch{mark}()"),),
        rls=model.Rls(enabled=True),
    )


def synthetic_state(tables: int, *, distinct: bool = False) -> model.State:
    made = (table(n, distinct=distinct) for n in range(tables))
    public = model.Schema("public", tuple(sorted(made, key=lambda t: t.name)))
    ledger = model.Ledger(("20250122000000", "20250122235959", "20250123000000"))
    return model.State(schemas=(public,), ledger=ledger)


TABLE_GRANTS = frozenset(
    {model.Grant("anon", "SELECT")}
    | {model.Grant("authenticated", p) for p in ("SELECT", "INSERT", "UPDATE", "DELETE")}
    | {model.Grant("service_role", p) for p in model.TABLE_PRIVILEGES}
)
PLPGSQL_BODY = """
BEGIN
  -- a comment the comparison ignores
  IF amount IS NULL THEN RETURN 0; END IF;
  RETURN amount + length(label);
END """


def function(n: int) -> model.Function:
    """catalog_scale.py's functions: SQL or PL/pgSQL, a fifth SECURITY DEFINER."""
    definer = n % 5 == 0
    return model.Function(
        name=f"f{n}(integer, text)",
        arguments="amount integer, label text",
        returns="integer",
        language="sql" if n % 2 == 0 else "plpgsql",
        volatility="stable" if n % 2 == 0 else "volatile",
        body=" SELECT amount + length(label) " if n % 2 == 0 else PLPGSQL_BODY,
        security_definer=definer,
        settings=(("search_path", '""'),) if definer else (),
        owner="postgres",
        grants=frozenset({model.Grant("authenticated" if definer else "public", "EXECUTE")}),
    )


def view(n: int) -> model.View:
    definition = (
        f" SELECT t{n}.id,\n    t{n}.organization_id,\n    t{n}.name,\n    t{n}.status\n"
        f"   FROM t{n}\n  WHERE t{n}.is_active;"
    )
    return model.View(
        name=f"v{n}",
        definition=definition,
        security_invoker=True,
        owner="postgres",
        grants=frozenset({model.Grant("authenticated", "SELECT")}),
    )


def full_state(tables: int) -> model.State:
    """The shape of catalog_scale.py's full catalog: every table owned and granted to three
    roles, a function per table and a view for the first thousand."""
    state = synthetic_state(tables)
    [public] = state.schemas
    full = dataclasses.replace(
        public,
        tables=tuple(
            dataclasses.replace(t, owner="postgres", grants=TABLE_GRANTS) for t in public.tables
        ),
        functions=tuple(sorted(map(function, range(tables)), key=lambda f: f.name)),
        views=tuple(sorted(map(view, range(min(tables, 1000))), key=lambda v: v.name)),
    )
    return dataclasses.replace(state, schemas=(full,))


def merge_key_bomb() -> str:
    lines = ["version: 1", "m0: &m0 {a: 1}"]
    lines += [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}]}}" for i in range(1, 31)]
    return "\n".join([*lines, "schemas: {public: {tables: {t: *m30}}}"]) + "\n"


def billion_laughs() -> str:
    lines = ["version: 1", "l0: &l0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 10)]
    return "\n".join([*lines, "schemas: {public: {ignore: *l9}}"]) + "\n"


def best(action: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """The least CPU time and the least wall time of ``repeat`` runs, in seconds.

    CPU time is the figure to compare: on a busy machine (2 cores shared by
    many) wall time mostly measures the neighbours.
    """
    cpu, wall = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        action()
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    return min(cpu), min(wall)


def fails(load: Callable[[], object], what: str) -> Callable[[], None]:
    """``load``, which must end in an InputError (its problems are the result)."""

    def fail() -> None:
        try:
            load()
        except InputError:
            return
        raise AssertionError(f"{what} loaded")

    return fail


def parsers(text: str) -> dict[str, Callable[[], Any]]:
    """Each YAML parser installed here, text -> Python data."""
    found: dict[str, Callable[[], Any]] = {}
    yaml_rs: Any = importlib.import_module("yaml_rs")
    found["yaml-rs loads"] = lambda: yaml_rs.loads(text, parse_datetime=False)
    if hasattr(yaml, "CSafeLoader"):
        found["PyYAML CSafeLoader load"] = lambda: yaml.load(text, Loader=yaml.CSafeLoader)
    for module, label, call in (
        ("ryml", "rapidyaml parse (tree only)", "parse_in_arena"),
        ("msgspec.yaml", "msgspec.yaml decode (PyYAML)", "decode"),
    ):
        try:
            parse: Callable[[bytes], Any] = getattr(importlib.import_module(module), call)
        except ImportError:
            continue
        found[label] = functools.partial(parse, text.encode())
    return found


def cold_load(path: Path) -> Callable[[], model.State]:
    """spec.load as a new process runs it: the caches of the SQL checks emptied first."""

    def load() -> model.State:
        for cached in vars(normalize).values():
            if hasattr(cached, "cache_clear"):
                cached.cache_clear()
        return spec.load(path)

    return load


def pieces_parse(text: str) -> Callable[[], None]:
    """yaml-rs parsing what spec.load parses: the outline, then each piece of the
    blocks it cuts out, each piece's data freed before the next (as a load does)."""
    yaml_rs: Any = importlib.import_module("yaml_rs")

    def parse() -> None:
        split = pieces.split(text, spec.reader.PIECES)
        assert split is not None, "a generated spec is always cut into pieces"
        yaml_rs.loads(split.outline, parse_datetime=False)
        for _, texts in split.blocks:
            for piece in texts:
                yaml_rs.loads(piece, parse_datetime=False)

    return parse


def construction(state: model.State) -> tuple[int, Callable[[], None]]:
    """The number of distinct objects of ``state`` and a run that constructs each once,
    children first, from its own field values: what building the model costs with no
    parsing and no checks."""
    plan: list[tuple[type[Any], tuple[Any, ...]]] = []
    seen: set[int] = set()

    def visit(value: Any) -> None:
        if isinstance(value, tuple | frozenset | list):
            for item in value:
                visit(item)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            if id(value) in seen:
                return
            seen.add(id(value))
            fields = tuple(getattr(value, field.name) for field in dataclasses.fields(value))
            for field in fields:
                visit(field)
            plan.append((type(value), fields))

    visit(state)

    def build() -> None:
        for kind, fields in plan:
            kind(*fields)

    return len(plan), build


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--tables", type=int, default=5000)
    options.add_argument("--repeat", type=int, default=3)
    args = options.parse_args()

    state = synthetic_state(args.tables)
    text = spec.dumps(state)
    full = full_state(args.tables)
    full_text = spec.dumps(full)
    distinct = synthetic_state(args.tables, distinct=True)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "spec.yaml"
        path.write_text(text, encoding="utf-8")
        full_path = Path(folder) / "full.yaml"
        full_path.write_text(full_text, encoding="utf-8")
        assert spec.load(path) == state
        assert spec.load(full_path) == full
        typo_path = Path(folder) / "typo.yaml"
        middle = f"      t{args.tables // 2}:\n"
        typo_path.write_text(text.replace(middle, middle + "        colums: []\n"), "utf-8")
        distinct_path = Path(folder) / "distinct.yaml"
        distinct_path.write_text(spec.dumps(distinct), encoding="utf-8")
        assert spec.load(distinct_path) == distinct
        rows: list[tuple[str, tuple[float, float]]] = [
            (f"parse: {label}", best(parse, args.repeat)) for label, parse in parsers(text).items()
        ]
        parse_floor = rows[0][1][0]
        loaded = spec.load(path)
        objects, build = construction(loaded)
        floors = [
            ("floor: yaml-rs parse of the pieces a load parses", pieces_parse(text)),
            (f"floor: constructing the model's {objects} objects", build),
        ]
        del loaded
        costs = [best(action, args.repeat) for _, action in floors]
        rows += [(label, cost) for (label, _), cost in zip(floors, costs, strict=True)]
        together = (sum(cpu for cpu, _ in costs), sum(wall for _, wall in costs))
        rows.append(("floor: the two together", together))
        rows += [
            ("spec.load, end to end", best(cold_load(path), args.repeat)),
            (
                "spec.load, no body the same as another table's",
                best(cold_load(distinct_path), args.repeat),
            ),
            (
                "spec.load, full spec (grants, functions, views)",
                best(cold_load(full_path), args.repeat),
            ),
            (
                "spec.load, one typo in one table",
                best(fails(cold_load(typo_path), typo_path.name), args.repeat),
            ),
            ("spec.dumps", best(lambda: spec.dumps(state), args.repeat)),
            (
                "config.load (config/monitor.yaml)",
                best(
                    lambda: config.load(
                        ROOT / "config" / "monitor.yaml", {"DATABASE_URL": "host=db"}
                    ),
                    args.repeat,
                ),
            ),
            (
                "merge-key bomb, time to fail",
                best(
                    fails(functools.partial(spec.loads, merge_key_bomb(), "bomb.yaml"), "the bomb"),
                    args.repeat,
                ),
            ),
            (
                "billion laughs, time to fail",
                best(
                    fails(functools.partial(spec.loads, billion_laughs(), "bomb.yaml"), "the bomb"),
                    args.repeat,
                ),
            ),
        ]
    figures = dict(rows)
    load_ratio = figures["spec.load, end to end"][0] / parse_floor
    typo_seconds = figures["spec.load, one typo in one table"][0]
    size, full_size = len(text.encode()) / 1e6, len(full_text.encode()) / 1e6
    sizes = f"{size:.1f} MB (full: {full_size:.1f} MB)"
    print(f"spec of {args.tables} tables: {sizes}; best of {args.repeat}")
    print(f"  {'':52s} {'CPU s':>8s} {'wall s':>8s}")
    for label, (cpu, wall) in rows:
        print(f"  {label:52s} {cpu:8.4f} {wall:8.4f}")
    print(f"  spec.load / yaml-rs parse floor: {load_ratio:.2f}x (target <= 2.5x)")
    print(f"  a typo reported with its line in {typo_seconds:.2f} s CPU (target <= 3 s)")


if __name__ == "__main__":
    main()
