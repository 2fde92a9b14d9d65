"""The one model shared by the expected-state spec and the live snapshot.

A spec loaded from YAML and a snapshot read from the catalog are both a
:class:`State`, so the diff compares like with like and needs no database.

Collections are tuples sorted by name (columns keep their table order), so
two states holding the same objects are equal and dump the same way. A
collection that is ``None`` means "not specified": a partial spec that does
not list a table's indexes does not check them. A snapshot always fills
every collection.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar


class Kind(StrEnum):
    TABLE = "table"
    COLUMN = "column"
    CONSTRAINT = "constraint"
    INDEX = "index"
    POLICY = "policy"
    RLS = "rls"
    TRIGGER = "trigger"
    MIGRATION = "migration"


class Change(StrEnum):
    MISSING = "missing"
    UNEXPECTED = "unexpected"
    CHANGED = "changed"
    INVALID = "invalid"
    DISABLED = "disabled"
    PENDING = "pending"


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class ConstraintType(StrEnum):
    PRIMARY_KEY = "primary key"
    UNIQUE = "unique"
    FOREIGN_KEY = "foreign key"
    CHECK = "check"
    EXCLUDE = "exclude"


class Extra(StrEnum):
    """What to do with live objects the spec does not list."""

    REPORT = "report"
    IGNORE = "ignore"


# Kinds whose unlisted live objects `extra:` can report or ignore, in the
# order they appear in a spec.
EXTRA_KINDS: tuple[str, ...] = (
    "tables",
    "columns",
    "constraints",
    "indexes",
    "policies",
    "triggers",
)


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    identity: str | None = None  # "always" | "by default"
    generated: str | None = None  # expression of a STORED generated column
    migration: str | None = None


@dataclass(frozen=True, slots=True)
class ForeignKey:
    table: str  # schema-qualified: "public.organizations"
    columns: tuple[str, ...]
    on_delete: str = "NO ACTION"
    on_update: str = "NO ACTION"
    match: str = "SIMPLE"


@dataclass(frozen=True, slots=True)
class Constraint:
    name: str
    type: ConstraintType
    columns: tuple[str, ...] = ()
    references: ForeignKey | None = None
    check: str | None = None  # CHECK expression, or EXCLUDE definition
    deferrable: bool = False
    deferred: bool = False
    validated: bool = True
    migration: str | None = None


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    columns: tuple[str, ...]  # key columns or expressions, with DESC/opclass when not default
    include: tuple[str, ...] = ()
    where: str | None = None
    unique: bool = False
    method: str = "btree"
    valid: bool = True  # live: indisvalid and indisready; a spec always expects True
    constraint: str | None = None  # the constraint this index backs, if any
    migration: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    command: str = "ALL"  # ALL | SELECT | INSERT | UPDATE | DELETE
    permissive: bool = True
    roles: frozenset[str] = frozenset({"public"})
    using: str | None = None
    with_check: str | None = None
    migration: str | None = None


@dataclass(frozen=True, slots=True)
class Trigger:
    name: str
    timing: str  # BEFORE | AFTER | INSTEAD OF
    events: tuple[str, ...]  # in INSERT, UPDATE, DELETE, TRUNCATE order
    level: str  # ROW | STATEMENT
    function: str  # "update_updated_at_column()", schema-qualified unless public
    enabled: str = "origin"  # origin | always | replica | disabled
    when: str | None = None
    columns: tuple[str, ...] = ()  # UPDATE OF columns
    migration: str | None = None


@dataclass(frozen=True, slots=True)
class Rls:
    enabled: bool
    forced: bool = False


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...] | None = None
    constraints: tuple[Constraint, ...] | None = None
    indexes: tuple[Index, ...] | None = None
    policies: tuple[Policy, ...] | None = None
    triggers: tuple[Trigger, ...] | None = None
    rls: Rls | None = None
    migration: str | None = None


@dataclass(frozen=True, slots=True)
class Absent:
    """An object that must not exist, usually one a later migration dropped."""

    kind: Kind  # table | column | constraint | index | policy | trigger
    name: str
    table: str | None = None  # the owning table, for all kinds but table and index
    migration: str | None = None


@dataclass(frozen=True, slots=True)
class ExtraPolicy:
    """Per-kind choice for unlisted live objects; `extra: report` sets all."""

    tables: Extra = Extra.REPORT
    columns: Extra = Extra.REPORT
    constraints: Extra = Extra.REPORT
    indexes: Extra = Extra.REPORT
    policies: Extra = Extra.REPORT
    triggers: Extra = Extra.REPORT

    def for_kind(self, kind: str) -> Extra:
        value: Extra = getattr(self, kind)
        return value


@dataclass(frozen=True, slots=True)
class Schema:
    name: str
    tables: tuple[Table, ...] = ()
    absent: tuple[Absent, ...] = ()
    extra: ExtraPolicy = field(default_factory=ExtraPolicy)
    ignore: tuple[str, ...] = ()  # fnmatch globs of object names never reported

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)


DEFAULT_LEDGER_TABLE = "supabase_migrations.schema_migrations"


@dataclass(frozen=True, slots=True)
class Ledger:
    """Migration versions in the order they should be (spec) or were (live) applied."""

    applied: tuple[str, ...]
    table: str = DEFAULT_LEDGER_TABLE


@dataclass(frozen=True, slots=True)
class State:
    """An expected-state spec or a live snapshot: the same shape for both."""

    schemas: tuple[Schema, ...]
    ledger: Ledger | None = None
    version: int = 1

    def schema(self, name: str) -> Schema | None:
        return next((s for s in self.schemas if s.name == name), None)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    change: Change
    severity: Severity
    schema: str
    table: str | None
    name: str
    message: str
    expected: Any = None  # JSON-able description of the expected object
    actual: Any = None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "schema": self.schema,
            "table": self.table,
            "name": self.name,
            "change": str(self.change),
            "severity": str(self.severity),
            "expected": self.expected,
            "actual": self.actual,
            "message": self.message,
        }


FindingKey = tuple[str, str, str | None, str, str]


def finding_key(finding: Finding) -> FindingKey:
    """What makes two findings "the same drift" across cycles (not its message or severity)."""
    return (str(finding.kind), finding.schema, finding.table, finding.name, str(finding.change))


Named = TypeVar("Named", Column, Constraint, Index, Policy, Trigger, Table, Schema)


def by_name(items: Iterable[Named]) -> dict[str, Named]:
    return {item.name: item for item in items}
