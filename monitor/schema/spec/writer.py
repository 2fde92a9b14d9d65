"""The expected-state spec: :class:`model.State` -> YAML text.

Stable: the same state always gives the same text, with objects sorted by
name and default values left out, so that a spec kept in git changes only
where the schema did. Each kind of object is one ``_*_document`` function
giving the mapping it is written as.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

import yaml
import yaml_rs

from monitor.schema import model

# Where each kind of absent object is listed: in a schema or in a table.
SCHEMA_ABSENT = {"tables": model.Kind.TABLE, "indexes": model.Kind.INDEX}
TABLE_ABSENT = {
    "columns": model.Kind.COLUMN,
    "constraints": model.Kind.CONSTRAINT,
    "policies": model.Kind.POLICY,
    "triggers": model.Kind.TRIGGER,
}
# Policy roles when none are written.
DEFAULT_ROLES = frozenset({"public"})


def absent_sort_key(absent: model.Absent) -> tuple[str, str, str]:
    """The order of ``Schema.absent`` in a loaded spec."""
    return (absent.kind.value, absent.table or "", absent.name)


def _name(item: model.Table | model.Schema) -> str:
    return item.name


# An object that fits a line this long is written as one {...} line. A
# column gets more room: one line per column reads like the table, even with
# its migration provenance.
_OBJECT_LINE = 100
_COLUMN_LINE = 160
# How far a spec indents table columns and objects (schemas > s > tables > t > kind).
_COLUMN_INDENT = 8
_OBJECT_INDENT = 10


class _Flow(dict[str, Any]):
    """A mapping written on one line: ``{type: unique, columns: [a, b]}``."""


class _Inline(list[Any]):
    """A list written on one line: ``[a, b]``."""


@dataclasses.dataclass(frozen=True, slots=True)
class _OneLineIfFits:
    """A mapping written as one ``{...}`` line if it has one line and fits
    ``width`` after ``lead`` columns, else as a block."""

    body: dict[str, Any]
    lead: int
    width: int


def dumps(state: model.State) -> str:
    """The spec text of a state: fixed key order, objects sorted by name, defaults left out."""
    return _Writer().text(_state_document(state))


def _state_document(state: model.State) -> dict[str, Any]:
    document: dict[str, Any] = {"version": state.version}
    owners = _owners_document(state.owners)
    if owners:
        document["owners"] = owners
    if state.ledger is not None:
        document["migrations"] = {
            "table": state.ledger.table,
            "applied": list(state.ledger.applied),
        }
    for key, items, describe in (
        ("extensions", state.extensions, _extension_document),
        ("publications", state.publications, _publication_document),
        ("event_triggers", state.event_triggers, _event_trigger_document),
    ):
        if items is not None:
            document[key] = _objects_document(items, describe, _TOP_INDENT)
    if state.extra_schemas is not model.Extra.IGNORE:
        document["extra_schemas"] = state.extra_schemas.value
    if state.absent_schemas:
        document["absent_schemas"] = _inline(sorted(state.absent_schemas))
    document["schemas"] = {s.name: _schema_document(s) for s in sorted(state.schemas, key=_name)}
    return document


# Text written plain: starts with no indicator, holds no flow indicator, no
# ` #`, no colon or `?` at all (in a flow mapping PyYAML and yaml-rs read
# them differently), and no leading or trailing space.
_PLAIN = re.compile(r"[^-?:,\[\]{}#&*!|>'\"%@`\s](?:[^?,\[\]{}:#\s]|[ ](?![ #\s])|#)*(?<![ ])")
# What may read as a number, a boolean or null: asked of yaml-rs, which reads the spec.
_MAY_BE_TYPED = re.compile(r"[-+.0-9~nNtTfF]")
# Inside double quotes: what must be escaped (YAML reads \x85, \u2028 and \u2029 as breaks).
_ESCAPED = re.compile('["\\\\\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]')
_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_INDENT = 2


def _scalar(value: Any) -> str:
    """A scalar as YAML text that reads back as the same value, in a flow or block."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text: str = value
    if _plain(text):
        return text
    if "'" in text or not text.isprintable():
        # SQL string literals read better in "..." than with doubled ''.
        return '"' + _ESCAPED.sub(_escape, text) + '"'
    return "'" + text + "'"


