"""The expected-state spec: YAML text -> :class:`model.State` (the writer is :mod:`.writer`).

Loading is strict and reports every problem at once, each with its file and
line: the text is parsed once (:func:`yamldoc.parse`), walked into the model
here, problems recorded at their path, and lines looked up only when there is
one (see :class:`monitor.documents.reader.Reader`).

Each kind of object is one read method: tables and what they hold in
:mod:`.tables`, the security surface in :mod:`.security`, the document, its
ledger and schemas here, the values they share in :mod:`.values`. A read
method calls ``fields`` for its mapping, whose keys are declared in
:mod:`.document`, then ``get(found, key, what, read, default)`` per value with
``text``, ``flag``, ``choice``, ``names``, ``expression``...; a mapping of
named objects through ``named_objects``, or inside a table through
``objects``. The checks between its fields follow in a ``check_*`` method. A
new kind is one Struct in :mod:`.document`, one read method with its checks
beside the kinds it belongs with, and one ``_*_document`` function in
:mod:`.writer`. Problems go through ``problem`` or ``invalid``; never raise
anything else.

Text the user wrote (names, types, expressions) is stored exactly as written;
comparison is semantic and belongs to the diff. The format is described in
docs/spec.md.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from monitor.documents import locate, pieces, yamldoc
from monitor.documents.yamldoc import describe
from monitor.errors import InputError, Problem
from monitor.schema import model
from monitor.schema.spec import document
from monitor.schema.spec.security import SecurityReader
from monitor.schema.spec.tables import TableReader
from monitor.schema.spec.writer import (
    SCHEMA_ABSENT,
    absent_sort_key,
    dumps,
)

__all__ = [
    "Scope",
    "absent_sort_key",
    "dumps",
    "guess_scope",
    "load",
    "loads",
    "read_text",
]

T = TypeVar("T")
H = TypeVar("H", bound=Hashable)


# Where a spec in block layout writes a schema's `tables:` (schemas > name > tables).
_TABLES_INDENT = 4
# The sections of a schema a large spec is mostly made of, parsed a piece at a time.
_BLOCK_KEYS = ("tables", "functions", "views")


# The blocks of a large spec parsed a piece at a time (see monitor.documents.pieces).
PIECES = pieces.Cut(_BLOCK_KEYS, _TABLES_INDENT)


def loads(text: str, filename: str = "<spec>") -> model.State:
    """Parse and validate a spec; raise InputError listing every problem with its line."""
    yamldoc.check_characters(text, filename, "spec")
    # The model of a large spec is hundreds of thousands of new objects in no cycle.
    with yamldoc.no_cycle_collection():
        root = yamldoc.parse(text, filename, PIECES)
        if root is None:
            raise InputError([Problem(filename, 1, "the spec is empty")])
        reader = _Reader(filename, root, text)
        state = reader.read(reader.root)
        reader.finish(text)
    assert state is not None  # None only with a problem
    return state


def load(path: Path) -> model.State:
    return loads(read_text(path), str(path))


def read_text(path: Path) -> str:
    """The text of a spec file, checked as :func:`load` checks it."""
    return yamldoc.read_text(path, "spec")


@dataclasses.dataclass(frozen=True, slots=True)
class Scope:
    """What a spec asks the catalog for: its schemas, by name, and its ledger table."""

    schemas: tuple[str, ...]
    ledger_table: str | None

    @classmethod
    def of(cls, state: model.State) -> Scope:
        ledger = state.ledger.table if state.ledger else None
        return cls(tuple(schema.name for schema in state.schemas), ledger)


def guess_scope(text: str) -> Scope | None:
    """The scope of a spec, read from its outline alone (its tables, functions and views
    cut out, see :mod:`monitor.documents.pieces`), for a snapshot started while the spec
    loads; None when that is not plain. Only a guess: :meth:`Scope.of` the loaded spec
    decides."""
    split = pieces.split(text, PIECES)
    if split is None:
        return None
    try:
        data = yamldoc.parse(split.outline, "<outline>")
    except InputError:
        return None
    schemas = data.get("schemas") if isinstance(data, dict) else None
    if not isinstance(schemas, dict) or not all(type(name) is str for name in schemas):
        return None
    ledger = data.get("migrations")
    if ledger is None:
        return Scope(tuple(sorted(schemas)), None)
    table = ledger.get("table", model.DEFAULT_LEDGER_TABLE) if isinstance(ledger, dict) else None
    return Scope(tuple(sorted(schemas)), table) if type(table) is str else None


# --- loading ---------------------------------------------------------------


def _name(item: model.Table | model.Schema) -> str:
    return item.name


class _Reader(TableReader, SecurityReader):
    """Reads parsed spec data into a State; see :class:`monitor.documents.reader.Reader`."""

    def __init__(self, filename: str, root: Any, text: str) -> None:
        super().__init__(filename, root)
        self.source = text

    # -- the document

    def read(self, root: Any) -> model.State | None:
        if not isinstance(root, dict):
            what = "the spec must be a mapping with keys version, migrations and schemas"
            self.problem(root, f"{what}, not {describe(root)}")
            return None
        found = self.fields(root, "spec", document.Spec)
        if "version" in found and not _is_integer(found["version"], 1):
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
        found = self.fields(value, "migrations", document.Ledger)
        table = self.get(found, "table", "migrations", self.text, model.DEFAULT_LEDGER_TABLE)
        applied = self.get(found, "applied", "migrations", self.names, ())
        if any(type(version) is int for version in found.get("applied") or ()):
            applied = self.as_written(("migrations", "applied"), applied)
        return model.Ledger(applied=applied, table=table)

    def as_written(self, path: locate.Path, values: tuple[str, ...]) -> tuple[str, ...]:
        """``values``, the list at ``path``, as the text spells them: a version written as
        a number keeps its digits (`0001`), which YAML reads as the number 1."""
        spelled = {
            node.path[-1]: node.event.value
            for node in locate.walk(self.source)
            if node.path[:-1] == path and isinstance(node.event, yaml.ScalarEvent)
        }
        return tuple(spelled.get(index, value) for index, value in enumerate(values))

    def schema(self, name: str, body: Any) -> model.Schema:
        what = f"schema {name}"
        found = self.fields(body, what, document.Schema, null_is_empty=True)
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
                    self.report(
                        self.places.get(("index", f"{schema}.{table.name}", index.name), ()),
                        f"{what}: index {index.name!r} is listed on both tables "
                        f"{other!r} and {table.name!r}",
                    )
        expected = {
            model.Kind.TABLE: {t.name for t in tables},
            model.Kind.INDEX: set(index_tables),
        }
        for item in absent:
            if item.table is None and item.name in expected.get(item.kind, ()):
                self.report(
                    self.places.get((f"absent {item.kind}", what, item.name), ()),
                    f"{what}: {item.kind} {item.name!r} is both expected and absent",
                )

    # -- tables

    # -- columns

    # -- constraints

    # -- indexes

    # -- policies

    # -- triggers


def _is_integer(value: Any, number: int) -> bool:
    return type(value) is int and value == number
