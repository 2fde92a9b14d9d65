"""Statement statistics from ``pg_stat_statements``, and plan probes: the I/O.

A stats cycle adds one statement (:func:`sample`): the counters of the
current database's top-level statements, with the query text only of those
not classified yet. Where the extension lives is looked up once
(:func:`locate`) and again only after a failure.

A plan probe (:func:`probe`) asks the planner which plan it would choose for a
statement's generic form, and never executes it: ``EXPLAIN (GENERIC_PLAN)`` on
PostgreSQL 16 and later; on 15 and earlier ``PREPARE`` and ``EXPLAIN EXECUTE``
under ``plan_cache_mode = force_generic_plan``, the parameters given as NULLs
(a generic plan does not look at them), then ``DEALLOCATE``. Both run in a
read-only transaction under the session's lock and statement timeouts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import tuple_row

from monitor.errors import CatalogError, ConnectionFailed
from monitor.postgres.queries import load_query
from monitor.schema.quote import ident

GENERIC_PLAN_SINCE = 160000  # server_version_num of the first EXPLAIN (GENERIC_PLAN)
_PROBE_NAME = "schema_monitor_probe"


@dataclass(frozen=True, slots=True)
class Location:
    """An installed pg_stat_statements we can read."""

    schema: str
    version: tuple[int, ...]
    server_version_num: int
    reads_all_stats: bool  # False: only our own role's statements are visible

    @property
    def has_info(self) -> bool:
        """pg_stat_statements_info and the toplevel column exist from 1.9 on."""
        return self.version >= (1, 9)

    @property
    def sample_query(self) -> str:
        schema = ident(self.schema)
        info = f"SELECT stats_reset FROM {schema}.pg_stat_statements_info"
        return load_query("statements_sample").format(
            schema=schema,
            info=info if self.has_info else "NULL",
            toplevel="s.toplevel" if self.has_info else "true",
        )


# (queryid, query or None, calls, total_ms, rows, blocks, None): tuples, as psycopg gives
# them; thousands a cycle, and only a few change between two.
RawRow = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Sample:
    stats_reset: datetime | None
    rows: list[RawRow]


@dataclass(frozen=True, slots=True)
class Plan:
    """What one probe found: the indexes the generic plan uses, or why there is no plan."""

    indexes: tuple[str, ...] = ()
    error: str | None = None
    refused: bool = False  # the role may not plan the statement (insufficient privilege)


class Unavailable(Exception):
    """pg_stat_statements cannot be read here: not installed, not preloaded, not allowed."""


def locate(conn: psycopg.Connection[Any]) -> Location:
    """Find the extension; :class:`Unavailable` says why it cannot be used."""
    try:
        row = conn.cursor(row_factory=tuple_row).execute(load_query("statements_locate")).fetchone()
    except psycopg.Error as exc:
        raise _error(conn, exc) from None
    if row is None:
        raise Unavailable("pg_stat_statements is not installed in this database")
    schema, version, server_version_num, reads_all = row
    return Location(schema, _version(version), int(server_version_num), bool(reads_all))


def sample(conn: psycopg.Connection[Any], location: Location, known_array: str) -> Sample:
    """One statement: every top-level statement's counters, texts only for the unknown.

    `known_array` holds the queryids already classified, as an array literal
    (``{1,2}``): psycopg would adapt a list of ints one by one, every cycle.
    """
    try:
        cursor = conn.cursor(row_factory=tuple_row)
        cursor.execute(location.sample_query, {"known": known_array})
        rows = cursor.fetchall()
    except psycopg.errors.ObjectNotInPrerequisiteState as exc:
        # "pg_stat_statements must be loaded via shared_preload_libraries"
        raise Unavailable(_message(exc)) from None
    except psycopg.errors.InsufficientPrivilege as exc:
        raise Unavailable(_message(exc)) from None
    except psycopg.Error as exc:
        raise _error(conn, exc) from None
    stats_reset = next((row[6] for row in rows if row[0] is None), None)
    return Sample(stats_reset, [row for row in rows if row[0] is not None])


def probe(
    conn: psycopg.Connection[Any], text: str, parameters: int, server_version_num: int
) -> Plan:
    """The indexes of the statement's generic plan; the statement is never executed.

    Each statement goes on its own through the extended protocol, which refuses a
    text holding more than one command, in a read-only transaction; pipelined, so
    that a probe costs one round trip. `text` is one SELECT, as parsed.
    """
    generic = server_version_num >= GENERIC_PLAN_SINCE
    try:
        with conn.transaction(), conn.pipeline():  # read-only: the session's default
            if generic:
                cursor = conn.execute(generic_plan_statement(text))
            else:
                conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                conn.execute(f"PREPARE {_PROBE_NAME} AS {text}")
                cursor = conn.execute(execute_statement(parameters))
                conn.execute(f"DEALLOCATE {_PROBE_NAME}")
        plan = cursor.fetchone()
    except pg_errors.InsufficientPrivilege as exc:
        _forget_prepared(conn, not generic)
        return Plan(error=_message(exc), refused=True)
    except psycopg.Error as exc:
        if conn.broken:
            raise _error(conn, exc) from None
        _forget_prepared(conn, not generic)
        return Plan(error=_message(exc))
    return Plan(indexes=tuple(sorted(set(plan_indexes(plan[0] if plan else None)))))


def _forget_prepared(conn: psycopg.Connection[Any], prepared: bool) -> None:
    """A PREPARE that succeeded before a later statement failed outlives the transaction,
    and the next probe's PREPARE would fail on its name."""
    if prepared:
        with contextlib.suppress(psycopg.errors.InvalidSqlStatementName):  # it had failed
            conn.execute(f"DEALLOCATE {_PROBE_NAME}")


def generic_plan_statement(text: str) -> str:
    """PostgreSQL 16 and later: plan the text with its $n parameters left unknown."""
    return f"EXPLAIN (GENERIC_PLAN, FORMAT JSON) {text}"


def execute_statement(parameters: int) -> str:
    """EXPLAIN of the prepared statement, its arguments NULLs."""
    arguments = ", ".join(["NULL"] * parameters)
    return f"EXPLAIN (FORMAT JSON) EXECUTE {_PROBE_NAME}" + (f"({arguments})" if arguments else "")


def plan_indexes(plan: Any) -> Iterator[str]:
    """Every "Index Name" in an EXPLAIN (FORMAT JSON) answer."""
    if isinstance(plan, Mapping):
        name = plan.get("Index Name")
        if isinstance(name, str):
            yield name
        for value in plan.values():
            yield from plan_indexes(value)
    elif isinstance(plan, list):
        for item in plan:
            yield from plan_indexes(item)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def _message(exc: psycopg.Error) -> str:
    return exc.diag.message_primary or str(exc).strip().splitlines()[0]


def _error(conn: psycopg.Connection[Any], exc: psycopg.Error) -> Exception:
    if conn.broken:
        return ConnectionFailed(f"lost the connection to the database: {_message(exc)}")
    return CatalogError(f"pg_stat_statements read failed: {_message(exc)}")
