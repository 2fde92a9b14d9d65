"""The pieces of a repair: statements with their phase, safety class and dependencies."""

from __future__ import annotations

import dataclasses
from enum import IntEnum, StrEnum

DEFAULT_LOCK_TIMEOUT = "5s"
_MAX_IDENTIFIER = 63


class Phase(IntEnum):
    LABELS = 0  # one transaction: enum labels, committed before any statement uses them
    BEFORE = 1  # one transaction: tables, columns, RLS, policies, triggers, views
    CONCURRENT = 2  # each alone, outside any transaction block
    AFTER = 3  # one transaction: constraints, index renames, what relies on them
    VALIDATE = 4  # each alone: VALIDATE CONSTRAINT


class Safety(StrEnum):
    """What running a statement may do besides restoring the spec."""

    SAFE = "safe"  # quick: catalog changes under a brief lock
    LOCKING = "locking"  # holds a lock that blocks writes (or reads) while it scans or rewrites
    DATA_LOSS = "data loss"  # may lose or change data: commented out unless allowed


# Order inside a phase when no dependency decides: what others depend on comes first.
STEP = {
    "schema": -1,  # before anything is made in it
    "drop trigger": 0,
    "drop policy": 0,
    "drop view": 1,
    "drop foreign key": 2,
    "drop constraint": 3,
    "extension": 4,
    "type": 5,
    "function": 6,  # bodies are not checked (check_function_bodies is off): before the tables
    "sequence": 6,
    "create table": 7,
    "identity": 8,
    "column": 9,
    "sequence owner": 10,
    "rls": 12,
    "policy": 13,
    "trigger": 14,
    "index": 15,
    "rename index": 16,
    "primary key": 17,
    "unique": 18,
    "exclude": 19,
    "check": 20,
    "foreign key": 21,
    "view": 22,
    "publication": 23,
    "privilege": 24,
    "owner": 25,
    "grant after owner": 26,
    # Unexpected objects, users before what they use: a table before the function or
    # sequence its defaults call, those before the types and extensions they are made of.
    "drop event trigger": 27,
    "drop publication": 28,
    "drop table": 29,
    "drop column": 30,
    "drop function": 31,
    "drop sequence": 32,
    "drop type": 33,
    "drop extension": 34,
}


@dataclasses.dataclass(frozen=True, slots=True)
class Statement:
    """One statement of a repair.

    ``provides`` names what the statement makes true ("relation public.t",
    "gone relation public.v", "key public.t"); ``requires`` what must be true
    before it runs. The planner orders by them, and a statement whose
    requirement is left out (commented, or not repaired) is left out too, as
    is every statement of its ``bond``.
    """

    sql: str  # one statement, ending with ";"
    phase: Phase = Phase.BEFORE
    step: str = "column"
    safety: Safety = Safety.SAFE
    provides: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    bond: str | None = None  # statements with one bond are written, or held, together
    # (condition, statement): psql runs the statement instead when the condition (a SQL
    # boolean) holds; for a partitioned table, which refuses CONCURRENTLY.
    instead: tuple[str, str] | None = None

    @property
    def data_loss(self) -> bool:
        return self.safety is Safety.DATA_LOSS


@dataclasses.dataclass(frozen=True, slots=True)
class Fix:
    statements: tuple[Statement, ...] = ()
    note: str | None = None  # why there is no statement, or what it cannot restore

    def lines(self, *, allow_data_loss: bool = False) -> list[str]:
        """The fix as it appears in JSON: statements, the ones losing data commented out."""
        lines = [written(s, allow_data_loss) for s in self.statements]
        if self.note:
            lines.append(comment(self.note))
        return lines


def written(statement: Statement, allow_data_loss: bool) -> str:
    if statement.data_loss and not allow_data_loss:
        return comment(statement.sql) + "  -- destructive: review, then uncomment"
    return statement.sql


def comment(text: str, prefix: str = "-- ") -> str:
    """`text` as SQL comment lines: a message may hold line breaks (a deparsed policy)."""
    return "\n".join(prefix + line for line in text.splitlines() or [""])


def one(
    sql: str,
    phase: Phase,
    step: str,
    safety: Safety = Safety.SAFE,
    *,
    provides: tuple[str, ...] = (),
    requires: tuple[str, ...] = (),
) -> Fix:
    return Fix((Statement(sql, phase, step, safety, provides, requires),))


def temporary_name(name: str) -> str:
    suffix = "_repair"
    return name[: _MAX_IDENTIFIER - len(suffix)] + suffix


# Names of what statements provide and require.


def relation(schema: str, name: str) -> str:
    return f"relation {schema}.{name}"


def gone(token: str) -> str:
    return f"gone {token}"


def key(schema: str, table: str) -> str:
    return f"key {schema}.{table}"


def columns_of(schema: str, table: str) -> str:
    return f"columns {schema}.{table}"


def unread(schema: str, name: str) -> str:
    """True once no view (that the script drops) reads the relation: it may be reshaped."""
    return f"unread {schema}.{name}"
