"""Reading a table of the spec: its columns, keys and indexes, policies and triggers, each
kind with the checks between its fields."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

from monitor.documents import locate
from monitor.documents.reader import FIRST_LINE
from monitor.documents.yamldoc import Invalid, boolean_hint, describe, spelling
from monitor.schema import model, normalize
from monitor.schema.spec import checks, document
from monitor.schema.spec.values import SpecValues
from monitor.schema.spec.writer import DEFAULT_ROLES, SCHEMA_ABSENT, TABLE_ABSENT

T = TypeVar("T")

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
_SCHEMA_ABSENT_HINTS = dict.fromkeys(SCHEMA_ABSENT, "list it under the schema's absent")
_TABLE_ABSENT_HINTS = dict.fromkeys(TABLE_ABSENT, "list it under its table's absent")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PUBLIC = "public"


_Object = TypeVar(
    "_Object", model.Constraint, model.Index, model.Policy, model.Trigger, model.Partition
)
_TABLE_PRIVILEGES = {spelling(p): p for p in model.TABLE_PRIVILEGES}


def _sorted(items: tuple[_Object, ...] | None) -> tuple[_Object, ...] | None:
    return None if items is None else tuple(sorted(items, key=lambda item: item.name))


class _TableObjects(SpecValues):
    """A table's constraints, indexes and triggers."""

    # -- constraints

    def constraint(self, schema: str, name: str, body: Any, what: str) -> model.Constraint:
        found = self.fields(body, what, document.Constraint)
        kind = self.get(found, "type", what, self.constraint_type, None)
        references = self.get(
            found, "references", what, lambda n, lbl: self.references(schema, n, lbl), None
        )
        constraint = model.Constraint(
            name=name,
            type=kind or model.ConstraintType.CHECK,
            columns=self.get(found, "columns", what, self.names, ()),
            references=references,
            check=self.get(found, "check", what, self.optional_sql, None),
            deferrable=self.get(found, "deferrable", what, self.flag, False),
            deferred=self.get(found, "deferred", what, self.flag, False),
            validated=self.get(found, "validated", what, self.flag, True),
            migration=self.get(found, "migration", what, self.optional_text, None),
        )
        if kind is not None:
            self.report_at(body, checks.constraint_problems(what, found, constraint))
        return constraint

    def constraint_type(self, node: Any, label: str) -> model.ConstraintType:
        return self.choice(node, label, _CONSTRAINT_TYPES)

    def references(self, schema: str, node: Any, label: str) -> model.ForeignKey:
        found = self.fields(node, label, document.References)
        table = self.get(found, "table", label, self.text, "")
        if found.get("columns") == []:
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
        found = self.fields(body, what, document.Index)
        columns = self.get(found, "columns", what, self.index_columns, ())
        if found.get("columns") == []:
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
        value = self.sql(node, label)
        error = normalize.index_column_error(value)
        return self.checked(node, label, value, error, "index column")

    def method(self, node: Any, label: str) -> str:
        value = self.text(node, label)
        if not _IDENTIFIER.fullmatch(value):
            raise self.invalid(node, f"{label} must be an access method name like btree or gin")
        return value.lower()  # an unquoted identifier, as CREATE INDEX ... USING reads it

    # -- triggers

    def trigger(self, name: str, body: Any, what: str) -> model.Trigger:
        found = self.fields(body, what, document.Trigger)
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
        self.report_at(body, checks.trigger_problems(what, trigger))
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
        if type(node) is bool:
            return "origin" if node else "disabled"
        return self.choice(node, label, _ENABLED)

    def function(self, node: Any, label: str) -> str:
        value = self.sql(node, label)
        error = normalize.expression_error(value)
        if error is None and not value.endswith(")"):
            error = "write it as a call, e.g. update_updated_at_column()"
        return self.checked(node, label, value, error, "function call")


_EXTRAS = {e.value: e for e in model.Extra}


