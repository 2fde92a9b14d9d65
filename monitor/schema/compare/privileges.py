"""Who may do what: privileges per grantee (and column), owners, and the default
privileges a schema gives to what its roles create. Pure.

A change that lets more through is ``widened``, one that lets less ``narrowed``.
Critical (the default severities of docs/contracts.md) for any widening towards
the API roles (anon, authenticated, PUBLIC) and for an API role owning an object
or a new owner of a SECURITY DEFINER function; warning for the rest.

Privileges compare as sets per grantee (and column): the catalog spells a
NULL ACL out with ``acldefault()``, so NULL and the same defaults written out
are equal, and a grant issued twice is one grant.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from monitor.schema.compare.context import Context
from monitor.schema.model import (
    Change,
    DefaultPrivilege,
    Finding,
    Grant,
    Grants,
    Kind,
    OwnerPolicy,
    Schema,
    Severity,
)

# The roles PostgREST (and so every Supabase client) reaches the database as.
API_ROLES = frozenset({"anon", "authenticated", "public"})


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """The object a set of grants is on, for messages and the finding's fields."""

    kind: str  # table | view | sequence | function | type | schema | default privileges
    qualified: str  # "public.integrations"
    table: str | None  # the finding's `table` field


def api_can(grants: Grants | None, privilege: str) -> bool:
    return any(g.grantee.lower() in API_ROLES and g.privilege == privilege for g in grants or ())


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
    target: Target,
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
    target: Target, grantee: str, column: str | None, held: Mapping[str, int]
) -> dict[str, Any]:
    return {
        "object_type": target.kind,
        "object": target.qualified,
        "column": column,
        "grantee": grantee,
        "privileges": _privilege_list(held),
    }


# --- owners ----------------------------------------------------------------


def owner_findings(
    context: Context,
    target: Target,
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


def owner_and_grant_findings(
    context: Context,
    target: Target,
    expected: Any,
    actual: Any,
    owners: OwnerPolicy,
    *,
    critical_owner: bool = False,
) -> Iterator[Finding]:
    """An object's owner, then its grants (the owners' own privileges left out)."""
    yield from owner_findings(
        context,
        target,
        expected.owner,
        actual.owner,
        owners,
        critical=critical_owner,
        migration=expected.migration,
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


# --- default privileges ----------------------------------------------------


def default_privilege_findings(
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
    target = Target(
        "default privileges",
        f"{on} {role} creates in schema {context.schema.name}",
        f"(default privileges on {on} of {role})",
    )
    actual_grants = actual.grants if actual is not None else frozenset()
    migration = entry.migration if entry is not None else None
    yield from grant_findings(context, target, expected, actual_grants, owners, migration)
