"""The security surface of the diff: functions, views, privileges, owners, types,
sequences, default privileges, extensions, publications and event triggers. Pure.

Called from :func:`monitor.schema.compare.diff.diff`. A change that makes the surface
larger is ``widened``, one that makes it smaller ``narrowed``. Severity (the
default severities of docs/contracts.md): critical for any widening towards the API roles (anon,
authenticated, PUBLIC), for a SECURITY DEFINER function whose body, owner or
fixed search_path changed (or which lost it), and for a view that reads a
table with row level security, bypasses its policies (no security_invoker)
and is readable by the API roles; warning for the rest.

Privileges compare as sets per grantee (and column): the catalog spells a
NULL ACL out with ``acldefault()``, so NULL and the same defaults written out
are equal, and a grant issued twice is one grant.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from monitor.schema import normalize
from monitor.schema.compare.context import Context, fields_but
from monitor.schema.compare.describing import describe
from monitor.schema.model import (
    Change,
    Collation,
    DefaultPrivilege,
    EventTrigger,
    Extension,
    Finding,
    Function,
    Grant,
    Grants,
    Kind,
    OwnerPolicy,
    Publication,
    Schema,
    Severity,
    State,
    Table,
    Type,
    View,
    sequence_bounds,
)
from monitor.schema.model import Sequence as SequenceDef

# The roles PostgREST (and so every Supabase client) reaches the database as.
API_ROLES = frozenset({"anon", "authenticated", "public"})

# Schemas of the platform (the server, Supabase and its extensions): what lives
# there is not the user's spec unless the spec watches the schema itself.
PLATFORM_SCHEMAS = frozenset(
    {
        "pg_catalog",
        "information_schema",
        "extensions",
        "auth",
        "storage",
        "realtime",
        "graphql",
        "graphql_public",
        "vault",
        "pgsodium",
        "net",
        "cron",
        "supabase_functions",
        "pgbouncer",
    }
)
# Publications the platform makes (Supabase Realtime); listed in a spec when a
# migration changes them, never reported as unexpected.
PLATFORM_PUBLICATIONS = frozenset({"supabase_realtime", "supabase_realtime_messages_publication"})


# --- privileges ------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Target:
    """The object a set of grants is on, for messages and the finding's fields."""

    kind: str  # table | view | sequence | function | type | schema | default privileges
    qualified: str  # "public.integrations"
    table: str | None  # the finding's `table` field


def _levels(grants: Iterable[Grant]) -> dict[tuple[str, str | None], dict[str, int]]:
    """Per (grantee, column): each privilege's level, 1 held, 2 held WITH GRANT OPTION."""
    found: dict[tuple[str, str | None], dict[str, int]] = {}
    for grant in grants:
        held = found.setdefault((grant.grantee.lower(), grant.column), {})
        level = 2 if grant.grantable else 1
        held[grant.privilege] = max(held.get(grant.privilege, 0), level)
    return found


def _privilege_list(held: Mapping[str, int]) -> list[str]:
    return sorted(p if level == 1 else f"{p} WITH GRANT OPTION" for p, level in held.items())


def mapped_grants(grants: Grants, owners: OwnerPolicy) -> Grants:
    """The spec's grants with its role names as they are called in this database."""
    if not owners.roles:
        return grants
    return frozenset(dataclasses.replace(g, grantee=owners.live(g.grantee)) for g in grants)


