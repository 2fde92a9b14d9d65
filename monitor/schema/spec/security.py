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

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from monitor.documents.yamldoc import Invalid, describe, spelling
from monitor.schema import model, normalize, quote
from monitor.schema.spec import document
from monitor.schema.spec.values import SpecValues
from monitor.schema.spec.writer import DEFAULT_PRIVILEGES_OF

T = TypeVar("T")


_TYPE_SHAPES = ("enum", "domain", "composite", "range")
_FUNCTION_KINDS = {k: k for k in ("function", "procedure", "aggregate", "window")}
_VOLATILITIES = {k: k for k in ("immutable", "stable", "volatile")}
_CHECK_OPTIONS = {"local": "local", "cascaded": "cascaded"}
_OPERATIONS = {k: k for k in ("insert", "update", "delete", "truncate")}
_EVENTS = {
    spelling(k): k
    for k in ("ddl_command_start", "ddl_command_end", "sql_drop", "table_rewrite", "login")
}
_ENABLED = {k: k for k in ("origin", "always", "replica", "disabled")}
_COLLATION_PROVIDERS = {k: k for k in ("libc", "icu", "builtin")}


class SecurityReader(SpecValues):
    """Read methods for the security surface; each takes ``(value, label)``."""

    # -- owners and grants

    def owners(self, value: Any, label: str) -> model.OwnerPolicy:
        found = self.fields(value, label, document.Owners)
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

    def default_privileges(self, value: Any, label: str) -> tuple[model.DefaultPrivilege, ...]:
        """``{role: {tables: {grantee: [...]}, functions: ...}}``."""
        entries: list[model.DefaultPrivilege] = []
        for role, body in self.named(value, label):
            what = f"{label}: {role}"
            found = self.fields(body, what, document.DefaultPrivileges)
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
        return self.named_object("function", name, body, what, self.routine_body)

    def routine_body(self, name: str, body: Any, what: str) -> model.Function:
        found = self.fields(body, what, document.Function, null_is_empty=True)

        def grants(value: Any, label: str) -> model.Grants:
            return self.grants(value, label, model.FUNCTION_PRIVILEGES)

        return model.Function(
            name=name,
            kind=self.get(found, "kind", what, self.function_kind, "function"),
            arguments=self.get(found, "arguments", what, self.optional_sql, None),
            returns=self.get(found, "returns", what, self.optional_sql, None),
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
        return self.sql(value, label).lower()

    def body(self, value: Any, label: str) -> str:
        """Text kept exactly as written (whitespace never counts when bodies compare)."""
        if type(value) is str:
            return value
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
        found = self.fields(body, what, document.View, null_is_empty=True)
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
        found = self.fields(body, what, document.Type)
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
            default=self.get(found, "default", what, self.optional_sql, None),
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
        text = self.sql(value, label)
        error = normalize.type_error(text)
        if error is not None:
            raise self.invalid(value, f"{label} {text!r} is not a valid SQL type: {error}")
        return text

    def domain_constraints(self, value: Any, label: str) -> tuple[model.DomainConstraint, ...]:
        constraints = []
        for name, check in self.named(value, label):
            try:
                constraints.append(
                    model.DomainConstraint(name, self.sql(check, f"{label}: {name}"))
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
        found = self.fields(body, what, document.Sequence, null_is_empty=True)

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
        found = self.fields(body, what, document.Collation, null_is_empty=True)
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
        found = self.fields(body, what, document.Extension, null_is_empty=True)
        return model.Extension(
            name=name,
            schema=self.get(found, "schema", what, self.text, "public"),
            version=self.get(found, "version", what, self.text, None),
            migration=self.get(found, "migration", what, self.optional_text, None),
        )

    def publication(self, name: str, body: Any, what: str) -> model.Publication:
        found = self.fields(body, what, document.Publication, null_is_empty=True)
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
        found = self.fields(body, what, document.EventTrigger)
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
        if type(value) is bool:
            return "origin" if value else "disabled"
        return self.choice(value, label, _ENABLED)

    def tags(self, value: Any, label: str) -> tuple[str, ...]:
        return self.items(value, label, lambda v, lbl: self.text(v, lbl).upper(), single=True)
