"""A table's catalog rows as model objects: the table itself (owner, grants,
persistence, partitioning, parents), its columns, constraints, indexes, policies and
triggers. Pure: no database here; :mod:`monitor.postgres.catalog` runs the queries.

Tables repeat the same columns, keys, roles and events by the thousand: the
converters share one object per distinct value, so a large snapshot stays small.

A trigger's WHEN condition is the one thing the server cannot deparse on its
own (it refers to OLD and NEW, which ``pg_get_expr`` rejects), so it is taken
from ``pg_get_triggerdef`` parsed with pglast and written back with
``pglast.stream.RawStream``.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby
from operator import itemgetter
from typing import Any, TypeVar

from monitor.errors import CatalogError
from monitor.postgres import catalog_security as surface
from monitor.postgres.catalog_security import Row
from monitor.schema import model, quote

Item = TypeVar("Item")


@dataclass(frozen=True, slots=True)
class TableParts:
    """Each table's objects of every kind, by table oid."""

    columns: dict[int, tuple[model.Column, ...]]
    constraints: dict[int, tuple[model.Constraint, ...]]
    indexes: dict[int, tuple[model.Index, ...]]
    policies: dict[int, tuple[model.Policy, ...]]
    triggers: dict[int, tuple[model.Trigger, ...]]
    column_grants: dict[int, frozenset[model.Grant]] = dataclasses.field(default_factory=dict)


# The four possible switch settings, made once.
_RLS = {
    (on, forced): model.Rls(enabled=on, forced=forced)
    for on in (False, True)
    for forced in (False, True)
}


def state_from_rows(
    schemas: Sequence[str], tables: Iterable[Row], parts: TableParts, ledger: model.Ledger | None
) -> model.State:
    """The state of the asked schemas; ``tables`` rows come sorted by schema and name."""
    schema_tables: dict[str, list[model.Table]] = {name: [] for name in schemas}
    for oid, schema, name, rls_enabled, rls_forced, owner, acl, *layout in tables:
        grants = surface.grants(acl, owner)
        column_grants = parts.column_grants.get(oid)
        if column_grants:
            grants |= surface.without_owner(column_grants, owner)
        schema_tables[schema].append(
            model.Table(
                name=name,
                columns=parts.columns.get(oid, ()),
                constraints=parts.constraints.get(oid, ()),
                indexes=parts.indexes.get(oid, ()),
                policies=parts.policies.get(oid, ()),
                triggers=parts.triggers.get(oid, ()),
                rls=_RLS[rls_enabled, rls_forced],
                owner=_intern(owner),
                grants=grants,
                owner_privileges=surface.owner_privileges(acl, owner),
                **table_layout(schema, *layout),
            )
        )
    return model.State(
        schemas=tuple(model.Schema(name, tuple(found)) for name, found in schema_tables.items()),
        ledger=ledger,
    )


def table_layout(
    schema: str,
    unlogged: bool,
    partitioned_by: str | None,
    parents: Sequence[str],
    partitions: Sequence[Sequence[str]] | None,
) -> dict[str, Any]:
    """Persistence, partitioning and parents, as Table fields; a partition in the
    parent's own schema is named bare, one elsewhere qualified."""
    return {
        "unlogged": unlogged,
        "partitioned_by": partitioned_by,
        "inherits": tuple(parents),
        "partitions": None
        if partitions is None
        else tuple(
            sorted(
                (
                    model.Partition(name if where == schema else f"{where}.{name}", bound)
                    for where, name, bound in partitions
                ),
                key=lambda partition: partition.name,
            )
        ),
    }


def group_by_table(
    rows: Iterable[Row], convert: Callable[[Row], Item]
) -> dict[int, tuple[Item, ...]]:
    """Convert rows whose first field is the table oid, keeping each table's rows in order.

    The queries sort by table oid, so each table's rows come together.
    """
    return {oid: tuple(map(convert, group)) for oid, group in groupby(rows, itemgetter(0))}