def grant_findings(
    context: Context,
    target: _Target,
    expected: Grants | None,
    actual: Grants | None,
    owners: OwnerPolicy,
    migration: str | None = None,
    object_owners: Iterable[str | None] = (),
) -> Iterator[Finding]:
    """One finding per grantee (and column) whose privileges differ from the spec's.

    The ``object_owners`` (expected and live) are left out on both sides: an
    owner's privileges come with ownership, which is compared on its own.
    """
    if expected is None or actual is None:
        return
    wanted = mapped_grants(expected, owners)
    if wanted == actual:
        return
    skip = {owners.live(o) for o in object_owners if o is not None}
    if skip:
        wanted = frozenset(g for g in wanted if g.grantee not in skip)
        actual = frozenset(g for g in actual if g.grantee not in skip)
    before, after = _levels(wanted), _levels(actual)
    for key in sorted(before.keys() | after.keys(), key=lambda k: (k[0], k[1] or "")):
        grantee, column = key
        old, new = before.get(key, {}), after.get(key, {})
        if old == new:
            continue
        gained = sorted(p for p, level in new.items() if level > old.get(p, 0))
        lost = sorted(p for p, level in old.items() if level > new.get(p, 0))
        widened = bool(gained)
        severity = Severity.CRITICAL if widened and grantee in API_ROLES else Severity.WARNING
        where = (
            f"column {target.qualified}.{column}" if column else f"{target.kind} {target.qualified}"
        )
        detail = "; ".join(
            part
            for part in (
                "+ " + ", ".join(_grant_words(p, new) for p in gained) if gained else "",
                "- " + ", ".join(_grant_words(p, old) for p in lost) if lost else "",
            )
            if part
        )
        change = Change.WIDENED if widened else Change.NARROWED
        yield context.finding(
            Kind.PRIVILEGE,
            change,
            severity,
            target.table,
            grantee if column is None else f"{grantee} on {column}",
            f"privileges of {grantee} on {where} {change}: {detail}",
            _grant_json(target, grantee, column, old),
            _grant_json(target, grantee, column, new),
            migration,
        )


def _grant_words(privilege: str, held: Mapping[str, int]) -> str:
    return privilege if held.get(privilege, 0) < 2 else f"{privilege} WITH GRANT OPTION"


def _grant_json(
    target: _Target, grantee: str, column: str | None, held: Mapping[str, int]
) -> dict[str, Any]:
    return {
        "object_type": target.kind,
        "object": target.qualified,
        "column": column,
        "grantee": grantee,
        "privileges": _privilege_list(held),
    }


def _api_can(grants: Grants | None, privilege: str) -> bool:
    return any(g.grantee.lower() in API_ROLES and g.privilege == privilege for g in grants or ())


# --- owners ----------------------------------------------------------------


def owner_findings(
    context: Context,
    target: _Target,
    expected: str | None,
    actual: str | None,
    owners: OwnerPolicy,
    *,
    critical: bool = False,
    migration: str | None = None,
) -> Iterator[Finding]:
    """Ownership: critical when an API role now owns the object, or ``critical`` says so
    (a SECURITY DEFINER function runs with its owner's rights)."""
    if owners.ignore or expected is None or actual is None:
        return
    wanted = owners.live(expected)
    if wanted == actual:
        return
    severe = critical or actual.lower() in API_ROLES
    yield context.finding(
        Kind.OWNER,
        Change.CHANGED,
        Severity.CRITICAL if severe else Severity.WARNING,
        target.table,
        target.table or target.qualified,
        f"owner of {target.kind} {target.qualified} is {actual}, expected {wanted}",
        {"object_type": target.kind, "object": target.qualified, "owner": wanted},
        {"object_type": target.kind, "object": target.qualified, "owner": actual},
        migration,
    )


# --- tables and schemas ----------------------------------------------------


def table_findings(
    context: Context, expected: Table, actual: Table, owners: OwnerPolicy
) -> Iterator[Finding]:
    target = _Target("table", f"{context.schema.name}.{expected.name}", expected.name)
    yield from owner_findings(
        context, target, expected.owner, actual.owner, owners, migration=expected.migration
    )
    yield from grant_findings(
        context,
        target,
        expected.grants,
        actual.grants,
        owners,
        expected.migration,
        (expected.owner, actual.owner),
    )


def schema_findings(
    context: Context, expected: Schema, live: Schema, owners: OwnerPolicy
) -> Iterator[Finding]:
    """The schema's own owner and grants, its default privileges and its objects."""
    target = _Target("schema", expected.name, None)
    yield from owner_findings(context, target, expected.owner, live.owner, owners)
    yield from grant_findings(
        context, target, expected.grants, live.grants, owners, None, (expected.owner, live.owner)
    )
    yield from _default_privilege_findings(context, expected, live, owners)
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


