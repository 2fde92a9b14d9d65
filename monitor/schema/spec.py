"""The expected-state spec: YAML text <-> :class:`model.State`.

Loading is strict and reports every problem at once, each with its file and
line: the YAML is composed into a node tree (nodes keep their line) and
walked here, instead of being turned into plain dicts that forget where
things were. Each table is read as soon as its part of the tree is built, so
a spec of thousands of tables is never held whole as nodes. Dumping is
stable: the same state always gives the same text, with objects sorted by
name and default values left out, so that a spec kept in git changes only
where the schema did.

Text the user wrote (types, expressions, names) is stored as written, only
stripped; comparison is semantic and belongs to the diff. The format is
described in docs/spec.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import io
import re
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import yaml

from monitor.errors import InputError, Problem
from monitor.schema import model, normalize

T = TypeVar("T")
D = TypeVar("D")
H = TypeVar("H", bound=Hashable)

_TAG = "tag:yaml.org,2002:"
_NULL, _BOOL, _INT, _STR, _MERGE, _SEQ, _MAP = (
    _TAG + "null",
    _TAG + "bool",
    _TAG + "int",
    _TAG + "str",
    _TAG + "merge",
    _TAG + "seq",
    _TAG + "map",
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
    return _Reader(filename).read(text)


def load(path: Path) -> model.State:
    try:
        # Parsed as it is read: the text of a large spec is never held whole either.
        with path.open(encoding="utf-8") as stream:
            return _Reader(str(path)).read(stream)
    except FileNotFoundError:
        raise InputError([Problem(str(path), None, "spec file not found")]) from None
    except UnicodeDecodeError as exc:
        message = f"spec file is not UTF-8 text: {exc.reason}"
        raise InputError([Problem(str(path), None, message)]) from None
    except OSError as exc:
        message = f"cannot read spec file: {exc.strerror or exc}"
        raise InputError([Problem(str(path), None, message)]) from None


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


class _ReadTable(yaml.Node):
    """A table body already read into the model; it stands in for the body's nodes."""

    def __init__(
        self, table: model.Table, absent: list[model.Absent], problems: list[Problem]
    ) -> None:
        super().__init__(_MAP, None, None, None)
        self.table = table
        self.absent = absent
        self.problems = problems


class _Events(Protocol):
    """The parser side of a PyYAML loader: a stream of events."""

    def get_event(self) -> Any: ...

    def dispose(self) -> None: ...


# libyaml's parser when PyYAML was built with it (it is many times faster), else PyYAML's own.
_PARSER: Callable[[str | IO[str]], _Events] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()

# The keys on the way from the root to a table body; None stands for any name.
_WAY_TO_TABLE: tuple[str | None, ...] = ("schemas", None, "tables", None)
_SCHEMA_STEP = 1  # the key taken at this step is the schema's name

# How far along that way a mapping is, and the schema it is in.
_Place = tuple[int, str]


