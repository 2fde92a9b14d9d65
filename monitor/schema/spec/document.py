"""The spec's document format, declared once: every mapping it holds, its keys, what each
key takes and which keys are required.

The reader (:mod:`.reader`, :mod:`.security`) takes the keys of each mapping
from here, and ``schema-monitor spec json-schema`` writes the JSON Schema of
this format for editors (docs/schemas/spec.schema.json). The model a spec
becomes is :mod:`monitor.schema.model`; friendly spellings (``rls: true``,
``- id: uuid``, ``grants: {anon: SELECT}``) are unions here and are turned
into the model by the reader, which reports every problem at once with its
line (msgspec's own conversion stops at the first).

A new kind of object is one Struct here, listed where it goes (a schema's or
the document's mapping of names), its read method and checks in the reader,
and its ``_*_document`` in :mod:`.writer`.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct, field

# A scalar YAML may read as other than text (`default: 0`): kept as its text.
Sql = str | int | float | bool
# `{grantee: [privilege, ...]}`, a lone privilege standing for a list of one.
Grants = dict[str, list[str] | str]
Names = list[str]
OneOrMore = list[str] | str


class _Doc(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A mapping of the spec: unknown keys are problems."""


class Ledger(_Doc):
    applied: Names
    table: str | None = None


class Owners(_Doc):
    ignore: bool | None = None
    roles: dict[str, str] | None = None


class Extension(_Doc):
    schema: str | None = None
    version: str | None = None
    migration: str | None = None


class Publication(_Doc):
    all_tables: bool | None = None
    operations: OneOrMore | None = None
    tables: Names | None = None
    migration: str | None = None


class EventTrigger(_Doc):
    event: str
    function: str
    enabled: bool | str | None = None
    tags: OneOrMore | None = None
    migration: str | None = None


class Extra(_Doc):
    tables: str | None = None
    columns: str | None = None
    constraints: str | None = None
    indexes: str | None = None
    policies: str | None = None
    triggers: str | None = None
    functions: str | None = None
    views: str | None = None
    types: str | None = None
    sequences: str | None = None
    collations: str | None = None


class AbsentEntry(_Doc):
    name: str
    migration: str | None = None


AbsentList = list[str | AbsentEntry]


class SchemaAbsent(_Doc):
    tables: AbsentList | None = None
    indexes: AbsentList | None = None


class TableAbsent(_Doc):
    columns: AbsentList | None = None
    constraints: AbsentList | None = None
    policies: AbsentList | None = None
    triggers: AbsentList | None = None


class DefaultPrivileges(_Doc):
    tables: Grants | None = None
    sequences: Grants | None = None
    functions: Grants | None = None
    types: Grants | None = None
    schemas: Grants | None = None


class Rls(_Doc):
    enabled: bool
    forced: bool | None = None


class Column(_Doc):
    name: str
    type: str
    nullable: bool | None = None
    default: Sql | None = None
    identity: str | None = None  # always | by default
    generated: Sql | None = None
    collation: str | None = None  # when not the type's default: "C", "public.nocase"
    migration: str | None = None


# `- id: uuid`: a column with just a name and a type.
_SHORT_COLUMN = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": {"type": "string"},
}
Columns = Annotated[
    list[Column],
    Meta(extra_json_schema={"items": {"anyOf": [{"$ref": "#/$defs/Column"}, _SHORT_COLUMN]}}),
]


class References(_Doc):
    table: str
    columns: Names
    on_delete: str | None = None
    on_update: str | None = None
    match: str | None = None


class Constraint(_Doc):
    type: str  # primary key (pk), unique, foreign key (fk), check, exclude
    columns: Names | None = None
    references: References | None = None
    check: Sql | None = None
    deferrable: bool | None = None
    deferred: bool | None = None
    validated: bool | None = None
    migration: str | None = None


class Index(_Doc):
    columns: Names
    include: Names | None = None
    where: Sql | None = None
    unique: bool | None = None
    method: str | None = None
    valid: bool | None = None
    constraint: str | None = None
    migration: str | None = None


