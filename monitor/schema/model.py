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

from collections.abc import Callable, Iterable, Mapping
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
    FUNCTION = "function"
    VIEW = "view"
    PRIVILEGE = "privilege"
    OWNER = "owner"
    EXTENSION = "extension"
    TYPE = "type"
    SEQUENCE = "sequence"
    PUBLICATION = "publication"
    EVENT_TRIGGER = "event_trigger"
    SCHEMA = "schema"
    COLLATION = "collation"
    PARTITION = "partition"


class Change(StrEnum):
    MISSING = "missing"
    UNEXPECTED = "unexpected"
    CHANGED = "changed"
    INVALID = "invalid"
    DISABLED = "disabled"
    PENDING = "pending"
    # A change with a security direction: more (or less) than the spec allows.
    WIDENED = "widened"
    NARROWED = "narrowed"


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
    "functions",
    "views",
    "types",
    "sequences",
    "collations",
)


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    identity: str | None = None  # "always" | "by default"
    generated: str | None = None  # expression of a STORED generated column
    collation: str | None = None  # COLLATE, when not the type's default: "C", "public.nocase"
    migration: str | None = None


@dataclass(frozen=True, slots=True)
class ForeignKey:
    table: str  # schema-qualified: "public.organizations"
    columns: tuple[str, ...]
    on_delete: str = "NO ACTION"
    on_update: str = "NO ACTION"
    match: str = "SIMPLE"
    # Live only, never compared: the key it references is a UNIQUE one, not the primary key.
    unique_key: bool = field(default=False, compare=False)


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


PUBLIC_ROLE = "public"  # the PUBLIC pseudo-role, as every grantee list spells it

# Privileges in the order GRANT documents them, per kind of object ("ALL" expands to these).
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
COLUMN_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "REFERENCES")
SEQUENCE_PRIVILEGES = ("USAGE", "SELECT", "UPDATE")
FUNCTION_PRIVILEGES = ("EXECUTE",)
SCHEMA_PRIVILEGES = ("USAGE", "CREATE")
TYPE_PRIVILEGES = ("USAGE",)


@dataclass(frozen=True, slots=True)
class Grant:
    """One privilege held by one role (or PUBLIC) on an object or one of its columns.

    A set of grants is the object's whole ACL, defaults spelled out (a NULL ACL
    reads as ``acldefault()``), without the owner's own privileges: those come
    with ownership, which is compared on its own. The grantor is left out:
    who granted does not change what the grantee may do.
    """

    grantee: str
    privilege: str  # upper case: SELECT, EXECUTE, USAGE ...
    grantable: bool = False  # WITH GRANT OPTION
    column: str | None = None  # a column privilege (tables and views)


Grants = frozenset[Grant]


@dataclass(frozen=True, slots=True)
class Partition:
    name: str  # the partition, qualified when its schema is not its parent's
    bound: str  # pg_get_expr(relpartbound): "FOR VALUES IN ('eu')", "DEFAULT"
    migration: str | None = None


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
    owner: str | None = None  # None: not checked
    grants: Grants | None = None  # table and column privileges; None: not checked
    # What the owner holds when someone revoked part of it (in TABLE_PRIVILEGES order);
    # None: the owner's full default set, which comes with ownership.
    owner_privileges: tuple[str, ...] | None = None
    unlogged: bool = False  # UNLOGGED: not WAL-logged, emptied after a crash
    partitioned_by: str | None = None  # "RANGE (created_at)": a partitioned table
    # Its partitions (None: not checked): name (schema-qualified when in another
    # schema) and bound ("FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')", "DEFAULT").
    partitions: tuple[Partition, ...] | None = None
    inherits: tuple[str, ...] = ()  # INHERITS parents, schema-qualified, in order
    # What to do with this table's unlisted columns, constraints, indexes, policies and
    # triggers, where it differs from its schema's choice (a project's own table in a
    # platform's schema: reported, where the platform's tables there are not).
    extra: ExtraPolicy | None = None
    # Live only, never compared: False when its storage parameters switch autovacuum off.
    autovacuum: bool = field(default=True, compare=False)