def shared(convert: Callable[[Row], Item], width: int | None = None) -> Callable[[Row], Item]:
    """``convert``, but rows equal apart from the table oid give one shared object.

    Model objects are immutable, and many tables have the very same ``id``,
    ``created_at`` and ``updated_at`` columns: one object for all of them is
    less memory and less time than one each. Only the fields before ``width``
    make the object (the others are read elsewhere).
    """
    made: dict[Row, Item] = {}

    def convert_once(row: Row) -> Item:
        key = row[1:width]
        found = made.get(key)
        if found is None:
            found = made[key] = convert(row)
        return found

    return convert_once


# Names and types repeat across thousands of tables ("id", "uuid", "created_at");
# one shared string each keeps a large snapshot small.
_intern = sys.intern

V = TypeVar("V", bound=Hashable)


# Tables repeat their key columns, roles and events as well: one object per distinct
# value (bounded: a daemon takes snapshot after snapshot).
@lru_cache(maxsize=4096)
def _one_of(value: V) -> V:
    return value


@lru_cache(maxsize=1024)
def _role_set(roles: tuple[str, ...]) -> frozenset[str]:
    return frozenset(roles)


_IDENTITY = {"a": "always", "d": "by default"}


def column_from_row(row: Row) -> model.Column:
    _, name, type_, not_null, expression, identity, generated, collation, _acl = row
    return model.Column(
        name=_intern(name),
        type=_intern(type_),
        nullable=not not_null,
        default=None if generated else expression,
        identity=_IDENTITY.get(identity),
        generated=expression if generated else None,
        collation=collation,
    )


_CONSTRAINT_TYPES = {
    "p": model.ConstraintType.PRIMARY_KEY,
    "u": model.ConstraintType.UNIQUE,
    "f": model.ConstraintType.FOREIGN_KEY,
    "c": model.ConstraintType.CHECK,
    "x": model.ConstraintType.EXCLUDE,
}
_REFERENTIAL_ACTIONS = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}
_MATCH_TYPES = {"s": "SIMPLE", "f": "FULL", "p": "PARTIAL"}


def constraint_from_row(row: Row) -> model.Constraint:
    (
        _,
        name,
        contype,
        columns,
        referenced_table,
        referenced_columns,
        on_delete,
        on_update,
        match,
        check,
        deferrable,
        deferred,
        validated,
        references_unique,
    ) = row
    references = None
    if contype == "f":
        references = model.ForeignKey(
            table=referenced_table,
            columns=_one_of(tuple(referenced_columns)),
            on_delete=_REFERENTIAL_ACTIONS[on_delete],
            on_update=_REFERENTIAL_ACTIONS[on_update],
            match=_MATCH_TYPES[match],
            unique_key=references_unique,
        )
    return model.Constraint(
        name=name,
        type=_CONSTRAINT_TYPES[contype],
        columns=_one_of(tuple(columns)),
        references=references,
        check=check,
        deferrable=deferrable,
        deferred=deferred,
        validated=validated,
    )


# pg_index.indoption bits (catalog/pg_index.h).
_INDOPTION_DESC = 1
_INDOPTION_NULLS_FIRST = 2


def index_from_row(row: Row) -> model.Index:
    (
        _,
        name,
        method,
        unique,
        valid,
        key_count,
        definitions,
        options,
        opclasses,
        predicate,
        constraint,
    ) = row
    keys = definitions[:key_count]
    if any(options) or any(opclasses):
        keys = [index_key(*key) for key in zip(keys, options, opclasses, strict=True)]
    return model.Index(
        name=name,
        columns=_one_of(tuple(keys)),
        include=_one_of(tuple(definitions[key_count:])),
        where=predicate,
        unique=unique,
        method=method,
        valid=valid,
        constraint=constraint,
    )