@functools.lru_cache(maxsize=8192)  # names, types and expressions come back table after table
def _plain(text: str) -> bool:
    return (
        _PLAIN.fullmatch(text) is not None
        and text.isprintable()
        and _typed_in_yaml_1_1(text) is False
        and not _typed_in_yaml_1_2(text)
    )


def _typed_in_yaml_1_2(text: str) -> bool:
    """Whether the spec's own parser reads ``text`` written plain as other than that text
    (yaml-rs reads `1_000` as a number, as YAML 1.2's core schema does not)."""
    if _MAY_BE_TYPED.match(text) is None:
        return False
    try:
        read = yaml_rs.loads(f"v: {text}", parse_datetime=False)
    except yaml_rs.YAMLDecodeError:
        return True
    return not (isinstance(read, dict) and read.get("v") == text and type(read["v"]) is str)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04X}"


def _literal(text: str, indent: int) -> str | None:
    """A `|` block keeping the lines of a multi-line text, or None where one cannot.

    A function body between dollar quotes usually starts and ends with a line
    break: the block then says how far its lines are indented (`|2`, or the first
    line would set it) and keeps its final breaks (`|` keeps one, `|+` all).
    """
    if "\r" in text or not all(line.isprintable() for line in text.split("\n")):
        return None
    content = text.rstrip("\n")
    if not content.strip(" "):
        return None
    breaks = len(text) - len(content)
    chomping = "-" if breaks == 0 else "" if breaks == 1 else "+"
    lines = (content if breaks <= 1 else text[:-1]).split("\n")
    hint = str(_INDENT) if not lines[0] or lines[0][0] == " " else ""
    pad = " " * indent
    return f"|{hint}{chomping}\n" + "\n".join(pad + line if line else "" for line in lines)


class _Writer:
    """Writes a document in block style: mappings in order, a list in a mapping not
    indented, :class:`_Flow` and :class:`_Inline` on one line, text plain where it
    reads back as itself, else quoted, a multi-line text as a `|-` block."""

    def __init__(self) -> None:
        self.out: list[str] = []

    def text(self, document: Mapping[str, Any]) -> str:
        self.mapping(document, 0)
        return "".join(self.out)

    def mapping(self, mapping: Mapping[str, Any], indent: int) -> None:
        pad = " " * indent
        for key, value in mapping.items():
            self.out += [pad, _scalar(key), ":"]
            value = self.fitted(value)
            if value and type(value) is dict:
                self.out.append("\n")
                self.mapping(value, indent + _INDENT)
            elif value and type(value) is list:
                self.out.append("\n")
                self.sequence(value, indent)  # not indented in a mapping
            else:
                self.out += [" ", self.inline(value, indent + _INDENT), "\n"]

    def sequence(self, items: list[Any], indent: int) -> None:
        pad = " " * indent
        for item in items:
            item = self.fitted(item)
            if item and type(item) in (dict, list):
                self.out += [pad, "- "]
                start = len(self.out)
                if type(item) is dict:
                    self.mapping(item, indent + _INDENT)
                else:
                    self.sequence(item, indent + _INDENT)
                # The first entry goes on the dash's line.
                self.out[start] = self.out[start].removeprefix(" " * (indent + _INDENT))
            else:
                self.out += [pad, "- ", self.inline(item, indent + _INDENT), "\n"]

    def inline(self, value: Any, indent: int) -> str:
        """A value on the rest of a line: a flow collection, a scalar or a `|-` block."""
        if isinstance(value, dict | list):
            return self.flow(value)
        if isinstance(value, str) and "\n" in value:
            block = _literal(value, indent)
            if block is not None:
                return block
        return _scalar(value)

    def flow(self, value: Mapping[str, Any] | Sequence[Any]) -> str:
        if isinstance(value, Mapping):
            return (
                "{"
                + ", ".join(f"{_scalar(k)}: {self.flow_value(v)}" for k, v in value.items())
                + "}"
            )
        return "[" + ", ".join(self.flow_value(item) for item in value) + "]"

    def flow_value(self, value: Any) -> str:
        return self.flow(value) if isinstance(value, dict | list) else _scalar(value)

    def fitted(self, value: Any) -> Any:
        if not isinstance(value, _OneLineIfFits):
            return value
        if _has_line_break(value.body):
            return value.body
        flow = _Flow(value.body)
        return flow if value.lead + len(self.flow(flow)) <= value.width else value.body


