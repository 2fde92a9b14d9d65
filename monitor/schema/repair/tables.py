"""Repairs of a table and what hangs on it: the table itself, constraints, indexes, row
level security, policies and triggers (columns are in :mod:`columns`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from monitor.schema import normalize
from monitor.schema.model import (
    Change,
    Constraint,
    ConstraintType,
    Finding,
    Index,
    Kind,
    Policy,
    Rls,
    State,
    Table,
    Trigger,
    by_name,
)
from monitor.schema.quote import NotAName, ident, literal, qualified
from monitor.schema.repair import layout
from monitor.schema.repair.columns import column_fix, uses
from monitor.schema.repair.definitions import (
    ENABLE,
    column_definition,
    constraint_definition,
    function_call,
    guarded,
    index_definition,
    policy_definition,
    trigger_definition,
)
from monitor.schema.repair.security import grants_of, owner_statement
from monitor.schema.repair.statements import (
    Fix,
    Phase,
    Safety,
    Statement,
    columns_of,
    gone,
    key,
    one,
    relation,
    temporary_name,
    unread,
)


def drop(finding: Finding) -> Fix:
    """An unexpected object on a table (or the table) dropped."""
    schema, kind = finding.schema, finding.kind
    table = qualified(schema, finding.table) if finding.table else None
    name = ident(finding.name)
    live = finding.actual if isinstance(finding.actual, dict) else {}
    if kind is Kind.TABLE:
        return one(
            f"DROP TABLE IF EXISTS {qualified(schema, finding.name)};",
            Phase.AFTER,
            "drop table",
            Safety.DATA_LOSS,
            provides=(gone(relation(schema, finding.name)),),
            requires=(unread(schema, finding.name),),
        )
    if kind is Kind.COLUMN and table and finding.table:
        # A column a child inherits goes with its parent's.
        sql = guarded(
            f"ALTER TABLE {table} DROP COLUMN IF EXISTS {name};",
            "invalid_table_definition",
            f"{table}.{name} is inherited: it goes with its parent's",
        )
        return one(
            sql,
            Phase.AFTER,
            "drop column",
            Safety.DATA_LOSS,
            requires=(unread(schema, finding.table),),
        )
    if kind is Kind.INDEX:
        if live.get("constraint") and finding.table:
            # The constraint's drop takes its index (which cannot be dropped on its own).
            backed = {"type": ConstraintType.UNIQUE}
            return Fix((_drop_constraint(schema, finding.table, live["constraint"], backed),))
        return Fix((_drop_index(schema, finding.name),))
    if kind is Kind.POLICY and table:
        return one(f"DROP POLICY IF EXISTS {name} ON {table};", Phase.BEFORE, "drop policy")
    if kind is Kind.TRIGGER and table:
        return one(f"DROP TRIGGER IF EXISTS {name} ON {table};", Phase.BEFORE, "drop trigger")
    if kind is Kind.CONSTRAINT and table and finding.table:
        return Fix((_drop_constraint(schema, finding.table, finding.name, live),))
    return Fix(note=f"no repair is known for an unexpected {kind}")


def _drop_constraint(schema: str, table: str, name: str, live: dict[str, Any]) -> Statement:
    # Foreign keys first: a key they reference cannot go while they stand.
    step = (
        "drop foreign key" if live.get("type") == ConstraintType.FOREIGN_KEY else "drop constraint"
    )
    provides = [f"gone constraint {schema}.{table}.{name}"]
    requires: tuple[str, ...] = ()
    if live.get("type") in (ConstraintType.PRIMARY_KEY, ConstraintType.UNIQUE):
        # A view's GROUP BY may rely on the key; its columns stay NOT NULL while it stands.
        provides.append(gone(key(schema, table)))
        requires = (unread(schema, table),)
    return Statement(
        f"ALTER TABLE {qualified(schema, table)} DROP CONSTRAINT IF EXISTS {ident(name)};",
        Phase.BEFORE,
        step,
        provides=tuple(provides),
        requires=requires,
    )


def fix_on_table(finding: Finding, schema: str, table: Table, expected: State) -> Fix:
    if finding.kind is Kind.TABLE:
        return create_table(schema, table, expected)
    if finding.kind is Kind.COLUMN:
        return column_fix(finding, schema, table, expected)
    maker = _FIXERS.get(finding.kind)
    if maker is None:
        return Fix(note=f"no repair is known for {finding.kind} drift")
    return maker(finding, schema, table)


def create_table(schema: str, table: Table, expected: State) -> Fix:
    if table.columns is None:
        return Fix(note="the spec lists no columns for this table: re-create it by hand")
    where = qualified(schema, table.name)
    columns = ",\n".join(f"    {column_definition(c)}" for c in table.columns)
    needs = [gone(relation(schema, table.name)), *layout.table_needs(schema, table)]
    for column in table.columns:
        needs.extend(uses(schema, column, expected))
    statements = [
        Statement(
            f"{layout.table_head(where, table)} (\n{columns}\n){layout.table_tail(table)};",
            step="create table",
            provides=(relation(schema, table.name), columns_of(schema, table.name)),
            requires=tuple(needs),
        )
    ]
    # The table is new and empty: its indexes and keys need no CONCURRENTLY.
    for index in table.indexes or ():
        if index.constraint is None:
            statements.append(_create_index(schema, table.name, index, concurrently=False))
    for constraint in table.constraints or ():
        statements.append(_new_table_constraint(schema, table.name, constraint))
    if table.rls is not None:
        statements.extend(_rls_statements(where, table.rls, Rls(enabled=False)))
    statements.extend(_create_policy(schema, table.name, p) for p in table.policies or ())
    for trigger in table.triggers or ():
        statements.extend(_create_trigger(where, trigger))
    if table.owner:
        statements.append(owner_statement("TABLE", where, table.owner))
    statements.extend(grants_of("TABLE", where, table.grants or ()))
    return Fix(tuple(statements))


def _new_table_constraint(schema: str, table: str, constraint: Constraint) -> Statement:
    where = qualified(schema, table)
    definition = constraint_definition(constraint)
    provides, requires = _constraint_tokens(schema, table, constraint)
    return Statement(
        f"ALTER TABLE {where} ADD CONSTRAINT {ident(constraint.name)} {definition};",
        step=str(constraint.type),
        provides=provides,
        requires=requires,
    )


def _constraint_tokens(
    schema: str, table: str, constraint: Constraint
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    requires = [relation(schema, table), columns_of(schema, table)]
    requires.append(f"gone constraint {schema}.{table}.{constraint.name}")
    provides: tuple[str, ...] = ()
    if constraint.type in (ConstraintType.PRIMARY_KEY, ConstraintType.UNIQUE):
        provides = (key(schema, table),)
    if constraint.references is not None:
        target_schema, _, target = constraint.references.table.rpartition(".")
        requires += [
            relation(target_schema or schema, target),
            key(target_schema or schema, target),
        ]
    return provides, tuple(requires)


def _constraint_fix(finding: Finding, schema: str, table: Table) -> Fix:
    constraint = by_name(table.constraints or ()).get(finding.name)
    if constraint is None:
        return Fix(note="the spec does not list this constraint")
    statements = []
    if finding.change is not Change.MISSING:
        live = finding.actual if isinstance(finding.actual, dict) else {}
        statements.append(_drop_constraint(schema, table.name, constraint.name, live))
    statements.extend(_add_constraint(schema, table.name, constraint))
    return Fix(tuple(statements))


def _add_constraint(schema: str, table: str, constraint: Constraint) -> Iterator[Statement]:
    where = qualified(schema, table)
    name, kind = ident(constraint.name), constraint.type
    step = str(kind)
    provides, requires = _constraint_tokens(schema, table, constraint)
    if kind in (ConstraintType.PRIMARY_KEY, ConstraintType.UNIQUE):
        # Build the index without blocking writes, then let the constraint adopt it
        # (ADD CONSTRAINT ... USING INDEX renames it to the constraint's name).
        building = temporary_name(constraint.name)
        index = Index(building, tuple(ident(c) for c in constraint.columns), unique=True)
        yield _create_index(schema, table, index, concurrently=True)
        keyword = "PRIMARY KEY" if kind is ConstraintType.PRIMARY_KEY else "UNIQUE"
        deferral = constraint_definition(dataclasses.replace(constraint, columns=()))
        deferral = deferral.partition(")")[2]  # only " DEFERRABLE ..." if any
        adding = f"{keyword} USING INDEX {ident(building)}{deferral}"
    elif kind is ConstraintType.EXCLUDE:
        adding = constraint_definition(constraint)  # builds its index under the lock
    else:
        adding = ""
    if adding:
        yield Statement(f"ALTER TABLE {where} ADD CONSTRAINT {name} {adding};",
                        Phase.AFTER, step, Safety.LOCKING, provides, requires)  # fmt: skip
        return
    definition = constraint_definition(constraint)
    # NOT VALID takes its lock for an instant; the scan happens in VALIDATE, which lets
    # reads and writes through.
    yield Statement(
        f"ALTER TABLE {where} ADD CONSTRAINT {name} {definition} NOT VALID;",
        Phase.AFTER,
        step,
        provides=provides,
        requires=requires,
    )
    if constraint.validated:
        yield Statement(f"ALTER TABLE {where} VALIDATE CONSTRAINT {name};", Phase.VALIDATE, step)


def _create_index(schema: str, table: str, index: Index, *, concurrently: bool) -> Statement:
    phase = Phase.CONCURRENT if concurrently else Phase.BEFORE
    instead = None
    if concurrently:
        # A partitioned table builds its indexes only in one go, on every partition.
        instead = (
            f"{_regclass(qualified(schema, table))} IN"
            " (SELECT oid FROM pg_catalog.pg_class WHERE relkind = 'p')",
            index_definition(schema, table, index, concurrently=False),
        )
    return Statement(
        index_definition(schema, table, index, concurrently=concurrently),
        phase,
        "index",
        requires=(relation(schema, table), columns_of(schema, table)),
        instead=instead,
    )


def _regclass(name: str) -> str:
    return f"pg_catalog.to_regclass({literal(name)})"


def _drop_index(schema: str, name: str) -> Statement:
    index = qualified(schema, name)
    # The index of a partitioned table, or of a partition (it goes with its parent's),
    # is dropped without CONCURRENTLY, which both refuse.
    sql = guarded(
        f"DROP INDEX IF EXISTS {index};",
        "dependent_objects_still_exist",
        f"{index} belongs to an index of the partitioned table: it goes with it",
    )
    condition = (
        f"{_regclass(index)} IN (SELECT oid FROM pg_catalog.pg_class WHERE relkind = 'I'"
        " UNION SELECT inhrelid FROM pg_catalog.pg_inherits)"
    )
    return Statement(
        f"DROP INDEX CONCURRENTLY IF EXISTS {index};",
        Phase.CONCURRENT,
        "index",
        instead=(condition, sql),
    )


def _index_fix(finding: Finding, schema: str, table: Table) -> Fix:
    index = by_name(table.indexes or ()).get(finding.name)
    if index is None:
        return Fix(note="the spec does not list this index")
    qualified_index = qualified(schema, index.name)
    if finding.change is Change.MISSING:
        return Fix((_create_index(schema, table.name, index, concurrently=True),))
    if finding.change is Change.INVALID:
        return one(f"REINDEX INDEX CONCURRENTLY {qualified_index};", Phase.CONCURRENT, "index")
    # Changed: build the expected one beside it, then swap, so the table is never without.
    building = dataclasses.replace(index, name=temporary_name(index.name))
    return Fix(
        (
            _create_index(schema, table.name, building, concurrently=True),
            _drop_index(schema, index.name),
            Statement(
                f"ALTER INDEX {qualified(schema, building.name)} RENAME TO {ident(index.name)};",
                Phase.AFTER,
                "rename index",
            ),
        )
    )


# --- row level security and policies ----------------------------------------------------------


def _rls_statements(where: str, expected: Rls, actual: Rls) -> Iterator[Statement]:
    if expected.enabled != actual.enabled:
        switch = "ENABLE" if expected.enabled else "DISABLE"
        yield Statement(f"ALTER TABLE {where} {switch} ROW LEVEL SECURITY;", Phase.BEFORE, "rls")
    if expected.forced != actual.forced:
        switch = "FORCE" if expected.forced else "NO FORCE"
        yield Statement(f"ALTER TABLE {where} {switch} ROW LEVEL SECURITY;", Phase.BEFORE, "rls")


def _rls_fix(finding: Finding, schema: str, table: Table) -> Fix:
    if table.rls is None:
        return Fix(note="the spec does not say whether row level security is on")
    live = finding.actual if isinstance(finding.actual, dict) else {}
    actual = Rls(bool(live.get("enabled")), bool(live.get("forced")))
    return Fix(tuple(_rls_statements(qualified(schema, table.name), table.rls, actual)))


def _create_policy(schema: str, table: str, policy: Policy) -> Statement:
    where = qualified(schema, table)
    return Statement(
        policy_definition(where, policy),
        Phase.BEFORE,
        "policy",
        requires=(relation(schema, table), columns_of(schema, table)),
    )


def _policy_fix(finding: Finding, schema: str, table: Table) -> Fix:
    policy = by_name(table.policies or ()).get(finding.name)
    if policy is None:
        return Fix(note="the spec does not list this policy")
    statements = []
    if finding.change is not Change.MISSING:
        # A policy's command and kind cannot be altered; dropping and creating it in one
        # transaction leaves no instant without it.
        where = qualified(schema, table.name)
        statements.append(
            Statement(
                f"DROP POLICY IF EXISTS {ident(policy.name)} ON {where};", Phase.BEFORE, "policy"
            )
        )
    statements.append(_create_policy(schema, table.name, policy))
    return Fix(tuple(statements))


# --- triggers --------------------------------------------------------------------------------


def _create_trigger(where: str, trigger: Trigger) -> Iterator[Statement]:
    yield Statement(trigger_definition(where, trigger), Phase.BEFORE, "trigger")
    if trigger.enabled != "origin":
        yield _enable_trigger(where, trigger)


def _enable_trigger(where: str, trigger: Trigger) -> Statement:
    switch = ENABLE[trigger.enabled]
    return Statement(
        f"ALTER TABLE {where} {switch} {ident(trigger.name)};", Phase.BEFORE, "trigger"
    )


def _trigger_fix(finding: Finding, schema: str, table: Table) -> Fix:
    trigger = by_name(table.triggers or ()).get(finding.name)
    if trigger is None:
        return Fix(note="the spec does not list this trigger")
    where = qualified(schema, table.name)
    if finding.change is Change.MISSING:
        return Fix(tuple(_create_trigger(where, trigger)))
    live = finding.actual if isinstance(finding.actual, dict) else {}
    if live and _trigger_differences(trigger, live) == ["enabled"]:
        return Fix((_enable_trigger(where, trigger),))
    drop_it = Statement(
        f"DROP TRIGGER IF EXISTS {ident(trigger.name)} ON {where};", Phase.BEFORE, "trigger"
    )
    return Fix((drop_it, *_create_trigger(where, trigger)))


def _trigger_differences(trigger: Trigger, live: dict[str, Any]) -> list[str]:
    """Fields of the expected trigger that the live one (as described in the finding) lacks."""
    differ = []
    for name in ("timing", "events", "level", "columns", "enabled"):
        expected = getattr(trigger, name)
        value = live.get(name)
        if isinstance(expected, tuple):
            expected = [str(v).upper() for v in expected]
            value = [str(v).upper() for v in value or []]
        elif isinstance(expected, str) and name != "enabled":
            expected, value = expected.upper(), str(value).upper()
        if expected != value:
            differ.append(name)
    if not normalize.same_expression(trigger.when, live.get("when")):
        differ.append("when")
    try:
        live_call = function_call(live.get("function") or "")
    except NotAName:
        live_call = ""
    if not normalize.same_expression(function_call(trigger.function), live_call):
        differ.append("function")
    return differ


_FIXERS = {
    Kind.CONSTRAINT: _constraint_fix,
    Kind.INDEX: _index_fix,
    Kind.RLS: _rls_fix,
    Kind.POLICY: _policy_fix,
    Kind.TRIGGER: _trigger_fix,
}