def _default_privilege_findings(
    context: Context, expected: Schema, live: Schema, owners: OwnerPolicy
) -> Iterator[Finding]:
    if expected.default_privileges is None or live.default_privileges is None:
        return
    found = {(d.role, d.on): d for d in live.default_privileges}
    listed = set()
    for entry in expected.default_privileges:
        key = (owners.live(entry.role), entry.on)
        listed.add(key)
        actual = found.get(key)
        yield from _default_grants(context, entry, key, actual, owners, entry.grants)
    for key, actual in found.items():
        if key not in listed:
            yield from _default_grants(context, None, key, actual, owners, frozenset())


def _default_grants(
    context: Context,
    entry: DefaultPrivilege | None,
    key: tuple[str, str],
    actual: DefaultPrivilege | None,
    owners: OwnerPolicy,
    expected: Grants,
) -> Iterator[Finding]:
    role, on = key
    target = _Target(
        "default privileges",
        f"{on} {role} creates in schema {context.schema.name}",
        f"(default privileges on {on} of {role})",
    )
    actual_grants = actual.grants if actual is not None else frozenset()
    migration = entry.migration if entry is not None else None
    yield from grant_findings(context, target, expected, actual_grants, owners, migration)


# --- functions, views, types and sequences: one walk, per-kind rules --------

Obj = TypeVar("Obj", Function, View, Type, SequenceDef, Collation)
Verdict = tuple[Change, Severity, list[str]] | None


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
    schema = context.schema.name
    live = {rules.key(item.name): item for item in actual}
    prefix = f"{schema}."
    # Behind a lock, or reading what is: unknown this time, which is not missing.
    skipped = {rules.key(n[len(prefix) :]) for n in context.skipped if n.startswith(prefix)}
    listed = set()
    for item in expected:
        key = rules.key(item.name)
        listed.add(key)
        qualified = f"{schema}.{item.name}"
        if key in skipped:
            continue
        found = live.get(key)
        label = f"{rules.noun} {qualified}"
        if found is None:
            yield context.finding(
                rules.kind,
                Change.MISSING,
                Severity.WARNING,
                item.name,
                item.name,
                f"{label} is missing",
                describe(item),
                None,
                item.migration,
            )
            continue
        target = _Target(rules.noun, qualified, item.name)
        yield from owner_findings(
            context,
            target,
            item.owner,
            found.owner,
            owners,
            critical=rules.owner_critical(item, found),
            migration=item.migration,
        )
        yield from grant_findings(
            context,
            target,
            item.grants,
            found.grants,
            owners,
            item.migration,
            (item.owner, found.owner),
        )
        if _same_definition(item, found):
            continue
        verdict = rules.compare(item, found)
        if verdict is not None:
            change, severity, changed = verdict
            why = ""
            if item.name.partition("(")[0] in guarded and change is not Change.NARROWED:
                severity, why = Severity.CRITICAL, " (row level security policies call it)"
            yield context.finding(
                rules.kind,
                change,
                severity,
                item.name,
                item.name,
                f"{label} is {change}: {', '.join(changed)}{why}",
                describe(item),
                describe(found),
                item.migration,
            )
    if not context.reports_extra(rules.extra):
        return
    for key, item in live.items():
        qualified = f"{schema}.{item.name}"
        if key in listed or key in skipped:
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
            f"{rules.noun} {qualified} is not in the spec{why}",
            None,
            describe(item),
        )


_NOT_DEFINITION = frozenset({"migration", "owner", "grants", "rls_tables", "indexes"})


def _same_definition(expected: Any, actual: Any) -> bool:
    """Equal as written, apart from what is compared on its own (owner, grants, provenance)."""
    definition = fields_but(type(expected), _NOT_DEFINITION)
    return bool(definition(expected) == definition(actual))


