"""Keys, indexes and upkeep: what every write pays for, what a read or a delete needs,
and what keeps a table from bloating.

Materialized views carry indexes like tables do: the index rules read both."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from monitor.schema import normalize
from monitor.schema.advisors.base import Advisory, Category, Context, Level, Rule
from monitor.schema.model import ConstraintType, Index
from monitor.schema.quote import ident, qualified

NO_PRIMARY_KEY = Rule(
    "no_primary_key", Level.INFO, Category.PERFORMANCE, "Table without a primary key"
)
UNINDEXED_FOREIGN_KEYS = Rule(
    "unindexed_foreign_keys",
    Level.INFO,
    Category.PERFORMANCE,
    "Foreign key without a covering index",
)
DUPLICATE_INDEX = Rule("duplicate_index", Level.WARNING, Category.PERFORMANCE, "Identical indexes")
UNUSED_INDEX = Rule(
    "unused_index",
    Level.INFO,
    Category.PERFORMANCE,
    "Index not used since the watch window began",
)
INVALID_INDEX = Rule(
    "invalid_index",
    Level.WARNING,
    Category.PERFORMANCE,
    "Invalid index (a failed CREATE INDEX CONCURRENTLY): never used, still written",
)
AUTOVACUUM_DISABLED = Rule(
    "autovacuum_disabled",
    Level.INFO,
    Category.PERFORMANCE,
    "Table whose storage parameters switch autovacuum off",
)
RULES = (
    NO_PRIMARY_KEY,
    UNINDEXED_FOREIGN_KEYS,
    DUPLICATE_INDEX,
    UNUSED_INDEX,
    INVALID_INDEX,
    AUTOVACUUM_DISABLED,
)


@dataclass(frozen=True, slots=True)
class Indexed:
    """A table or materialized view with its indexes."""

    name: str
    kind: str  # "table" | "materialized view"
    indexes: tuple[Index, ...]

    def where(self, schema: str) -> str:
        """How a message names it: a table as ``schema.name``, others with their kind."""
        named = f"{schema}.{self.name}"
        return named if self.kind == "table" else f"{self.kind} {named}"


def _indexed(context: Context) -> Iterator[Indexed]:
    for table in context.schema.tables:
        if table.indexes:
            yield Indexed(table.name, "table", table.indexes)
    for view in context.schema.views or ():
        if view.materialized and view.indexes:
            yield Indexed(view.name, "materialized view", view.indexes)


def no_primary_key(context: Context) -> Iterator[Advisory]:
    for table in context.schema.tables:
        if table.constraints is None:
            continue
        if any(c.type is ConstraintType.PRIMARY_KEY for c in table.constraints):
            continue
        yield context.advisory(
            NO_PRIMARY_KEY,
            table.name,
            table.name,
            f"table {context.where(table)} has no primary key: rows cannot be told apart, "
            "logical replication cannot send its updates and deletes, and tools that edit "
            "rows refuse it",
            f"ALTER TABLE {context.sql_name(table)} ADD PRIMARY KEY (...) on a unique, "
            "not null column (or add an identity column)",
        )


@lru_cache(maxsize=16384)  # the same key columns ("id", "organization_id") on every table
def plain_column(key: str) -> str | None:
    """The column an index key is on, ``None`` for an expression."""
    try:
        element = json.loads(normalize.index_column_key(key))
    except normalize.SqlSyntaxError:
        return None
    name = element.get("name")
    return name if isinstance(name, str) else None


def _covers(index: Index, columns: tuple[str, ...]) -> bool:
    if not index.valid or index.where is not None or len(index.columns) < len(columns):
        return False
    leading = [plain_column(key) for key in index.columns[: len(columns)]]
    return set(leading) == set(columns)


def unindexed_foreign_keys(context: Context) -> Iterator[Advisory]:
    for table in context.schema.tables:
        if table.indexes is None:
            continue  # not read (too many indexes to read): no key can be said unindexed
        indexes = table.indexes
        for constraint in table.constraints or ():
            if constraint.type is not ConstraintType.FOREIGN_KEY or not constraint.columns:
                continue
            if any(_covers(index, constraint.columns) for index in indexes):
                continue
            columns = ", ".join(constraint.columns)
            referenced = constraint.references.table if constraint.references else "its table"
            yield context.advisory(
                UNINDEXED_FOREIGN_KEYS,
                table.name,
                constraint.name,
                f"foreign key {constraint.name} on {context.where(table)} ({columns}) has no "
                f"index starting with its columns: every delete or key update in {referenced} "
                "scans the whole table, and joins on it cannot use an index",
                f"CREATE INDEX CONCURRENTLY ON {context.sql_name(table)} "
                f"({', '.join(ident(c) for c in constraint.columns)})",
            )


def _index_identity(index: Index, table: str) -> tuple[Any, ...]:
    """What makes two indexes do the same work, spelling aside."""

    def key(text: str, canonical: Callable[[str], str]) -> str:
        try:
            return canonical(text)
        except normalize.SqlSyntaxError:
            return text

    return (
        tuple(key(c, normalize.index_column_key) for c in index.columns),
        tuple(key(c, normalize.index_column_key) for c in index.include),
        None
        if index.where is None
        else key(index.where, lambda w: normalize.table_expression_key(w, table)),
        index.unique,
        index.method.lower(),
    )


def _could_share_identity(indexes: tuple[Index, ...]) -> bool:
    """Whether two of `indexes` agree in what no spelling changes (counts, uniqueness,
    method, partial or not): only such a pair can be identical, and most tables have none."""
    shapes = {
        (len(i.columns), len(i.include), i.where is None, i.unique, i.method.lower())
        for i in indexes
    }
    return len(shapes) < len(indexes)


def duplicate_index(context: Context) -> Iterator[Advisory]:
    for relation in _indexed(context):
        if not _could_share_identity(relation.indexes):
            continue
        groups: dict[tuple[Any, ...], list[Index]] = {}
        for index in relation.indexes:
            groups.setdefault(_index_identity(index, relation.name), []).append(index)
        for group in groups.values():
            if len(group) < 2:
                continue
            # Keep the one a constraint needs, else the first by name; the others can go.
            keep, *others = sorted(group, key=lambda i: (i.constraint is None, i.name))
            for index in others:
                yield context.advisory(
                    DUPLICATE_INDEX,
                    relation.name,
                    index.name,
                    f"index {index.name} on {relation.where(context.schema.name)} is identical "
                    f"to {keep.name}: it costs every write and its disk space for nothing",
                    f"DROP INDEX CONCURRENTLY {qualified(context.schema.name, index.name)}",
                )


def unused_index(context: Context) -> Iterator[Advisory]:
    activity = context.activity
    if activity is None or activity.observed_seconds < context.settings.unused_index_after_seconds:
        return  # `check` has no baseline; a young window has not seen the traffic yet
    hours = activity.observed_seconds / 3600
    for relation in _indexed(context):
        for index in relation.indexes:
            if index.unique or index.constraint is not None or not index.valid:
                continue  # a unique index works on every write, scanned or not
            scans = activity.scans.get(f"{context.schema.name}.{index.name}")
            if scans != 0:
                continue
            yield context.advisory(
                UNUSED_INDEX,
                relation.name,
                index.name,
                f"index {index.name} on {relation.where(context.schema.name)} "
                f"has not been scanned in the {hours:.1f} h since the watch window began",
                "check the queries it was built for (EXPLAIN them); if none needs it, "
                f"DROP INDEX CONCURRENTLY {qualified(context.schema.name, index.name)}",
            )


def invalid_index(context: Context) -> Iterator[Advisory]:
    for relation in _indexed(context):
        for index in relation.indexes:
            if index.valid:
                continue
            name = qualified(context.schema.name, index.name)
            yield context.advisory(
                INVALID_INDEX,
                relation.name,
                index.name,
                f"index {index.name} on {relation.where(context.schema.name)} "
                "is invalid (a CREATE INDEX CONCURRENTLY or REINDEX that failed, or one still "
                "running): the planner never uses it, every write still maintains it",
                f"REINDEX INDEX CONCURRENTLY {name}; or DROP INDEX CONCURRENTLY {name}",
            )


def autovacuum_disabled(context: Context) -> Iterator[Advisory]:
    if context.platform:
        return
    for table in context.schema.tables:
        if table.autovacuum:
            continue
        yield context.advisory(
            AUTOVACUUM_DISABLED,
            table.name,
            table.name,
            f"table {context.where(table)} has autovacuum_enabled off: dead rows pile up "
            "(bloat, slower scans) and nothing freezes its old transaction ids unless a "
            "wraparound vacuum is forced",
            f"ALTER TABLE {context.sql_name(table)} RESET (autovacuum_enabled); if it is off "
            "on purpose (a bulk-loaded table vacuumed by hand), keep this advisory off for it",
        )


CHECKS = (
    no_primary_key,
    unindexed_foreign_keys,
    duplicate_index,
    unused_index,
    invalid_index,
    autovacuum_disabled,
)