@dataclass(frozen=True, slots=True)
class Function:
    """A function or procedure, known by its signature: ``name(argument types)``.

    ``body`` is the source between the dollar quotes (``prosrc``), or the
    server's deparse of a ``BEGIN ATOMIC`` body; the diff compares it as a
    parse tree (SQL) or as tokens (PL/pgSQL and others), never as text.
    """

    name: str  # signature: "get_organization_members(uuid)"
    returns: str | None = None  # pg_get_function_result; None: a procedure, or not checked
    language: str | None = None  # None: not checked (a snapshot always fills it)
    body: str | None = None  # None: not checked
    kind: str = "function"  # function | procedure | aggregate | window
    arguments: str | None = None  # with names and defaults, when they say more than `name`
    volatility: str = "volatile"  # immutable | stable | volatile
    strict: bool = False
    security_definer: bool = False
    leakproof: bool = False
    settings: tuple[tuple[str, str], ...] = ()  # proconfig, sorted: (("search_path", '""'),)
    owner: str | None = None
    grants: Grants | None = None
    migration: str | None = None

    def setting(self, name: str) -> str | None:
        return next((value for key, value in self.settings if key == name), None)


@dataclass(frozen=True, slots=True)
class View:
    """A view or materialized view: its query as a parse tree, its options and grants."""

    name: str
    definition: str | None = None  # pg_get_viewdef; None: not checked
    materialized: bool = False
    security_invoker: bool = False
    security_barrier: bool = False
    check_option: str | None = None  # local | cascaded
    owner: str | None = None
    grants: Grants | None = None
    indexes: tuple[Index, ...] | None = None  # materialized views only
    migration: str | None = None
    # Live only, never in a spec: the tables with row level security the query
    # reads ("schema.table"), for telling a view that bypasses their policies.
    rls_tables: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DomainConstraint:
    name: str
    check: str  # the CHECK expression; VALUE stands for the value
    validated: bool = True


@dataclass(frozen=True, slots=True)
class Attribute:
    """An attribute of a composite type."""

    name: str
    type: str


@dataclass(frozen=True, slots=True)
class Type:
    """A user type: an enum (labels in order), a domain or a composite type."""

    name: str
    kind: str  # enum | domain | composite | range
    labels: tuple[str, ...] = ()  # enum
    base: str | None = None  # domain: the base type; range: the subtype
    nullable: bool = True  # domain
    default: str | None = None  # domain
    constraints: tuple[DomainConstraint, ...] = ()  # domain, sorted by name
    attributes: tuple[Attribute, ...] = ()  # composite, in order
    owner: str | None = None
    grants: Grants | None = None
    migration: str | None = None


@dataclass(frozen=True, slots=True)
class Collation:
    """A collation made with CREATE COLLATION in a watched schema."""

    name: str
    provider: str = "libc"  # libc | icu | builtin
    locale: str | None = None  # ICU locale, or libc's LC_COLLATE when LC_CTYPE is the same
    ctype: str | None = None  # libc LC_CTYPE, when it differs from the locale
    deterministic: bool = True
    owner: str | None = None
    grants: Grants | None = None  # never any: a collation has no privileges
    migration: str | None = None


@dataclass(frozen=True, slots=True)
class Sequence:
    """A sequence's definition; its current value is data and never compared."""

    name: str
    type: str = "bigint"
    increment: int = 1
    minimum: int | None = None  # None: the type's default bound
    maximum: int | None = None
    start: int | None = None  # None: the bound it starts from by default
    cache: int = 1
    cycle: bool = False
    owned_by: str | None = None  # "table.column" (OWNED BY)
    owner: str | None = None
    grants: Grants | None = None
    migration: str | None = None


_INTEGER_LIMITS = {"smallint": 2**15, "integer": 2**31, "bigint": 2**63}


def sequence_bounds(type_: str, increment: int) -> tuple[int, int]:
    """The bounds CREATE SEQUENCE gives a sequence of this type (format_type's spelling)
    and direction when none are named."""
    limit = _INTEGER_LIMITS.get(type_, 2**63)
    return (1, limit - 1) if increment > 0 else (-limit, -1)


@dataclass(frozen=True, slots=True)
class DefaultPrivilege:
    """ALTER DEFAULT PRIVILEGES: what objects a role creates in a schema are granted."""

    role: str  # the role whose new objects get these grants
    on: str  # tables | sequences | functions | types | schemas
    grants: Grants = frozenset()  # as set in pg_default_acl (added to the built-in defaults)
    migration: str | None = None

    @property
    def name(self) -> str:
        return f"{self.on} of {self.role}"


@dataclass(frozen=True, slots=True)
class Extension:
    name: str
    schema: str = "public"
    version: str | None = None  # None: any version
    migration: str | None = None
    # Live only, never compared: the version CREATE EXTENSION installs by default here.
    default_version: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Publication:
    name: str
    all_tables: bool = False
    operations: tuple[str, ...] = ("insert", "update", "delete", "truncate")
    tables: tuple[str, ...] = ()  # schema-qualified, sorted
    migration: str | None = None


