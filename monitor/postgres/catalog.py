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

The I/O lives in :func:`snapshot`; the ``*_from_row`` functions below it turn
catalog rows into model objects and know nothing of the database.

A trigger's WHEN condition is the one thing the server cannot deparse on its
own (it refers to OLD and NEW, which ``pg_get_expr`` rejects), so it is taken
from ``pg_get_triggerdef`` parsed with pglast and written back with
``pglast.stream.RawStream``.
"""

from __future__ import annotations

import dataclasses
import gc
import sys
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby
from operator import itemgetter
from typing import Any, TypeVar

import psycopg
from psycopg import IsolationLevel, capabilities, sql

from monitor.errors import CatalogError, ConnectionFailed
from monitor.postgres import catalog_security as surface
from monitor.postgres.catalog_limits import DEFAULT_LIMITS, Limits, over_cap, unread
from monitor.postgres.queries import load_query
from monitor.schema import model, quote

Row = tuple[Any, ...]
# text, name, varchar, char: the columns whose values a catalog repeats.
_TEXT_TYPES = frozenset({25, 19, 1043, 1042})
Item = TypeVar("Item")

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


# --- rows to model: pure functions ---------------------------------------------------------


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


def ledger_from_rows(rows: Iterable[Row], table: str) -> model.Ledger:
    return model.Ledger(applied=tuple(sorted(str(row[0]) for row in rows)), table=table)


# The ledger's query by the shape of its table: which deploy tool keeps it.
_LEDGER_QUERIES = {
    "flyway": "catalog_ledger_flyway",
    "golang-migrate": "catalog_ledger_golang_migrate",
    "sqitch": "catalog_ledger_sqitch",
    "postgres-migrations": "catalog_ledger_postgres_migrations",
}