def index_key(definition: str, option: int, opclass: str | None) -> str:
    """One key column the way CREATE INDEX writes it: ``expr [opclass] [DESC] [NULLS ...]``.

    NULLS is spelled out only when it differs from the direction's default
    (NULLS LAST ascending, NULLS FIRST descending), as pg_get_indexdef does.
    """
    key = definition if opclass is None else f"{definition} {opclass}"
    if option & _INDOPTION_DESC:
        return key + " DESC" if option & _INDOPTION_NULLS_FIRST else key + " DESC NULLS LAST"
    return key + " NULLS FIRST" if option & _INDOPTION_NULLS_FIRST else key


_POLICY_COMMANDS = {"*": "ALL", "r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE"}


def policy_from_row(row: Row) -> model.Policy:
    _, name, command, permissive, roles, using, with_check = row
    return model.Policy(
        name=name,
        command=_POLICY_COMMANDS[command],
        permissive=permissive,
        roles=_role_set(tuple(roles)),
        using=using,
        with_check=with_check,
    )


# pg_trigger.tgtype bits (catalog/pg_trigger.h).
_TRIGGER_ROW = 1 << 0
_TRIGGER_BEFORE = 1 << 1
_TRIGGER_INSTEAD = 1 << 6
_TRIGGER_EVENTS = (("INSERT", 1 << 2), ("UPDATE", 1 << 4), ("DELETE", 1 << 3), ("TRUNCATE", 1 << 5))
_TRIGGER_ENABLED = {"O": "origin", "A": "always", "R": "replica", "D": "disabled"}


def trigger_from_row(row: Row) -> model.Trigger:
    (
        _,
        name,
        tgtype,
        enabled,
        function_schema,
        function_name,
        argument_count,
        arguments,
        columns,
        definition,
    ) = row
    if tgtype & _TRIGGER_INSTEAD:
        timing = "INSTEAD OF"
    else:
        timing = "BEFORE" if tgtype & _TRIGGER_BEFORE else "AFTER"
    return model.Trigger(
        name=name,
        timing=timing,
        events=_one_of(tuple(event for event, bit in _TRIGGER_EVENTS if tgtype & bit)),
        level="ROW" if tgtype & _TRIGGER_ROW else "STATEMENT",
        function=trigger_function(function_schema, function_name, argument_count, arguments),
        enabled=_TRIGGER_ENABLED[enabled],
        when=None if definition is None else trigger_when(definition),
        columns=_one_of(tuple(columns)),
    )


def trigger_function(schema: str, name: str, argument_count: int, arguments: bytes) -> str:
    """``name('arg', ...)``, schema-qualified unless in public, every name quoted;
    arguments as SQL literals."""
    called = quote.ident(name) if schema == "public" else quote.qualified(schema, name)
    if not argument_count:
        return _intern(f"{called}()")
    values = arguments.split(b"\0")[:argument_count]
    try:
        texts = [value.decode() for value in values]
    except UnicodeDecodeError:
        # tgargs is bytea: the server never checked it (a SQL_ASCII database).
        raise CatalogError(
            f"catalog read failed: an argument of trigger function {called} is not valid"
            f" UTF-8: {arguments!r}"
        ) from None
    return f"{called}({', '.join(map(quote.literal, texts))})"


def trigger_when(definition: str) -> str:
    """The WHEN condition of a ``pg_get_triggerdef`` text, without its parentheses."""
    # Imported here: pglast is large and most catalogs have no trigger with WHEN.
    import pglast
    from pglast.stream import RawStream

    try:
        statement = pglast.parse_sql(definition)[0].stmt
    except pglast.parser.ParseError as exc:
        raise CatalogError(f"cannot read trigger definition {definition!r}: {exc}") from None
    if not isinstance(statement, pglast.ast.CreateTrigStmt) or statement.whenClause is None:
        raise CatalogError(f"trigger definition without a WHEN condition: {definition!r}")
    text: str = RawStream()(statement.whenClause)
    return text
