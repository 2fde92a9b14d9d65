"""The expected-state spec: :class:`model.State` -> YAML text.

Stable: the same state always gives the same text, with objects sorted by
name and default values left out, so that a spec kept in git changes only
where the schema did. Each kind of object is one ``_*_document`` function
giving the mapping it is written as.
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

import yaml

from monitor.schema import model
from monitor.schema.yamldoc import STR, plain_tag

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
    if state.ledger is not None:
        document["migrations"] = {
            "table": state.ledger.table,
            "applied": list(state.ledger.applied),
        }
    document["schemas"] = {s.name: _schema_document(s) for s in sorted(state.schemas, key=_name)}
    return document


# What YAML counts as a line break; a run of them, or of anything else.
_BREAKS = "\n\x85\u2028\u2029"
_RUNS = re.compile(f"[{_BREAKS}]+|[^{_BREAKS}]+")
_OTHER_BREAKS = re.compile("[\x85\u2028\u2029]+")
# Characters a double-quoted scalar writes as escapes (with allow_unicode).
_ESCAPED = re.compile('["\\\\\x85\u2028\u2029\ufeff]|[^\x20-\x7e\xa0-\ud7ff\ue000-\ufffd]')
_ESCAPES: Mapping[str, str] = yaml.emitter.Emitter.ESCAPE_REPLACEMENTS
# PyYAML writes a key as `? key` from this length on, counting its `!!str` tag.
_SIMPLE_KEY_LENGTH = 128 - len("!!str")
_INDENT = 2
# Only its analyze_scalar is used: which styles can hold a text exactly.
_ANALYZER = yaml.emitter.Emitter(io.StringIO(), allow_unicode=True)


@dataclasses.dataclass(frozen=True, slots=True)
class _Styles:
    """The style PyYAML writes one text in, by place: "" plain, ' " or |.

    The key styles are None when the text cannot be a simple key: it is then
    written after a ``?`` in its block or flow style.
    """

    block: str
    flow: str
    key: str | None
    flow_key: str | None


def _styles(text: str) -> _Styles:
    analysis = _ANALYZER.analyze_scalar(text)
    asked = ""
    if "\n" in text:
        # A pretty-printed expression keeps its lines; YAML falls back to
        # quotes where a literal block cannot hold the text exactly.
        asked = "|"
    elif "'" in text and "\\" not in text and not analysis.allow_flow_plain:
        asked = '"'  # SQL string literals read better in "..." than with doubled ''
    # Plain only if it reads back as text, not as a number, boolean or null.
    plain = not asked and plain_tag(text) == STR

    def choose(flow: bool, key: bool) -> str:  # as yaml.emitter.Emitter.choose_scalar_style
        if asked == '"':
            return '"'
        if (
            plain
            and not (key and (analysis.empty or analysis.multiline))
            and (analysis.allow_flow_plain if flow else analysis.allow_block_plain)
        ):
            return ""
        if asked == "|" and not flow and not key and analysis.allow_block:
            return "|"
        if not asked and analysis.allow_single_quoted and not (key and analysis.multiline):
            return "'"
        return '"'

    simple_key = len(text) < _SIMPLE_KEY_LENGTH and not analysis.empty and not analysis.multiline
    return _Styles(
        block=choose(flow=False, key=False),
        flow=choose(flow=True, key=False),
        key=choose(flow=False, key=True) if simple_key else None,
        flow_key=choose(flow=True, key=True) if simple_key else None,
    )


def _single_quoted(text: str, indent: int) -> str:
    # Never with a \n (such text asks for a | block, else double quotes), but
    # maybe with YAML's other line breaks: each run is followed by the indent.
    quoted = _OTHER_BREAKS.sub(lambda run: run.group() + " " * indent, text.replace("'", "''"))
    return "'" + quoted + "'"


def _double_quoted(text: str) -> str:
    return '"' + _ESCAPED.sub(_escape, text) + '"'


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _ESCAPES:
        return "\\" + _ESCAPES[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02X}"
    return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


def _literal(text: str, indent: int) -> str:
    """A ``|`` block scalar: its header and its lines, each ending its line."""
    hints = str(_INDENT) if text[0] in " " + _BREAKS else ""
    if text[-1] not in _BREAKS:
        hints += "-"
    elif len(text) == 1 or text[-2] in _BREAKS:
        hints += "+"
    pad = " " * indent
    parts = ["|", hints, "\n"]
    for run in _RUNS.findall(text):
        parts += [run] if run[0] in _BREAKS else [pad, run]
    if text[-1] not in _BREAKS:
        parts.append("\n")
    return "".join(parts)


class _Writer:
    """Writes a document exactly as ``yaml.dump`` writes it with PyYAML's
    emitter (block style, ``sort_keys=False``, ``allow_unicode``, no aliases,
    :class:`_Flow` and :class:`_Inline` in flow style, text styled as the
    ``_styles`` rules say), only many times faster.

    PyYAML's emitter runs every value through a state machine; the shapes of
    a spec are few and are written here directly: block mappings (a list in a
    mapping is not indented), block lists, ``{...}`` and ``[...]`` flow
    collections, and scalars. Lines are never folded: PyYAML folds only past
    a width that dumps set beyond any real line.
    """

    def __init__(self) -> None:
        self.out: list[str] = []
        self.styles: dict[str, _Styles] = {}
        # The last scalar was a `|+` block, whose trailing empty lines YAML
        # keeps: then the document ends with `...`, as PyYAML writes it.
        self.open_ended = False

    def text(self, document: dict[str, Any]) -> str:
        self.mapping(document, 0, continued=True)
        if self.open_ended:
            self.out.append("...\n")
        return "".join(self.out)

    def style(self, text: str) -> _Styles:
        styles = self.styles.get(text)
        if styles is None:
            styles = self.styles[text] = _styles(text)
        return styles

    def scalar(self, value: Any, style: str, indent: int) -> str:
        """``value`` in ``style``; ``indent`` is where its continuation lines start."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int) or style == "":
            return str(value)
        if style == "'":
            return _single_quoted(value, indent)
        if style == "|":
            return _literal(value, indent)
        return _double_quoted(value)

    def mapping(self, mapping: Mapping[str, Any], indent: int, *, continued: bool) -> None:
        """A block mapping; ``continued``: its first key goes on the current line."""
        out, pad = self.out, " " * indent
        for key, value in mapping.items():
            if not continued:
                out.append(pad)
            continued = False
            style = self.style(key).key
            if style is not None:
                out += [self.scalar(key, style, indent + _INDENT), ":"]
            else:
                out.append("?")
                self.node(key, indent + _INDENT)
                out.append(pad + ":")
            self.value(value, indent, simple_key=style is not None)

    def value(self, value: Any, indent: int, *, simple_key: bool) -> None:
        """The value of a key of a block mapping at ``indent``."""
        value = self.fitted(value)
        if simple_key and value and type(value) is dict:
            self.out.append("\n")
            self.mapping(value, indent + _INDENT, continued=False)
        elif simple_key and value and type(value) is list:
            self.out.append("\n")
            self.sequence(value, indent, continued=False)  # not indented in a mapping
        else:
            self.node(value, indent + _INDENT)

    def sequence(self, items: Sequence[Any], indent: int, *, continued: bool) -> None:
        """A block list; ``continued``: its first item goes on the current line."""
        out, pad = self.out, " " * indent
        for item in items:
            if not continued:
                out.append(pad)
            continued = False
            out.append("-")
            self.node(self.fitted(item), indent + _INDENT)

    def node(self, value: Any, indent: int) -> None:
        """A value after an indicator (``key:``, ``-``, ``?``): the rest of the line and
        what follows; ``indent`` is where a mapping or list in it starts."""
        out = self.out
        if value and type(value) is dict:
            out.append(" ")
            self.mapping(value, indent, continued=True)
        elif value and type(value) is list:
            out.append(" ")
            self.sequence(value, indent, continued=True)
        elif isinstance(value, dict | list):
            out += [" ", self.flow(value, indent), "\n"]
            self.open_ended = False
        else:
            style = self.style(value).block if isinstance(value, str) else ""
            text = self.scalar(value, style, indent)
            out += [" ", text] if style == "|" else [" ", text, "\n"]
            self.open_ended = style == "|" and text.startswith(("|+", "|2+"))

    def flow(self, value: Mapping[str, Any] | Sequence[Any], indent: int) -> str:
        """A ``{...}`` or ``[...]`` collection; ``indent`` is its own, as PyYAML counts it."""
        inner = indent + _INDENT
        if isinstance(value, Mapping):
            entries = (self.flow_entry(key, item, inner) for key, item in value.items())
            return "{" + ", ".join(entries) + "}"
        return "[" + ", ".join(self.flow_value(item, inner) for item in value) + "]"

    def flow_entry(self, key: str, value: Any, indent: int) -> str:
        styles = self.style(key)
        if styles.flow_key is not None:
            return f"{self.scalar(key, styles.flow_key, indent)}: {self.flow_value(value, indent)}"
        return f"? {self.scalar(key, styles.flow, indent)} : {self.flow_value(value, indent)}"

    def flow_value(self, value: Any, indent: int) -> str:
        if isinstance(value, dict | list):
            return self.flow(value, indent)
        style = self.style(value).flow if isinstance(value, str) else ""
        return self.scalar(value, style, indent)

    def fitted(self, value: Any) -> Any:
        if not isinstance(value, _OneLineIfFits):
            return value
        if _has_line_break(value.body):
            return value.body
        flow = _Flow(value.body)
        # Measured as PyYAML measured it: the mapping alone, as a document.
        fits = value.lead + len(self.flow(flow, _INDENT)) <= value.width
        return flow if fits else value.body


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
        (
            "tables",
            {
                t.name: _table_document(t, [a for a in schema.absent if a.table == t.name])
                for t in sorted(schema.tables, key=_name)
            },
            {},
        ),
    )
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
    document = _document(("migration", table.migration, None))
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
    if absent:
        document["absent"] = _absent_document(absent, TABLE_ABSENT)
    return document


def _column_document(column: model.Column) -> dict[str, Any]:
    return _document(
        ("name", column.name, None),
        ("type", column.type, None),
        ("nullable", column.nullable, True),
        ("default", column.default, None),
        ("identity", column.identity, None),
        ("generated", column.generated, None),
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