@dataclass(frozen=True, slots=True)
class EventTrigger:
    name: str
    event: str  # ddl_command_start | ddl_command_end | sql_drop | table_rewrite | login
    function: str  # "schema.name()"
    enabled: str = "origin"  # origin | always | replica | disabled
    tags: tuple[str, ...] = ()  # WHEN TAG IN (...), sorted
    migration: str | None = None


@dataclass(frozen=True, slots=True)
class OwnerPolicy:
    """How owners (and role names in grants) compare across environments.

    ``roles`` maps a role the spec names to the role that plays its part in
    this database (``postgres`` -> ``supabase_admin``); ``ignore`` leaves
    ownership uncompared altogether.
    """

    ignore: bool = False
    roles: tuple[tuple[str, str], ...] = ()  # (spec role, live role), sorted

    def live(self, role: str) -> str:
        return next((live for spec, live in self.roles if spec == role), role)


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
    functions: Extra = Extra.REPORT
    views: Extra = Extra.REPORT
    types: Extra = Extra.REPORT
    sequences: Extra = Extra.REPORT
    collations: Extra = Extra.REPORT

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
    # The security surface; None: not checked (a partial spec), () expects none.
    owner: str | None = None
    grants: Grants | None = None  # USAGE and CREATE on the schema
    functions: tuple[Function, ...] | None = None
    views: tuple[View, ...] | None = None
    types: tuple[Type, ...] | None = None
    sequences: tuple[Sequence, ...] | None = None
    collations: tuple[Collation, ...] | None = None
    default_privileges: tuple[DefaultPrivilege, ...] | None = None
    # Live only, never compared (the advisors read them): foreign tables, with their
    # owner and grants.
    foreign_tables: tuple[Table, ...] | None = field(default=None, compare=False)

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)


DEFAULT_LEDGER_TABLE = "supabase_migrations.schema_migrations"


@dataclass(frozen=True, slots=True)
class Ledger:
    """Migration versions in the order they should be (spec) or were (live) applied."""

    applied: tuple[str, ...]
    table: str = DEFAULT_LEDGER_TABLE
    # Live only: a ledger that keeps just the version the database is at (golang-migrate),
    # and its flag for a migration that failed partway.
    latest_only: bool = False
    dirty: bool = False


@dataclass(frozen=True, slots=True)
class State:
    """An expected-state spec or a live snapshot: the same shape for both."""

    schemas: tuple[Schema, ...]
    ledger: Ledger | None = None
    version: int = 1
    # Database-wide objects; None: not checked.
    extensions: tuple[Extension, ...] | None = None
    publications: tuple[Publication, ...] | None = None
    event_triggers: tuple[EventTrigger, ...] | None = None
    owners: OwnerPolicy = field(default_factory=OwnerPolicy)
    # Schemas: those that must not exist, and whether one the spec does not list is
    # reported (a generated spec that holds every schema of its database says report).
    absent_schemas: tuple[str, ...] = ()
    extra_schemas: Extra = Extra.IGNORE
    # Live only, never compared: every schema of the database but the server's own.
    database_schemas: tuple[str, ...] = field(default=(), compare=False)
    # Live only, never compared (the advisors read them): pgmq's queue tables (pgmq.q_*),
    # with their row level security switch and grants; None where pgmq is not installed.
    queues: tuple[Table, ...] | None = field(default=None, compare=False)

    def schema(self, name: str) -> Schema | None:
        return next((s for s in self.schemas if s.name == name), None)


@dataclass(frozen=True, slots=True)
class Finding:
    """One drift: the one definition of a finding for everything that leaves the process
    (check's JSON, the state files, the report, the log events)."""

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
        """The finding as JSON (docs/contracts.md): its keys are only ever added to."""
        return {key: _plain(getattr(self, key)) for key in FINDING_JSON_KEYS}

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Finding:
        """:meth:`as_json` read back; KeyError or ValueError for what it did not write."""
        return cls(
            **{key: _FINDING_TYPES.get(key, _same)(item[key]) for key in _FINDING_REQUIRED},
            expected=item.get("expected"),
            actual=item.get("actual"),
        )

    def as_event(self) -> dict[str, Any]:
        """The fields of a log event about the finding: its JSON without the descriptions,
        the object's name under ``object`` (``name`` is the event's own)."""
        fields = self.as_json()
        del fields["expected"], fields["actual"]
        fields["object"] = fields.pop("name")
        return fields


# The keys of a finding's JSON, in the order check writes them.
FINDING_JSON_KEYS = (
    "kind",
    "schema",
    "table",
    "name",
    "change",
    "severity",
    "expected",
    "actual",
    "message",
)
_FINDING_REQUIRED = tuple(key for key in FINDING_JSON_KEYS if key not in ("expected", "actual"))
_FINDING_TYPES: dict[str, Callable[[Any], Any]] = {
    "kind": Kind,
    "change": Change,
    "severity": Severity,
}


