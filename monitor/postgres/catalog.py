"""The live side of the comparison: a snapshot of the catalog as a :class:`model.State`.

A snapshot costs a fixed number of statements whatever the size of the
catalog (BEGIN, eleven SELECTs, COMMIT), all in one short REPEATABLE READ READ
ONLY transaction, so every object comes from the same instant. It reads
catalogs only, never a table's rows, except the migration ledger's
``version`` column.

The server's deparse functions (``pg_get_expr``, ``pg_get_indexdef`` of an
expression, ``pg_get_constraintdef``, ``pg_get_triggerdef``) open the table
for an instant to read its column names: they take an AccessShareLock and
release it at once, so the snapshot never holds a lock on a user table, but
each would wait behind an AccessExclusiveLock. Relations behind one, granted
or queued, are therefore left out (and listed in :attr:`Snapshot.skipped`);
``lock_timeout`` bounds the wait should one be queued mid-read.

``pg_get_viewdef`` (and ``pg_get_function_sqlbody`` of a ``BEGIN ATOMIC``
body) is the exception: it locks the view and every relation its query reads
until the transaction ends. Views and functions that read a locked relation
are left out like it, and the views are read last, so those AccessShareLocks
last only for the ledger read and the COMMIT.

The I/O lives here; catalog rows become model objects in pure functions that
know nothing of the database: a table's in :mod:`monitor.postgres.catalog_tables`,
the rest of the security surface's in :mod:`monitor.postgres.catalog_security`.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import IsolationLevel, capabilities, sql

from monitor.errors import CatalogError, ConnectionFailed
from monitor.postgres import catalog_security as surface
from monitor.postgres.catalog_limits import DEFAULT_LIMITS, Limits, over_cap, unread
from monitor.postgres.catalog_security import Row
from monitor.postgres.catalog_tables import (
    TableParts,
    column_from_row,
    constraint_from_row,
    group_by_table,
    index_from_row,
    policy_from_row,
    shared,
    state_from_rows,
    trigger_from_row,
)
from monitor.postgres.queries import load_query
from monitor.schema import model, quote

# text, name, varchar, char: the columns whose values a catalog repeats.
_TEXT_TYPES = frozenset({25, 19, 1043, 1042})

# Rows a streamed statement sends at a time (see _Reader.stream).
_CHUNK_ROWS = 1000

# BEGIN and COMMIT, issued by the transaction block around the SELECTs.
_TRANSACTION_STATEMENTS = 2


@dataclass(frozen=True, slots=True)
class Snapshot:
    state: model.State
    skipped: tuple[str, ...]  # "schema.table" whose AccessExclusiveLock was held or awaited
    queries: int  # statements issued, BEGIN and COMMIT included
    # Why the migration ledger was not read (no grant, not a ledger), if it was not.
    ledger_problem: str | None = None
    over_cap: Mapping[str, int] = dataclasses.field(default_factory=dict)  # kind -> objects
    limits: Limits = DEFAULT_LIMITS
    # Asked schemas that do not exist: left out of the state (the diff reports them).
    missing_schemas: tuple[str, ...] = ()


def snapshot(
    conn: psycopg.Connection[Any],
    schemas: Sequence[str] = ("public",),
    ledger_table: str | None = model.DEFAULT_LEDGER_TABLE,
    limits: Limits = DEFAULT_LIMITS,
    *,
    optional: Sequence[str] = (),
) -> Snapshot:
    """Read the asked schemas (and the `optional` ones that exist) and the migration ledger
    in one read-only transaction, within `limits` (:mod:`monitor.postgres.catalog_limits`)."""
    reader = _Reader(conn, limits)
    asked = sorted(set(schemas) | set(optional))
    # The snapshot's consistency rests on these; connect() sets them already,
    # and assigning them outside a transaction sends nothing to the server.
    if conn.isolation_level != IsolationLevel.REPEATABLE_READ:
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
    if not conn.read_only:
        conn.read_only = True
    try:
        # The reader closes its streams first: one left half read holds the connection's
        # lock, and the transaction's ROLLBACK would wait for it for ever.
        with conn.transaction(), _collector_paused(), reader:
            state, skipped, problem = _read(reader, asked, ledger_table)
    except psycopg.Error as exc:
        raise _catalog_error(conn, exc) from None
    statements = reader.statements + _TRANSACTION_STATEMENTS
    missing = tuple(name for name in schemas if state.schema(name) is None)
    return Snapshot(state, skipped, statements, problem, reader.over_cap, limits, missing)


def versions(conn: psycopg.Connection[Any], schemas: Sequence[str]) -> dict[tuple[str, ...], str]:
    """Every object of `schemas` (and the database's extensions, publications and event
    triggers) by its provenance key, with the catalog rows it is made of as its version:
    one statement, for `spec build` to run after each migration file."""
    # One statement on an autocommit session (db.connect): a snapshot of its own. Run
    # hundreds of times a build, it is prepared: planning it costs half as much again.
    query = load_query("catalog_versions")
    rows = conn.execute(query, {"schemas": list(schemas)}, prepare=True).fetchall()
    return {surface.version_key(*row[:5]): row[5] for row in rows}


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Build the model without garbage collection passes.

    A large catalog turns into a few hundred thousand new objects, none of
    them in a reference cycle; the collector would scan them (and everything
    else alive) again and again while they are created, for nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# What migration tools name their ledger: Supabase CLI, golang-migrate and dbmate
# (schema_migrations), Flyway (flyway_schema_history). A ledger renamed with the
# tool's own option (`spec build --ledger-table`) keeps a word of its purpose in
# its name; a table of the application's data, `integrations` say, has none.
LEDGER_TABLE_NAMES = frozenset({"schema_migrations", "flyway_schema_history"})
LEDGER_NAME_WORDS = ("migration", "schema_history")


def looks_like_a_ledger(name: str) -> bool:
    lowered = name.lower()
    return name in LEDGER_TABLE_NAMES or any(word in lowered for word in LEDGER_NAME_WORDS)


class _Reader:
    """Runs the named queries and counts them."""

    def __init__(self, conn: psycopg.Connection[Any], limits: Limits) -> None:
        self.conn = conn
        self.limits = limits
        self.over_cap: dict[str, int] = {}  # kinds not read: too many objects
        self.statements = 0
        # One object per distinct text: a catalog repeats its types, expressions,
        # roles and owners object after object; the model keeps a third as many.
        self.texts: dict[str, str] = {}
        self._streams: list[Iterator[Row]] = []

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *_: object) -> None:
        """End every stream, read to its end or not (a row that failed to convert)."""
        for rows in self._streams:
            close = getattr(rows, "close", None)
            if close is not None:
                close()

    def rows(self, name: str, params: dict[str, Any]) -> list[Row]:
        return self._fetch(load_query(name), params)

    def ledger_versions(self, schema: str, table: str, shape: str = "versions") -> list[Row]:
        name = _LEDGER_QUERIES.get(shape, "catalog_ledger")
        query = sql.SQL(load_query(name)).format(ledger=sql.Identifier(schema, table))
        return self._fetch(query, {})

    def capped(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """`params` for the statement reading `kind`: empty lists (no rows) when the kind is
        over the cap, and the byte cap on definition texts."""
        if kind in self.over_cap:
            params = {
                key: [] if isinstance(value, list) else value for key, value in params.items()
            }
        return {**params, "text_cap": self.limits.definition_bytes}

    def stream(self, name: str, params: dict[str, Any]) -> Iterator[Row]:
        """The rows of a large statement, a chunk at a time; read them all before the next.

        A catalog of 5,000 tables sends tens of thousands of rows per statement:
        converted as they arrive, neither libpq's result nor the rows are ever
        whole in memory, and the few model objects kept are not scattered among
        the freed rows (about 10 MB less peak RSS). libpq before 17 has no
        chunked mode: there the rows are fetched at once, as by :meth:`rows`.
        """
        if not capabilities.has_stream_chunked():
            return iter(self.rows(name, params))
        self.statements += 1
        cursor = self.conn.cursor(row_factory=self.row_sharing_texts)
        rows = cursor.stream(load_query(name), params, size=_CHUNK_ROWS)
        self._streams.append(rows)
        return rows

    def _fetch(self, query: str | sql.Composed, params: dict[str, Any]) -> list[Row]:
        self.statements += 1
        cursor = self.conn.cursor(row_factory=self.row_sharing_texts)
        return cursor.execute(query, params).fetchall()

    def row_sharing_texts(self, cursor: psycopg.Cursor[Any]) -> Callable[[Sequence[Any]], Row]:
        texts = self.texts
        columns = cursor.description or ()
        at = [i for i, column in enumerate(columns) if column.type_code in _TEXT_TYPES]
        if not at:
            return tuple

        def row(values: Sequence[Any]) -> Row:
            shared = list(values)
            for i in at:
                text = shared[i]
                if text is not None:
                    shared[i] = texts.setdefault(text, text)
            return tuple(shared)

        return row


def _read(
    reader: _Reader, schemas: list[str], ledger_table: str | None
) -> tuple[model.State, tuple[str, ...], str | None]:
    context = reader.rows("catalog_context", {"schemas": schemas, "ledger": ledger_table})
    (
        missing,
        skipped_oids,
        skipped_names,
        skipped_functions,
        skipped_function_names,
        matviews,
        ledger_schema,
        ledger_name,
        has_version,
        may_read,
        ledger_shape,
        counts,
        database_schemas,
    ) = context[0]
    # A schema that does not exist is drift to report, not an error: read the others
    # (Snapshot.missing_schemas names those asked for, not the optional ones).
    schemas = [name for name in schemas if name not in (missing or ())]
    reader.over_cap = over_cap(counts, reader.limits)
    asked = {"schemas": schemas, "skipped": skipped_oids}
    tables = reader.rows("catalog_tables", asked)
    by_oid = {"tables": [row[0] for row in tables]}
    # A materialized view's indexes come with the tables' own, in the same statement.
    with_matviews = {"tables": by_oid["tables"] + matviews}
    parts = _table_parts(reader, by_oid, with_matviews)
    asked_functions = {"schemas": schemas, "skipped": skipped_functions}
    functions = list(
        map(
            surface.function_from_row,
            reader.stream("catalog_functions", reader.capped("functions", asked_functions)),
        )
    )
    (objects,) = reader.rows("catalog_objects", {"schemas": schemas})
    # Last: pg_get_viewdef keeps a lock on each view and what it reads until COMMIT.
    views = [
        surface.view_from_row(row, parts.indexes)
        for row in reader.stream("catalog_views", reader.capped("views", asked))
    ]
    skipped_names += [
        f"{schema}.{quote.signature(name, types)}" for schema, name, types in skipped_function_names
    ]
    skipped = tuple(sorted(skipped_names))
    ledger = None
    problem = None
    ledger_readable = f"{ledger_schema}.{ledger_name}" not in skipped
    if ledger_table is not None and ledger_name is not None and ledger_readable:
        problem = ledger_refusal(ledger_schema, ledger_name, has_version, may_read, ledger_shape)
        if problem is None:
            versions = reader.ledger_versions(ledger_schema, ledger_name, ledger_shape)
            ledger = ledger_from_rows(versions, ledger_table)
            if ledger_shape == "golang-migrate":
                ledger = dataclasses.replace(
                    ledger, latest_only=True, dirty=any(bool(row[1]) for row in versions)
                )
    state = state_from_rows(schemas, tables, parts, ledger)
    state = dataclasses.replace(state, database_schemas=tuple(database_schemas))
    state = surface.with_surface(state, functions, views, objects)
    return unread(state, reader.over_cap), skipped, problem


def _table_parts(
    reader: _Reader, by_oid: dict[str, list[int]], with_matviews: dict[str, list[int]]
) -> TableParts:
    """The tables' objects, each statement's rows converted as they arrive (a row per
    column is megabytes on a large catalog); only the rare columns with privileges of
    their own are kept, for the tables' grants."""
    with_acl: list[Row] = []

    def noting_acls(rows: Iterable[Row]) -> Iterator[Row]:
        for row in rows:
            if row[-1]:
                with_acl.append(row)
            yield row

    columns = noting_acls(reader.stream("catalog_columns", reader.capped("columns", by_oid)))
    return TableParts(
        columns=group_by_table(columns, shared(column_from_row, width=-1)),
        constraints=group_by_table(
            reader.stream("catalog_constraints", reader.capped("constraints", by_oid)),
            constraint_from_row,
        ),
        indexes=group_by_table(
            reader.stream("catalog_indexes", reader.capped("indexes", with_matviews)),
            index_from_row,
        ),
        policies=group_by_table(
            reader.stream("catalog_policies", reader.capped("policies", by_oid)), policy_from_row
        ),
        triggers=group_by_table(
            reader.stream("catalog_triggers", reader.capped("triggers", by_oid)), trigger_from_row
        ),
        column_grants=surface.column_grants(with_acl),
    )


