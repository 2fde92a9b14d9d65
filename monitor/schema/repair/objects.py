"""Repairs of schema objects beside tables: functions, types, sequences, and the
database-wide extensions, publications and event triggers."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from monitor.schema.model import Change, Column, Finding, Schema, State, Type
from monitor.schema.model import Sequence as SequenceDef
from monitor.schema.quote import function_signature, ident, literal, qualified, table_name
from monitor.schema.repair.definitions import function_call, function_definition, guarded
from monitor.schema.repair.security import grants_of, named
from monitor.schema.repair.statements import (
    Fix,
    Phase,
    Safety,
    Statement,
    columns_of,
    gone,
    one,
    relation,
    temporary_name,
    unread,
)
from monitor.schema.repair.views import rebuild


def _drop(keyword: str, name: str) -> Fix:
    """An unexpected object dropped, after the tables that may use it: data loss."""
    return one(f"DROP {keyword} IF EXISTS {name};", Phase.AFTER, f"drop {keyword.lower()}",
               Safety.DATA_LOSS)  # fmt: skip


def function_fix(finding: Finding, schema: Schema, expected: State) -> Fix:
    if finding.change is Change.UNEXPECTED:
        name = function_signature(schema.name, finding.name)
        return _drop("FUNCTION", name)
    function = named(schema.functions, finding.name, normalize_signature=True)
    if function is None or function.body is None:
        return Fix(note="the spec does not hold this function's definition")
    name = function_signature(schema.name, function.name)
    statements = []
    live = finding.actual if isinstance(finding.actual, dict) else {}
    replaced = finding.change is not Change.MISSING and (
        live.get("kind", function.kind) != function.kind
        or "returns" in finding.message
        or "arguments" in finding.message
    )
    if replaced:
        # CREATE OR REPLACE cannot change a result type, argument names or defaults.
        keyword = "PROCEDURE" if live.get("kind") == "procedure" else "FUNCTION"
        statements.append(Statement(f"DROP {keyword} IF EXISTS {name};", step="function"))
    statements.append(Statement(function_definition(schema.name, function), step="function"))
    if finding.change is Change.MISSING or replaced:
        # A new function is executable by PUBLIC and owned by whoever runs the script.
        statements.append(
            Statement(f"REVOKE ALL ON FUNCTION {name} FROM PUBLIC;", step="privilege")
        )
        statements.extend(grants_of("FUNCTION", name, function.grants or ()))
        if function.owner:
            statements.append(
                Statement(f"ALTER FUNCTION {name} OWNER TO {ident(function.owner)};", step="owner")
            )
    return Fix(tuple(statements))


def type_fix(finding: Finding, schema: Schema, expected: State) -> Fix:
    name = qualified(schema.name, finding.name)
    token = f"type {schema.name}.{finding.name}"
    if finding.change is Change.UNEXPECTED:
        return _drop("TYPE", name)
    kind: Type | None = named(schema.types, finding.name)
    if kind is None:
        return Fix(note="the spec does not describe this type")
    if finding.change is Change.MISSING:
        return Fix((Statement(_create_type(name, kind), step="type", provides=(token,)),))
    live = finding.actual if isinstance(finding.actual, dict) else {}
    if kind.kind == "domain" and live.get("kind") == "domain":
        return Fix(tuple(_domain_changes(name, kind, live)))
    if kind.kind == "enum" and live.get("kind") == "enum":
        added = _labels_added(list(live.get("labels") or ()), kind.labels)
        if added is not None:
            return Fix(
                tuple(
                    Statement(
                        f"ALTER TYPE {name} ADD VALUE IF NOT EXISTS {sql};",
                        Phase.LABELS,
                        "type",
                        provides=(token,),
                    )
                    for sql in added
                )
            )
        return _enum_rebuilt(schema, kind)
    return Fix(note="a type is not changed in place: re-create the type and its columns by hand")


def _enum_rebuilt(schema: Schema, kind: Type) -> Fix:
    """An enum whose labels go or move: made again beside the old one, the spec's columns of
    it moved over through text (a value whose label went stops the script), the old one
    dropped. All of it may lose data, and is written, or held, together."""
    name = qualified(schema.name, kind.name)
    old_name = temporary_name(kind.name)
    old = qualified(schema.name, old_name)
    renamed, made = f"renamed {name}", f"type {schema.name}.{kind.name}"
    statements = [
        Statement(f"ALTER TYPE {name} RENAME TO {ident(old_name)};", step="type",
                  provides=(renamed,)),
        Statement(_create_type(name, kind), step="type", provides=(made,), requires=(renamed,)),
    ]  # fmt: skip
    moved = []
    for table in schema.tables:
        for column in table.columns or ():
            if column.type.removesuffix("[]") not in (
                kind.name,
                name,
                f"{schema.name}.{kind.name}",
            ):
                continue
            statements += rebuild(schema, table.name)  # views over the column go first
            moved.append(f"moved {schema.name}.{table.name}.{column.name}")
            statements += _column_moved(schema.name, table.name, column, made, moved[-1])
    statements.append(
        Statement(
            guarded(f"DROP TYPE {old};", "dependent_objects_still_exist",
                    f"{old} is still used: it is left beside {name}", level="WARNING"),
            step="column",
            requires=(renamed, made, *moved),
        )
    )  # fmt: skip
    bond = f"enum {name}"
    return Fix(
        tuple(
            dataclasses.replace(s, safety=Safety.DATA_LOSS, bond=bond)
            if s.step in ("type", "column")
            else dataclasses.replace(s, bond=bond)
            for s in statements
        )
    )


def _column_moved(
    schema: str, table: str, column: Column, made: str, moved: str
) -> Iterator[Statement]:
    alter = f"ALTER TABLE {qualified(schema, table)} ALTER COLUMN {ident(column.name)}"
    text = "text[]" if column.type.endswith("[]") else "text"
    off = f"{alter} default off"
    # Its default is of the old type: off first, the spec's after.
    yield Statement(f"{alter} DROP DEFAULT;", step="column", provides=(off,))
    yield Statement(
        f"{alter} TYPE {column.type} USING ({ident(column.name)}::{text})::{column.type};",
        step="column",
        provides=(moved, columns_of(schema, table)),
        requires=(made, off, unread(schema, table)),
    )
    if column.default is not None:
        yield Statement(f"{alter} SET DEFAULT {column.default};", step="column", requires=(moved,))


def _create_type(name: str, kind: Type) -> str:
    if kind.kind == "enum":
        return f"CREATE TYPE {name} AS ENUM ({', '.join(literal(x) for x in kind.labels)});"
    if kind.kind == "composite":
        attributes = ", ".join(f"{ident(a.name)} {a.type}" for a in kind.attributes)
        return f"CREATE TYPE {name} AS ({attributes});"
    if kind.kind == "range":
        return f"CREATE TYPE {name} AS RANGE (SUBTYPE = {kind.base});"
    text = f"CREATE DOMAIN {name} AS {kind.base}"
    if kind.default is not None:
        text += f" DEFAULT {kind.default}"
    if not kind.nullable:
        text += " NOT NULL"
    for constraint in kind.constraints:
        text += f" CONSTRAINT {ident(constraint.name)} CHECK ({constraint.check})"
    return text + ";"


def _labels_added(live: list[str], wanted: tuple[str, ...]) -> list[str] | None:
    """ADD VALUE clauses that turn `live` into `wanted`; None when a label must go or move."""
    if [label for label in wanted if label in live] != live:
        return None
    clauses = []
    for position, label in enumerate(wanted):
        if label in live:
            continue
        following = next((w for w in wanted[position + 1 :] if w in live), None)
        where = f" BEFORE {literal(following)}" if following is not None else ""
        clauses.append(f"{literal(label)}{where}")
        live.insert(live.index(following) if following is not None else len(live), label)
    return clauses


def _domain_changes(name: str, kind: Type, live: dict[str, object]) -> Iterator[Statement]:
    constraints = live.get("constraints")
    for constraint in constraints if isinstance(constraints, list) else ():
        yield Statement(
            f"ALTER DOMAIN {name} DROP CONSTRAINT IF EXISTS {ident(constraint['name'])};",
            step="type",
        )
    for wanted in kind.constraints:
        yield Statement(
            f"ALTER DOMAIN {name} ADD CONSTRAINT {ident(wanted.name)} CHECK ({wanted.check});",
            step="type",
        )
    if live.get("nullable", kind.nullable) != kind.nullable:
        yield Statement(
            f"ALTER DOMAIN {name} {'DROP' if kind.nullable else 'SET'} NOT NULL;",
            step="type",
            safety=Safety.SAFE if kind.nullable else Safety.LOCKING,
        )
    if live.get("default") != kind.default:
        default = "DROP DEFAULT" if kind.default is None else f"SET DEFAULT {kind.default}"
        yield Statement(f"ALTER DOMAIN {name} {default};", step="type")


def sequence_fix(finding: Finding, schema: Schema, expected: State) -> Fix:
    name = qualified(schema.name, finding.name)
    if finding.change is Change.UNEXPECTED:
        return one(
            f"DROP SEQUENCE IF EXISTS {name};",
            Phase.AFTER,
            "drop sequence",
            Safety.DATA_LOSS,
            provides=(gone(relation(schema.name, finding.name)),),
        )
    sequence: SequenceDef | None = named(schema.sequences, finding.name)
    if sequence is None:
        return Fix(note="the spec does not describe this sequence")
    missing = finding.change is Change.MISSING
    verb = "CREATE SEQUENCE IF NOT EXISTS" if missing else "ALTER SEQUENCE"
    parts = [f"{verb} {name} AS {sequence.type}", f"INCREMENT BY {sequence.increment}"]
    parts.append(f"MINVALUE {sequence.minimum}" if sequence.minimum is not None else "NO MINVALUE")
    parts.append(f"MAXVALUE {sequence.maximum}" if sequence.maximum is not None else "NO MAXVALUE")
    if missing and sequence.start is not None:
        parts.append(f"START WITH {sequence.start}")
    parts += [f"CACHE {sequence.cache}", "CYCLE" if sequence.cycle else "NO CYCLE"]
    token = relation(schema.name, sequence.name)
    statements = [
        Statement(
            " ".join(parts) + ";",
            step="sequence",
            provides=(token,),
            requires=(gone(token),) if missing else (),
        )
    ]
    live = finding.actual if isinstance(finding.actual, dict) else {}
    if missing or live.get("owned_by") != sequence.owned_by:
        statements.extend(_owned_by(schema.name, name, sequence.owned_by))
    if missing:
        statements.extend(grants_of("SEQUENCE", name, sequence.grants or ()))
        if sequence.owner:
            statements.append(
                Statement(f"ALTER SEQUENCE {name} OWNER TO {ident(sequence.owner)};", step="owner")
            )
    return Fix(tuple(statements))


def _owned_by(schema: str, name: str, owned_by: str | None) -> Iterator[Statement]:
    if owned_by is None:
        yield Statement(f"ALTER SEQUENCE {name} OWNED BY NONE;", step="sequence owner")
        return
    table, _, column = owned_by.rpartition(".")
    yield Statement(
        f"ALTER SEQUENCE {name} OWNED BY {qualified(schema, table, column)};",
        step="sequence owner",
        requires=(relation(schema, table), columns_of(schema, table)),
    )


def _database_object(
    finding: Finding, items: tuple[Any, ...] | None, keyword: str
) -> tuple[str, Any] | Fix:
    """What the fix of a database-wide object starts from: its quoted name and the spec's
    object; or the whole fix, a DROP of one the spec lacks, a note where it is silent."""
    name = ident(finding.name)
    if finding.change is Change.UNEXPECTED:
        return _drop(keyword, name)
    found = named(items, finding.name)
    if found is None:
        return Fix(note=f"the spec does not describe this {keyword.lower()}")
    return name, found


def extension_fix(finding: Finding, schema: Schema, expected: State) -> Fix:
    head = _database_object(finding, expected.extensions, "EXTENSION")
    if isinstance(head, Fix):
        return head
    name, extension = head
    if finding.change is Change.MISSING:
        version = f" VERSION {literal(extension.version)}" if extension.version else ""
        sql = f"CREATE EXTENSION IF NOT EXISTS {name} SCHEMA {ident(extension.schema)}{version};"
        return one(sql, Phase.BEFORE, "extension")
    statements = []
    live = finding.actual if isinstance(finding.actual, dict) else {}
    if live.get("schema") != extension.schema:
        statements.append(
            Statement(
                f"ALTER EXTENSION {name} SET SCHEMA {ident(extension.schema)};", step="extension"
            )
        )
    if extension.version and live.get("version") != extension.version:
        statements.append(
            Statement(
                f"ALTER EXTENSION {name} UPDATE TO {literal(extension.version)};", step="extension"
            )
        )
    return Fix(tuple(statements))


def publication_fix(finding: Finding, schema: Schema, expected: State) -> Fix:
    head = _database_object(finding, expected.publications, "PUBLICATION")
    if isinstance(head, Fix):
        return head
    name, publication = head
    if publication.all_tables:
        return Fix(note="a FOR ALL TABLES publication is re-created by hand")
    if not publication.tables:
        return Fix(note="a publication of no table: drop its tables by hand")
    tables = ", ".join(table_name(t) for t in publication.tables)
    needs = tuple(relation(*t.rsplit(".", 1)) for t in publication.tables if "." in t)
    if finding.change is Change.MISSING:
        sql = f"CREATE PUBLICATION {name} FOR TABLE {tables};"
    else:
        sql = f"ALTER PUBLICATION {name} SET TABLE {tables};"
    return one(sql, Phase.BEFORE, "publication", requires=needs)


def event_trigger_fix(finding: Finding, schema: Schema, expected: State) -> Fix:
    head = _database_object(finding, expected.event_triggers, "EVENT TRIGGER")
    if isinstance(head, Fix):
        return head
    name, trigger = head
    if finding.change is Change.MISSING:
        tags = (
            f" WHEN TAG IN ({', '.join(literal(t) for t in trigger.tags)})" if trigger.tags else ""
        )
        sql = (
            f"CREATE EVENT TRIGGER {name} ON {trigger.event}{tags} "
            f"EXECUTE FUNCTION {function_call(trigger.function)};"
        )
        return one(sql, Phase.BEFORE, "trigger")
    switch = {
        "origin": "ENABLE",
        "always": "ENABLE ALWAYS",
        "replica": "ENABLE REPLICA",
        "disabled": "DISABLE",
    }[trigger.enabled]
    return one(f"ALTER EVENT TRIGGER {name} {switch};", Phase.BEFORE, "trigger")
