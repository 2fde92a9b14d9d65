"""A schema's own security surface and the objects it holds beside its tables:
functions, views, types, sequences and collations, in one walk with per-kind rules.
Pure; called from :func:`monitor.schema.compare.diff.diff`.

What decides a change of each kind is in :mod:`~monitor.schema.compare.functions_views`
and :mod:`~monitor.schema.compare.types_sequences`; owners and privileges in
:mod:`~monitor.schema.compare.privileges`. A missing object is a warning; any change
to a function that a row level security policy calls is critical.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from monitor.schema import normalize
from monitor.schema.compare import functions_views, types_sequences
from monitor.schema.compare.context import Context, Verdict, same_definition
from monitor.schema.compare.describing import describe
from monitor.schema.compare.privileges import (
    Target,
    default_privilege_findings,
    grant_findings,
    owner_and_grant_findings,
    owner_findings,
)
from monitor.schema.model import Change, Finding, Kind, OwnerPolicy, Schema, Severity, Table


@dataclasses.dataclass(frozen=True, slots=True)
class _Rules:
    kind: Kind
    noun: str  # for messages: function, view, type, sequence
    extra: str  # the ExtraPolicy field
    key: Callable[[str], str]  # identity of a name (a function's signature is canonical)
    compare: Callable[[Any, Any], Verdict]
    unexpected_severity: Callable[[Any], Severity]
    owner_critical: Callable[[Any, Any], bool]
    privilege: str  # what the API roles may do to it, for messages


def _same_name(name: str) -> str:
    return name


def _never(*_: Any) -> bool:
    return False


def _warning(_: Any) -> Severity:
    return Severity.WARNING


_FUNCTIONS = _Rules(
    Kind.FUNCTION,
    "function",
    "functions",
    normalize.function_key,
    functions_views.compare_function,
    functions_views.unexpected_function,
    functions_views.definer,
    "execute",
)
_VIEWS = _Rules(
    Kind.VIEW,
    "view",
    "views",
    _same_name,
    functions_views.compare_view,
    functions_views.unexpected_view,
    _never,
    "read",
)
_TYPES = _Rules(
    Kind.TYPE, "type", "types", _same_name, types_sequences.compare_type, _warning, _never, "use"
)
_COLLATIONS = _Rules(
    Kind.COLLATION, "collation", "collations", _same_name, types_sequences.compare_collation,
    _warning, _never, "use",
)  # fmt: skip
_SEQUENCES = _Rules(
    Kind.SEQUENCE,
    "sequence",
    "sequences",
    _same_name,
    types_sequences.compare_sequence,
    _warning,
    _never,
    "use",
)


def table_findings(
    context: Context, expected: Table, actual: Table, owners: OwnerPolicy
) -> Iterator[Finding]:
    """A table's owner and grants."""
    target = Target("table", f"{context.schema.name}.{expected.name}", expected.name)
    yield from owner_and_grant_findings(context, target, expected, actual, owners)


def schema_findings(
    context: Context, expected: Schema, live: Schema, owners: OwnerPolicy
) -> Iterator[Finding]:
    """The schema's own owner and grants, its default privileges and its objects."""
    target = Target("schema", expected.name, None)
    yield from owner_findings(context, target, expected.owner, live.owner, owners)
    yield from grant_findings(
        context, target, expected.grants, live.grants, owners, None, (expected.owner, live.owner)
    )
    yield from default_privilege_findings(context, expected, live, owners)
    guarded = _policy_functions(expected)
    yield from _objects(
        context, _FUNCTIONS, expected.functions, live.functions, owners, guarded=guarded
    )
    yield from _objects(context, _VIEWS, expected.views, live.views, owners)
    yield from _objects(context, _TYPES, expected.types, live.types, owners)
    yield from _objects(context, _SEQUENCES, expected.sequences, live.sequences, owners)
    yield from _objects(context, _COLLATIONS, expected.collations, live.collations, owners)


def _policy_functions(schema: Schema) -> frozenset[str]:
    """Names of the functions the schema's policies call: they are part of the policy."""
    names: set[str] = set()
    for table in schema.tables:
        for policy in table.policies or ():
            for expression in (policy.using, policy.with_check):
                if expression is not None:
                    names |= normalize.called_functions(expression)
    return frozenset(names)


def _objects(
    context: Context,
    rules: _Rules,
    expected: tuple[Any, ...] | None,
    actual: tuple[Any, ...] | None,
    owners: OwnerPolicy,
    *,
    guarded: frozenset[str] = frozenset(),
) -> Iterator[Finding]:
    """``guarded``: names whose every change is critical (functions that policies call)."""
    if expected is None or actual is None:
        return
    live = {rules.key(item.name): item for item in actual}
    prefix = f"{context.schema.name}."
    # Behind a lock, or reading what is: unknown this time, which is not missing.
    skipped = {rules.key(n[len(prefix) :]) for n in context.skipped if n.startswith(prefix)}
    listed = set()
    for item in expected:
        key = rules.key(item.name)
        listed.add(key)
        if key in skipped:
            continue
        found = live.get(key)
        if found is None:
            yield context.finding(
                rules.kind,
                Change.MISSING,
                Severity.WARNING,
                item.name,
                item.name,
                f"{rules.noun} {context.schema.name}.{item.name} is missing",
                describe(item),
                None,
                item.migration,
            )
        else:
            yield from _object_findings(context, rules, item, found, owners, guarded)
    if context.reports_extra(rules.extra):
        yield from _unexpected(context, rules, live, listed | skipped)


def _object_findings(
    context: Context,
    rules: _Rules,
    item: Any,
    found: Any,
    owners: OwnerPolicy,
    guarded: frozenset[str],
) -> Iterator[Finding]:
    """An object that is there: its owner, its grants, then its definition."""
    qualified = f"{context.schema.name}.{item.name}"
    target = Target(rules.noun, qualified, item.name)
    yield from owner_and_grant_findings(
        context, target, item, found, owners, critical_owner=rules.owner_critical(item, found)
    )
    if same_definition(item, found):
        return
    outcome = rules.compare(item, found)
    if outcome is None:
        return
    change, severity, changed = outcome
    why = ""
    if item.name.partition("(")[0] in guarded and change is not Change.NARROWED:
        severity, why = Severity.CRITICAL, " (row level security policies call it)"
    yield context.finding(
        rules.kind,
        change,
        severity,
        item.name,
        item.name,
        f"{rules.noun} {qualified} is {change}: {', '.join(changed)}{why}",
        describe(item),
        describe(found),
        item.migration,
    )


def _unexpected(
    context: Context, rules: _Rules, live: Mapping[str, Any], known: set[str]
) -> Iterator[Finding]:
    """The live objects the spec neither lists nor left unread."""
    for key, item in live.items():
        if key in known:
            continue
        severity = rules.unexpected_severity(item)
        why = ""
        if severity is Severity.CRITICAL:
            why = f" and the API roles may {rules.privilege} it"
        yield context.finding(
            rules.kind,
            Change.UNEXPECTED,
            severity,
            item.name,
            item.name,
            f"{rules.noun} {context.schema.name}.{item.name} is not in the spec{why}",
            None,
            describe(item),
        )