def verdict(changed: list[str], widened: list[str], narrowed: list[str], critical: bool) -> Verdict:
    if not (changed or widened or narrowed):
        return None
    fields = widened + narrowed + changed
    if widened:
        return Change.WIDENED, Severity.CRITICAL if critical else Severity.WARNING, fields
    if narrowed and not changed:
        return Change.NARROWED, Severity.WARNING, fields
    return Change.CHANGED, Severity.CRITICAL if critical else Severity.WARNING, fields


def _text(value: str | None) -> str | None:
    return None if value is None else normalize.token_key(value)


def _settings(function: Function) -> dict[str, str]:
    return {name.lower(): normalize.setting_key(name, value) for name, value in function.settings}


def _compare_function(expected: Function, actual: Function) -> Verdict:
    changed: list[str] = []
    widened: list[str] = []
    narrowed: list[str] = []
    if expected.kind != actual.kind:
        changed.append("kind")
    if _text(expected.returns) != _text(actual.returns) and not (
        expected.returns
        and actual.returns
        and normalize.same_type(expected.returns, actual.returns)
    ):
        changed.append("returns")
    if expected.arguments is not None and _text(expected.arguments) != _text(actual.arguments):
        changed.append("arguments")
    language = (actual.language or expected.language or "sql").lower()
    if expected.language is not None and expected.language.lower() != language:
        changed.append("language")
    if expected.body is not None and not normalize.same_body(language, expected.body, actual.body):
        changed.append("body")
    for field in ("volatility", "strict"):
        if getattr(expected, field) != getattr(actual, field):
            changed.append(field)
    if expected.security_definer != actual.security_definer:
        (widened if actual.security_definer else narrowed).append("security_definer")
    if expected.leakproof != actual.leakproof:
        (widened if actual.leakproof else narrowed).append("leakproof")
    wanted, have = _settings(expected), _settings(actual)
    if wanted != have:
        if "search_path" in wanted and "search_path" not in have:
            widened.append("search_path")  # a mutable search_path can be hijacked
        elif wanted.get("search_path") != have.get("search_path"):
            changed.append("search_path")
        if {k: v for k, v in wanted.items() if k != "search_path"} != {
            k: v for k, v in have.items() if k != "search_path"
        }:
            changed.append("settings")
    definer = expected.security_definer or actual.security_definer
    critical = bool(widened) and (
        "security_definer" in widened or ("search_path" in widened and definer)
    )
    critical |= definer and any(f in changed for f in ("body", "search_path", "settings"))
    return verdict(changed, widened, narrowed, critical)


def _compare_view(expected: View, actual: View) -> Verdict:
    changed: list[str] = []
    widened: list[str] = []
    narrowed: list[str] = []
    if expected.materialized != actual.materialized:
        changed.append("materialized")
    if expected.definition is not None and not normalize.same_view(
        expected.definition, actual.definition
    ):
        changed.append("definition")
    for field in ("security_invoker", "security_barrier"):
        if getattr(expected, field) != getattr(actual, field):
            # Without them the view reads as its owner, or leaks through a leaky function.
            (narrowed if getattr(actual, field) else widened).append(field)
    if (expected.check_option or "") != (actual.check_option or ""):
        (narrowed if actual.check_option else widened).append("check_option")
    critical = "security_invoker" in widened and _bypasses_rls_for_api(actual)
    return verdict(changed, widened, narrowed, critical)


def _bypasses_rls_for_api(view: View) -> bool:
    """The view reads a table with RLS as its owner, and the API roles may read the view."""
    return bool(view.rls_tables) and not view.security_invoker and _api_can(view.grants, "SELECT")


def _compare_type(expected: Type, actual: Type) -> Verdict:
    changed = [
        field
        for field in ("kind", "labels", "nullable", "attributes")
        if getattr(expected, field) != getattr(actual, field)
    ]
    if expected.kind == "composite" and "attributes" in changed:
        same = len(expected.attributes) == len(actual.attributes) and all(
            e.name == a.name and normalize.same_type(e.type, a.type)
            for e, a in zip(expected.attributes, actual.attributes, strict=True)
        )
        if same:
            changed.remove("attributes")
    if (expected.base or actual.base) and not (
        expected.base and actual.base and normalize.same_type(expected.base, actual.base)
    ):
        changed.append("base")
    if not normalize.same_expression(expected.default, actual.default):
        changed.append("default")
    wanted = {c.name: c for c in expected.constraints}
    have = {c.name: c for c in actual.constraints}
    if wanted.keys() != have.keys() or any(
        not normalize.same_expression(
            c.check.replace("VALUE", "value"), have[n].check.replace("VALUE", "value")
        )
        or c.validated != have[n].validated
        for n, c in wanted.items()
    ):
        changed.append("constraints")
    return verdict(changed, [], [], False)


