"""Column repairs: added, retyped, defaults, NOT NULL and identity, each in a safe form.

A type change is written the way that cannot lose a value: a widening as a
plain ``ALTER ... TYPE`` (PostgreSQL's assignment cast refuses what does not
fit); anything else through text, with a check that the value comes back
unchanged, raising instead of truncating or rounding. NOT NULL is set inside
a block that leaves it (with a warning) when the column holds nulls, so the
script never stops on data that ``check`` cannot see.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

from monitor.schema import normalize
from monitor.schema.model import Change, Column, Finding, State, Table, by_name
from monitor.schema.normalize import SqlSyntaxError
from monitor.schema.quote import ident, literal, qualified
from monitor.schema.repair.definitions import collation_clause, column_definition, guarded
from monitor.schema.repair.statements import (
    Fix,
    Safety,
    Statement,
    columns_of,
    gone,
    key,
    relation,
    unread,
)
from monitor.schema.repair.views import rebuild

# The function a guarded type change calls to stop the script on a value it would change.
REFUSE = "pg_temp.schema_monitor_refuse"
REFUSE_DEFINITION = (
    f"CREATE FUNCTION {REFUSE}(message text, sample anyelement) RETURNS anyelement\n"
    "LANGUAGE plpgsql AS $refuse$BEGIN RAISE EXCEPTION '%', message; END$refuse$;"
)

_INTEGERS = ("smallint", "integer", "bigint")
_FLOATS = ("real", "double precision")
_TEXTS = ("character varying", "text")
_MODIFIED = re.compile(r"(?P<base>[a-z ]+?)(?:\((?P<mods>[0-9, ]+)\))?")
# Types without an equality operator: their values are compared as text.
_NO_EQUALITY = frozenset({"json", "xml", "point", "lseg", "path", "polygon", "circle", "line"})


def column_fix(finding: Finding, schema: str, table: Table, expected: State) -> Fix:
    where = qualified(schema, table.name)
    if table.columns is None:
        return Fix(note="the spec lists no columns for this table")
    if finding.name == "(column order)":
        return Fix(
            note="column order cannot be changed in place; only re-creating the table "
            "restores it (a copy of its rows): left to you"
        )
    column = by_name(table.columns).get(finding.name)
    if column is None:
        return Fix(note="the spec does not list this column")
    if finding.change is Change.MISSING:
        note = None
        if table.columns[-1].name != column.name:
            note = "the column comes back at the end of the table, not in its place"
        # A partition cannot take a column: its parent's addition brings it.
        sql = guarded(
            f"ALTER TABLE {where} ADD COLUMN IF NOT EXISTS {column_definition(column)};",
            "wrong_object_type",
            f"{where} is a partition: the column comes with its parent's",
        )
        statement = Statement(
            sql,
            step="column",
            provides=(columns_of(schema, table.name),),
            requires=(relation(schema, table.name), *uses(schema, column, expected)),
        )
        return Fix((statement,), note)
    actual = finding.actual if isinstance(finding.actual, dict) else {}
    note = None
    if not normalize.same_expression(column.generated, actual.get("generated")):
        note = "a generated column's expression is not changed in place: left to you"
    return Fix(tuple(_changes(schema, table.name, column, actual, expected)), note)


def uses(schema: str, column: Column, expected: State) -> tuple[str, ...]:
    """The sequence behind a default and a user type the column needs."""
    needed = []
    if column.default:
        for name in re.findall(r"nextval\('([^']+)'", column.default):
            where, _, sequence = name.replace('"', "").rpartition(".")
            needed.append(relation(where or schema, sequence))
    owner = expected.schema(schema)
    for kind in (owner.types or ()) if owner else ():
        if kind.name == column.type.removesuffix("[]").strip('"'):
            needed.append(f"type {schema}.{kind.name}")
    return tuple(needed)


def _changes(
    schema: str, table: str, column: Column, actual: dict[str, Any], expected: State
) -> Iterator[Statement]:
    where = qualified(schema, table)
    alter = f"ALTER TABLE {where} ALTER COLUMN {ident(column.name)}"
    identity_token = f"identity {schema}.{table}.{column.name}"
    yield from _identity(alter, column, actual.get("identity"), identity_token)
    old_type = str(actual.get("type") or column.type)
    if normalize.same_type(column.type, old_type) and column.collation == actual.get("collation"):
        if not normalize.same_expression(
            column.default, actual.get("default"), column_type=column.type
        ):
            yield _default(schema, alter, column, expected)
    else:
        yield from _retyped(schema, table, column, actual, expected)
    if column.nullable != actual.get("nullable", column.nullable):
        if column.nullable:
            # An identity column is NOT NULL until its identity is dropped.
            yield Statement(
                f"{alter} DROP NOT NULL;",
                step="column",
                requires=(identity_token, gone(key(schema, table))),
            )
        else:
            yield _set_not_null(where, alter, column.name)


def _default(schema: str, alter: str, column: Column, expected: State) -> Statement:
    sql = (
        f"{alter} DROP DEFAULT;"
        if column.default is None
        else (f"{alter} SET DEFAULT {column.default};")
    )
    return Statement(sql, step="column", requires=uses(schema, column, expected))


def _retyped(
    schema: str, table: str, column: Column, actual: dict[str, Any], expected: State
) -> Iterator[Statement]:
    """The views over the table dropped, the old default off (it may not cast), the type,
    the spec's default, the views back: all written, or all held, together."""
    alter = f"ALTER TABLE {qualified(schema, table)} ALTER COLUMN {ident(column.name)}"
    owner = expected.schema(schema)
    statements = rebuild(owner, table) if owner is not None else []
    if actual.get("default") is not None:
        statements.append(Statement(f"{alter} DROP DEFAULT;", provides=(f"{alter} default",)))
    statements.append(
        _retype(
            alter,
            column,
            str(actual.get("type")),
            requires=(f"{alter} default", unread(schema, table)),
            provides=(columns_of(schema, table), f"{alter} type"),
        )
    )
    if column.default is not None:
        default = _default(schema, alter, column, expected)
        statements.append(
            dataclasses.replace(default, requires=(*default.requires, f"{alter} type"))
        )
    for statement in statements:
        yield dataclasses.replace(statement, bond=f"{alter} TYPE")