def _document(*fields: tuple[str, Any, Any]) -> dict[str, Any]:
    """`key: value` for each field whose value differs from its default."""
    return {key: value for key, value, default in fields if value != default}


def _has_line_break(value: Any) -> bool:
    if isinstance(value, str):
        return "\n" in value
    if isinstance(value, dict):
        return any(_has_line_break(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_line_break(v) for v in value)
    return False


def _inline(values: Iterable[str]) -> _Inline:
    return _Inline(values)


def _schema_document(schema: model.Schema) -> dict[str, Any]:
    tables = {t.name for t in schema.tables}
    for item in schema.absent:
        _check_absent_placement(schema.name, item, tables)
    document = _document(
        ("extra", _extra_document(schema.extra), None),
        ("ignore", sorted(schema.ignore), []),
        ("owner", schema.owner, None),
        ("grants", _grants_document(schema.grants, model.SCHEMA_PRIVILEGES), None),
        ("default_privileges", _default_privileges_document(schema.default_privileges), None),
        (
            "tables",
            {
                t.name: _table_document(t, [a for a in schema.absent if a.table == t.name])
                for t in sorted(schema.tables, key=_name)
            },
            {},
        ),
    )
    for key, items, describe in (
        ("functions", schema.functions, _function_document),
        ("views", schema.views, _view_document),
        ("types", schema.types, _type_document),
        ("sequences", schema.sequences, _sequence_document),
        ("collations", schema.collations, _collation_document),
    ):
        if items is not None:
            document[key] = _objects_document(items, describe, _SCHEMA_OBJECT_INDENT)
    schema_absent = [a for a in schema.absent if a.table is None]
    if schema_absent:
        document["absent"] = _absent_document(schema_absent, SCHEMA_ABSENT)
    return document


def _check_absent_placement(schema: str, item: model.Absent, tables: Collection[str]) -> None:
    """A spec lists absent tables and indexes in a schema, other kinds in a listed table."""
    if item.kind in SCHEMA_ABSENT.values():
        if item.table is not None:
            raise ValueError(f"absent {item.kind} {item.name!r} cannot belong to a table")
    elif item.table not in tables:
        raise ValueError(
            f"absent {item.kind} {item.name!r} belongs to table {item.table!r}, "
            f"which schema {schema} does not list"
        )


def _extra_document(extra: model.ExtraPolicy) -> str | _Flow | None:
    chosen = {kind: extra.for_kind(kind) for kind in model.EXTRA_KINDS}
    if len(set(chosen.values())) == 1:
        every = next(iter(chosen.values()))
        return None if every is model.Extra.REPORT else every.value
    return _Flow({k: v.value for k, v in chosen.items() if v is not model.Extra.REPORT})


def _absent_document(
    items: Sequence[model.Absent], kinds: Mapping[str, model.Kind]
) -> dict[str, list[Any]]:
    document: dict[str, list[Any]] = {}
    for key, kind in kinds.items():
        entries = [
            a.name if a.migration is None else _Flow({"name": a.name, "migration": a.migration})
            for a in sorted(items, key=absent_sort_key)
            if a.kind is kind
        ]
        if entries:
            document[key] = entries
    return document


def _table_document(table: model.Table, absent: Sequence[model.Absent]) -> dict[str, Any]:
    document = _document(("migration", table.migration, None), ("owner", table.owner, None))
    if table.owner_privileges is not None:
        document["owner_privileges"] = _inline(table.owner_privileges)
    document.update(_relation_grants_document(table.grants))
    document.update(
        _document(
            ("unlogged", table.unlogged, False),
            ("partitioned_by", table.partitioned_by, None),
            ("inherits", _inline(table.inherits), _inline(())),
            # None takes the schema's choice: a table that reports everything says so.
            ("extra", table.extra and (_extra_document(table.extra) or "report"), None),
        )
    )
    if table.rls is not None:
        document["rls"] = _Flow(
            _document(("enabled", table.rls.enabled, None), ("forced", table.rls.forced, False))
        )
    if table.columns is not None:
        lead = _COLUMN_INDENT + len("- ")
        document["columns"] = [
            _OneLineIfFits(_column_document(c), lead, _COLUMN_LINE) for c in table.columns
        ]
    objects: tuple[tuple[str, Sequence[Any] | None, Callable[[Any], dict[str, Any]]], ...] = (
        ("constraints", table.constraints, _constraint_document),
        ("indexes", table.indexes, _index_document),
        ("policies", table.policies, _policy_document),
        ("triggers", table.triggers, _trigger_document),
    )
    for key, items, describe in objects:
        if items is not None:
            ordered = sorted(items, key=lambda item: str(item.name))
            document[key] = {
                item.name: _OneLineIfFits(
                    describe(item), _OBJECT_INDENT + len(item.name) + len(": "), _OBJECT_LINE
                )
                for item in ordered
            }
    if table.partitions is not None:
        document["partitions"] = {p.name: _partition_document(p) for p in table.partitions}
    if absent:
        document["absent"] = _absent_document(absent, TABLE_ABSENT)
    return document


def _partition_document(partition: model.Partition) -> str | _Flow:
    if partition.migration is None:
        return partition.bound
    return _Flow({"bound": partition.bound, "migration": partition.migration})


def _column_document(column: model.Column) -> dict[str, Any]:
    return _document(
        ("name", column.name, None),
        ("type", column.type, None),
        ("nullable", column.nullable, True),
        ("default", column.default, None),
        ("identity", column.identity, None),
        ("generated", column.generated, None),
        ("collation", column.collation, None),
        ("migration", column.migration, None),
    )


def _constraint_document(constraint: model.Constraint) -> dict[str, Any]:
    references = constraint.references
    return _document(
        ("type", constraint.type.value, None),
        ("columns", _inline(constraint.columns), []),
        ("references", None if references is None else _references_document(references), None),
        ("check", constraint.check, None),
        ("deferrable", constraint.deferrable, False),
        ("deferred", constraint.deferred, False),
        ("validated", constraint.validated, True),
        ("migration", constraint.migration, None),
    )


def _references_document(references: model.ForeignKey) -> _Flow:
    return _Flow(
        _document(
            ("table", references.table, None),
            ("columns", _inline(references.columns), None),
            ("on_delete", references.on_delete, "NO ACTION"),
            ("on_update", references.on_update, "NO ACTION"),
            ("match", references.match, "SIMPLE"),
        )
    )


def _index_document(index: model.Index) -> dict[str, Any]:
    # `valid` is never written: a spec always expects a valid index.
    return _document(
        ("columns", _inline(index.columns), None),
        ("include", _inline(index.include), []),
        ("where", index.where, None),
        ("unique", index.unique, False),
        ("method", index.method, "btree"),
        ("constraint", index.constraint, None),
        ("migration", index.migration, None),
    )


def _policy_document(policy: model.Policy) -> dict[str, Any]:
    return _document(
        ("command", policy.command, "ALL"),
        ("permissive", policy.permissive, True),
        ("roles", _inline(sorted(policy.roles)), sorted(DEFAULT_ROLES)),
        ("using", policy.using, None),
        ("with_check", policy.with_check, None),
        ("migration", policy.migration, None),
    )


def _trigger_document(trigger: model.Trigger) -> dict[str, Any]:
    return _document(
        ("timing", trigger.timing, None),
        ("events", _inline(trigger.events), None),
        ("level", trigger.level, None),
        ("function", trigger.function, None),
        ("columns", _inline(trigger.columns), []),
        ("when", trigger.when, None),
        ("enabled", trigger.enabled, "origin"),
        ("migration", trigger.migration, None),
    )


# --- the security surface ----------------------------------------------------

# How far a spec indents database-wide objects and a schema's functions, views ...
_TOP_INDENT = 2
_SCHEMA_OBJECT_INDENT = 6


def _objects_document(
    items: Iterable[Any], describe: Callable[[Any], dict[str, Any]], indent: int
) -> dict[str, Any]:
    ordered = sorted(items, key=lambda item: str(item.name))
    return {
        item.name: _OneLineIfFits(describe(item), indent + len(item.name) + 2, _OBJECT_LINE)
        for item in ordered
    }


def _owners_document(owners: model.OwnerPolicy) -> dict[str, Any]:
    return _document(
        ("ignore", owners.ignore, False),
        ("roles", _Flow(dict(owners.roles)), {}),
    )


def privilege_words(grants: Iterable[model.Grant], every: Sequence[str]) -> list[str]:
    """One grantee's privileges as a spec writes them: ``ALL`` when all of ``every``,
    else in GRANT's order, ``WITH GRANT OPTION`` after those held with it."""
    held = {g.privilege: g.grantable for g in grants}
    if len(every) > 1 and set(held) == set(every) and len(set(held.values())) == 1:
        return ["ALL WITH GRANT OPTION" if next(iter(held.values())) else "ALL"]
    order = {privilege: position for position, privilege in enumerate(every)}
    words = sorted(held, key=lambda p: (order.get(p, len(order)), p))
    return [f"{p} WITH GRANT OPTION" if held[p] else p for p in words]


def _grants_document(grants: model.Grants | None, every: Sequence[str]) -> _Flow | None:
    if grants is None:
        return None
    by_grantee: dict[str, list[model.Grant]] = {}
    for grant in grants:
        by_grantee.setdefault(grant.grantee, []).append(grant)
    return _Flow(
        {
            grantee: _inline(privilege_words(found, every))
            for grantee, found in sorted(by_grantee.items())
        }
    )


def _relation_grants_document(grants: model.Grants | None) -> dict[str, Any]:
    """A table's or view's ``grants`` and ``column_grants``."""
    if grants is None:
        return {}
    whole = frozenset(g for g in grants if g.column is None)
    columns: dict[str, list[model.Grant]] = {}
    for grant in grants:
        if grant.column is not None:
            columns.setdefault(grant.column, []).append(grant)
    document: dict[str, Any] = {"grants": _grants_document(whole, model.TABLE_PRIVILEGES)}
    if columns:
        document["column_grants"] = {
            column: _grants_document(frozenset(found), model.COLUMN_PRIVILEGES)
            for column, found in sorted(columns.items())
        }
    return document


DEFAULT_PRIVILEGES_OF = {
    "tables": model.TABLE_PRIVILEGES,
    "sequences": model.SEQUENCE_PRIVILEGES,
    "functions": model.FUNCTION_PRIVILEGES,
    "types": model.TYPE_PRIVILEGES,
    "schemas": model.SCHEMA_PRIVILEGES,
}


def _default_privileges_document(
    defaults: tuple[model.DefaultPrivilege, ...] | None,
) -> dict[str, Any] | None:
    if defaults is None:
        return None
    document: dict[str, dict[str, Any]] = {}
    for entry in sorted(defaults, key=lambda d: (d.role, d.on)):
        document.setdefault(entry.role, {})[entry.on] = _grants_document(
            entry.grants, DEFAULT_PRIVILEGES_OF[entry.on]
        )
    return document


def _function_document(function: model.Function) -> dict[str, Any]:
    return _document(
        ("kind", function.kind, "function"),
        ("arguments", function.arguments, None),
        ("returns", function.returns, None),
        ("language", function.language, None),
        ("volatility", function.volatility, "volatile"),
        ("strict", function.strict, False),
        ("security_definer", function.security_definer, False),
        ("leakproof", function.leakproof, False),
        ("settings", _Flow(dict(function.settings)), {}),
        ("owner", function.owner, None),
        ("grants", _grants_document(function.grants, model.FUNCTION_PRIVILEGES), None),
        ("migration", function.migration, None),
        ("body", function.body, None),
    )


def _view_document(view: model.View) -> dict[str, Any]:
    document = _document(
        ("materialized", view.materialized, False),
        ("security_invoker", view.security_invoker, False),
        ("security_barrier", view.security_barrier, False),
        ("check_option", view.check_option, None),
        ("owner", view.owner, None),
    )
    document.update(_relation_grants_document(view.grants))
    if view.indexes is not None and view.materialized:
        document["indexes"] = {
            index.name: _index_document(index)
            for index in sorted(view.indexes, key=lambda i: i.name)
        }
    document.update(
        _document(
            ("migration", view.migration, None),
            ("definition", view.definition, None),
        )
    )
    return document


def _type_document(type_: model.Type) -> dict[str, Any]:
    if type_.kind == "enum":
        shape: dict[str, Any] = {"enum": _inline(type_.labels)}
    elif type_.kind == "composite":
        shape = {"composite": _Flow({a.name: a.type for a in type_.attributes})}
    elif type_.kind == "range":
        shape = {"range": type_.base}
    else:
        shape = _document(
            ("domain", type_.base, None),
            ("nullable", type_.nullable, True),
            ("default", type_.default, None),
            ("constraints", _Flow({c.name: c.check for c in type_.constraints}), {}),
        )
    shape.update(
        _document(
            ("owner", type_.owner, None),
            ("grants", _grants_document(type_.grants, model.TYPE_PRIVILEGES), None),
            ("migration", type_.migration, None),
        )
    )
    return shape


def _sequence_document(sequence: model.Sequence) -> dict[str, Any]:
    return _document(
        ("type", sequence.type, "bigint"),
        ("increment", sequence.increment, 1),
        ("minimum", sequence.minimum, None),
        ("maximum", sequence.maximum, None),
        ("start", sequence.start, None),
        ("cache", sequence.cache, 1),
        ("cycle", sequence.cycle, False),
        ("owned_by", sequence.owned_by, None),
        ("owner", sequence.owner, None),
        ("grants", _grants_document(sequence.grants, model.SEQUENCE_PRIVILEGES), None),
        ("migration", sequence.migration, None),
    )


def _collation_document(collation: model.Collation) -> dict[str, Any]:
    return _document(
        ("provider", collation.provider, "libc"),
        ("locale", collation.locale, None),
        ("ctype", collation.ctype, None),
        ("deterministic", collation.deterministic, True),
        ("owner", collation.owner, None),
        ("migration", collation.migration, None),
    )


def _extension_document(extension: model.Extension) -> dict[str, Any]:
    return _document(
        ("schema", extension.schema, None),
        ("version", extension.version, None),
        ("migration", extension.migration, None),
    )


_ALL_OPERATIONS = ("insert", "update", "delete", "truncate")


def _publication_document(publication: model.Publication) -> dict[str, Any]:
    return _document(
        ("all_tables", publication.all_tables, False),
        ("operations", _inline(publication.operations), _inline(_ALL_OPERATIONS)),
        ("tables", _inline(publication.tables), []),
        ("migration", publication.migration, None),
    )


def _event_trigger_document(trigger: model.EventTrigger) -> dict[str, Any]:
    return _document(
        ("event", trigger.event, None),
        ("function", trigger.function, None),
        ("enabled", trigger.enabled, "origin"),
        ("tags", _inline(trigger.tags), []),
        ("migration", trigger.migration, None),
    )


_RESOLVER = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"


@functools.lru_cache(maxsize=4096)
def _typed_in_yaml_1_1(text: str) -> bool:
    """Whether YAML 1.1 reads ``text`` written plain as other than text (`yes`, `0x1f`):
    the spec is written so that any YAML reader reads it the same."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag != _STR