def ledger_refusal(
    schema: str, name: str, has_version: bool, may_read: bool, shape: str = "versions"
) -> str | None:
    """Why the table named as the migration ledger will not be read; None: read it.

    The ledger is the one table whose rows are read, so it must be one: a table
    named like a migration tool's ledger (its usual name, or one holding
    "migration" or "schema_history"), with a ``version`` column (the only column
    read). Anything else, ``integrations`` say, is never read.
    """
    table = f"{schema}.{name}"
    known_tool = shape in _LEDGER_QUERIES  # a tool's own columns say what the table is
    if not (known_tool or looks_like_a_ledger(name)) or not has_version:
        known = ", ".join(sorted(LEDGER_TABLE_NAMES))
        return (
            f"{table} is not read: a migration ledger is a table named {known}, or"
            " with 'migration' or 'schema_history' in its name, with a version column"
        )
    if not may_read:
        grant = f"GRANT SELECT (version) ON {quote.qualified(schema, name)}"
        return f"permission denied to read {table}(version): {grant}"
    return None


def _catalog_error(conn: psycopg.Connection[Any], exc: psycopg.Error) -> Exception:
    """One line that says what went wrong, from the server's own words."""
    message = exc.diag.message_primary or str(exc).strip().splitlines()[0]
    if conn.broken:
        return ConnectionFailed(f"lost the connection to the database: {message}")
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return CatalogError(f"catalog read gave up waiting for a lock (lock_timeout): {message}")
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return CatalogError(f"catalog read cancelled (statement_timeout): {message}")
    if isinstance(
        exc, psycopg.errors.CharacterNotInRepertoire | psycopg.errors.UntranslatableCharacter
    ):
        encoding = conn.info.parameter_status("server_encoding") or "unknown"
        return CatalogError(
            f"catalog read failed: a name or text in the catalog is not valid in UTF-8 (the"
            f" database's encoding is {encoding}, which does not check what it stores):"
            f" {message}; rename the object, or give the DSN the client_encoding it was"
            " written in (e.g. client_encoding=LATIN1)"
        )
    return CatalogError(f"catalog read failed: {message}")


def ledger_from_rows(rows: Iterable[Row], table: str) -> model.Ledger:
    return model.Ledger(applied=tuple(sorted(str(row[0]) for row in rows)), table=table)


# The ledger's query by the shape of its table: which deploy tool keeps it.
_LEDGER_QUERIES = {
    "flyway": "catalog_ledger_flyway",
    "golang-migrate": "catalog_ledger_golang_migrate",
    "sqitch": "catalog_ledger_sqitch",
    "postgres-migrations": "catalog_ledger_postgres_migrations",
}
