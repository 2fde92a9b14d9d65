"""The expected-state spec: YAML text <-> :class:`model.State`.

Loading is strict and reports every problem at once, each with its file and
line: the YAML is composed into a node tree (nodes keep their line) and
walked here, instead of being turned into plain dicts that forget where
things were. Dumping is stable: the same state always gives the same text,
with objects sorted by name and default values left out, so that a spec kept
in git changes only where the schema did.

Text the user wrote (types, expressions, names) is stored as written, only
stripped; comparison is semantic and belongs to the diff. The format is
described in docs/spec.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from monitor import model, normalize
from monitor.errors import InputError, Problem

T = TypeVar("T")
D = TypeVar("D")

_TAG = "tag:yaml.org,2002:"
_NULL, _BOOL, _INT, _STR, _MERGE = (
    _TAG + "null",
    _TAG + "bool",
    _TAG + "int",
    _TAG + "str",
    _TAG + "merge",
)
_SCALAR_TAGS = frozenset(
    _TAG + name for name in ("str", "null", "bool", "int", "float", "timestamp")
)
_BOOLEANS: Mapping[str, bool] = yaml.constructor.SafeConstructor.bool_values

# Friendly spellings (compared after _spelling) -> the model's canonical value.
_CONSTRAINT_TYPES = {
    "primary key": model.ConstraintType.PRIMARY_KEY,
    "pk": model.ConstraintType.PRIMARY_KEY,
    "unique": model.ConstraintType.UNIQUE,
    "foreign key": model.ConstraintType.FOREIGN_KEY,
    "fk": model.ConstraintType.FOREIGN_KEY,
    "check": model.ConstraintType.CHECK,
    "exclude": model.ConstraintType.EXCLUDE,
}
_ACTIONS = {
    "no action": "NO ACTION",
    "restrict": "RESTRICT",
    "cascade": "CASCADE",
    "set null": "SET NULL",
    "set default": "SET DEFAULT",
}
_MATCHES = {"simple": "SIMPLE", "full": "FULL", "partial": "PARTIAL"}
_IDENTITIES = {"always": "always", "by default": "by default"}
_COMMANDS = {c.lower(): c for c in ("ALL", "SELECT", "INSERT", "UPDATE", "DELETE")}
_POLICY_KINDS = {"permissive": True, "restrictive": False}
_TIMINGS = {"before": "BEFORE", "after": "AFTER", "instead of": "INSTEAD OF"}
_EVENTS = {e.lower(): e for e in ("INSERT", "UPDATE", "DELETE", "TRUNCATE")}
_EVENT_ORDER = tuple(_EVENTS.values())
_LEVELS = {
    "row": "ROW",
    "for each row": "ROW",
    "statement": "STATEMENT",
    "for each statement": "STATEMENT",
}
_ENABLED = {e: e for e in ("origin", "always", "replica", "disabled")}
_EXTRAS = {e.value: e for e in model.Extra}

# The keys each mapping accepts, in the order dumps writes them.
_STATE_KEYS = ("version", "migrations", "schemas")
_LEDGER_KEYS = ("table", "applied")
_SCHEMA_KEYS = ("extra", "ignore", "tables", "absent")
_TABLE_KEYS = (
    "migration",
    "rls",
    "columns",
    "constraints",
    "indexes",
    "policies",
    "triggers",
    "absent",
)
_RLS_KEYS = ("enabled", "forced")
_COLUMN_KEYS = ("name", "type", "nullable", "default", "identity", "generated", "migration")
_CONSTRAINT_KEYS = (
    "type",
    "columns",
    "references",
    "check",
    "deferrable",
    "deferred",
    "validated",
    "migration",
)
_REFERENCE_KEYS = ("table", "columns", "on_delete", "on_update", "match")
_INDEX_KEYS = (
    "columns",
    "include",
    "where",
    "unique",
    "method",
    "valid",
    "constraint",
    "migration",
)
_POLICY_KEYS = ("command", "permissive", "as", "roles", "using", "with_check", "check", "migration")
_TRIGGER_KEYS = (
    "timing",
    "events",
    "level",
    "function",
    "columns",
    "when",
    "enabled",
    "migration",
)
_ABSENT_ENTRY_KEYS = ("name", "migration")
# Where each kind of absent object is listed: in a schema or in a table.
_SCHEMA_ABSENT = {"tables": model.Kind.TABLE, "indexes": model.Kind.INDEX}
_TABLE_ABSENT = {
    "columns": model.Kind.COLUMN,
    "constraints": model.Kind.CONSTRAINT,
    "policies": model.Kind.POLICY,
    "triggers": model.Kind.TRIGGER,
}
_SCHEMA_ABSENT_HINTS = dict.fromkeys(_SCHEMA_ABSENT, "list it under the schema's absent")
_TABLE_ABSENT_HINTS = dict.fromkeys(_TABLE_ABSENT, "list it under its table's absent")

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PUBLIC = "public"
_DEFAULT_ROLES = frozenset({_PUBLIC})


def loads(text: str, filename: str = "<spec>") -> model.State:
    """Parse and validate a spec; raise InputError listing every problem with its line."""
    reader = _Reader(filename)
    root = reader.compose(text)
    state = reader.state(root) if root is not None else None
    if reader.problems or state is None:
        raise InputError(reader.sorted_problems())
    return state


def load(path: Path) -> model.State:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError([Problem(str(path), None, "spec file not found")]) from None
    except UnicodeDecodeError as exc:
        message = f"spec file is not UTF-8 text: {exc.reason}"
        raise InputError([Problem(str(path), None, message)]) from None
    except OSError as exc:
        message = f"cannot read spec file: {exc.strerror or exc}"
        raise InputError([Problem(str(path), None, message)]) from None
    return loads(text, str(path))


def absent_sort_key(absent: model.Absent) -> tuple[str, str, str]:
    """The order of ``Schema.absent`` in a loaded spec."""
    return (absent.kind.value, absent.table or "", absent.name)


# --- loading ---------------------------------------------------------------


class _Invalid(Exception):
    """A value was rejected; its problem is already recorded."""


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "nothing"
    return repr(node.value)


def _suggestion(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _spelling(text: str) -> str:
    """Fold case, `_` and `-` so that `SET_NULL`, `set-null` and `Set Null` are one spelling."""
    return " ".join(text.replace("_", " ").replace("-", " ").split()).lower()


def _empty_list(node: yaml.Node) -> bool:
    return isinstance(node, yaml.SequenceNode) and not node.value


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


@dataclasses.dataclass(frozen=True, slots=True)
class _Named:
    """One `name: body` entry of a mapping of objects."""

    name: str
    key: yaml.Node
    body: yaml.Node


class _Reader:
    """Walks the composed YAML tree into a State, collecting problems as it goes."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[Problem] = []
        # Where each named object was read, by (what, owner, name), to place
        # problems found later by comparing objects with each other.
        self.places: dict[tuple[str, str, str], yaml.Node] = {}

    def problem(self, node: yaml.Node | None, message: str) -> None:
        self.problems.append(Problem(self.filename, _line(node), message))

    def invalid(self, node: yaml.Node, message: str) -> _Invalid:
        self.problem(node, message)
        return _Invalid()

    def sorted_problems(self) -> list[Problem]:
        unique = dict.fromkeys(self.problems)  # an aliased node is walked once per alias
        return sorted(unique, key=lambda p: p.line or 0)

    def compose(self, text: str) -> yaml.Node | None:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            detail = "; ".join(part for part in (exc.context, exc.problem) if part)
            line = mark.line + 1 if mark is not None else None
            self.problems.append(Problem(self.filename, line, f"invalid YAML: {detail}"))
            return None
        except yaml.YAMLError as exc:
            self.problems.append(Problem(self.filename, None, f"invalid YAML: {exc}"))
            return None
        if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _NULL):
            self.problems.append(Problem(self.filename, 1, "the spec is empty"))
            return None
        return root

    # -- mappings

    def pairs(self, node: yaml.MappingNode, what: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """Key text, key node and value node of each entry; merge keys (`<<`) resolved."""
        own: list[tuple[str, yaml.Node, yaml.Node]] = []
        seen: dict[str, yaml.Node] = {}
        merged: list[tuple[str, yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.extend(self.merged_pairs(value_node, what))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, f"{what}: a key must be a name, not {_describe(key_node)}")
                continue
            key = key_node.value.strip()
            if not key:
                self.problem(key_node, f"{what}: a key must not be empty")
            elif key in seen:
                first = _line(seen[key])
                self.problem(key_node, f"{what}: duplicate key {key!r} (first at line {first})")
            else:
                seen[key] = key_node
                own.append((key, key_node, value_node))
        # Keys written in the mapping itself win over merged ones, as in YAML.
        for key, key_node, value_node in merged:
            if key not in seen:
                seen[key] = key_node
                own.append((key, key_node, value_node))
        return own

    def merged_pairs(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        pairs: list[tuple[str, yaml.Node, yaml.Node]] = []
        for source in sources:
            if isinstance(source, yaml.MappingNode):
                pairs.extend(self.pairs(source, what))
            else:
                self.problem(source, f"{what}: `<<` merges a mapping, not {_describe(source)}")
        return pairs

    def fields(
        self,
        node: yaml.Node,
        what: str,
        known: Sequence[str],
        required: Sequence[str] = (),
        *,
        null_is_empty: bool = False,
        misplaced: Mapping[str, str] | None = None,
    ) -> dict[str, yaml.Node]:
        """The value nodes of a mapping with known keys; unknown and missing keys reported."""
        if null_is_empty and isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
            node = yaml.MappingNode(_TAG + "map", [], node.start_mark, node.end_mark)
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must be a mapping, not {_describe(node)}")
            return {}
        found: dict[str, yaml.Node] = {}
        misspelt: set[str] = set()
        for key, key_node, value_node in self.pairs(node, what):
            if key in known:
                found[key] = value_node
                continue
            hint = (
                f" ({misplaced[key]})"
                if misplaced and key in misplaced
                else _suggestion(key, known)
            )
            misspelt.update(difflib.get_close_matches(key, known, n=1, cutoff=0.6))
            self.problem(key_node, f"{what}: unknown key {key!r}{hint}")
        for key in required:
            if key not in found and key not in misspelt:
                self.problem(node, f"{what}: missing required key {key!r}")
        return found

    def named(self, node: yaml.Node | None, what: str) -> list[_Named]:
        """The entries of a mapping from object name to object body."""
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL):
            return []
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must be a mapping of names, not {_describe(node)}")
            return []
        return [_Named(key, key_node, body) for key, key_node, body in self.pairs(node, what)]

    # -- scalars

    def scalar(self, node: yaml.Node, label: str) -> str | None:
        """A scalar's text as written (stripped); None for a YAML null."""
        if not isinstance(node, yaml.ScalarNode):
            raise self.invalid(node, f"{label} must be a single value, not {_describe(node)}")
        if node.tag == _NULL:
            return None
        if node.tag not in _SCALAR_TAGS:
            raise self.invalid(node, f"{label}: unsupported YAML tag {node.tag}")
        text: str = node.value
        return text.strip()

    def optional_text(self, node: yaml.Node, label: str) -> str | None:
        value = self.scalar(node, label)
        if value == "":
            raise self.invalid(node, f"{label} must not be empty (leave it out instead)")
        return value

    def text(self, node: yaml.Node, label: str) -> str:
        value = self.scalar(node, label)
        if not value:
            raise self.invalid(node, f"{label} must not be empty")
        return value

    def flag(self, node: yaml.Node, label: str) -> bool:
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL:
            value = _BOOLEANS.get(node.value.lower())  # None only for a forced `!!bool maybe`
            if value is not None:
                return value
        raise self.invalid(node, f"{label} must be true or false, not {_describe(node)}")

    def choice(self, node: yaml.Node, label: str, options: Mapping[str, T]) -> T:
        written = self.text(node, label)
        value = options.get(_spelling(written))
        if value is not None:
            return value
        shown = {
            key: str(value) if isinstance(value, str) else key for key, value in options.items()
        }
        allowed = ", ".join(dict.fromkeys(shown.values()))
        close = difflib.get_close_matches(_spelling(written), list(options), n=1, cutoff=0.6)
        hint = f" (did you mean {shown[close[0]]!r}?)" if close else ""
        raise self.invalid(node, f"{label} must be one of {allowed}, not {written!r}{hint}")

    def checked(self, node: yaml.Node, label: str, value: str, error: str | None, noun: str) -> str:
        """``value`` unless the SQL parser found an ``error`` in it."""
        if error is not None:
            raise self.invalid(node, f"{label} {value!r} is not a valid {noun}: {error}")
        return value

    def expression(self, node: yaml.Node, label: str) -> str | None:
        value = self.optional_text(node, label)
        if value is None:
            return None
        error = normalize.expression_error(value)
        return self.checked(node, label, value, error, "SQL expression")

    def items(
        self,
        node: yaml.Node,
        label: str,
        read: Callable[[yaml.Node, str], T],
        *,
        single: bool = False,
        unique: bool = True,
    ) -> tuple[T, ...]:
        """A list whose entries are read one by one; a bad entry does not hide the others."""
        if single and isinstance(node, yaml.ScalarNode) and node.tag != _NULL:
            entries = [node]
        elif isinstance(node, yaml.SequenceNode):
            entries = list(node.value)
        else:
            raise self.invalid(node, f"{label} must be a list, not {_describe(node)}")
        values: list[T] = []
        first_line: dict[T, int | None] = {}
        for entry in entries:
            try:
                value = read(entry, f"{label} entry")
            except _Invalid:
                continue
            if unique and value in first_line:
                where = f"first at line {first_line[value]}"
                self.problem(entry, f"{label}: duplicate entry {value!r} ({where})")
                continue
            first_line[value] = _line(entry)
            values.append(value)
        return tuple(values)

    def names(self, node: yaml.Node, label: str, *, single: bool = False) -> tuple[str, ...]:
        return self.items(node, label, self.text, single=single)

    def get(
        self,
        found: Mapping[str, yaml.Node],
        key: str,
        what: str,
        read: Callable[[yaml.Node, str], T],
        default: D,
    ) -> T | D:
        """Read one field with ``read``; its default when absent or invalid."""
        node = found.get(key)
        if node is None:
            return default
        try:
            return read(node, f"{what}: {key}")
        except _Invalid:
            return default

    # -- the document

    def state(self, root: yaml.Node) -> model.State | None:
        if not isinstance(root, yaml.MappingNode):
            what = "the spec must be a mapping with keys version, migrations and schemas"
            self.problem(root, f"{what}, not {_describe(root)}")
            return None
        found = self.fields(root, "spec", _STATE_KEYS, required=("version", "schemas"))
        version = found.get("version")
        if version is not None and not (version.tag == _INT and version.value.strip() == "1"):
            self.problem(version, f"spec: version must be 1, not {_describe(version)}")
        ledger = self.ledger(found["migrations"]) if "migrations" in found else None
        schemas = [self.schema(entry) for entry in self.named(found.get("schemas"), "schemas")]
        return model.State(schemas=tuple(sorted(schemas, key=_name)), ledger=ledger)

    def ledger(self, node: yaml.Node) -> model.Ledger:
        found = self.fields(node, "migrations", _LEDGER_KEYS, required=("applied",))
        table = self.get(found, "table", "migrations", self.text, model.DEFAULT_LEDGER_TABLE)
        applied = self.get(found, "applied", "migrations", self.names, ())
        return model.Ledger(applied=applied, table=table)

    def schema(self, entry: _Named) -> model.Schema:
        name, what = entry.name, f"schema {entry.name}"
        found = self.fields(entry.body, what, _SCHEMA_KEYS, null_is_empty=True)
        extra = self.get(found, "extra", what, self.extra, model.ExtraPolicy())
        ignore = self.get(found, "ignore", what, self.names, ())
        tables: list[model.Table] = []
        absent: list[model.Absent] = []
        for table_entry in self.named(found.get("tables"), f"{what}: tables"):
            table, table_absent = self.table(name, table_entry)
            tables.append(table)
            absent.extend(table_absent)
        if "absent" in found:
            absent.extend(self.absent(found["absent"], what, _SCHEMA_ABSENT, None))
        self.check_schema_names(name, tables, absent)
        return model.Schema(
            name=name,
            tables=tuple(sorted(tables, key=_name)),
            absent=tuple(sorted(absent, key=absent_sort_key)),
            extra=extra,
            ignore=tuple(sorted(ignore)),
        )

    def check_schema_names(
        self, schema: str, tables: Sequence[model.Table], absent: Sequence[model.Absent]
    ) -> None:
        """Index names are unique in a schema, and nothing is both expected and absent."""
        what = f"schema {schema}"
        index_tables: dict[str, str] = {}
        for table in tables:
            for index in table.indexes or ():
                other = index_tables.setdefault(index.name, table.name)
                if other != table.name:
                    self.problem(
                        self.places.get(("index", f"{schema}.{table.name}", index.name)),
                        f"{what}: index {index.name!r} is listed on both tables "
                        f"{other!r} and {table.name!r}",
                    )
        expected = {
            model.Kind.TABLE: {t.name for t in tables},
            model.Kind.INDEX: set(index_tables),
        }
        for item in absent:
            if item.table is None and item.name in expected.get(item.kind, ()):
                self.problem(
                    self.places.get((f"absent {item.kind}", what, item.name)),
                    f"{what}: {item.kind} {item.name!r} is both expected and absent",
                )

    def extra(self, node: yaml.Node, label: str) -> model.ExtraPolicy:
        if isinstance(node, yaml.ScalarNode):
            every = self.choice(node, label, _EXTRAS)
            return model.ExtraPolicy(**dict.fromkeys(model.EXTRA_KINDS, every))
        found = self.fields(node, label, model.EXTRA_KINDS)
        chosen = {
            kind: self.get(found, kind, label, self.extra_choice, model.Extra.REPORT)
            for kind in model.EXTRA_KINDS
        }
        return model.ExtraPolicy(**chosen)

    def extra_choice(self, node: yaml.Node, label: str) -> model.Extra:
        return self.choice(node, label, _EXTRAS)

    def absent(
        self,
        node: yaml.Node,
        what: str,
        kinds: Mapping[str, model.Kind],
        table: str | None,
    ) -> list[model.Absent]:
        misplaced = _TABLE_ABSENT_HINTS if table is None else _SCHEMA_ABSENT_HINTS
        found = self.fields(node, f"{what}: absent", tuple(kinds), misplaced=misplaced)
        absent: list[model.Absent] = []
        for key, kind in kinds.items():
            label = f"{what}: absent {key}"
            entries = self.get(found, key, f"{what}: absent", self.absent_entries, ())
            names: dict[str, model.Absent] = {}
            for entry_node, name, migration in entries:
                if name in names:
                    self.problem(entry_node, f"{label}: duplicate entry {name!r}")
                    continue
                names[name] = model.Absent(kind, name, table, migration)
                self.places[(f"absent {kind}", what, name)] = entry_node
            absent.extend(names.values())
        return absent

    def absent_entries(
        self, node: yaml.Node, label: str
    ) -> tuple[tuple[yaml.Node, str, str | None], ...]:
        return self.items(node, label, self.absent_entry, unique=False)

    def absent_entry(self, node: yaml.Node, label: str) -> tuple[yaml.Node, str, str | None]:
        if not isinstance(node, yaml.MappingNode):
            return node, self.text(node, label), None
        found = self.fields(node, label, _ABSENT_ENTRY_KEYS, required=("name",))
        name = self.get(found, "name", label, self.text, "")
        migration = self.get(found, "migration", label, self.optional_text, None)
        if not name:
            raise _Invalid()
        return node, name, migration

    # -- tables

    def table(self, schema: str, entry: _Named) -> tuple[model.Table, list[model.Absent]]:
        name = entry.name
        prefix = f"{schema}.{name}"
        what = f"table {prefix}"
        found = self.fields(entry.body, what, _TABLE_KEYS, null_is_empty=True)

        def objects(key: str, noun: str, read: Callable[[_Named, str], T]) -> tuple[T, ...] | None:
            def read_all(node: yaml.Node, label: str) -> tuple[T, ...]:
                entries = self.named(node, label)
                for e in entries:
                    self.places[(noun, prefix, e.name)] = e.key
                return tuple(read(e, f"{noun} {prefix}.{e.name}") for e in entries)

            return self.collection(found, key, what, read_all)

        def columns(node: yaml.Node, label: str) -> tuple[model.Column, ...]:
            return self.columns(node, label, prefix)

        table = model.Table(
            name=name,
            columns=self.collection(found, "columns", what, columns),
            constraints=_sorted(
                objects("constraints", "constraint", lambda e, w: self.constraint(schema, e, w))
            ),
            indexes=_sorted(objects("indexes", "index", self.index)),
            policies=_sorted(objects("policies", "policy", self.policy)),
            triggers=_sorted(objects("triggers", "trigger", self.trigger)),
            rls=self.get(found, "rls", what, self.rls, None),
            migration=self.get(found, "migration", what, self.optional_text, None),
        )
        absent = (
            self.absent(found["absent"], what, _TABLE_ABSENT, name) if "absent" in found else []
        )
        self.check_table_absent(what, table, absent)
        return table, absent

    def collection(
        self,
        found: Mapping[str, yaml.Node],
        key: str,
        what: str,
        read: Callable[[yaml.Node, str], tuple[T, ...]],
    ) -> tuple[T, ...] | None:
        """None when the key is left out (not checked); a tuple, maybe empty, when present."""
        if key not in found:
            return None
        node = found[key]
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
            self.problem(node, f"{what}: {key} is empty; write [] or {{}} to expect none")
            return ()
        return self.get(found, key, what, read, ())

    def check_table_absent(
        self, what: str, table: model.Table, absent: Sequence[model.Absent]
    ) -> None:
        listed: dict[model.Kind, Collection[Any]] = {
            model.Kind.COLUMN: table.columns or (),
            model.Kind.CONSTRAINT: table.constraints or (),
            model.Kind.POLICY: table.policies or (),
            model.Kind.TRIGGER: table.triggers or (),
        }
        for item in absent:
            if any(obj.name == item.name for obj in listed[item.kind]):
                self.problem(
                    self.places.get((f"absent {item.kind}", what, item.name)),
                    f"{what}: {item.kind} {item.name!r} is both expected and absent",
                )

    def rls(self, node: yaml.Node, label: str) -> model.Rls:
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL:
            return model.Rls(enabled=self.flag(node, label))  # `rls: true` is enabled, not forced
        found = self.fields(node, label, _RLS_KEYS, required=("enabled",))
        return model.Rls(
            enabled=self.get(found, "enabled", label, self.flag, False),
            forced=self.get(found, "forced", label, self.flag, False),
        )

    # -- columns

    def columns(self, node: yaml.Node, label: str, prefix: str) -> tuple[model.Column, ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.invalid(node, f"{label} must be a list, not {_describe(node)}")
        columns: list[model.Column] = []
        first_line: dict[str, int | None] = {}
        for position, entry in enumerate(node.value, start=1):
            column = self.column(entry, f"{label}[{position}]", prefix)
            if column is None:
                continue
            if column.name in first_line:
                where = f"first at line {first_line[column.name]}"
                self.problem(entry, f"{label}: duplicate column {column.name!r} ({where})")
                continue
            first_line[column.name] = _line(entry)
            columns.append(column)
        return tuple(columns)

    def column(self, node: yaml.Node, label: str, prefix: str) -> model.Column | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{label} must be a mapping, not {_describe(node)}")
            return None
        pairs = node.value
        if len(pairs) == 1 and pairs[0][0].value != "name" and pairs[0][0].tag != _MERGE:
            return self.short_column(pairs[0][0], pairs[0][1], label, prefix)
        found = self.fields(node, label, _COLUMN_KEYS, required=("name", "type"))
        name = self.get(found, "name", label, self.text, "")
        what = f"column {prefix}.{name}" if name else label
        column = model.Column(
            name=name,
            type=self.get(found, "type", what, self.type, ""),
            nullable=self.get(found, "nullable", what, self.flag, True),
            default=self.get(found, "default", what, self.expression, None),
            identity=self.get(found, "identity", what, self.identity, None),
            generated=self.get(found, "generated", what, self.expression, None),
            migration=self.get(found, "migration", what, self.optional_text, None),
        )
        if not name:
            return None
        return self.check_column(node, what, found, column)

    def short_column(
        self, key: yaml.Node, value: yaml.Node, label: str, prefix: str
    ) -> model.Column | None:
        """`- id: uuid`: a column with just a name and a type."""
        if not isinstance(value, yaml.ScalarNode):
            self.problem(
                value,
                f"{label}: the short form is `- name: type`; "
                "write {name: ..., type: ..., ...} for more fields",
            )
            return None
        try:
            name = self.text(key, f"{label}: name")
            return model.Column(name=name, type=self.type(value, f"column {prefix}.{name}: type"))
        except _Invalid:
            return None

    def type(self, node: yaml.Node, label: str) -> str:
        value = self.text(node, label)
        return self.checked(node, label, value, normalize.type_error(value), "SQL type")

    def identity(self, node: yaml.Node, label: str) -> str:
        return self.choice(node, label, _IDENTITIES)

    def check_column(
        self, node: yaml.Node, what: str, found: Mapping[str, yaml.Node], column: model.Column
    ) -> model.Column:
        given = [key for key in ("default", "identity", "generated") if key in found]
        if len(given) > 1:
            self.problem(node, f"{what}: a column has at most one of {', '.join(given)}")
        if column.identity is not None:
            if "nullable" not in found:
                # PostgreSQL makes every identity column NOT NULL.
                return dataclasses.replace(column, nullable=False)
            if column.nullable:
                self.problem(found["nullable"], f"{what}: an identity column is never nullable")
        return column

    # -- constraints

    def constraint(self, schema: str, entry: _Named, what: str) -> model.Constraint:
        found = self.fields(entry.body, what, _CONSTRAINT_KEYS, required=("type",))
        kind = self.get(found, "type", what, self.constraint_type, None)
        references = self.get(
            found, "references", what, lambda n, lbl: self.references(schema, n, lbl), None
        )
        constraint = model.Constraint(
            name=entry.name,
            type=kind or model.ConstraintType.CHECK,
            columns=self.get(found, "columns", what, self.names, ()),
            references=references,
            check=self.get(found, "check", what, self.optional_text, None),
            deferrable=self.get(found, "deferrable", what, self.flag, False),
            deferred=self.get(found, "deferred", what, self.flag, False),
            validated=self.get(found, "validated", what, self.flag, True),
            migration=self.get(found, "migration", what, self.optional_text, None),
        )
        if kind is not None:
            self.check_constraint(entry.body, what, found, constraint)
        return constraint

    def constraint_type(self, node: yaml.Node, label: str) -> model.ConstraintType:
        return self.choice(node, label, _CONSTRAINT_TYPES)

    def check_constraint(
        self,
        node: yaml.Node,
        what: str,
        found: Mapping[str, yaml.Node],
        constraint: model.Constraint,
    ) -> None:
        kind = constraint.type
        is_foreign_key = kind is model.ConstraintType.FOREIGN_KEY
        if is_foreign_key and "references" not in found:
            self.problem(node, f"{what}: a foreign key needs references: {{table, columns}}")
        if not is_foreign_key and "references" in found:
            self.problem(found["references"], f"{what}: only a foreign key has references")
        needs_columns = (
            model.ConstraintType.PRIMARY_KEY,
            model.ConstraintType.UNIQUE,
            model.ConstraintType.FOREIGN_KEY,
        )
        if kind in needs_columns and ("columns" not in found or _empty_list(found["columns"])):
            self.problem(node, f"{what}: a {kind} constraint needs columns")
        references = constraint.references
        counts = (len(references.columns), len(constraint.columns)) if references else (0, 0)
        if all(counts) and counts[0] != counts[1]:
            message = f"{what}: references names {counts[0]} columns for {counts[1]}"
            self.problem(found["references"], message)
        if kind is model.ConstraintType.CHECK and "check" not in found:
            self.problem(node, f"{what}: a check constraint needs check: <expression>")
        if constraint.check is not None:
            label, check = f"{what}: check", constraint.check
            if kind is model.ConstraintType.CHECK:
                error = normalize.expression_error(check)
                with contextlib.suppress(_Invalid):
                    self.checked(found["check"], label, check, error, "SQL expression")
            elif kind is not model.ConstraintType.EXCLUDE:
                self.problem(found["check"], f"{label} belongs to check and exclude constraints")
        if constraint.deferred and not constraint.deferrable:
            self.problem(found["deferred"], f"{what}: deferred needs deferrable: true")

    def references(self, schema: str, node: yaml.Node, label: str) -> model.ForeignKey:
        found = self.fields(node, label, _REFERENCE_KEYS, required=("table", "columns"))
        table = self.get(found, "table", label, self.text, "")
        if "columns" in found and _empty_list(found["columns"]):
            self.problem(found["columns"], f"{label}: columns must not be empty")
        return model.ForeignKey(
            # An unqualified table is in the constraint's own schema, as in SQL here.
            table=table if "." in table else f"{schema}.{table}",
            columns=self.get(found, "columns", label, self.names, ()),
            on_delete=self.get(found, "on_delete", label, self.action, "NO ACTION"),
            on_update=self.get(found, "on_update", label, self.action, "NO ACTION"),
            match=self.get(found, "match", label, self.match, "SIMPLE"),
        )

    def action(self, node: yaml.Node, label: str) -> str:
        return self.choice(node, label, _ACTIONS)

    def match(self, node: yaml.Node, label: str) -> str:
        return self.choice(node, label, _MATCHES)

    # -- indexes

    def index(self, entry: _Named, what: str) -> model.Index:
        found = self.fields(entry.body, what, _INDEX_KEYS, required=("columns",))
        columns = self.get(found, "columns", what, self.index_columns, ())
        if "columns" in found and _empty_list(found["columns"]):
            self.problem(found["columns"], f"{what}: columns must not be empty")
        if "valid" in found and not self.get(found, "valid", what, self.flag, True):
            self.problem(found["valid"], f"{what}: a spec always expects a valid index")
        return model.Index(
            name=entry.name,
            columns=columns,
            include=self.get(found, "include", what, self.names, ()),
            where=self.get(found, "where", what, self.expression, None),
            unique=self.get(found, "unique", what, self.flag, False),
            method=self.get(found, "method", what, self.method, "btree"),
            constraint=self.get(found, "constraint", what, self.optional_text, None),
            migration=self.get(found, "migration", what, self.optional_text, None),
        )

    def index_columns(self, node: yaml.Node, label: str) -> tuple[str, ...]:
        return self.items(node, label, self.index_column, unique=False)

    def index_column(self, node: yaml.Node, label: str) -> str:
        value = self.text(node, label)
        error = normalize.index_column_error(value)
        return self.checked(node, label, value, error, "index column")

    def method(self, node: yaml.Node, label: str) -> str:
        value = self.text(node, label)
        if not _IDENTIFIER.fullmatch(value):
            raise self.invalid(node, f"{label} must be an access method name like btree or gin")
        return value.lower()  # an unquoted identifier, as CREATE INDEX ... USING reads it

    # -- policies

    def policy(self, entry: _Named, what: str) -> model.Policy:
        found = self.fields(entry.body, what, _POLICY_KEYS, null_is_empty=True)
        for one, other in (("permissive", "as"), ("with_check", "check")):
            if one in found and other in found:
                self.problem(found[other], f"{what}: give {one} or {other}, not both")
        permissive = self.get(found, "permissive", what, self.flag, True)
        if "as" in found:
            permissive = self.get(found, "as", what, self.policy_kind, True)
        with_check_key = "check" if "check" in found and "with_check" not in found else "with_check"
        policy = model.Policy(
            name=entry.name,
            command=self.get(found, "command", what, self.command, "ALL"),
            permissive=permissive,
            roles=self.get(found, "roles", what, self.roles, _DEFAULT_ROLES),
            using=self.get(found, "using", what, self.expression, None),
            with_check=self.get(found, with_check_key, what, self.expression, None),
            migration=self.get(found, "migration", what, self.optional_text, None),
        )
        # PostgreSQL refuses these combinations; a spec expecting them can never match.
        if policy.command == "INSERT" and "using" in found:
            self.problem(found["using"], f"{what}: an INSERT policy has only with_check")
        if policy.command in ("SELECT", "DELETE") and with_check_key in found:
            message = f"{what}: a {policy.command} policy has only using, no {with_check_key}"
            self.problem(found[with_check_key], message)
        return policy

    def policy_kind(self, node: yaml.Node, label: str) -> bool:
        return self.choice(node, label, _POLICY_KINDS)

    def command(self, node: yaml.Node, label: str) -> str:
        return self.choice(node, label, _COMMANDS)

    def roles(self, node: yaml.Node, label: str) -> frozenset[str]:
        roles = self.items(node, label, self.role, single=True)
        if not roles:
            raise self.invalid(node, f"{label} must not be empty (leave it out for public)")
        return frozenset(roles)

    def role(self, node: yaml.Node, label: str) -> str:
        name = self.text(node, label)
        # PUBLIC is a keyword, not a role name: any case means the same pseudo-role.
        return _PUBLIC if name.lower() == _PUBLIC else name

    # -- triggers

    def trigger(self, entry: _Named, what: str) -> model.Trigger:
        required = ("timing", "events", "function")
        found = self.fields(entry.body, what, _TRIGGER_KEYS, required=required)
        trigger = model.Trigger(
            name=entry.name,
            timing=self.get(found, "timing", what, self.timing, "AFTER"),
            events=self.get(found, "events", what, self.events, ()),
            level=self.get(found, "level", what, self.level, "STATEMENT"),
            function=self.get(found, "function", what, self.function, ""),
            enabled=self.get(found, "enabled", what, self.enabled, "origin"),
            when=self.get(found, "when", what, self.expression, None),
            columns=self.get(found, "columns", what, self.names, ()),
            migration=self.get(found, "migration", what, self.optional_text, None),
        )
        # PostgreSQL refuses these combinations; a spec expecting them can never match.
        if trigger.timing == "INSTEAD OF" and trigger.level != "ROW":
            self.problem(entry.body, f"{what}: an INSTEAD OF trigger needs level: ROW")
        if "TRUNCATE" in trigger.events and trigger.level == "ROW":
            self.problem(entry.body, f"{what}: a TRUNCATE trigger needs level: STATEMENT")
        if trigger.columns and "UPDATE" not in trigger.events:
            self.problem(found["columns"], f"{what}: columns (UPDATE OF) need the UPDATE event")
        return trigger

    def timing(self, node: yaml.Node, label: str) -> str:
        return self.choice(node, label, _TIMINGS)

    def events(self, node: yaml.Node, label: str) -> tuple[str, ...]:
        events = self.items(node, label, self.event, single=True)
        if not events:
            raise self.invalid(node, f"{label} must name at least one event")
        return tuple(e for e in _EVENT_ORDER if e in events)

    def event(self, node: yaml.Node, label: str) -> str:
        return self.choice(node, label, _EVENTS)

    def level(self, node: yaml.Node, label: str) -> str:
        return self.choice(node, label, _LEVELS)

    def enabled(self, node: yaml.Node, label: str) -> str:
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL:
            return "origin" if self.flag(node, label) else "disabled"
        return self.choice(node, label, _ENABLED)

    def function(self, node: yaml.Node, label: str) -> str:
        value = self.text(node, label)
        error = normalize.expression_error(value)
        if error is None and not value.endswith(")"):
            error = "write it as a call, e.g. update_updated_at_column()"
        return self.checked(node, label, value, error, "function call")


def _name(item: model.Table | model.Schema) -> str:
    return item.name


_Object = TypeVar("_Object", model.Constraint, model.Index, model.Policy, model.Trigger)


def _sorted(items: tuple[_Object, ...] | None) -> tuple[_Object, ...] | None:
    return None if items is None else tuple(sorted(items, key=lambda item: item.name))


# --- dumping ---------------------------------------------------------------

_WIDTH = 1_000_000  # never fold a long expression over several lines
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


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # equal values are written out again, never as &anchors


def _represent_flow(dumper: yaml.SafeDumper, data: _Flow) -> yaml.Node:
    return dumper.represent_mapping(_TAG + "map", data, flow_style=True)


def _represent_inline(dumper: yaml.SafeDumper, data: _Inline) -> yaml.Node:
    return dumper.represent_sequence(_TAG + "seq", data, flow_style=True)


def _represent_text(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style: str | None = None
    if "\n" in data:
        # A pretty-printed expression keeps its lines; YAML falls back to
        # quotes where a literal block cannot hold the text exactly.
        style = "|"
    elif "'" in data and "\\" not in data and not dumper.analyze_scalar(data).allow_flow_plain:
        style = '"'  # SQL string literals read better in "..." than with doubled ''
    return dumper.represent_scalar(_STR, data, style=style)


_Dumper.add_representer(_Flow, _represent_flow)
_Dumper.add_representer(_Inline, _represent_inline)
_Dumper.add_representer(str, _represent_text)


def dumps(state: model.State) -> str:
    """The spec text of a state: fixed key order, objects sorted by name, defaults left out."""
    document: dict[str, Any] = {"version": state.version}
    if state.ledger is not None:
        document["migrations"] = {
            "table": state.ledger.table,
            "applied": list(state.ledger.applied),
        }
    document["schemas"] = {s.name: _schema_document(s) for s in sorted(state.schemas, key=_name)}
    return _yaml(document)


def _yaml(data: Any) -> str:
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=_WIDTH,
    )


def _document(*fields: tuple[str, Any, Any]) -> dict[str, Any]:
    """`key: value` for each field whose value differs from its default."""
    return {key: value for key, value, default in fields if value != default}


def _compact(body: dict[str, Any], lead: int, width: int) -> dict[str, Any]:
    """The body as one `{...}` line if it fits in ``width`` after ``lead`` and has one line."""
    flow = _Flow(body)
    fits = lead + len(_yaml(flow).rstrip("\n")) <= width
    return flow if fits and not _has_line_break(body) else body


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
        document["absent"] = _absent_document(schema_absent, _SCHEMA_ABSENT)
    return document


def _check_absent_placement(schema: str, item: model.Absent, tables: Collection[str]) -> None:
    """A spec lists absent tables and indexes in a schema, other kinds in a listed table."""
    if item.kind in _SCHEMA_ABSENT.values():
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
            _compact(_column_document(c), lead, _COLUMN_LINE) for c in table.columns
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
                item.name: _compact(
                    describe(item), _OBJECT_INDENT + len(item.name) + len(": "), _OBJECT_LINE
                )
                for item in ordered
            }
    if absent:
        document["absent"] = _absent_document(absent, _TABLE_ABSENT)
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
        ("roles", _inline(sorted(policy.roles)), sorted(_DEFAULT_ROLES)),
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