def _identity(alter: str, column: Column, live: str | None, token: str) -> Iterator[Statement]:
    if column.identity == live:
        return
    if column.identity is None:
        # Its sequence, and where it had counted to, go with it.
        yield Statement(
            f"{alter} DROP IDENTITY IF EXISTS;",
            step="identity",
            safety=Safety.DATA_LOSS,
            provides=(token,),
        )
    elif live is None:
        yield Statement(
            f"{alter} ADD GENERATED {column.identity.upper()} AS IDENTITY;",
            step="identity",
            safety=Safety.DATA_LOSS,  # a new sequence: numbering starts again
            provides=(token,),
        )
    else:
        yield Statement(
            f"{alter} SET GENERATED {column.identity.upper()};",
            step="identity",
            provides=(token,),
        )


def _retype(
    alter: str, column: Column, old: str, requires: tuple[str, ...], provides: tuple[str, ...]
) -> Statement:
    new = column.type
    # Left out, COLLATE is the new type's default: the spec's too.
    collate = collation_clause(column.collation)
    if normalize.same_type(old, new) or widens(old, new):
        sql, safety = f"{alter} TYPE {new}{collate};", Safety.LOCKING
    else:
        using = _kept_or_refused(column, old)
        sql, safety = f"{alter} TYPE {new}{collate} USING {using};", Safety.DATA_LOSS
    return Statement(sql, step="column", safety=safety, provides=provides, requires=requires)


def _kept_or_refused(column: Column, old: str) -> str:
    """A USING expression: the value through text, or a stop where it would change."""
    new = column.type
    name = ident(column.name)
    converted = f"(({name})::text)::{new}"
    kept = (
        f"({converted})::text = ({name})::text"
        if _base(old) in _NO_EQUALITY
        else f"(({converted})::text)::{old} = {name}"
    )
    message = literal(f"{column.name}: a value would change in the conversion to {new}")
    return (
        f"CASE WHEN {name} IS NULL OR {kept} THEN {converted}\n"
        f"    ELSE {REFUSE}({message}, NULL::{new}) END"
    )


def _set_not_null(where: str, alter: str, column: str) -> Statement:
    """SET NOT NULL, or a warning when the column holds nulls (the script goes on)."""
    sql = guarded(
        f"{alter} SET NOT NULL;",
        "not_null_violation",
        f"{where}.{ident(column)} holds nulls: NOT NULL is left unset",
        level="WARNING",
    )
    return Statement(sql, step="column", safety=Safety.LOCKING)


def _base(type_text: str) -> str:
    try:
        canonical = normalize.type_key(type_text)
    except SqlSyntaxError:
        return type_text
    return canonical.partition("(")[0]


def widens(old: str, new: str) -> bool:
    """Whether every value of `old` converts to `new` unchanged (and the cast is implicit)."""
    try:
        before, after = normalize.type_key(old), normalize.type_key(new)
    except SqlSyntaxError:
        return False
    if before.endswith("[]") or after.endswith("[]"):
        return False
    first, second = _MODIFIED.fullmatch(before), _MODIFIED.fullmatch(after)
    if first is None or second is None:
        return False
    base, mods = first["base"], _numbers(first["mods"])
    base2, mods2 = second["base"], _numbers(second["mods"])
    if base in _INTEGERS and base2 in _INTEGERS:
        return _INTEGERS.index(base) <= _INTEGERS.index(base2)
    if base in _FLOATS and base2 in _FLOATS:
        return _FLOATS.index(base) <= _FLOATS.index(base2)
    if base in _TEXTS and base2 in _TEXTS:
        return base2 == "text" or (base == base2 and (not mods2 or bool(mods and mods2 >= mods)))
    if base == base2 == "numeric":
        if not mods2:
            return True
        if not mods:
            return False
        precision, scale = mods[0], (mods[1:] or [0])[0]
        precision2, scale2 = mods2[0], (mods2[1:] or [0])[0]
        return scale2 >= scale and precision2 - scale2 >= precision - scale
    return False


def _numbers(text: str | None) -> list[int]:
    return [int(part) for part in text.split(",")] if text else []