class TableReader(_TableObjects):
    """A table: its columns, policies, row level security and absent objects, and the
    objects of :class:`_TableObjects`."""

    def table(self, schema: str, name: str, body: Any) -> tuple[model.Table, list[model.Absent]]:
        prefix = f"{schema}.{name}"
        what = f"table {prefix}"
        found = self.fields(body, what, document.Table, null_is_empty=True)

        def objects(
            key: str, noun: str, read: Callable[[str, Any, str], T]
        ) -> tuple[T, ...] | None:
            def read_all(value: Any, label: str) -> tuple[T, ...]:
                made = []
                for entry_name, body in self.named(value, label):
                    if noun == "index":  # compared across the tables of a schema
                        self.places[(noun, prefix, entry_name)] = self.here()
                    label = f"{noun} {prefix}.{entry_name}"
                    made.append(self.named_object((noun, schema), entry_name, body, label, read))
                return tuple(made)

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
            extra=self.get(found, "extra", what, self.extra, None),
        )
        absent = self.absent(found["absent"], what, TABLE_ABSENT, name) if "absent" in found else []
        self.check_table_absent(what, table, absent)
        return table, absent

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

    def partition(self, name: str, body: Any, what: str) -> model.Partition:
        """``name: FOR VALUES ...`` (as pg_get_expr writes a bound), or ``{bound, migration}``."""
        if not isinstance(body, dict):
            return model.Partition(name, self.text(body, what))
        found = self.fields(body, what, document.Partition)
        return model.Partition(
            name,
            self.get(found, "bound", what, self.text, ""),
            self.get(found, "migration", what, self.optional_text, None),
        )

    def owner_privileges(self, node: Any, label: str) -> tuple[str, ...]:
        """The privileges a table's owner still holds, when someone revoked some."""

        def privilege(value: Any, item_label: str) -> str:
            return self.choice(value, item_label, _TABLE_PRIVILEGES)

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
        if node is None:
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
                self.report(
                    self.places.get((f"absent {item.kind}", what, item.name), ()),
                    f"{what}: {item.kind} {item.name!r} is both expected and absent",
                )

    def remembered_rls(self, value: Any, label: str) -> model.Rls:
        return self.remembered("rls", value, lambda: self.rls(value, label))

    def rls(self, node: Any, label: str) -> model.Rls:
        if type(node) is bool or boolean_hint(node):
            # `rls: true` is enabled, not forced
            return self.shared(model.Rls(enabled=self.flag(node, label)))
        found = self.fields(node, label, document.Rls)
        rls = model.Rls(
            enabled=self.get(found, "enabled", label, self.flag, False),
            forced=self.get(found, "forced", label, self.flag, False),
        )
        return self.shared(rls)

    # -- absent objects

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
            for path, name, migration in entries:
                if name in names:
                    self.report(path, f"{label}: duplicate entry {name!r}")
                    continue
                names[name] = model.Absent(kind, name, table, migration)
                self.places[(f"absent {kind}", what, name)] = path
            absent.extend(names.values())
        return absent

    def absent_entries(
        self, node: Any, label: str
    ) -> tuple[tuple[locate.Path, str, str | None], ...]:
        return self.items(node, label, self.absent_entry, unique=False)

    def absent_entry(self, node: Any, label: str) -> tuple[locate.Path, str, str | None]:
        """The entry's path (for problems found later), name and migration."""
        if not isinstance(node, dict):
            return self.here(), self.text(node, label), None
        found = self.fields(node, label, document.AbsentEntry)
        name = self.get(found, "name", label, self.text, "")
        migration = self.get(found, "migration", label, self.optional_text, None)
        if not name:
            raise Invalid()
        return self.here(), name, migration

    # -- columns

    def columns(self, node: Any, label: str, prefix: str) -> tuple[model.Column, ...]:
        if not isinstance(node, list):
            raise self.invalid(node, f"{label} must be a list, not {describe(node)}")
        columns: list[model.Column] = []
        first: dict[str, Any] = {}
        for index, entry in self.entries(node, enumerate(node)):
            # Read once per distinct body: `id`, `created_at`... repeat table after table.
            read = functools.partial(self.column, entry, f"{label}[{index + 1}]", prefix)
            column = self.remembered("column", entry, read)
            if column is None:
                continue
            if column.name in first:
                message = f"{label}: duplicate column {column.name!r} (first at line {FIRST_LINE})"
                self.problem(entry, message, first=first[column.name])
                continue
            first[column.name] = entry
            columns.append(self.shared(column))
        return tuple(columns)

    def column(self, node: Any, label: str, prefix: str) -> model.Column | None:
        if not isinstance(node, dict):
            self.problem(node, f"{label} must be a mapping, not {describe(node)}")
            return None
        if len(node) == 1 and "name" not in node:
            [(key, value)] = node.items()
            return self.short_column(key, value, label, prefix)
        found = self.fields(node, label, document.Column)
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
        self.report_at(node, checks.column_problems(what, found, column))
        if column.identity is not None and "nullable" not in found:
            # PostgreSQL makes every identity column NOT NULL.
            return dataclasses.replace(column, nullable=False)
        return column

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
        value = self.sql(node, label)
        return self.checked(node, label, value, normalize.type_error(value), "SQL type")

    def identity(self, node: Any, label: str) -> str:
        return self.choice(node, label, _IDENTITIES)

    # -- policies

    def policy(self, name: str, body: Any, what: str) -> model.Policy:
        found = self.fields(body, what, document.Policy, null_is_empty=True)
        self.report_at(body, checks.policy_keys_problems(what, found))
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
        self.report_at(body, checks.policy_problems(what, found, policy, with_check_key))
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