class _Composer:
    """Builds the node tree from parser events, as ``yaml.compose`` does.

    Unlike ``yaml.compose``, it gives each table body to ``read_table`` as
    soon as the body is complete and keeps what that returns instead of the
    body's nodes, so the tree of a large spec never exists whole. Only a body
    the reader's walk will reach is given: under the first `schemas` key of
    the root, the first key of each schema, the first `tables` key of a
    schema, with no anchor on the way (an aliased mapping may stand in
    another place, where its tables belong to another schema).
    """

    def __init__(
        self,
        events: _Events,
        read_table: Callable[[str, str, yaml.Node, yaml.Node], yaml.Node],
    ) -> None:
        self.events = events
        self.read_table = read_table
        self.anchors: dict[str, yaml.Node] = {}

    def document(self) -> yaml.Node | None:
        """The root node of the one document; None for an empty stream."""
        events = self.events
        events.get_event()  # stream start
        event = events.get_event()
        root = None
        if type(event) is not yaml.StreamEndEvent:
            root = self.node(events.get_event(), (0, ""))  # the event after the document start
            events.get_event()  # document end
            event = events.get_event()
        if type(event) is not yaml.StreamEndEvent:
            raise yaml.composer.ComposerError(
                "expected a single document in the stream",
                root.start_mark if root is not None else None,
                "but found another document",
                event.start_mark,
            )
        return root

    def node(self, event: Any, place: _Place | None) -> yaml.Node:
        """The node that starts with ``event``; ``place``: where it is on the way to a table."""
        kind = type(event)
        if kind is yaml.AliasEvent:
            if event.anchor not in self.anchors:
                message = f"found undefined alias {event.anchor!r}"
                raise yaml.composer.ComposerError(None, None, message, event.start_mark)
            return self.anchors[event.anchor]
        if kind is yaml.ScalarEvent:
            tag = self.scalar_tag(event)
            scalar = yaml.ScalarNode(
                tag, event.value, event.start_mark, event.end_mark, event.style
            )
            self.keep(event, scalar)
            return scalar
        if kind is yaml.SequenceStartEvent:
            tag = _SEQ if event.tag in (None, "!") else event.tag
            sequence = yaml.SequenceNode(tag, [], event.start_mark, None, event.flow_style)
            self.keep(event, sequence)
            event = self.events.get_event()
            while type(event) is not yaml.SequenceEndEvent:
                sequence.value.append(self.node(event, None))
                event = self.events.get_event()
            sequence.end_mark = event.end_mark
            return sequence
        tag = _MAP if event.tag in (None, "!") else event.tag
        mapping = yaml.MappingNode(tag, [], event.start_mark, None, event.flow_style)
        if self.keep(event, mapping):
            place = None
        self.entries(mapping, place)
        return mapping

    def keep(self, event: Any, node: yaml.Node) -> bool:
        """Keep an anchored node, before its children (they may refer to it); True if anchored."""
        anchor = event.anchor
        if anchor is None:
            return False
        if anchor in self.anchors:
            raise yaml.composer.ComposerError(
                f"found duplicate anchor {anchor!r}; first occurrence",
                self.anchors[anchor].start_mark,
                "second occurrence",
                event.start_mark,
            )
        self.anchors[anchor] = node
        return True

    def scalar_tag(self, event: Any) -> str:
        tag: str | None = event.tag
        if tag is not None and tag != "!":
            return tag
        if not event.implicit[0]:
            return _STR  # quoted: text
        return _plain_tag(event.value)

    def entries(self, mapping: yaml.MappingNode, place: _Place | None) -> None:
        way = place if place is not None and place[0] < len(_WAY_TO_TABLE) else None
        seen: set[str] = set()  # as _Reader.pairs: a repeated key is not read
        event = self.events.get_event()
        while type(event) is not yaml.MappingEndEvent:
            key = self.node(event, None)
            inner: _Place | None = None
            name = ""
            if way is not None and isinstance(key, yaml.ScalarNode) and key.tag != _MERGE:
                name = key.value.strip()
                if name and name not in seen:
                    seen.add(name)
                    inner = _step(way, name)
            value = self.node(self.events.get_event(), inner)
            if inner is not None and inner[0] == len(_WAY_TO_TABLE):
                value = self.read_table(inner[1], name, key, value)
            mapping.value.append((key, value))
            event = self.events.get_event()
        mapping.end_mark = event.end_mark


