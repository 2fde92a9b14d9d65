"""diff(expected, actual) -> findings. Pure: no database, no clock, no I/O.

Severity follows docs/contracts.md: critical for a missing table, column, index or
policy, RLS turned off, a policy widened and an invalid index; warning for
other changes and unexpected objects; info for what a pending migration will
still bring (a deploy in progress is not an outage).
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any

from monitor.schema import normalize
from monitor.schema.compare import database_objects, layout, schema_objects
from monitor.schema.compare.context import Context as _Context
from monitor.schema.compare.context import Verdict, fields_but, trigger_verdict, verdict
from monitor.schema.compare.context import migration_version as migration_version
from monitor.schema.compare.describing import describe, describe_changes
from monitor.schema.model import (
    Absent,
    Change,
    Column,
    Constraint,
    ConstraintType,
    Finding,
    ForeignKey,
    Index,
    Kind,
    Ledger,
    Policy,
    Schema,
    Severity,
    State,
    Table,
    Trigger,
    by_name,
)

_KIND_ORDER = {kind: position for position, kind in enumerate(Kind)}


def diff(expected: State, actual: State, *, skipped: Collection[str] = ()) -> tuple[Finding, ...]:
    """Everything in which `actual` departs from `expected`, sorted for stable output.

    `skipped` holds "schema.table" names whose live state is unknown (their
    AccessExclusiveLock was held or awaited): they are not compared at all.
    """
    ledger = expected.ledger
    if ledger is not None and ledger.table in skipped:
        ledger = None  # the ledger table is locked: what is pending is unknown this time
    live_ledger = _expanded(ledger, actual.ledger)
    pending = _pending_versions(ledger, live_ledger)
    findings = list(_ledger_findings(ledger, live_ledger))
    findings.extend(_dirty_findings(ledger, actual.ledger))
    # The deploy tool's own ledger table is never a surprise, listed or not.
    own = frozenset({ledger.table}) if ledger is not None else frozenset()
    findings.extend(layout.schema_findings(expected, actual, own))
    for schema in expected.schemas:
        live = actual.schema(schema.name) or Schema(schema.name)
        context = _Context(schema, pending, frozenset(skipped), expected.owners, own)
        findings.extend(context.filtered(_schema_findings(context, schema, live)))
        findings.extend(
            context.filtered(schema_objects.schema_findings(context, schema, live, expected.owners))
        )
        findings.extend(context.filtered(_matview_index_findings(context, schema, live)))
    is_pending = _Context(Schema(""), pending, frozenset(), expected.owners).is_pending
    findings.extend(database_objects.database_findings(expected, actual, is_pending))
    findings.extend(layout.publication_findings(expected, actual))
    return tuple(sorted(findings, key=_sort_key))


def _sort_key(finding: Finding) -> tuple[str, str, int, str]:
    return (finding.schema, finding.table or "", _KIND_ORDER[finding.kind], finding.name)


# --- migration ledger ------------------------------------------------------


def explain_unread_ledger(findings: Iterable[Finding], reason: str | None) -> tuple[Finding, ...]:
    """The findings, with the ledger's "not found" told as why it was not read (a missing
    grant, a table that is no ledger): only the ledger comparison is given up."""
    if reason is None:
        return tuple(findings)
    return tuple(
        dataclasses.replace(f, message=f"migration ledger {f.name} not compared: {reason}")
        if f.kind is Kind.MIGRATION and f.change is Change.MISSING
        else f
        for f in findings
    )


def _expanded(expected: Ledger | None, actual: Ledger | None) -> Ledger | None:
    """A ledger that holds only the latest version means every version up to it is applied."""
    if expected is None or actual is None or not actual.latest_only:
        return actual
    current = actual.applied[-1] if actual.applied else None
    if current is None:
        return dataclasses.replace(actual, applied=())
    if current not in expected.applied:
        return actual  # unknown to the spec: reported as such, nothing else counts as applied
    applied = expected.applied[: expected.applied.index(current) + 1]
    return dataclasses.replace(actual, applied=applied)


def _dirty_findings(expected: Ledger | None, actual: Ledger | None) -> Iterator[Finding]:
    if expected is None or actual is None or not actual.dirty:
        return
    schema, _, table = expected.table.rpartition(".")
    version = actual.applied[-1] if actual.applied else ""
    yield Finding(
        Kind.MIGRATION,
        Change.INVALID,
        Severity.CRITICAL,
        schema or "public",
        table,
        version,
        f"migration {version} is dirty: it failed partway, and the deploy tool runs no"
        " other migration until it is fixed and forced",
        None,
        version,
    )


def _pending_versions(expected: Ledger | None, actual: Ledger | None) -> frozenset[str]:
    if expected is None or actual is None:
        return frozenset()
    return frozenset(expected.applied) - frozenset(actual.applied)


def _ledger_findings(expected: Ledger | None, actual: Ledger | None) -> Iterator[Finding]:
    if expected is None:
        return
    schema, _, table = expected.table.rpartition(".")
    if actual is None:
        if expected.applied:
            yield Finding(
                Kind.MIGRATION,
                Change.MISSING,
                Severity.WARNING,
                schema or "public",
                table,
                expected.table,
                f"migration ledger {expected.table} not found; pending migrations cannot be told",
            )
        return
    applied = set(actual.applied)
    known = set(expected.applied)
    # The spec's order is the tools' order (numeric, Flyway's ...), not the strings'.
    position = {version: index for index, version in enumerate(expected.applied)}
    newest_applied = max(
        (v for v in expected.applied if v in applied), default=None, key=position.__getitem__
    )
    for version in expected.applied:
        if version in applied:
            continue
        out_of_order = newest_applied is not None and position[version] < position[newest_applied]
        if out_of_order:
            message = f"migration {version} is not applied but the later {newest_applied} is"
            change, severity = Change.CHANGED, Severity.WARNING
        else:
            message = f"migration {version} is pending"
            change, severity = Change.PENDING, Severity.INFO
        yield Finding(
            Kind.MIGRATION, change, severity, schema, table, version, message, version, None
        )
    for version in actual.applied:
        if version not in known:
            yield Finding(
                Kind.MIGRATION,
                Change.UNEXPECTED,
                Severity.WARNING,
                schema,
                table,
                version,
                f"migration {version} is applied but not in the spec",
                None,
                version,
            )


# --- schemas and tables ----------------------------------------------------


def _schema_findings(context: _Context, expected: Schema, live: Schema) -> Iterator[Finding]:
    live_tables = by_name(live.tables)
    for table in expected.tables:
        if f"{expected.name}.{table.name}" in context.skipped:
            continue
        actual = live_tables.get(table.name)
        if actual is None:
            yield context.finding(
                Kind.TABLE,
                Change.MISSING,
                Severity.CRITICAL,
                table.name,
                table.name,
                f"table {expected.name}.{table.name} is missing",
                expected={"table": table.name},
                migration=table.migration,
            )
            continue
        yield from _table_findings(context, table, actual)
    yield from _absent_findings(context, expected.absent, live)
    if context.reports_extra("tables"):
        listed = {t.name for t in expected.tables}
        for table in live.tables:
            qualified = f"{expected.name}.{table.name}"
            if (
                table.name not in listed
                and qualified not in context.skipped
                and qualified not in context.ledger_tables
                and not context.is_absent(Kind.TABLE, None, table.name)
            ):
                yield context.finding(
                    Kind.TABLE,
                    Change.UNEXPECTED,
                    Severity.WARNING,
                    table.name,
                    table.name,
                    f"table {qualified} is not in the spec",
                    actual={"table": table.name},
                )


def _table_findings(context: _Context, expected: Table, actual: Table) -> Iterator[Finding]:
    where = f"{context.schema.name}.{expected.name}"
    if expected.rls is not None and actual.rls is not None and expected.rls != actual.rls:
        turned_off = expected.rls.enabled and not actual.rls.enabled
        yield context.finding(
            Kind.RLS,
            Change.DISABLED if turned_off else Change.CHANGED,
            Severity.CRITICAL if turned_off else Severity.WARNING,
            expected.name,
            expected.name,
            f"row level security on {where} is "
            + (
                "disabled"
                if turned_off
                else f"{_rls_text(actual.rls)}, expected {_rls_text(expected.rls)}"
            ),
            describe(expected.rls),
            describe(actual.rls),
            expected.migration,
        )
    yield from _columns(context, expected, actual)
    yield from schema_objects.table_findings(context, expected, actual, context.owners)
    yield from layout.table_findings(context, expected, actual)
    backed: frozenset[str] | None = None
    for spec in _COLLECTIONS:
        if _same_items(getattr(expected, spec.attribute), getattr(actual, spec.attribute)):
            continue
        if backed is None:
            backed = _constraint_backed_indexes(expected, actual)
        yield from _collection(context, expected, actual, spec, backed)


def _rls_text(rls: Any) -> str:
    state = "enabled" if rls.enabled else "disabled"
    return f"{state} and forced" if rls.forced else state


def _columns(context: _Context, expected: Table, actual: Table) -> Iterator[Finding]:
    if expected.columns is None or actual.columns is None:
        return
    if _same_items(expected.columns, actual.columns):
        return
    live = by_name(actual.columns)
    where = f"{context.schema.name}.{expected.name}"
    for column in expected.columns:
        found = live.get(column.name)
        label = f"column {where}.{column.name}"
        if found is None:
            yield context.finding(
                Kind.COLUMN,
                Change.MISSING,
                Severity.CRITICAL,
                expected.name,
                column.name,
                f"{label} is missing",
                describe(column),
                None,
                column.migration or expected.migration,
            )
            continue
        changed = [] if _equal_but_provenance(column, found) else _column_changes(column, found)
        if changed:
            yield context.finding(
                Kind.COLUMN,
                Change.CHANGED,
                Severity.WARNING,
                expected.name,
                column.name,
                f"{label} changed: {describe_changes(changed, column, found)}",
                describe(column),
                describe(found),
                column.migration,
            )
    listed = [c.name for c in expected.columns]
    if context.reports_extra("columns", expected):
        for column in actual.columns:
            if column.name not in listed and not context.is_absent(
                Kind.COLUMN, expected.name, column.name
            ):
                yield context.finding(
                    Kind.COLUMN,
                    Change.UNEXPECTED,
                    Severity.WARNING,
                    expected.name,
                    column.name,
                    f"column {where}.{column.name} is not in the spec",
                    None,
                    describe(column),
                )
    live_order = [c.name for c in actual.columns if c.name in listed]
    spec_order = [name for name in listed if name in live]
    if live_order != spec_order:
        yield context.finding(
            Kind.COLUMN,
            Change.CHANGED,
            Severity.WARNING,
            expected.name,
            "(column order)",
            f"columns of {where} are in another order",
            spec_order,
            live_order,
        )


def _column_changes(expected: Column, actual: Column) -> list[str]:
    changed = []
    if not normalize.same_type(expected.type, actual.type):
        changed.append("type")
    if expected.nullable != actual.nullable:
        changed.append("nullable")
    if not normalize.same_expression(expected.default, actual.default, column_type=actual.type):
        changed.append("default")
    if expected.identity != actual.identity:
        changed.append("identity")
    if not normalize.same_expression(expected.generated, actual.generated):
        changed.append("generated")
    if expected.collation != actual.collation:
        changed.append("collation")
    return changed


# --- constraints, indexes, policies, triggers -------------------------------

Named = Constraint | Index | Policy | Trigger


@dataclasses.dataclass(frozen=True, slots=True)
class _CollectionSpec:
    kind: Kind
    attribute: str  # Table field holding the collection
    missing_severity: Severity


_COLLECTIONS = (
    _CollectionSpec(Kind.CONSTRAINT, "constraints", Severity.WARNING),
    _CollectionSpec(Kind.INDEX, "indexes", Severity.CRITICAL),
    _CollectionSpec(Kind.POLICY, "policies", Severity.CRITICAL),
    _CollectionSpec(Kind.TRIGGER, "triggers", Severity.WARNING),
)


# A missing unique or primary key loses what a missing index loses, and the guarantee too.
_INDEX_BACKED = frozenset({ConstraintType.PRIMARY_KEY, ConstraintType.UNIQUE})


def _missing_severity(spec: _CollectionSpec, item: Named) -> Severity:
    if isinstance(item, Constraint) and item.type in _INDEX_BACKED:
        return Severity.CRITICAL
    return spec.missing_severity


def _constraint_backed_indexes(expected: Table, actual: Table) -> frozenset[str]:
    """Indexes reported through their constraint: a dropped UNIQUE is one finding, not two."""
    if expected.constraints is None:
        return frozenset()
    listed = {c.name for c in expected.constraints}
    indexes = (expected.indexes or ()) + (actual.indexes or ())
    return frozenset(i.name for i in indexes if i.constraint is not None and i.constraint in listed)


def _collection(
    context: _Context,
    expected_table: Table,
    actual_table: Table,
    spec: _CollectionSpec,
    reported_elsewhere: frozenset[str],
) -> Iterator[Finding]:
    expected: Sequence[Named] | None = getattr(expected_table, spec.attribute)
    actual: Sequence[Named] | None = getattr(actual_table, spec.attribute)
    if expected is None or actual is None:
        return
    table = expected_table.name
    live = {item.name: item for item in actual}
    for item in expected:
        if spec.kind is Kind.INDEX and item.name in reported_elsewhere:
            continue
        label = f"{spec.kind} {context.schema.name}.{table}.{item.name}"
        found = live.get(item.name)
        if found is None:
            yield context.finding(
                spec.kind,
                Change.MISSING,
                _missing_severity(spec, item),
                table,
                item.name,
                f"{label} is missing",
                describe(item),
                None,
                item.migration or expected_table.migration,
            )
            continue
        if _equal_but_provenance(item, found):
            continue
        outcome = _COMPARE[spec.kind](item, found, table)
        if outcome is not None:
            change, severity, changed = outcome
            detail = describe_changes(changed, item, found)
            yield context.finding(
                spec.kind,
                change,
                severity,
                table,
                item.name,
                f"{label} is {change}" + (f": {detail}" if detail else ""),
                describe(item),
                describe(found),
                item.migration,
            )
    if context.reports_extra(spec.attribute, expected_table):
        listed = {item.name for item in expected}
        for item in actual:
            if (
                item.name not in listed
                and item.name not in reported_elsewhere
                and not context.is_absent(spec.kind, table, item.name)
            ):
                yield context.finding(
                    spec.kind,
                    Change.UNEXPECTED,
                    Severity.WARNING,
                    table,
                    item.name,
                    f"{spec.kind} {context.schema.name}.{table}.{item.name} is not in the spec",
                    None,
                    describe(item),
                )


def _same_items(expected: Sequence[Any] | None, actual: Sequence[Any] | None) -> bool:
    """Both read, equal item by item but for provenance, names unique: the common case, in
    which no item is missing, changed, extra or out of order; told without the item walk."""
    if expected is None or actual is None or len(expected) != len(actual):
        return False
    # Equal provenance too is the quickest told, and the usual case.
    if expected != actual and not _equal_but_provenance_each(expected, actual):
        return False
    return len(set(map(_NAME, expected))) == len(expected)


def _equal_but_provenance_each(expected: Sequence[Any], actual: Sequence[Any]) -> bool:
    cls = type(expected[0])
    if {*map(type, expected), *map(type, actual)} != {cls}:
        return False
    fields = _fields_but_provenance(cls)
    return list(map(fields, expected)) == list(map(fields, actual))


_NAME = operator.attrgetter("name")


def _equal_but_provenance(expected: Any, actual: Any) -> bool:
    """The common case, equal as written, settled without the field-by-field comparison."""
    fields = _fields_but_provenance(type(expected))
    return type(expected) is type(actual) and bool(fields(expected) == fields(actual))


def _fields_but_provenance(cls: type) -> Callable[[Any], Any]:
    return fields_but(cls, _PROVENANCE)


_PROVENANCE = frozenset({"migration"})


def _compare_constraint(expected: Any, actual: Any, table: str) -> Verdict:
    fields = ["type", "columns", "references", "deferrable", "deferred", "validated"]
    if not expected.columns and expected.type in (ConstraintType.CHECK, ConstraintType.EXCLUDE):
        fields.remove("columns")  # the catalog derives them from the expression
    changed = [
        field
        for field in fields
        if _references_key(getattr(expected, field)) != _references_key(getattr(actual, field))
    ]
    if not normalize.same_expression(expected.check, actual.check, table):
        changed.append("check")
    return (Change.CHANGED, Severity.WARNING, changed) if changed else None


def _references_key(value: Any) -> Any:
    # FK actions may be spelled in any case; compare them as PostgreSQL prints them.
    if isinstance(value, ForeignKey):
        return dataclasses.replace(
            value,
            on_delete=value.on_delete.upper(),
            on_update=value.on_update.upper(),
            match=value.match.upper(),
        )
    return value


def _compare_index(expected: Any, actual: Any, table: str) -> Verdict:
    changed = []
    if not normalize.same_index_columns(expected.columns, actual.columns):
        changed.append("columns")
    if not normalize.same_index_columns(expected.include, actual.include):
        changed.append("include")
    if not normalize.same_expression(expected.where, actual.where, table):
        changed.append("where")
    if expected.unique != actual.unique:
        changed.append("unique")
    if expected.method.lower() != actual.method.lower():
        changed.append("method")
    if changed:
        return Change.CHANGED, Severity.WARNING, changed
    if expected.valid and not actual.valid:
        return Change.INVALID, Severity.CRITICAL, []
    return None


def _compare_policy(expected: Any, actual: Any, table: str) -> Verdict:
    """Widened when the live policy lets more through (critical), narrowed when it only lets
    less (someone hardened it by hand), changed otherwise."""
    changed: list[str] = []
    widened: list[str] = []
    narrowed: list[str] = []
    if expected.command != actual.command:
        if actual.command == "ALL":
            widened.append("command")
        elif expected.command == "ALL":
            narrowed.append("command")
        else:
            changed.append("command")
    if expected.permissive != actual.permissive:
        # Restrictive made permissive widens; permissive made restrictive narrows.
        (widened if actual.permissive else narrowed).append("permissive")
    expected_roles, actual_roles = _roles(expected.roles), _roles(actual.roles)
    if expected_roles != actual_roles:
        if "public" in expected_roles or actual_roles < expected_roles:
            (narrowed if "public" not in actual_roles else changed).append("roles")
        else:
            widened.append("roles")
    for field in ("using", "with_check"):
        if not normalize.same_expression(getattr(expected, field), getattr(actual, field), table):
            widened.append(field)  # a changed USING/WITH CHECK cannot be proven narrower
    return verdict(changed, widened, narrowed, bool(widened))


def _roles(roles: frozenset[str]) -> frozenset[str]:
    return frozenset(role.lower() for role in roles)


def _compare_trigger(expected: Any, actual: Any, table: str) -> Verdict:
    changed = [
        field
        for field in ("timing", "events", "level", "columns")
        if _upper(getattr(expected, field)) != _upper(getattr(actual, field))
    ]
    if not _same_function(expected.function, actual.function):
        changed.append("function")
    if not normalize.same_expression(expected.when, actual.when, table):
        changed.append("when")
    return trigger_verdict(changed, expected.enabled, actual.enabled)


def _upper(value: Any) -> Any:
    if isinstance(value, str):
        return value.upper()
    if isinstance(value, tuple):
        return tuple(_upper(v) for v in value)
    return value


def _same_function(expected: str, actual: str) -> bool:
    """Trigger functions compare as calls: `public.f()` is `f()`."""
    return normalize.same_expression(expected, actual) or normalize.same_expression(
        expected if expected.endswith(")") else f"{expected}()", actual
    )


_COMPARE = {
    Kind.CONSTRAINT: _compare_constraint,
    Kind.INDEX: _compare_index,
    Kind.POLICY: _compare_policy,
    Kind.TRIGGER: _compare_trigger,
}


def _matview_index_findings(context: _Context, expected: Schema, live: Schema) -> Iterator[Finding]:
    """A materialized view's indexes, compared as a table's are."""
    views = {v.name: v for v in live.views or ()}
    for view in expected.views or ():
        found = views.get(view.name)
        if (
            found is None
            or not view.materialized
            or f"{expected.name}.{view.name}" in context.skipped
        ):
            continue
        yield from _collection(
            context,
            Table(view.name, indexes=view.indexes, migration=view.migration),
            Table(view.name, indexes=found.indexes),
            _COLLECTIONS[1],
            frozenset(),
        )


# --- absent objects --------------------------------------------------------


def _absent_findings(
    context: _Context, absent: Sequence[Absent], live: Schema
) -> Iterator[Finding]:
    for entry in absent:
        found = _find_absent(entry, live)
        if found is None:
            continue
        table, obj = found
        dropped_by = f" (dropped by migration {entry.migration})" if entry.migration else ""
        qualified = ".".join(p for p in (context.schema.name, table, entry.name) if p)
        if entry.kind is Kind.TABLE:
            qualified = f"{context.schema.name}.{entry.name}"
        yield context.finding(
            entry.kind,
            Change.UNEXPECTED,
            Severity.WARNING,
            table,
            entry.name,
            f"{entry.kind} {qualified} should not exist{dropped_by}",
            None,
            describe(obj),
        )


def _find_absent(entry: Absent, live: Schema) -> tuple[str | None, Any] | None:
    if entry.kind is Kind.TABLE:
        table = live.table(entry.name)
        return (entry.name, table and {"table": table.name}) if table else None
    if entry.kind is Kind.INDEX:
        for table in live.tables:
            for index in table.indexes or ():
                if index.name == entry.name:
                    return table.name, index
        return None
    table = live.table(entry.table or "")
    if table is None:
        return None
    collection = getattr(table, _ABSENT_COLLECTIONS[entry.kind]) or ()
    match = next((item for item in collection if item.name == entry.name), None)
    return (table.name, match) if match is not None else None


_ABSENT_COLLECTIONS = {
    Kind.COLUMN: "columns",
    Kind.CONSTRAINT: "constraints",
    Kind.POLICY: "policies",
    Kind.TRIGGER: "triggers",
}
