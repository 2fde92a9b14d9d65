"""Index usage and database health, sampled from the statistics views.

A sample is three statements whatever the catalog's size, in autocommit:
statistics views take no lock on the watched relations, and sizes are read
lock-free for any relation whose AccessExclusiveLock is held or awaited (see
``queries/stats_indexes.sql``). The probe is the drift check's cheap first
look: a catalog fingerprint and the indexes being built.

The I/O is :func:`sample` and :func:`probe`; choosing which indexes the
metrics show (:func:`select_indexes`) is pure.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from monitor.errors import CatalogError, ConnectionFailed
from monitor.postgres.queries import load_query

# States pg_stat_activity reports for a client backend; each always gets a
# series, so a dashboard line drops to zero instead of vanishing.
CONNECTION_STATES = (
    "active",
    "idle",
    "idle in transaction",
    "idle in transaction (aborted)",
    "fastpath function call",
    "disabled",
)


@dataclass(frozen=True, slots=True)
class IndexStat:
    schemaname: str
    relname: str
    indexrelname: str
    scans: int
    size_bytes: int
    size_lock_free: bool  # measured from relpages: the relation was locked
    valid: bool
    building: bool


@dataclass(frozen=True, slots=True)
class TableStat:
    schemaname: str
    relname: str
    seq_scans: int
    index_scans: int


@dataclass(frozen=True, slots=True)
class DatabaseStat:
    datname: str
    stats_reset: datetime | None
    deadlocks: int
    rollbacks: int
    connections: tuple[tuple[str, int], ...]  # (state, sessions), every known state first
    lock_waiting_sessions: int
    longest_transaction_seconds: float


@dataclass(frozen=True, slots=True)
class Sample:
    database: DatabaseStat
    indexes: tuple[IndexStat, ...]
    tables: tuple[TableStat, ...]
    queries: int


@dataclass(frozen=True, slots=True)
class Probe:
    fingerprint: str
    building: tuple[str, ...]  # "schema.index"


def sample(conn: psycopg.Connection[Any], schemas: Sequence[str]) -> Sample:
    """Read index, table and database statistics: three statements."""
    params = {"schemas": list(schemas)}
    try:
        database = database_from_row(_rows(conn, "stats_database", params)[0])
        # Converted row by row: a catalog may hold tens of thousands of indexes.
        indexes = tuple(index_from_row(row) for row in _cursor(conn, "stats_indexes", params))
        tables = tuple(table_from_row(row) for row in _cursor(conn, "stats_tables", params))
    except psycopg.Error as exc:
        raise _stats_error(conn, exc) from None
    return Sample(database=database, indexes=indexes, tables=tables, queries=3)


def probe(conn: psycopg.Connection[Any], schemas: Sequence[str], ledger_table: str | None) -> Probe:
    """The catalog fingerprint of the watched schemas and the indexes being built: one statement."""
    try:
        fingerprint, building = _rows(
            conn, "stats_catalog_probe", {"schemas": list(schemas), "ledger": ledger_table}
        )[0]
    except psycopg.Error as exc:
        raise _stats_error(conn, exc) from None
    return Probe(fingerprint=fingerprint, building=tuple(building))


def _cursor(
    conn: psycopg.Connection[Any], name: str, params: dict[str, Any]
) -> psycopg.Cursor[tuple[Any, ...]]:
    cursor = conn.cursor(row_factory=tuple_row)
    return cursor.execute(load_query(name), params)


def _rows(conn: psycopg.Connection[Any], name: str, params: dict[str, Any]) -> list[Any]:
    return _cursor(conn, name, params).fetchall()


def _stats_error(conn: psycopg.Connection[Any], exc: psycopg.Error) -> Exception:
    message = exc.diag.message_primary or str(exc).strip().splitlines()[0]
    if conn.broken:
        return ConnectionFailed(f"lost the connection to the database: {message}")
    return CatalogError(f"statistics read failed: {message}")


# --- rows to values: pure ----------------------------------------------------------------

_intern = sys.intern


def database_from_row(row: Sequence[Any]) -> DatabaseStat:
    datname, stats_reset, deadlocks, rollbacks, connections, waiting, longest = row
    counts: dict[str, int] = {state: 0 for state in CONNECTION_STATES}
    for state, sessions in dict(connections).items():
        counts[state] = int(sessions)
    return DatabaseStat(
        datname=datname,
        stats_reset=stats_reset,
        deadlocks=int(deadlocks or 0),
        rollbacks=int(rollbacks or 0),
        connections=tuple(counts.items()),
        lock_waiting_sessions=int(waiting),
        longest_transaction_seconds=float(longest),
    )


def index_from_row(row: Sequence[Any]) -> IndexStat:
    schemaname, relname, indexrelname, scans, size, lock_free, valid, building = row
    return IndexStat(
        schemaname=_intern(schemaname),
        relname=_intern(relname),
        indexrelname=indexrelname,
        scans=int(scans or 0),
        size_bytes=int(size or 0),
        size_lock_free=bool(lock_free),
        valid=bool(valid),
        building=bool(building),
    )


def table_from_row(row: Sequence[Any]) -> TableStat:
    schemaname, relname, seq_scans, index_scans = row
    return TableStat(_intern(schemaname), relname, int(seq_scans or 0), int(index_scans or 0))


def select_indexes(
    indexes: Sequence[IndexStat],
    watched: Collection[tuple[str, str]],
    *,
    watched_cap: int,
    others_cap: int,
) -> tuple[IndexStat, ...]:
    """The indexes the metrics show: the spec's own (up to `watched_cap`), then the
    `others_cap` most scanned of the rest. Ties break by name so the chosen set,
    and with it the exported series, does not flap between scrapes.

    `watched` holds (schemaname, indexrelname) pairs.
    """
    mine = [i for i in indexes if (i.schemaname, i.indexrelname) in watched]
    rest = [i for i in indexes if (i.schemaname, i.indexrelname) not in watched]
    mine.sort(key=lambda i: (i.schemaname, i.indexrelname))
    rest.sort(key=lambda i: (-i.scans, i.schemaname, i.indexrelname))
    chosen = mine[:watched_cap] + rest[:others_cap]
    return tuple(sorted(chosen, key=lambda i: (i.schemaname, i.relname, i.indexrelname)))