class Policy(_Doc):
    command: str | None = None
    permissive: bool | None = None
    as_: str | None = field(default=None, name="as")  # permissive | restrictive
    roles: OneOrMore | None = None
    using: Sql | None = None
    with_check: Sql | None = None
    check: Sql | None = None  # with_check's other name
    migration: str | None = None


class Trigger(_Doc):
    timing: str
    events: OneOrMore
    function: str
    level: str | None = None
    columns: Names | None = None
    when: Sql | None = None
    enabled: bool | str | None = None
    migration: str | None = None


class Partition(_Doc):
    bound: str  # as pg_get_expr writes it: FOR VALUES ..., DEFAULT
    migration: str | None = None


class Table(_Doc):
    migration: str | None = None
    owner: str | None = None
    owner_privileges: Names | None = None  # what the owner holds, when not all
    grants: Grants | None = None
    column_grants: dict[str, Grants] | None = None
    unlogged: bool | None = None
    partitioned_by: str | None = None  # RANGE (created_at)
    inherits: Names | None = None  # parents, bare ones in the table's schema
    extra: str | Extra | None = None  # its parts' unlisted ones, where not as its schema says
    rls: bool | Rls | None = None
    columns: Columns | None = None
    constraints: dict[str, Constraint] | None = None
    indexes: dict[str, Index] | None = None
    policies: dict[str, Policy | None] | None = None
    triggers: dict[str, Trigger] | None = None
    partitions: dict[str, str | Partition] | None = None  # name: bound
    absent: TableAbsent | None = None


class Function(_Doc):
    kind: str | None = None
    arguments: str | None = None
    returns: str | None = None
    language: str | None = None
    volatility: str | None = None
    strict: bool | None = None
    security_definer: bool | None = None
    leakproof: bool | None = None
    settings: dict[str, Sql] | None = None
    owner: str | None = None
    grants: Grants | None = None
    migration: str | None = None
    body: str | None = None


class View(_Doc):
    materialized: bool | None = None
    security_invoker: bool | None = None
    security_barrier: bool | None = None
    check_option: str | None = None
    owner: str | None = None
    grants: Grants | None = None
    column_grants: dict[str, Grants] | None = None
    indexes: dict[str, Index] | None = None
    migration: str | None = None
    definition: str | None = None


class Type(_Doc):
    enum: Names | None = None
    domain: str | None = None
    composite: dict[str, str] | None = None
    range: str | None = None
    nullable: bool | None = None
    default: Sql | None = None
    constraints: dict[str, str] | None = None
    owner: str | None = None
    grants: Grants | None = None
    migration: str | None = None


class Sequence(_Doc):
    type: str | None = None
    increment: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    start: int | None = None
    cache: int | None = None
    cycle: bool | None = None
    owned_by: str | None = None
    owner: str | None = None
    grants: Grants | None = None
    migration: str | None = None


class Collation(_Doc):
    provider: str | None = None  # libc | icu | builtin
    locale: str | None = None
    ctype: str | None = None  # libc LC_CTYPE, when not the locale
    deterministic: bool | None = None
    owner: str | None = None
    migration: str | None = None


class Schema(_Doc):
    extra: str | Extra | None = None
    ignore: Names | None = None
    owner: str | None = None
    grants: Grants | None = None
    default_privileges: dict[str, DefaultPrivileges] | None = None
    tables: dict[str, Table | None] | None = None
    functions: dict[str, Function | None] | None = None
    views: dict[str, View | None] | None = None
    types: dict[str, Type] | None = None
    sequences: dict[str, Sequence | None] | None = None
    collations: dict[str, Collation | None] | None = None
    absent: SchemaAbsent | None = None


class Spec(_Doc):
    """The whole document."""

    version: int
    schemas: dict[str, Schema | None]
    owners: Owners | None = None
    migrations: Ledger | None = None
    extensions: dict[str, Extension | None] | None = None
    publications: dict[str, Publication | None] | None = None
    event_triggers: dict[str, EventTrigger] | None = None
    extra_schemas: str | None = None  # report | ignore (the default)
    absent_schemas: Names | None = None
