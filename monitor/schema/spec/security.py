"""Reading the spec's security surface: owners, grants, default privileges, functions,
views, types, sequences, extensions, publications and event triggers.

A mixin of :class:`monitor.schema.spec._Reader` (the vocabulary of the rest of
the spec lives there). Friendly spellings, all compared semantically later:

- grants: ``{anon: [SELECT], service_role: ALL}``; privileges in any case,
  ``ALL`` (or ``ALL PRIVILEGES``) for every privilege the object has,
  ``SELECT WITH GRANT OPTION``; ``PUBLIC`` in any case is the PUBLIC pseudo-role;
- a function by its signature, argument types in any spelling SQL accepts
  (``f(int, varchar)`` is ``f(integer, character varying)``), names allowed;
- ``settings: {search_path: ''}`` (or ``'""'``, as the catalog keeps it);
- a type by its shape: ``{enum: [a, b]}``, ``{domain: integer, ...}``,
  ``{composite: {a: integer, b: text}}``, ``{range: numeric}``.

The format is described in docs/spec.md.
"""

from __future__ import annotations

import dataclasses
import functools
import marshal
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from monitor.documents import yamldoc
from monitor.documents.yamldoc import Invalid, describe, spelling
from monitor.schema import model, normalize, quote
from monitor.schema.spec.writer import DEFAULT_PRIVILEGES_OF

T = TypeVar("T")

_OWNERS_KEYS = ("ignore", "roles")
_FUNCTION_KEYS = (
    "kind",
    "arguments",
    "returns",
    "language",
    "volatility",
    "strict",
    "security_definer",
    "leakproof",
    "settings",
    "owner",
    "grants",
    "migration",
    "body",
)
_VIEW_KEYS = (
    "materialized",
    "security_invoker",
    "security_barrier",
    "check_option",
    "owner",
    "grants",
    "column_grants",
    "indexes",
    "migration",
    "definition",
)
_TYPE_SHAPES = ("enum", "domain", "composite", "range")
_TYPE_KEYS = (*_TYPE_SHAPES, "nullable", "default", "constraints", "owner", "grants", "migration")
_SEQUENCE_KEYS = (
    "type",
    "increment",
    "minimum",
    "maximum",
    "start",
    "cache",
    "cycle",
    "owned_by",
    "owner",
    "grants",
    "migration",
)
_COLLATION_KEYS = ("provider", "locale", "ctype", "deterministic", "owner", "migration")
_COLLATION_PROVIDERS = {p: p for p in ("libc", "icu", "builtin")}
_EXTENSION_KEYS = ("schema", "version", "migration")
_PUBLICATION_KEYS = ("all_tables", "operations", "tables", "migration")
_EVENT_TRIGGER_KEYS = ("event", "function", "enabled", "tags", "migration")

_FUNCTION_KINDS = {k: k for k in ("function", "procedure", "aggregate", "window")}
_VOLATILITIES = {k: k for k in ("immutable", "stable", "volatile")}
_CHECK_OPTIONS = {"local": "local", "cascaded": "cascaded"}
_OPERATIONS = {k: k for k in ("insert", "update", "delete", "truncate")}
_EVENTS = {
    spelling(k): k
    for k in ("ddl_command_start", "ddl_command_end", "sql_drop", "table_rewrite", "login")
}
_ENABLED = {k: k for k in ("origin", "always", "replica", "disabled")}
_GRANT_OPTION = " with grant option"


class _NamelessFields:
    """An object read from a body, kept to make equal objects under other names."""

    __slots__ = ("first", "rest")

    def __init__(self, first: Any) -> None:
        self.first = first
        self.rest: tuple[Any, ...] | None = None  # taken when first asked: most bodies are not

    def named(self, name: str) -> Any:
        first = self.first
        if name == first.name:
            return first
        if self.rest is None:
            self.rest = tuple(getattr(first, field) for field in _fields_after_name(type(first)))
        return type(first)(name, *self.rest)


