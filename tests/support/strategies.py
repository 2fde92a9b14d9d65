"""Hypothesis strategies for the model: valid States with simple, parseable SQL pieces."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from monitor.schema.model import (
    Column,
    Constraint,
    ConstraintType,
    ForeignKey,
    Index,
    Ledger,
    Policy,
    Rls,
    Schema,
    State,
    Table,
    Trigger,
)

names = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
types = st.sampled_from(["integer", "text", "uuid", "boolean", "timestamp with time zone", "jsonb"])
expressions = st.builds(
    lambda column, value: f"({column} = {value})", names, st.integers(min_value=0, max_value=99)
)
migrations = st.none() | st.builds(
    lambda n, label: f"2025{n:010d}_{label}", st.integers(0, 10**9), names
)


def _unique(
    strategy: st.SearchStrategy[object], size: int = 4
) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.lists(strategy, max_size=size, unique_by=lambda item: item.name).map(  # type: ignore[attr-defined]
        lambda items: tuple(sorted(items, key=lambda item: item.name))
    )


columns = st.builds(
    Column,
    name=names,
    type=types,
    nullable=st.booleans(),
    default=st.none() | st.just("now()"),
    migration=migrations,
)
constraints = st.builds(
    Constraint,
    name=names,
    type=st.sampled_from([ConstraintType.UNIQUE, ConstraintType.PRIMARY_KEY]),
    columns=st.lists(names, min_size=1, max_size=3).map(tuple),
    migration=migrations,
) | st.builds(
    Constraint,
    name=names,
    type=st.just(ConstraintType.FOREIGN_KEY),
    columns=st.tuples(names),
    references=st.builds(
        ForeignKey,
        table=names.map(lambda n: f"public.{n}"),
        columns=st.tuples(names),
        on_delete=st.sampled_from(["NO ACTION", "CASCADE", "SET NULL"]),
    ),
    migration=migrations,
)
indexes = st.builds(
    Index,
    name=names,
    columns=st.lists(names, min_size=1, max_size=3).map(tuple),
    where=st.none() | expressions,
    unique=st.booleans(),
    migration=migrations,
)
policies = st.builds(
    Policy,
    name=names,
    command=st.sampled_from(["ALL", "SELECT", "INSERT", "UPDATE", "DELETE"]),
    permissive=st.booleans(),
    roles=st.frozensets(st.sampled_from(["public", "anon", "authenticated"]), min_size=1),
    using=st.none() | expressions,
    with_check=st.none() | expressions,
    migration=migrations,
)
triggers = st.builds(
    Trigger,
    name=names,
    timing=st.sampled_from(["BEFORE", "AFTER"]),
    events=st.sampled_from([("INSERT",), ("UPDATE",), ("INSERT", "UPDATE", "DELETE")]),
    level=st.sampled_from(["ROW", "STATEMENT"]),
    function=names.map(lambda n: f"{n}()"),
    enabled=st.sampled_from(["origin", "disabled", "always", "replica"]),
    migration=migrations,
)
tables = st.builds(
    Table,
    name=names,
    columns=st.none() | st.lists(columns, max_size=5, unique_by=lambda c: c.name).map(tuple),
    constraints=st.none() | _unique(constraints),
    indexes=st.none() | _unique(indexes),
    policies=st.none() | _unique(policies),
    triggers=st.none() | _unique(triggers),
    rls=st.none() | st.builds(Rls, enabled=st.booleans(), forced=st.booleans()),
    migration=migrations,
)


def states() -> st.SearchStrategy[State]:
    schema = st.builds(Schema, name=st.just("public"), tables=_unique(tables, size=3))
    ledger = st.none() | st.builds(
        Ledger,
        applied=st.lists(
            st.from_regex(r"2025[0-9]{10}", fullmatch=True), max_size=4, unique=True
        ).map(lambda v: tuple(sorted(v))),
    )
    return st.builds(State, schemas=st.tuples(schema), ledger=ledger)
