"""Repairs of where tables live and how they are laid out: schemas, persistence,
inheritance, partitions, collations, and tables a publication broadcasts. Pure.

:func:`fix` answers for the findings of :mod:`monitor.schema.compare.layout` (and
collations); None hands the finding to the other fixes. What PostgreSQL cannot change
in place (a table's partitioning) is said in a note, not attempted.
"""

from __future__ import annotations

from monitor.schema.model import Change, Collation, Finding, Kind, Schema, State, Table
from monitor.schema.quote import ident, literal, qualified, table_name
from monitor.schema.repair.statements import (
    Fix,
    Phase,
    Safety,
    Statement,
    columns_of,
    relation,
)


def fix(finding: Finding, expected: State) -> Fix | None:
    """The statements for a layout finding; None when the finding is not one."""
    schema = expected.schema(finding.schema) or Schema(finding.schema)
    if finding.kind is Kind.SCHEMA:
        return _schema_fix(finding, expected)
    if finding.kind is Kind.COLLATION:
        return _collation_fix(finding, schema)
    if finding.kind is Kind.PARTITION:
        return _partition_fix(finding, schema)
    if finding.kind is Kind.PUBLICATION:
        return _publication_fix(finding, expected)
    if finding.kind is Kind.TABLE and finding.change is Change.CHANGED:
        table = schema.table(finding.table or "")
        if table is None:
            return Fix(note="the spec does not describe this table")
        return _table_fix(finding, qualified(schema.name, table.name), table)
    return None


def _one(
    sql: str,
    step: str,
    phase: Phase = Phase.BEFORE,
    safety: Safety = Safety.SAFE,
    provides: tuple[str, ...] = (),
) -> Fix:
    return Fix((Statement(sql, phase, step, safety, provides=provides),))


def schema_token(name: str) -> str:
    return f"schema {name}"


def _partition_of(schema: str, name: str) -> tuple[str, str]:
    """A partition's (or parent's) schema and name: qualified when not in `schema`."""
    where, _, bare = name.rpartition(".")
    return where or schema, bare


def _publication_fix(finding: Finding, expected: State) -> Fix | None:
    """A table dropped from a publication the spec lacks it in, and a listed publication's
    tables and operations set back one by one (SET TABLE cannot say "no table")."""
    name = ident(finding.name)
    if finding.table and finding.change is Change.UNEXPECTED:
        where = qualified(finding.schema, finding.table)
        return _one(f"ALTER PUBLICATION {name} DROP TABLE {where};", "publication")
    wanted = next((p for p in expected.publications or () if p.name == finding.name), None)
    live = finding.actual if isinstance(finding.actual, dict) else None
    if finding.change in (Change.MISSING, Change.UNEXPECTED) or wanted is None or live is None:
        return None
    if wanted.all_tables or live.get("all_tables"):
        return Fix(note="a publication FOR ALL TABLES is made or undone by re-creating it")
    held = list(live.get("tables") or ())
    sql = [f"ALTER PUBLICATION {name} DROP TABLE {table_name(t)};" for t in held
           if t not in wanted.tables]  # fmt: skip
    sql += [f"ALTER PUBLICATION {name} ADD TABLE {table_name(t)};" for t in wanted.tables
            if t not in held]  # fmt: skip
    if set(live.get("operations") or ()) != set(wanted.operations):
        publish = literal(", ".join(wanted.operations))
        sql.append(f"ALTER PUBLICATION {name} SET (publish = {publish});")
    return Fix(tuple(Statement(s, Phase.BEFORE, "publication") for s in sql))


def _schema_fix(finding: Finding, expected: State) -> Fix:
    name = ident(finding.name)
    if finding.change is Change.UNEXPECTED:
        # CASCADE: whatever the schema holds goes with it, so the statement is data loss.
        return _one(f"DROP SCHEMA {name} CASCADE;", "drop table", Phase.AFTER, Safety.DATA_LOSS)
    schema = expected.schema(finding.name)
    owner = schema.owner if schema is not None else None
    authorization = f" AUTHORIZATION {ident(expected.owners.live(owner))}" if owner else ""
    sql = f"CREATE SCHEMA IF NOT EXISTS {name}{authorization};"
    return _one(sql, "schema", provides=(schema_token(finding.name),))