@functools.lru_cache(maxsize=4096)  # the same keys and values come back all through a spec
def _plain_tag(text: str) -> str:
    """The tag YAML gives ``text`` written plain: `yes` is a boolean, `1` a number."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag


def _step(place: _Place, key: str) -> _Place | None:
    """Where the value of ``key`` is, in a mapping at ``place``; None when off the way."""
    depth, schema = place
    wanted = _WAY_TO_TABLE[depth]
    if wanted is not None and key != wanted:
        return None
    return depth + 1, key if depth == _SCHEMA_STEP else schema


class _Reader:
    """Walks the composed YAML tree into a State, collecting problems as it goes."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[Problem] = []
        # The line of each index and absent entry, by (what, owner, name), to
        # place problems found later by comparing objects with each other.
        self.places: dict[tuple[str, str, str], int | None] = {}
        # One object per distinct value (see shared).
        self.values: dict[Hashable, Any] = {}
        self.merging: set[int] = set()  # mappings being merged, to stop a merge into itself

    def problem(self, node: yaml.Node | None, message: str) -> None:
        self.problem_at(_line(node), message)

    def problem_at(self, line: int | None, message: str) -> None:
        self.problems.append(Problem(self.filename, line, message))

    def shared(self, value: H) -> H:
        """The first equal ``value`` read: a large spec repeats its types,
        expressions, column lists and whole columns (`id`, `created_at`)
        table after table, and the model is immutable."""
        kept: H = self.values.setdefault(value, value)
        return kept

    def invalid(self, node: yaml.Node, message: str) -> _Invalid:
        self.problem(node, message)
        return _Invalid()

    def sorted_problems(self) -> list[Problem]:
        unique = dict.fromkeys(self.problems)  # an aliased node is walked once per alias
        return sorted(unique, key=lambda p: p.line or 0)

    def read(self, stream: str | IO[str]) -> model.State:
        root = self.compose(stream)
        state = self.state(root) if root is not None else None
        if self.problems or state is None:
            raise InputError(self.sorted_problems())
        return state

    def compose(self, stream: str | IO[str]) -> yaml.Node | None:
        events = _PARSER(stream)
        try:
            root = _Composer(events, self.early_table).document()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            detail = "; ".join(part for part in (exc.context, exc.problem) if part)
            self.broken(mark.line + 1 if mark is not None else None, detail)
            return None
        except yaml.YAMLError as exc:
            self.broken(None, str(exc))
            return None
        except RecursionError:
            self.broken(None, "nested too deeply")
            return None
        finally:
            events.dispose()
        if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _NULL):
            self.problems.append(Problem(self.filename, 1, "the spec is empty"))
            return None
        return root

    def broken(self, line: int | None, detail: str) -> None:
        # Tables read before the YAML broke do not count: as if nothing was read.
        self.problems = [Problem(self.filename, line, f"invalid YAML: {detail}")]

    def early_table(self, schema: str, name: str, key: yaml.Node, body: yaml.Node) -> yaml.Node:
        """Read a table as soon as its body is composed, so that its nodes can go.

        Its problems are kept aside and reported when the walk reaches the
        table, in the order a walk of the whole tree would find them.
        """
        problems, self.problems = self.problems, []
        try:
            table, absent = self.table(schema, _Named(name, key, body))
        finally:
            found, self.problems = self.problems, problems
        return _ReadTable(table, absent, found)

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
            if not isinstance(source, yaml.MappingNode):
                self.problem(source, f"{what}: `<<` merges a mapping, not {_describe(source)}")
            elif id(source) in self.merging:
                self.problem(source, f"{what}: `<<` merges a mapping into itself")
            else:
                self.merging.add(id(source))
                try:
                    pairs.extend(self.pairs(source, what))
                finally:
                    self.merging.discard(id(source))
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
        text: str = node.value.strip()
        return self.shared(text)

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
        return self.shared(self.items(node, label, self.text, single=single))

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
            table, table_absent = self.table_of(name, table_entry)
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

    def table_of(self, schema: str, entry: _Named) -> tuple[model.Table, list[model.Absent]]:
        body = entry.body
        if isinstance(body, _ReadTable):
            self.problems.extend(body.problems)
            return body.table, body.absent
        return self.table(schema, entry)

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
                    self.problem_at(
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
                self.problem_at(
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
                self.places[(f"absent {kind}", what, name)] = _line(entry_node)
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
                if noun == "index":  # index names are compared across the tables of a schema
                    for e in entries:
                        self.places[(noun, prefix, e.name)] = _line(e.key)
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
                self.problem_at(
                    self.places.get((f"absent {item.kind}", what, item.name)),
                    f"{what}: {item.kind} {item.name!r} is both expected and absent",
                )

    def rls(self, node: yaml.Node, label: str) -> model.Rls:
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL:
            # `rls: true` is enabled, not forced
            return self.shared(model.Rls(enabled=self.flag(node, label)))
        found = self.fields(node, label, _RLS_KEYS, required=("enabled",))
        rls = model.Rls(
            enabled=self.get(found, "enabled", label, self.flag, False),
            forced=self.get(found, "forced", label, self.flag, False),
        )
        return self.shared(rls)

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
            columns.append(self.shared(column))
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
        references = model.ForeignKey(
            # An unqualified table is in the constraint's own schema, as in SQL here.
            table=table if "." in table else f"{schema}.{table}",
            columns=self.get(found, "columns", label, self.names, ()),
            on_delete=self.get(found, "on_delete", label, self.action, "NO ACTION"),
            on_update=self.get(found, "on_update", label, self.action, "NO ACTION"),
            match=self.get(found, "match", label, self.match, "SIMPLE"),
        )
        return self.shared(references)

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
        return self.shared(self.items(node, label, self.index_column, unique=False))

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
        return self.shared(frozenset(roles))

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
        return self.shared(tuple(e for e in _EVENT_ORDER if e in events))

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
    plain = not asked and _plain_tag(text) == _STR

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
