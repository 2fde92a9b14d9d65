"""The expected-state spec: YAML text -> :class:`model.State` (the writer is spec_writer).

Loading is strict and reports every problem at once, each with its file and
line. The text is read by the engine in :mod:`yamldoc`: first fast (a native
parser, no positions), and only when that meets a problem, again exactly
(every value with its line) so that each problem names where it is. One
reader serves both: each kind of object is one method below, reading a
mapping with :meth:`yamldoc.Reader.fields` and its values with ``get``.

A new section of the format is a tuple of its keys (``_*_KEYS``), one read
method here (``fields`` for the keys, then ``get(found, key, what, read,
default)`` per value with ``text``, ``flag``, ``choice``, ``names``,
``expression``...; a mapping of named objects through ``named``, or inside a
table through ``objects`` so a fast read of equal bodies is shared), and one
``_*_document`` function in :mod:`spec_writer`. Problems go through
``problem``/``invalid``; never raise anything else.

Text the user wrote (types, expressions, names) is stored as written, only
stripped; comparison is semantic and belongs to the diff. The format is
described in docs/spec.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import re
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from monitor.documents import yamldoc
from monitor.documents.yamldoc import (
    Invalid,
    Retry,
    describe,
    is_bool,
    is_empty_list,
    is_null,
    line_of,
    spelling,
)
from monitor.errors import InputError
from monitor.schema import model, normalize
from monitor.schema.spec.security import SecurityReader
from monitor.schema.spec.writer import (
    DEFAULT_ROLES,
    SCHEMA_ABSENT,
    TABLE_ABSENT,
    absent_sort_key,
    dumps,
)

__all__ = [
    "Reading",
    "Scope",
    "absent_sort_key",
    "blocks_of",
    "dumps",
    "load",
    "load_reading",
    "loads",
    "read",
    "read_text",
]

T = TypeVar("T")
H = TypeVar("H", bound=Hashable)

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
_TABLE_PRIVILEGE_NAMES = {spelling(p): p for p in model.TABLE_PRIVILEGES}

# The keys each mapping accepts, in the order dumps writes them.
_STATE_KEYS = (
    "version",
    "owners",
    "migrations",
    "extensions",
    "publications",
    "event_triggers",
    "extra_schemas",
    "absent_schemas",
    "schemas",
)
_LEDGER_KEYS = ("table", "applied")
_SCHEMA_KEYS = (
    "extra",
    "ignore",
    "owner",
    "grants",
    "default_privileges",
    "tables",
    "functions",
    "views",
    "types",
    "sequences",
    "collations",
    "absent",
)
_TABLE_KEYS = (
    "migration",
    "owner",
    "owner_privileges",
    "grants",
    "column_grants",
    "unlogged",
    "partitioned_by",
    "inherits",
    "rls",
    "columns",
    "constraints",
    "indexes",
    "policies",
    "triggers",
    "partitions",
    "absent",
)
_RLS_KEYS = ("enabled", "forced")
_COLUMN_KEYS = (
    "name",
    "type",
    "nullable",
    "default",
    "identity",
    "generated",
    "collation",
    "migration",
)
_PARTITION_KEYS = ("bound", "migration")
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
_SCHEMA_ABSENT_HINTS = dict.fromkeys(SCHEMA_ABSENT, "list it under the schema's absent")
_TABLE_ABSENT_HINTS = dict.fromkeys(TABLE_ABSENT, "list it under its table's absent")

# Where a spec in block layout writes a schema's `tables:` (schemas > name > tables).
_TABLES_INDENT = 4
# The sections of a schema a large spec is mostly made of, parsed a piece at a time.
_BLOCK_KEYS = ("tables", "functions", "views")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PUBLIC = "public"


# PyYAML's composer for the exact reading: libyaml's when available.
_PARSER: type[Any] | None = None  # None: the engine's choice


def loads(text: str, filename: str = "<spec>") -> model.State:
    """Parse and validate a spec; raise InputError listing every problem with its line."""
    yamldoc.check_characters(text, filename, "spec")
    return _read(text, filename)


def load(path: Path) -> model.State:
    return load_reading(read(path))


def read_text(path: Path) -> str:
    """The text of a spec file, checked as :func:`load` checks it."""
    return yamldoc.read_text(path, "spec")


@dataclasses.dataclass(frozen=True, slots=True)
class Reading:
    """A spec file read and checked, its large blocks cut out (see :func:`read`)."""

    path: Path
    size: int  # characters
    outline: str  # the whole text when nothing was cut out
    blocks: yamldoc.Blocks | None  # detached: each piece freed once read

    def guess_scope(self) -> Scope | None:
        """The scope of the spec, read from its outline alone; None when that is not plain.

        A large spec's tables, functions and views are cut out (see
        :func:`yamldoc.split_blocks`), so the guess costs a fraction of a load.
        Only a guess: nothing is checked, the loaded spec's :meth:`Scope.of` decides.
        """
        if self.blocks is None:
            return None  # not the plain layout of a generated spec: no cheap outline
        data = yamldoc.fast_parse(self.outline)
        if not isinstance(data, dict):  # declined, or not a mapping at all
            return None
        schemas, ledger = data.get("schemas"), data.get("migrations")
        if not isinstance(schemas, dict) or not all(type(name) is str for name in schemas):
            return None
        if ledger is None:
            return Scope(tuple(sorted(schemas)), None)
        table = (
            ledger.get("table", model.DEFAULT_LEDGER_TABLE) if isinstance(ledger, dict) else None
        )
        if type(table) is not str:
            return None
        return Scope(tuple(sorted(schemas)), table.strip())


def blocks_of(text: str) -> yamldoc.Blocks | None:
    """A spec's schemas' tables, functions and views cut out to be parsed a piece at a
    time (see :func:`yamldoc.split_blocks`); None where the layout is not plain."""
    return yamldoc.split_blocks(text, _BLOCK_KEYS, _TABLES_INDENT)


def read(path: Path) -> Reading:
    """A spec file read for :func:`load_reading`, its text not kept.

    A large spec's tables, functions and views become pieces of their own,
    each freed once parsed: the text leaves memory as the model fills it,
    instead of staying beside the whole model (8 MB for 5,000 tables).
    """
    text = read_text(path)
    blocks = blocks_of(text)
    if blocks is None:
        return Reading(path, len(text), text, None)
    return Reading(path, len(text), blocks.outline, blocks.detached())


def load_reading(reading: Reading) -> model.State:
    """:func:`load` of a :func:`read`, which can be loaded once.

    A spec with a problem is read again from its file for the exact
    reading (its text was not kept): what is reported, or loaded, is always
    one whole version of the file.
    """
    return _fast_else_exact(
        str(reading.path), reading.outline, reading.blocks, lambda: read_text(reading.path)
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Scope:
    """What a spec asks the catalog for: its schemas, by name, and its ledger table."""

    schemas: tuple[str, ...]
    ledger_table: str | None

    @classmethod
    def of(cls, state: model.State) -> Scope:
        ledger = state.ledger.table if state.ledger else None
        return cls(tuple(schema.name for schema in state.schemas), ledger)


def _read(text: str, filename: str) -> model.State:
    """A spec from checked text: fast when it has no problem, else exactly."""
    blocks = blocks_of(text)
    outline = text if blocks is None else blocks.outline
    return _fast_else_exact(filename, outline, blocks, lambda: text)


def _fast_else_exact(
    filename: str, outline: str, blocks: yamldoc.Blocks | None, text: Callable[[], str]
) -> model.State:
    """The fast reading of ``outline`` and its ``blocks``; on any problem, the exact
    reading of the whole ``text()``."""
    # The model of a large spec is hundreds of thousands of new objects in no cycle.
    with yamldoc.no_cycle_collection(), contextlib.suppress(Retry):
        return _Reader(filename, fast=True).read_fast(outline, blocks)
    return read_exactly(text(), filename)


def read_exactly(text: str, filename: str = "<spec>", *, fast_pieces: bool = True) -> model.State:
    """What :func:`loads` does when the fast path declines: every value with its line.

    A large spec's tables are composed a piece at a time here too (a node
    tree with every line of a 5,000-table spec would take most of a GB);
    where a piece does not compose alone, the whole text is composed. Each
    piece is read fast first and composed only if that meets a problem (see
    ``_Reader.read_piece``); ``fast_pieces=False`` composes every piece, the
    reading the other is tested against.
    """
    blocks = blocks_of(text)
    # One collection at the end, not one per piece over all the nodes it composed.
    with yamldoc.no_cycle_collection():
        if blocks is not None:
            # Where a problem is about a piece read fast, every piece is composed.
            for pieces_fast in (True, False) if fast_pieces else (False,):
                with contextlib.suppress(Retry):
                    return _read_exactly(filename, blocks.outline, blocks, pieces_fast)
        return _read_exactly(filename, text, None)


def _read_exactly(
    filename: str, text: str, blocks: yamldoc.Blocks | None, pieces_fast: bool = False
) -> model.State:
    reader = _Reader(filename, fast=False)
    lines = None
    if blocks is not None:
        reader.use_blocks(blocks)
        reader.pieces_fast = pieces_fast
        lines = blocks.outline_line
    try:
        root = yamldoc.compose(text, filename, _PARSER, lines)
    except InputError:
        if blocks is not None:
            raise Retry from None  # the outline may break where the whole text does not
        raise
    state = reader.read(root)
    if blocks is not None and reader.unread_blocks:
        raise Retry
    if reader.problems or state is None:
        raise InputError(reader.sorted_problems())
    return state


# --- loading ---------------------------------------------------------------


def _name(item: model.Table | model.Schema) -> str:
    return item.name


_Object = TypeVar(
    "_Object", model.Constraint, model.Index, model.Policy, model.Trigger, model.Partition
)


def _sorted(items: tuple[_Object, ...] | None) -> tuple[_Object, ...] | None:
    return None if items is None else tuple(sorted(items, key=lambda item: item.name))


class _Reader(SecurityReader):
    """Reads parsed spec data into a State; see :class:`yamldoc.Reader`."""

    def __init__(self, filename: str, *, fast: bool) -> None:
        super().__init__(filename, fast=fast)
        # The line of each index and absent entry, by (what, owner, name), to
        # place problems found later by comparing objects with each other.
        self.places: dict[tuple[str, str, str], int | None] = {}
        # One object per distinct value (see shared).
        self.values: dict[Hashable, Any] = {}
        # Fast mode: the tables cut out of the text, and the blocks not read yet.
        self.blocks: yamldoc.Blocks | None = None
        self.unread_blocks: set[str] = set()
        # Exact reading: read each piece fast first (see read_piece).
        self.pieces_fast = False

    def shared(self, value: H) -> H:
        """The first equal ``value`` read: a large spec repeats its types,
        expressions, column lists and whole columns (`id`, `created_at`)
        table after table, and the model is immutable."""
        kept: H = self.values.setdefault(value, value)
        return kept

    def scalar(self, value: Any, label: str) -> str | None:
        text = super().scalar(value, label)
        return None if text is None else self.shared(text)

    def checked(self, value: Any, label: str, text: str, error: str | None, noun: str) -> str:
        """``text`` unless the SQL parser found an ``error`` in it."""
        if error is not None:
            raise self.invalid(value, f"{label} {text!r} is not a valid {noun}: {error}")
        return text

    def expression(self, value: Any, label: str) -> str | None:
        text = self.optional_text(value, label)
        if text is None:
            return None
        error = normalize.expression_error(text)
        return self.checked(value, label, text, error, "SQL expression")

    # -- the document

    def read_fast(self, outline: str, blocks: yamldoc.Blocks | None) -> model.State:
        """The state of a spec that has no problem; Retry on any problem.

        The tables, functions and views of a generated spec are parsed a few
        hundred at a time (``blocks``, cut out of the text that ``outline``
        is left of; see :func:`yamldoc.split_blocks`): the parsed data of a
        large spec is never held whole, only the model it becomes.
        """
        if blocks is not None:
            self.use_blocks(blocks)
        data = yamldoc.fast_parse(outline)
        if data is yamldoc.DECLINED:
            raise Retry
        state = self.read(data)
        if state is None or (self.blocks is not None and self.unread_blocks):
            raise Retry  # a block was cut out of something other than a schema's tables
        return state

    def use_blocks(self, blocks: yamldoc.Blocks) -> None:
        self.blocks = blocks
        self.unread_blocks = {f"{blocks.marker}{index}" for index in range(len(blocks.bounds))}

    def read_entries(self, value: Any, what: str, read: Callable[[str, Any], T]) -> list[T]:
        """``read(name, body)`` of each entry of a schema's tables, functions or views, a
        piece at a time if cut out."""
        blocks = self.blocks
        if blocks is None or not isinstance(value, str) or not value.startswith(blocks.marker):
            return super().read_entries(value, what, read)
        self.unread_blocks.discard(value)
        block = int(value.removeprefix(blocks.marker))
        first_lines: dict[str, int | None] = {}
        made: list[T] = []
        for piece, line in blocks.pieces(block):
            made += self.read_piece(piece, line, what, read, first_lines)
        return made

    def read_piece(
        self,
        text: str,
        line: int,
        what: str,
        read: Callable[[str, Any], T],
        first_lines: dict[str, int | None],
    ) -> list[T]:
        """``read`` of each entry of one piece; ``first_lines``: the line of each entry of
        the pieces before, to which this piece's are added.

        Read exactly, a piece is first read fast all the same, and composed with
        its lines only when that meets a problem: a large spec with a problem
        in one table pays for the lines of one piece, not of every piece.
        """
        if not self.fast and self.pieces_fast:
            with contextlib.suppress(Retry), self.reading_fast():
                return self.read_piece(text, line, what, read, first_lines)
        made: list[T] = []
        lines: dict[str, int | None] = {}
        for name, body in self.named(self.piece(text, line), what):
            if name in first_lines:  # a table written twice, in two pieces
                first = first_lines[name]
                if first is None:
                    raise Retry  # written first in a piece read fast: no line to give
                self.problem(name, f"{what}: duplicate key {str(name)!r} (first at line {first})")
                continue
            lines[name] = line_of(name)
            made.append(read(name, body))
        first_lines.update(lines)
        return made

    @contextlib.contextmanager
    def reading_fast(self) -> Iterator[None]:
        self.fast = True
        try:
            yield
        finally:
            self.fast = False

    def problem_at(self, line: int | None, message: str) -> None:
        if line is None and self.pieces_fast and not self.fast:
            # About an object of a piece read fast: only a reading with every line can
            # place it (read_exactly's next try).
            raise Retry
        super().problem_at(line, message)

    def piece(self, text: str, line: int) -> Any:
        """One piece of a block of tables, parsed fast or exactly; Retry where it does not
        parse alone (the whole text is then read)."""
        if self.fast:
            data = yamldoc.fast_parse(text)
        else:
            try:
                data = yamldoc.compose(text, self.filename, _PARSER, lambda at: at + line)
            except InputError:
                raise Retry from None
        if not isinstance(data, dict):
            raise Retry
        return data

    def read(self, root: Any) -> model.State | None:
        if root is None:
            self.problem_at(1, "the spec is empty")
            return None
        if is_null(root):
            self.problem(root, "the spec is empty")
            return None
        if not isinstance(root, dict):
            what = "the spec must be a mapping with keys version, migrations and schemas"
            self.problem(root, f"{what}, not {describe(root)}")
            return None
        found = self.fields(root, "spec", _STATE_KEYS, required=("version", "schemas"))
        if "version" in found and self.integer_value(found["version"]) != 1:
            version = found["version"]
            self.problem(version, f"spec: version must be 1, not {describe(version)}")
        ledger = self.ledger(found["migrations"]) if "migrations" in found else None
        schemas = [
            self.schema(name, body) for name, body in self.named(found.get("schemas"), "schemas")
        ]
        return model.State(
            schemas=tuple(sorted(schemas, key=_name)),
            ledger=ledger,
            extensions=self.named_objects(found, "extensions", "", self.extension),
            publications=self.named_objects(found, "publications", "", self.publication),
            event_triggers=self.named_objects(found, "event_triggers", "", self.event_trigger),
            owners=self.get(found, "owners", "spec", self.owners, model.OwnerPolicy()),
            absent_schemas=tuple(sorted(self.get(found, "absent_schemas", "spec", self.names, ()))),
            extra_schemas=self.get(
                found, "extra_schemas", "spec", self.extra_choice, model.Extra.IGNORE
            ),
        )

    def ledger(self, value: Any) -> model.Ledger:
        found = self.fields(value, "migrations", _LEDGER_KEYS, required=("applied",))
        table = self.get(found, "table", "migrations", self.text, model.DEFAULT_LEDGER_TABLE)
        applied = self.get(found, "applied", "migrations", self.names, ())
        return model.Ledger(applied=applied, table=table)

    def names(self, value: Any, label: str, *, single: bool = False) -> tuple[str, ...]:
        return self.shared(self.items(value, label, self.text, single=single))

    def schema(self, name: str, body: Any) -> model.Schema:
        what = f"schema {name}"
        found = self.fields(body, what, _SCHEMA_KEYS, null_is_empty=True)
        extra = self.get(found, "extra", what, self.extra, model.ExtraPolicy())
        ignore = self.get(found, "ignore", what, self.names, ())
        tables: list[model.Table] = []
        absent: list[model.Absent] = []
        read = functools.partial(self.table, name)
        for table, table_absent in self.read_entries(found.get("tables"), f"{what}: tables", read):
            tables.append(table)
            absent.extend(table_absent)
        if "absent" in found:
            absent.extend(self.absent(found["absent"], what, SCHEMA_ABSENT, None))
        self.check_schema_names(name, tables, absent)

        def schema_grants(value: Any, label: str) -> model.Grants:
            return self.grants(value, label, model.SCHEMA_PRIVILEGES)

        def view(view_name: str, body: Any, label: str) -> model.View:
            def index(index_name: str, index_body: Any, index_label: str) -> model.Index:
                return self.index(index_name, index_body, f"{label}: {index_label}")

            return self.view(view_name, body, label, index)

        return model.Schema(
            name=name,
            tables=tuple(sorted(tables, key=_name)),
            absent=tuple(sorted(absent, key=absent_sort_key)),
            extra=extra,
            ignore=tuple(sorted(ignore)),
            owner=self.get(found, "owner", what, self.text, None),
            grants=self.get(found, "grants", what, schema_grants, None),
            default_privileges=self.get(
                found, "default_privileges", what, self.default_privileges, None
            ),
            functions=self.named_objects(found, "functions", name, self.routine),
            views=self.named_objects(found, "views", name, view),
            types=self.named_objects(found, "types", name, self.type_),
            sequences=self.named_objects(found, "sequences", name, self.sequence),
            collations=self.named_objects(found, "collations", name, self.collation),
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

    def extra(self, node: Any, label: str) -> model.ExtraPolicy:
        if not isinstance(node, dict):
            every = self.choice(node, label, _EXTRAS)
            return model.ExtraPolicy(**dict.fromkeys(model.EXTRA_KINDS, every))
        found = self.fields(node, label, model.EXTRA_KINDS)
        chosen = {
            kind: self.get(found, kind, label, self.extra_choice, model.Extra.REPORT)
            for kind in model.EXTRA_KINDS
        }
        return model.ExtraPolicy(**chosen)

    def extra_choice(self, node: Any, label: str) -> model.Extra:
        return self.choice(node, label, _EXTRAS)

    def absent(
        self,
        node: Any,
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
                self.places[(f"absent {kind}", what, name)] = line_of(entry_node)
            absent.extend(names.values())
        return absent

    def absent_entries(self, node: Any, label: str) -> tuple[tuple[Any, str, str | None], ...]:
        return self.items(node, label, self.absent_entry, unique=False)

    def absent_entry(self, node: Any, label: str) -> tuple[Any, str, str | None]:
        if not isinstance(node, dict):
            return node, self.text(node, label), None
        found = self.fields(node, label, _ABSENT_ENTRY_KEYS, required=("name",))
        name = self.get(found, "name", label, self.text, "")
        migration = self.get(found, "migration", label, self.optional_text, None)
        if not name:
            raise Invalid()
        return node, name, migration

    # -- tables

    def table(self, schema: str, name: str, body: Any) -> tuple[model.Table, list[model.Absent]]:
        prefix = f"{schema}.{name}"
        what = f"table {prefix}"
        found = self.fields(body, what, _TABLE_KEYS, null_is_empty=True)

        def objects(
            key: str, noun: str, read: Callable[[str, Any, str], T]
        ) -> tuple[T, ...] | None:
            def read_all(value: Any, label: str) -> tuple[T, ...]:
                entries = self.named(value, label)
                if noun == "index" and not self.fast:  # compared across the tables of a schema
                    for entry_name, _ in entries:
                        self.places[(noun, prefix, entry_name)] = line_of(entry_name)
                return self.named_bodies(
                    noun, schema, entries, lambda n: f"{noun} {prefix}.{n}", read
                )

            return self.collection(found, key, what, read_all)

        table = model.Table(
            name=name,
            columns=self.collection(
                found, "columns", what, functools.partial(self.columns, prefix=prefix)
            ),
            constraints=_sorted(
                objects(
                    "constraints", "constraint", lambda n, b, w: self.constraint(schema, n, b, w)
                )
            ),
            indexes=_sorted(objects("indexes", "index", self.index)),
            policies=_sorted(objects("policies", "policy", self.policy)),
            triggers=_sorted(objects("triggers", "trigger", self.trigger)),
            rls=self.get(found, "rls", what, self.remembered_rls, None),
            migration=self.get(found, "migration", what, self.optional_text, None),
            owner=self.get(found, "owner", what, self.text, None),
            grants=self.relation_grants(found, what, model.TABLE_PRIVILEGES),
            owner_privileges=self.get(found, "owner_privileges", what, self.owner_privileges, None),
            unlogged=self.get(found, "unlogged", what, self.flag, False),
            partitioned_by=self.get(found, "partitioned_by", what, self.optional_text, None),
            partitions=_sorted(objects("partitions", "partition", self.partition)),
            inherits=tuple(
                parent if "." in parent else f"{schema}.{parent}"
                for parent in self.get(found, "inherits", what, self.names, ())
            ),
        )
        absent = self.absent(found["absent"], what, TABLE_ABSENT, name) if "absent" in found else []
        self.check_table_absent(what, table, absent)
        return table, absent

    def partition(self, name: str, body: Any, what: str) -> model.Partition:
        """``name: FOR VALUES ...`` (as pg_get_expr writes a bound), or ``{bound, migration}``."""
        if not isinstance(body, dict):
            return model.Partition(name, self.text(body, what))
        found = self.fields(body, what, _PARTITION_KEYS, required=("bound",))
        return model.Partition(
            name,
            self.get(found, "bound", what, self.text, ""),
            self.get(found, "migration", what, self.optional_text, None),
        )

    def owner_privileges(self, node: Any, label: str) -> tuple[str, ...]:
        """The privileges a table's owner still holds, when someone revoked some."""

        def privilege(value: Any, item_label: str) -> str:
            return self.choice(value, item_label, _TABLE_PRIVILEGE_NAMES)

        held = set(self.items(node, label, privilege))
        return tuple(p for p in model.TABLE_PRIVILEGES if p in held)

    def collection(
        self,
        found: Mapping[str, Any],
        key: str,
        what: str,
        read: Callable[[Any, str], tuple[T, ...]],
    ) -> tuple[T, ...] | None:
        """None when the key is left out (not checked); a tuple, maybe empty, when present."""
        if key not in found:
            return None
        node = found[key]
        if is_null(node):
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

    def remembered_rls(self, value: Any, label: str) -> model.Rls:
        return self.remembered(("rls",), value, lambda: self.rls(value, label))

    def rls(self, node: Any, label: str) -> model.Rls:
        if is_bool(node):
            # `rls: true` is enabled, not forced
            return self.shared(model.Rls(enabled=self.flag(node, label)))
        found = self.fields(node, label, _RLS_KEYS, required=("enabled",))
        rls = model.Rls(
            enabled=self.get(found, "enabled", label, self.flag, False),
            forced=self.get(found, "forced", label, self.flag, False),
        )
        return self.shared(rls)

    # -- columns

    def columns(self, node: Any, label: str, prefix: str) -> tuple[model.Column, ...]:
        if not isinstance(node, list):
            raise self.invalid(node, f"{label} must be a list, not {describe(node)}")
        columns: list[model.Column] = []
        first_line: dict[str, int | None] = {}
        for position, entry in enumerate(node, start=1):
            # Read once per distinct body: `id`, `created_at`... repeat table after table.
            read = functools.partial(self.column, entry, f"{label}[{position}]", prefix)
            column = self.remembered(("column",), entry, read)
            if column is None:
                continue
            if column.name in first_line:
                where = f"first at line {first_line[column.name]}"
                self.problem(entry, f"{label}: duplicate column {column.name!r} ({where})")
                continue
            first_line[column.name] = line_of(entry)
            columns.append(self.shared(column))
        return tuple(columns)

    def column(self, node: Any, label: str, prefix: str) -> model.Column | None:
        if not isinstance(node, dict):
            self.problem(node, f"{label} must be a mapping, not {describe(node)}")
            return None
        if len(node) == 1 and "name" not in node and not getattr(node, "notes", None):
            [(key, value)] = self.pairs(node, label)
            return self.short_column(key, value, label, prefix)
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
            collation=self.get(found, "collation", what, self.optional_text, None),
            migration=self.get(found, "migration", what, self.optional_text, None),
        )
        if not name:
            return None
        return self.check_column(node, what, found, column)

    def short_column(self, key: Any, value: Any, label: str, prefix: str) -> model.Column | None:
        """`- id: uuid`: a column with just a name and a type."""
        if isinstance(value, dict | list):
            self.problem(
                value,
                f"{label}: the short form is `- name: type`; "
                "write {name: ..., type: ..., ...} for more fields",
            )
            return None
        try:
            name = self.text(key, f"{label}: name")
            return model.Column(name=name, type=self.type(value, f"column {prefix}.{name}: type"))
        except Invalid:
            return None

    def type(self, node: Any, label: str) -> str:
        value = self.text(node, label)
        return self.checked(node, label, value, normalize.type_error(value), "SQL type")

    def identity(self, node: Any, label: str) -> str:
        return self.choice(node, label, _IDENTITIES)

    def check_column(
        self, node: Any, what: str, found: Mapping[str, Any], column: model.Column
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

    def constraint(self, schema: str, name: str, body: Any, what: str) -> model.Constraint:
        found = self.fields(body, what, _CONSTRAINT_KEYS, required=("type",))
        kind = self.get(found, "type", what, self.constraint_type, None)
        references = self.get(
            found, "references", what, lambda n, lbl: self.references(schema, n, lbl), None
        )
        constraint = model.Constraint(
            name=name,
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
            self.check_constraint(body, what, found, constraint)
        return constraint

    def constraint_type(self, node: Any, label: str) -> model.ConstraintType:
        return self.choice(node, label, _CONSTRAINT_TYPES)

    def check_constraint(
        self,
        node: Any,
        what: str,
        found: Mapping[str, Any],
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
        if kind in needs_columns and ("columns" not in found or is_empty_list(found["columns"])):
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
                with contextlib.suppress(Invalid):
                    self.checked(found["check"], label, check, error, "SQL expression")
            elif kind is not model.ConstraintType.EXCLUDE:
                self.problem(found["check"], f"{label} belongs to check and exclude constraints")
        if constraint.deferred and not constraint.deferrable:
            self.problem(found["deferred"], f"{what}: deferred needs deferrable: true")

    def references(self, schema: str, node: Any, label: str) -> model.ForeignKey:
        found = self.fields(node, label, _REFERENCE_KEYS, required=("table", "columns"))
        table = self.get(found, "table", label, self.text, "")
        if "columns" in found and is_empty_list(found["columns"]):
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

    def action(self, node: Any, label: str) -> str:
        return self.choice(node, label, _ACTIONS)

    def match(self, node: Any, label: str) -> str:
        return self.choice(node, label, _MATCHES)

    # -- indexes

    def index(self, name: str, body: Any, what: str) -> model.Index:
        found = self.fields(body, what, _INDEX_KEYS, required=("columns",))
        columns = self.get(found, "columns", what, self.index_columns, ())
        if "columns" in found and is_empty_list(found["columns"]):
            self.problem(found["columns"], f"{what}: columns must not be empty")
        if "valid" in found and not self.get(found, "valid", what, self.flag, True):
            self.problem(found["valid"], f"{what}: a spec always expects a valid index")
        return model.Index(
            name=name,
            columns=columns,
            include=self.get(found, "include", what, self.names, ()),
            where=self.get(found, "where", what, self.expression, None),
            unique=self.get(found, "unique", what, self.flag, False),
            method=self.get(found, "method", what, self.method, "btree"),
            constraint=self.get(found, "constraint", what, self.optional_text, None),
            migration=self.get(found, "migration", what, self.optional_text, None),
        )

    def index_columns(self, node: Any, label: str) -> tuple[str, ...]:
        return self.shared(self.items(node, label, self.index_column, unique=False))

    def index_column(self, node: Any, label: str) -> str:
        value = self.text(node, label)
        error = normalize.index_column_error(value)
        return self.checked(node, label, value, error, "index column")

    def method(self, node: Any, label: str) -> str:
        value = self.text(node, label)
        if not _IDENTIFIER.fullmatch(value):
            raise self.invalid(node, f"{label} must be an access method name like btree or gin")
        return value.lower()  # an unquoted identifier, as CREATE INDEX ... USING reads it

    # -- policies

    def policy(self, name: str, body: Any, what: str) -> model.Policy:
        found = self.fields(body, what, _POLICY_KEYS, null_is_empty=True)
        for one, other in (("permissive", "as"), ("with_check", "check")):
            if one in found and other in found:
                self.problem(found[other], f"{what}: give {one} or {other}, not both")
        permissive = self.get(found, "permissive", what, self.flag, True)
        if "as" in found:
            permissive = self.get(found, "as", what, self.policy_kind, True)
        with_check_key = "check" if "check" in found and "with_check" not in found else "with_check"
        policy = model.Policy(
            name=name,
            command=self.get(found, "command", what, self.command, "ALL"),
            permissive=permissive,
            roles=self.get(found, "roles", what, self.roles, DEFAULT_ROLES),
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

    def policy_kind(self, node: Any, label: str) -> bool:
        return self.choice(node, label, _POLICY_KINDS)

    def command(self, node: Any, label: str) -> str:
        return self.choice(node, label, _COMMANDS)

    def roles(self, node: Any, label: str) -> frozenset[str]:
        roles = self.items(node, label, self.role, single=True)
        if not roles:
            raise self.invalid(node, f"{label} must not be empty (leave it out for public)")
        return self.shared(frozenset(roles))

    def role(self, node: Any, label: str) -> str:
        name = self.text(node, label)
        # PUBLIC is a keyword, not a role name: any case means the same pseudo-role.
        return _PUBLIC if name.lower() == _PUBLIC else name

    # -- triggers

    def trigger(self, name: str, body: Any, what: str) -> model.Trigger:
        required = ("timing", "events", "function")
        found = self.fields(body, what, _TRIGGER_KEYS, required=required)
        trigger = model.Trigger(
            name=name,
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
            self.problem(body, f"{what}: an INSTEAD OF trigger needs level: ROW")
        if "TRUNCATE" in trigger.events and trigger.level == "ROW":
            self.problem(body, f"{what}: a TRUNCATE trigger needs level: STATEMENT")
        if trigger.columns and "UPDATE" not in trigger.events:
            self.problem(found["columns"], f"{what}: columns (UPDATE OF) need the UPDATE event")
        return trigger

    def timing(self, node: Any, label: str) -> str:
        return self.choice(node, label, _TIMINGS)

    def events(self, node: Any, label: str) -> tuple[str, ...]:
        events = self.items(node, label, self.event, single=True)
        if not events:
            raise self.invalid(node, f"{label} must name at least one event")
        return self.shared(tuple(e for e in _EVENT_ORDER if e in events))

    def event(self, node: Any, label: str) -> str:
        return self.choice(node, label, _EVENTS)

    def level(self, node: Any, label: str) -> str:
        return self.choice(node, label, _LEVELS)

    def enabled(self, node: Any, label: str) -> str:
        if is_bool(node):
            return "origin" if self.flag(node, label) else "disabled"
        return self.choice(node, label, _ENABLED)

    def function(self, node: Any, label: str) -> str:
        value = self.text(node, label)
        error = normalize.expression_error(value)
        if error is None and not value.endswith(")"):
            error = "write it as a call, e.g. update_updated_at_column()"
        return self.checked(node, label, value, error, "function call")