def table_head(where: str, table: Table) -> str:
    """``CREATE [UNLOGGED] TABLE where``; :func:`table_tail` writes what follows the columns."""
    return f"CREATE {'UNLOGGED ' if table.unlogged else ''}TABLE {where}"


def table_needs(schema: str, table: Table) -> tuple[str, ...]:
    """What a CREATE TABLE needs beside its columns' types: its schema and its parents."""
    parents = [relation(*_partition_of(schema, parent)) for parent in table.inherits]
    return (schema_token(schema), *parents)


def table_tail(table: Table) -> str:
    parents = ", ".join(map(table_name, table.inherits))
    inherits = f" INHERITS ({parents})" if parents else ""
    return inherits + (f" PARTITION BY {table.partitioned_by}" if table.partitioned_by else "")


def _table_fix(finding: Finding, where: str, table: Table) -> Fix:
    live = finding.actual if isinstance(finding.actual, dict) else {}
    statements = []
    if "unlogged" in live:
        # A rewrite of the table under an ACCESS EXCLUSIVE lock.
        persistence = "UNLOGGED" if table.unlogged else "LOGGED"
        sql = f"ALTER TABLE {where} SET {persistence};"
        statements.append(Statement(sql, safety=Safety.LOCKING))
    if "inherits" in live:
        held = list(live["inherits"] or ())
        for parent in held:
            if parent not in table.inherits:
                sql = f"ALTER TABLE {where} NO INHERIT {table_name(parent)};"
                statements.append(Statement(sql))
        for parent in table.inherits:
            if parent not in held:
                # Checks that the table's columns and constraints match its parent's.
                sql = f"ALTER TABLE {where} INHERIT {table_name(parent)};"
                statements.append(Statement(sql, safety=Safety.LOCKING))
    note = None
    if "partitioned_by" in live:
        note = (
            "a table is partitioned (or not) when it is created: re-create it as the spec"
            " says, copy its rows and attach its partitions by hand"
        )
    return Fix(tuple(statements), note)


def _partition_fix(finding: Finding, schema: Schema) -> Fix:
    parent = qualified(schema.name, finding.table or "")
    where, bare = _partition_of(schema.name, finding.name)
    partition = qualified(where, bare)
    # Before the partition is dropped (when it is unexpected as a table too).
    detach = Statement(
        f"ALTER TABLE {parent} DETACH PARTITION {partition};",
        safety=Safety.LOCKING,
        provides=(f"detached {where}.{bare}",),
    )
    if finding.change is Change.UNEXPECTED:
        return Fix((detach,))
    table = schema.table(finding.table or "") or Table("")
    bound = next((p.bound for p in table.partitions or () if p.name == finding.name), None)
    if bound is None:
        return Fix(note="the spec does not describe this partition")
    # After both tables are made (a missing partition is created with the tables); the
    # attach checks every row against the bound, under a lock that lets reads through.
    attach = Statement(
        f"ALTER TABLE {parent} ATTACH PARTITION {partition} {bound};",
        step="column",
        safety=Safety.LOCKING,
        requires=(
            relation(schema.name, finding.table or ""),
            relation(where, bare),
            columns_of(where, bare),
            f"detached {where}.{bare}",
        ),
    )
    return Fix((detach, attach) if finding.change is Change.CHANGED else (attach,))


def _collation_fix(finding: Finding, schema: Schema) -> Fix:
    where = qualified(schema.name, finding.name)
    if finding.change is Change.UNEXPECTED:
        return _one(f"DROP COLLATION IF EXISTS {where};", "drop type", Phase.AFTER)
    collation = next((c for c in schema.collations or () if c.name == finding.name), None)
    if collation is None:
        return Fix(note="the spec does not describe this collation")
    if finding.change is not Change.MISSING:
        return Fix(
            note="a collation is changed by dropping and re-creating it, with every column"
            " and index that uses it: left to you"
        )
    sql = f"CREATE COLLATION {where} ({_collation_options(collation)});"
    return _one(sql, "type", provides=(f"collation {schema.name}.{collation.name}",))


def _collation_options(collation: Collation) -> str:
    options = [f"provider = {collation.provider}"]
    if collation.ctype is not None:
        options += [f"lc_collate = {literal(collation.locale or '')}"]
        options += [f"lc_ctype = {literal(collation.ctype)}"]
    elif collation.locale is not None:
        options.append(f"locale = {literal(collation.locale)}")
    if not collation.deterministic:
        options.append("deterministic = false")
    return ", ".join(options)