def _compare_collation(expected: Collation, actual: Collation) -> Verdict:
    fields = ("provider", "locale", "ctype", "deterministic")
    changed = [f for f in fields if getattr(expected, f) != getattr(actual, f)]
    return (Change.CHANGED, Severity.WARNING, changed) if changed else None


def _compare_sequence(expected: SequenceDef, actual: SequenceDef) -> Verdict:
    changed = []
    if not normalize.same_type(expected.type, actual.type):
        changed.append("type")
    for field in ("increment", "cache", "cycle", "owned_by"):
        if getattr(expected, field) != getattr(actual, field):
            changed.append(field)
    if _bounds(expected) != _bounds(actual):
        changed.append("bounds")
    return verdict(changed, [], [], False)


def _bounds(sequence: SequenceDef) -> tuple[int, int, int]:
    low, high = sequence_bounds(normalize.type_key(sequence.type), sequence.increment)
    minimum = low if sequence.minimum is None else sequence.minimum
    maximum = high if sequence.maximum is None else sequence.maximum
    start = sequence.start
    if start is None:
        start = minimum if sequence.increment > 0 else maximum
    return minimum, maximum, start


def _function_key(name: str) -> str:
    return normalize.function_key(name)


def _same_name(name: str) -> str:
    return name


def _unexpected_function(function: Function) -> Severity:
    if function.security_definer and _api_can(function.grants, "EXECUTE"):
        return Severity.CRITICAL
    return Severity.WARNING


def _unexpected_view(view: View) -> Severity:
    return Severity.CRITICAL if _bypasses_rls_for_api(view) else Severity.WARNING


def _definer(expected: Any, actual: Any) -> bool:
    return bool(expected.security_definer or actual.security_definer)


def _never(*_: Any) -> bool:
    return False


def _warning(_: Any) -> Severity:
    return Severity.WARNING


_FUNCTIONS = _Rules(
    Kind.FUNCTION,
    "function",
    "functions",
    _function_key,
    _compare_function,
    _unexpected_function,
    _definer,
    "execute",
)
_VIEWS = _Rules(
    Kind.VIEW, "view", "views", _same_name, _compare_view, _unexpected_view, _never, "read"
)
_TYPES = _Rules(Kind.TYPE, "type", "types", _same_name, _compare_type, _warning, _never, "use")
_COLLATIONS = _Rules(
    Kind.COLLATION, "collation", "collations", _same_name, _compare_collation, _warning,
    _never, "use",
)  # fmt: skip
_SEQUENCES = _Rules(
    Kind.SEQUENCE,
    "sequence",
    "sequences",
    _same_name,
    _compare_sequence,
    _warning,
    _never,
    "use",
)


# --- database-wide objects: extensions, publications, event triggers --------


def database_findings(
    expected: State, actual: State, is_pending: Callable[[str | None], bool]
) -> Iterator[Finding]:
    """Extensions, publications and event triggers; ``is_pending`` tells a migration
    not applied yet."""
    watched = frozenset(s.name for s in expected.schemas)
    for kind, compare in (
        (Kind.EXTENSION, _compare_extension),
        (Kind.PUBLICATION, _compare_publication),
        (Kind.EVENT_TRIGGER, _compare_event_trigger),
    ):
        attribute = _COLLECTION_OF[kind]
        yield from _database_objects(
            kind,
            getattr(expected, attribute),
            getattr(actual, attribute),
            compare,
            is_pending,
            watched,
        )