def _same(value: Any) -> Any:
    return value


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, StrEnum) else value


def _combinations(
    rules: dict[tuple[Kind, ...], dict[Change, str]],
) -> frozenset[tuple[Kind, Change, Severity]]:
    letters = {"c": Severity.CRITICAL, "w": Severity.WARNING, "i": Severity.INFO}
    return frozenset(
        (kind, change, letters[letter])
        for kinds, changes in rules.items()
        for kind in kinds
        for change, severities in changes.items()
        for letter in severities
    )


_K = Kind
_MISSING_OR_PENDING = {Change.UNEXPECTED: "w", Change.PENDING: "i"}
# Every kind x change x severity a finding of the diff (monitor.schema.compare) can carry,
# severities as letters (critical, warning, info): the one list of them. The metrics show
# only these (schema_monitor_drift_objects), docs/metrics.md lists them, and a property
# test holds the diff to them. A missing or changed object whose migration is not applied
# yet is "pending", info.
DRIFT_COMBINATIONS = _combinations(
    {
        (_K.MIGRATION,): {
            Change.INVALID: "c",
            Change.MISSING: "w",
            Change.CHANGED: "w",
            Change.PENDING: "i",
            Change.UNEXPECTED: "w",
        },
        (_K.TABLE, _K.INDEX, _K.POLICY): {Change.MISSING: "c", **_MISSING_OR_PENDING},
        (_K.COLUMN,): {Change.MISSING: "c", Change.CHANGED: "w", **_MISSING_OR_PENDING},
        (_K.RLS,): {Change.DISABLED: "c", Change.CHANGED: "w", Change.UNEXPECTED: "w"},
        (_K.CONSTRAINT, _K.TYPE, _K.SEQUENCE, _K.PUBLICATION): {
            Change.MISSING: "w",
            Change.CHANGED: "w",
            **_MISSING_OR_PENDING,
        },
        (_K.INDEX,): {Change.CHANGED: "w", Change.INVALID: "c"},
        (_K.CONSTRAINT,): {Change.MISSING: "cw"},  # a key as severe as a missing index
        (_K.POLICY,): {Change.CHANGED: "cw", Change.WIDENED: "c", Change.NARROWED: "w"},
        (_K.TRIGGER, _K.EVENT_TRIGGER): {
            Change.MISSING: "w",
            Change.CHANGED: "w",
            Change.DISABLED: "w",
            **_MISSING_OR_PENDING,
        },
        (_K.FUNCTION, _K.VIEW): {
            Change.MISSING: "w",
            Change.CHANGED: "cw",
            Change.WIDENED: "cw",
            Change.NARROWED: "w",
            Change.UNEXPECTED: "cw",
            Change.PENDING: "i",
        },
        (_K.TYPE, _K.SEQUENCE, _K.PUBLICATION): {Change.WIDENED: "w", Change.NARROWED: "w"},
        # A table added to a publication broadcasts its rows: critical, listed or not.
        (_K.PUBLICATION,): {Change.WIDENED: "c", Change.UNEXPECTED: "c"},
        # Persistence, partitioning and parents: critical when it became UNLOGGED.
        (_K.TABLE,): {Change.CHANGED: "cw"},
        (_K.SCHEMA,): {Change.MISSING: "cw", Change.UNEXPECTED: "w"},
        (_K.PARTITION,): {Change.MISSING: "c", Change.CHANGED: "w", **_MISSING_OR_PENDING},
        (_K.COLLATION,): {Change.MISSING: "w", Change.CHANGED: "w", **_MISSING_OR_PENDING},
        (_K.EXTENSION,): {Change.MISSING: "c", Change.CHANGED: "w", **_MISSING_OR_PENDING},
        (_K.PRIVILEGE,): {Change.WIDENED: "cw", Change.NARROWED: "w", Change.PENDING: "i"},
        (_K.OWNER,): {Change.CHANGED: "cw", Change.PENDING: "i"},
    }
)


FindingKey = tuple[str, str, str | None, str, str]


def finding_key(finding: Finding) -> FindingKey:
    """What makes two findings "the same drift" across cycles (not its message or severity)."""
    return (str(finding.kind), finding.schema, finding.table, finding.name, str(finding.change))


Named = TypeVar(
    "Named",
    Column,
    Constraint,
    Index,
    Policy,
    Trigger,
    Table,
    Schema,
    Function,
    View,
    Type,
    Sequence,
    Collation,
    Partition,
    Extension,
    Publication,
    EventTrigger,
)


def by_name(items: Iterable[Named]) -> dict[str, Named]:
    return {item.name: item for item in items}