def _nameless(
    read: Callable[[str, Any, str], Any], name: str, body: Any, label: Callable[[str], str]
) -> _NamelessFields:
    return _NamelessFields(read(name, body, label(name)))


def _fields_after_name(kind: type[Any]) -> tuple[str, ...]:
    """The fields of a named model object after its name, which every one has first."""
    found = _AFTER_NAME.get(kind)
    if found is None:
        name, *rest = (field.name for field in dataclasses.fields(kind))
        if name != "name":
            raise TypeError(f"{kind.__name__} does not have its name first")
        found = _AFTER_NAME[kind] = tuple(rest)
    return found


_AFTER_NAME: dict[type[Any], tuple[str, ...]] = {}


# Distinct bodies remembered at most (see remembered): a spec's own repeated bodies are
# read again after each clearing, its distinct ones cost no memory beyond this.
_MEMO_LIMIT = 4096


_NO_GRANTS: model.Grants = frozenset()


class SecurityReader(yamldoc.Reader):
    """Read methods for the security surface; each takes ``(value, label)``."""

    def __init__(self, filename: str, *, fast: bool) -> None:
        super().__init__(filename, fast=fast)
        self.memo: dict[Hashable, Any] = {}  # see remembered

    def remembered(self, kind: Hashable, value: Any, read: Callable[[], T]) -> T:
        """``read()``, or in fast mode what it gave for an equal ``value`` of this kind.

        A large spec repeats the same bodies table after table (its columns,
        policies, triggers...); fast data is plain, so its marshal bytes are a
        faithful key (they keep `true` apart from `1` and `'1'`, and cost a
        third of its repr), and a fast read has no problem to place.
        """
        if not self.fast:
            return read()
        key = (kind, marshal.dumps(value))
        if key in self.memo:
            kept: T = self.memo[key]
            return kept
        if len(self.memo) >= _MEMO_LIMIT:
            self.memo.clear()
        result = self.memo[key] = read()
        return result

    def named_object(
        self,
        noun: str,
        schema: str,
        name: str,
        body: Any,
        what: str,
        read: Callable[[str, Any, str], T],
    ) -> T:
        """An object of a mapping of names (constraint, index...): its body read once per
        distinct body in fast mode, the name set on each copy."""
        (made,) = self.named_bodies(noun, schema, ((name, body),), lambda _: what, read)
        return made

    def named_bodies(
        self,
        noun: str,
        schema: str,
        entries: Iterable[tuple[str, Any]],
        label: Callable[[str], str],
        read: Callable[[str, Any, str], T],
    ) -> tuple[T, ...]:
        """:meth:`named_object` of each (name, body) entry, ``label(name)`` naming it in
        problems."""
        return tuple(
            self.remembered(
                (noun, schema), body, functools.partial(_nameless, read, name, body, label)
            ).named(name)
            for name, body in entries
        )

    def read_entries(self, value: Any, what: str, read: Callable[[str, Any], T]) -> list[T]:
        """``read(name, body)`` of each entry of a mapping of objects; the spec's reader
        reads a large one a piece at a time."""
        return [read(name, body) for name, body in self.named(value, what)]

    def named_objects(
        self,
        found: Mapping[str, Any],
        key: str,
        what: str,
        read: Callable[[str, Any, str], T],
    ) -> tuple[T, ...] | None:
        """A mapping of objects by name, sorted; None when the key is left out."""
        if key not in found:
            return None
        node = found[key]
        if yamldoc.is_null(node):
            self.problem(node, f"{what}: {key} is empty; write {{}} to expect none")
            return ()
        noun = key.rstrip("s").replace("_", " ")

        def read_named(name: str, body: Any) -> T:
            return read(name, body, f"{noun} {what}.{name}" if what else f"{noun} {name}")

        read_objects = self.read_entries(node, f"{what}: {key}" if what else key, read_named)
        return tuple(sorted(read_objects, key=lambda item: str(getattr(item, "name", ""))))

    # -- owners and grants

    def owners(self, value: Any, label: str) -> model.OwnerPolicy:
        found = self.fields(value, label, _OWNERS_KEYS)
        roles: dict[str, str] = {}
        for spec_role, live_role in self.named(found.get("roles"), f"{label}: roles"):
            try:
                roles[self.role_name(spec_role)] = self.role_name(
                    self.text(live_role, f"{label}: roles: {spec_role}")
                )
            except Invalid:
                continue
        return model.OwnerPolicy(
            ignore=self.get(found, "ignore", label, self.flag, False),
            roles=tuple(sorted(roles.items())),
        )

    @staticmethod
    def role_name(name: str) -> str:
        # PUBLIC is a keyword, not a role name: any case means the same pseudo-role.
        return model.PUBLIC_ROLE if name.lower() == model.PUBLIC_ROLE else name

    def grants(
        self, value: Any, label: str, every: Sequence[str], column: str | None = None
    ) -> model.Grants:
        """``{grantee: [privilege, ...]}`` as a set of grants."""
        # Every table (function, view) of a generated spec grants the same: read once.
        return self.remembered(
            ("grants", tuple(every), column),
            value,
            lambda: self.read_grants(value, label, every, column),
        )

    def read_grants(
        self, value: Any, label: str, every: Sequence[str], column: str | None
    ) -> model.Grants:
        if not isinstance(value, dict):
            raise self.invalid(
                value, f"{label} must be a mapping of grantees, not {describe(value)}"
            )
        found: set[model.Grant] = set()
        for grantee, privileges in self.named(value, label):
            role = self.role_name(grantee)

            def privilege(node: Any, entry: str) -> tuple[tuple[str, bool], ...]:
                return self.privilege(node, entry, every)

            for words in self.items(privileges, f"{label}: {grantee}", privilege, single=True):
                for name, grantable in words:
                    found.add(model.Grant(role, name, grantable, column))
        return frozenset(found)

    def privilege(
        self, value: Any, label: str, every: Sequence[str]
    ) -> tuple[tuple[str, bool], ...]:
        """``SELECT``, ``all``, ``UPDATE WITH GRANT OPTION`` -> ((privilege, grantable), ...)."""
        written = self.text(value, label)
        word = " ".join(written.split()).lower()
        grantable = word.endswith(_GRANT_OPTION)
        if grantable:
            word = word[: -len(_GRANT_OPTION)].strip()
        if word in ("all", "all privileges"):
            return tuple((name, grantable) for name in every)
        name = word.upper()
        if name not in every:
            allowed = ", ".join((*every, "ALL"))
            raise self.invalid(value, f"{label} must be one of {allowed}, not {written!r}")
        return ((name, grantable),)

    def relation_grants(
        self, found: Mapping[str, Any], what: str, every: Sequence[str]
    ) -> model.Grants | None:
        """A table's or view's ``grants`` and ``column_grants``; None when neither is given."""
        if "grants" not in found and "column_grants" not in found:
            return None
        grants = self.get(found, "grants", what, lambda v, lbl: self.grants(v, lbl, every), None)
        columns: set[model.Grant] = set()
        for column, body in self.named(found.get("column_grants"), f"{what}: column_grants"):
            label = f"{what}: column_grants: {column}"
            try:
                columns |= self.grants(body, label, model.COLUMN_PRIVILEGES, column)
            except Invalid:
                continue
        if not columns:  # the shared set read once for every equal table, not a copy each
            return grants if grants is not None else _NO_GRANTS
        return (grants or frozenset()) | columns

    def default_privileges(self, value: Any, label: str) -> tuple[model.DefaultPrivilege, ...]:
        """``{role: {tables: {grantee: [...]}, functions: ...}}``."""
        entries: list[model.DefaultPrivilege] = []
        for role, body in self.named(value, label):
            what = f"{label}: {role}"
            found = self.fields(body, what, tuple(DEFAULT_PRIVILEGES_OF))
            for on, every in DEFAULT_PRIVILEGES_OF.items():

                def read(v: Any, lbl: str, every: Sequence[str] = every) -> model.Grants:
                    return self.grants(v, lbl, every)

                grants = self.get(found, on, what, read, None)
                if grants is not None:
                    entries.append(model.DefaultPrivilege(self.role_name(role), on, grants))
        return tuple(sorted(entries, key=lambda d: (d.role, d.on)))

    # -- functions

    def routine(self, name: str, body: Any, what: str) -> model.Function:
        error = normalize.function_error(name)
        if error is not None:
            self.problem(name, f"{what}: not a function signature: {error}")
        # Functions share a few bodies (language, volatility, grants...): each read once.
        return self.named_object("function", "", name, body, what, self.routine_body)

    def routine_body(self, name: str, body: Any, what: str) -> model.Function:
        found = self.fields(body, what, _FUNCTION_KEYS, null_is_empty=True)

        def grants(value: Any, label: str) -> model.Grants:
            return self.grants(value, label, model.FUNCTION_PRIVILEGES)

        return model.Function(
            name=name,
            kind=self.get(found, "kind", what, self.function_kind, "function"),
            arguments=self.get(found, "arguments", what, self.optional_text, None),
            returns=self.get(found, "returns", what, self.optional_text, None),
            language=self.get(found, "language", what, self.language, None),
            volatility=self.get(found, "volatility", what, self.volatility, "volatile"),
            strict=self.get(found, "strict", what, self.flag, False),
            security_definer=self.get(found, "security_definer", what, self.flag, False),
            leakproof=self.get(found, "leakproof", what, self.flag, False),
            settings=self.get(found, "settings", what, self.settings, ()),
            owner=self.get(found, "owner", what, self.text, None),
            grants=self.get(found, "grants", what, grants, None),
            migration=self.get(found, "migration", what, self.optional_text, None),
            body=self.get(found, "body", what, self.body, None),
        )

    def function_kind(self, value: Any, label: str) -> str:
        return self.choice(value, label, _FUNCTION_KINDS)

    def volatility(self, value: Any, label: str) -> str:
        return self.choice(value, label, _VOLATILITIES)

    def language(self, value: Any, label: str) -> str:
        return self.text(value, label).lower()

    def body(self, value: Any, label: str) -> str:
        """Text kept exactly as written (whitespace never counts when bodies compare)."""
        if type(value) is str or type(value) is yamldoc.Scalar:
            return str(value)
        text = self.scalar(value, label)  # reports what is not text
        return text or ""

    def settings(self, value: Any, label: str) -> tuple[tuple[str, str], ...]:
        pairs = []
        for name, setting in self.named(value, label):
            text = self.scalar(setting, f"{label}: {name}")
            pairs.append((name.lower(), text or ""))
        return tuple(sorted(pairs))

    # -- views, types, sequences

    def view(
        self, name: str, body: Any, what: str, index: Callable[[str, Any, str], model.Index]
    ) -> model.View:
        found = self.fields(body, what, _VIEW_KEYS, null_is_empty=True)
        materialized = self.get(found, "materialized", what, self.flag, False)
        indexes = self.named_objects(found, "indexes", "", index)
        if indexes is not None and not materialized:
            self.problem(found["indexes"], f"{what}: only a materialized view has indexes")
        definition = self.get(found, "definition", what, self.body, None)
        if definition is not None:
            error = normalize.view_error(definition)
            if error is not None:
                self.problem(found["definition"], f"{what}: definition is not a query: {error}")
        return model.View(
            name=name,
            definition=definition,
            materialized=materialized,
            security_invoker=self.get(found, "security_invoker", what, self.flag, False),
            security_barrier=self.get(found, "security_barrier", what, self.flag, False),
            check_option=self.get(found, "check_option", what, self.check_option, None),
            owner=self.get(found, "owner", what, self.text, None),
            grants=self.relation_grants(found, what, model.TABLE_PRIVILEGES),
            indexes=indexes,
            migration=self.get(found, "migration", what, self.optional_text, None),
        )

    def check_option(self, value: Any, label: str) -> str:
        return self.choice(value, label, _CHECK_OPTIONS)

    def type_(self, name: str, body: Any, what: str) -> model.Type:
        found = self.fields(body, what, _TYPE_KEYS)
        shapes = [shape for shape in _TYPE_SHAPES if shape in found]
        if len(shapes) != 1:
            self.problem(body, f"{what}: give exactly one of {', '.join(_TYPE_SHAPES)}")
        kind = shapes[0] if shapes else "enum"
        if kind != "domain":
            for key in ("nullable", "default", "constraints"):
                if key in found:
                    self.problem(found[key], f"{what}: {key} belongs to a domain")

        def grants(value: Any, label: str) -> model.Grants:
            return self.grants(value, label, model.TYPE_PRIVILEGES)

        return model.Type(
            name=name,
            kind=kind,
            labels=self.get(found, "enum", what, self.labels, ()),
            base=self.get(found, kind, what, self.type_name, None)
            if kind in ("domain", "range")
            else None,
            nullable=self.get(found, "nullable", what, self.flag, True),
            default=self.get(found, "default", what, self.optional_text, None),
            constraints=self.get(found, "constraints", what, self.domain_constraints, ()),
            attributes=self.get(found, "composite", what, self.attributes, ()),
            owner=self.get(found, "owner", what, self.text, None),
            grants=self.get(found, "grants", what, grants, None),
            migration=self.get(found, "migration", what, self.optional_text, None),
        )

    def labels(self, value: Any, label: str) -> tuple[str, ...]:
        return self.items(value, label, self.label)

    def label(self, value: Any, label: str) -> str:
        text = self.scalar(value, label)
        if text is None:
            raise self.invalid(value, f"{label} must be a label, not {describe(value)}")
        return text

    def type_name(self, value: Any, label: str) -> str:
        text = self.text(value, label)
        error = normalize.type_error(text)
        if error is not None:
            raise self.invalid(value, f"{label} {text!r} is not a valid SQL type: {error}")
        return text

    def domain_constraints(self, value: Any, label: str) -> tuple[model.DomainConstraint, ...]:
        constraints = []
        for name, check in self.named(value, label):
            try:
                constraints.append(
                    model.DomainConstraint(name, self.text(check, f"{label}: {name}"))
                )
            except Invalid:
                continue
        return tuple(sorted(constraints, key=lambda c: c.name))

    def attributes(self, value: Any, label: str) -> tuple[model.Attribute, ...]:
        attributes = []
        for name, type_ in self.named(value, label):
            try:
                attributes.append(model.Attribute(name, self.type_name(type_, f"{label}: {name}")))
            except Invalid:
                continue
        return tuple(attributes)

    def sequence(self, name: str, body: Any, what: str) -> model.Sequence:
        found = self.fields(body, what, _SEQUENCE_KEYS, null_is_empty=True)

        def grants(value: Any, label: str) -> model.Grants:
            return self.grants(value, label, model.SEQUENCE_PRIVILEGES)

        increment = self.get(found, "increment", what, self.integer, 1)
        if increment == 0:
            self.problem(found["increment"], f"{what}: increment must not be zero")
        return model.Sequence(
            name=name,
            type=self.get(found, "type", what, self.type_name, "bigint"),
            increment=increment or 1,
            minimum=self.get(found, "minimum", what, self.integer, None),
            maximum=self.get(found, "maximum", what, self.integer, None),
            start=self.get(found, "start", what, self.integer, None),
            cache=self.get(found, "cache", what, self.integer, 1),
            cycle=self.get(found, "cycle", what, self.flag, False),
            owned_by=self.get(found, "owned_by", what, self.optional_text, None),
            owner=self.get(found, "owner", what, self.text, None),
            grants=self.get(found, "grants", what, grants, None),
            migration=self.get(found, "migration", what, self.optional_text, None),
        )

    def collation(self, name: str, body: Any, what: str) -> model.Collation:
        found = self.fields(body, what, _COLLATION_KEYS, null_is_empty=True)
        return model.Collation(
            name=name,
            provider=self.get(found, "provider", what, self.collation_provider, "libc"),
            locale=self.get(found, "locale", what, self.optional_text, None),
            ctype=self.get(found, "ctype", what, self.optional_text, None),
            deterministic=self.get(found, "deterministic", what, self.flag, True),
            owner=self.get(found, "owner", what, self.text, None),
            migration=self.get(found, "migration", what, self.optional_text, None),
        )

    def collation_provider(self, node: Any, label: str) -> str:
        return self.choice(node, label, _COLLATION_PROVIDERS)

    # -- database-wide objects

    def extension(self, name: str, body: Any, what: str) -> model.Extension:
        found = self.fields(body, what, _EXTENSION_KEYS, null_is_empty=True)
        return model.Extension(
            name=name,
            schema=self.get(found, "schema", what, self.text, "public"),
            version=self.get(found, "version", what, self.text, None),
            migration=self.get(found, "migration", what, self.optional_text, None),
        )

    def publication(self, name: str, body: Any, what: str) -> model.Publication:
        found = self.fields(body, what, _PUBLICATION_KEYS, null_is_empty=True)
        operations = self.get(found, "operations", what, self.operations, tuple(_OPERATIONS))
        tables = self.get(found, "tables", what, self.qualified_tables, ())
        return model.Publication(
            name=name,
            all_tables=self.get(found, "all_tables", what, self.flag, False),
            operations=tuple(op for op in _OPERATIONS if op in operations),
            tables=tuple(sorted(tables)),
            migration=self.get(found, "migration", what, self.optional_text, None),
        )

    def operations(self, value: Any, label: str) -> tuple[str, ...]:
        return self.items(
            value, label, lambda v, lbl: self.choice(v, lbl, _OPERATIONS), single=True
        )

    def qualified_tables(self, value: Any, label: str) -> tuple[str, ...]:
        def table(node: Any, entry: str) -> str:
            text = self.text(node, entry)
            # An unqualified table is in public, as the server reads it by default.
            return text if "." in text else f"public.{text}"

        return self.items(value, label, table)

    def event_trigger(self, name: str, body: Any, what: str) -> model.EventTrigger:
        found = self.fields(body, what, _EVENT_TRIGGER_KEYS, required=("event", "function"))
        return model.EventTrigger(
            name=name,
            event=self.get(found, "event", what, lambda v, lbl: self.choice(v, lbl, _EVENTS), ""),
            function=self.get(found, "function", what, self.event_function, ""),
            enabled=self.get(found, "enabled", what, self.trigger_enabled, "origin"),
            tags=tuple(sorted(self.get(found, "tags", what, self.tags, ()))),
            migration=self.get(found, "migration", what, self.optional_text, None),
        )

    def event_function(self, node: Any, label: str) -> str:
        """As the catalog spells it: ``public.f()``, each name quoted."""
        text = self.text(node, label)
        try:
            return quote.function_call(text if text.endswith(")") else f"{text}()")
        except quote.NotAName as exc:
            raise self.invalid(node, f"{label}: {exc}") from None

    def trigger_enabled(self, value: Any, label: str) -> str:
        if yamldoc.is_bool(value):
            return "origin" if self.flag(value, label) else "disabled"
        return self.choice(value, label, _ENABLED)

    def tags(self, value: Any, label: str) -> tuple[str, ...]:
        return self.items(value, label, lambda v, lbl: self.text(v, lbl).upper(), single=True)