_MISSING_SEVERITY = {Kind.EXTENSION: Severity.CRITICAL}
_COLLECTION_OF = {
    Kind.EXTENSION: "extensions",
    Kind.PUBLICATION: "publications",
    Kind.EVENT_TRIGGER: "event_triggers",
}
_NOUNS = {
    Kind.EXTENSION: "extension",
    Kind.PUBLICATION: "publication",
    Kind.EVENT_TRIGGER: "event trigger",
}
DatabaseObject = Extension | Publication | EventTrigger


def _database_objects(
    kind: Kind,
    expected: tuple[Any, ...] | None,
    actual: tuple[Any, ...] | None,
    compare: Callable[[Any, Any], Verdict],
    is_pending: Callable[[str | None], bool],
    watched: frozenset[str],
) -> Iterator[Finding]:
    if expected is None or actual is None:
        return
    noun = _NOUNS[kind]
    live = {item.name: item for item in actual}
    for item in expected:
        found = live.get(item.name)
        schema = _schema_of(item)
        if found is None:
            change, severity = Change.MISSING, _MISSING_SEVERITY.get(kind, Severity.WARNING)
            message = f"{noun} {item.name} is missing"
            if is_pending(item.migration):
                change, severity = Change.PENDING, Severity.INFO
                message += f" (migration {item.migration} is not applied yet)"
            yield Finding(kind, change, severity, schema, None, item.name, message, describe(item))
            continue
        if _same_definition(item, found):
            continue
        verdict = compare(item, found)
        if verdict is not None:
            change, severity, changed = verdict
            yield Finding(
                kind,
                change,
                severity,
                schema,
                None,
                item.name,
                f"{noun} {item.name} is {change}: {', '.join(changed)}",
                describe(item),
                describe(found),
            )
    listed = {item.name for item in expected}
    for item in actual:
        if item.name not in listed and not _platform(item, watched):
            yield Finding(
                kind,
                Change.UNEXPECTED,
                Severity.WARNING,
                _schema_of(item),
                None,
                item.name,
                f"{noun} {item.name} is not in the spec",
                None,
                describe(item),
            )


def _platform(item: DatabaseObject, watched: frozenset[str]) -> bool:
    """An object the platform installed: in a platform schema the spec does not watch."""
    if isinstance(item, Publication):
        return item.name in PLATFORM_PUBLICATIONS
    schema = item.schema if isinstance(item, Extension) else item.function.rpartition(".")[0]
    return schema in PLATFORM_SCHEMAS and schema not in watched


def _schema_of(item: DatabaseObject) -> str:
    """Findings name a schema: an extension's own; the database-wide others have none."""
    return item.schema if isinstance(item, Extension) else ""


def _compare_extension(expected: Extension, actual: Extension) -> Verdict:
    changed = []
    if expected.schema != actual.schema:
        changed.append("schema")
    if expected.version is not None and expected.version != actual.version:
        changed.append("version")
    return verdict(changed, [], [], False)


def _compare_publication(expected: Publication, actual: Publication) -> Verdict:
    changed: list[str] = []
    widened: list[str] = []
    narrowed: list[str] = []
    if expected.all_tables != actual.all_tables:
        (widened if actual.all_tables else narrowed).append("all_tables")
    if set(expected.tables) != set(actual.tables):
        if set(actual.tables) - set(expected.tables):
            widened.append("tables")
        else:
            narrowed.append("tables")
    if set(expected.operations) != set(actual.operations):
        changed.append("operations")
    # A table added to a publication broadcasts its rows: critical.
    return verdict(changed, widened, narrowed, bool(widened))


def _compare_event_trigger(expected: EventTrigger, actual: EventTrigger) -> Verdict:
    changed = [
        field
        for field in ("event", "function", "tags")
        if getattr(expected, field) != getattr(actual, field)
    ]
    if changed:
        return Change.CHANGED, Severity.WARNING, changed
    if expected.enabled != actual.enabled:
        if actual.enabled == "disabled":
            return Change.DISABLED, Severity.WARNING, ["enabled"]
        return Change.CHANGED, Severity.WARNING, ["enabled"]
    return None
