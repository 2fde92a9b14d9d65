"""The platform's safe shape: security widenings on Supabase's own objects. Pure, no database.

A spec leaves the platform's objects out (their columns, bodies and grants
change with every platform version), which must not blind `check` to a
widening of them. Whatever the platform's version, on a Supabase database:

- no table of ``auth`` is readable or writable by anon, authenticated or PUBLIC;
- ``storage.objects``, ``storage.buckets`` and ``realtime.messages`` keep row
  level security on;
- no function of ``vault``, ``pgsodium`` or ``auth`` but the JWT helpers
  (``uid()``, ``role()``, ``email()``, ``jwt()``) is granted to anon or
  authenticated (PUBLIC's EXECUTE, every function's default, is left alone).

The guard reads the live catalog of those schemas (the snapshot reads those
that exist beside the spec's) and applies only to a database shaped like the platform
(``auth.users`` and ``storage.objects`` exist) whose spec does not own the
schema (a spec that lists a schema with its owner was built from migrations
that created it: drift there is the diff's to find).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

from monitor.schema import model
from monitor.schema.model import Change, Finding, Kind, Severity

GUARDED_SCHEMAS = ("auth", "storage", "realtime", "vault", "pgsodium")
API_ROLES = frozenset({"anon", "authenticated", model.PUBLIC_ROLE})
_RLS_REQUIRED = {"storage": ("buckets", "objects"), "realtime": ("messages",)}
_NOT_EXECUTABLE = ("vault", "pgsodium")
_AUTH_HELPERS = frozenset({"uid()", "role()", "email()", "jwt()"})


def spec_schemas(expected: model.State, live: model.State) -> model.State:
    """The live state of the spec's schemas only: what the diff and advisors see."""
    names = {schema.name for schema in expected.schemas}
    return replace(live, schemas=tuple(s for s in live.schemas if s.name in names))


def findings(
    expected: model.State, live: model.State, reported: Iterable[Finding] = ()
) -> tuple[Finding, ...]:
    """Widenings of the platform's objects, but those the diff has `reported` already."""
    if not _platform_shaped(live):
        return ()
    seen = {model.finding_key(f) for f in reported}
    guarded = [
        schema
        for schema in live.schemas
        if schema.name in GUARDED_SCHEMAS and not _owned(expected.schema(schema.name))
    ]
    found = (f for schema in guarded for f in _schema_findings(schema))
    return tuple(f for f in found if model.finding_key(f) not in seen)


def _platform_shaped(live: model.State) -> bool:
    auth, storage = live.schema("auth"), live.schema("storage")
    return bool(auth and auth.table("users") and storage and storage.table("objects"))


def _owned(schema: model.Schema | None) -> bool:
    return schema is not None and schema.owner is not None


def _schema_findings(schema: model.Schema) -> Iterator[Finding]:
    if schema.name == "auth":
        for auth_table in schema.tables:
            grants = auth_table.grants
            yield from _widened("table", f"auth.{auth_table.name}", auth_table.name, grants)
    for name in _RLS_REQUIRED.get(schema.name, ()):
        table = schema.table(name)
        if table is not None and table.rls is not None and not table.rls.enabled:
            yield Finding(
                Kind.RLS,
                Change.DISABLED,
                Severity.CRITICAL,
                schema.name,
                name,
                name,
                f"row level security is off on the platform's table {schema.name}.{name}:"
                " its rows are open to every role that holds a grant",
                {"enabled": True},
                {"enabled": False},
            )
    for function in schema.functions or ():
        if schema.name == "auth" and function.name in _AUTH_HELPERS:
            continue
        if schema.name in _NOT_EXECUTABLE or schema.name == "auth":
            qualified = f"{schema.name}.{function.name}"
            # PUBLIC's EXECUTE is every function's default, which the platform keeps.
            skip = frozenset({model.PUBLIC_ROLE})
            yield from _widened("function", qualified, None, function.grants, skip)


def _widened(
    kind: str,
    qualified: str,
    table: str | None,
    grants: model.Grants | None,
    skip: frozenset[str] = frozenset(),
) -> Iterator[Finding]:
    """One finding per API role that holds anything on the object."""
    held: dict[str, list[str]] = {}
    for grant in grants or ():
        if grant.grantee.lower() in API_ROLES and grant.grantee not in skip:
            held.setdefault(grant.grantee, []).append(grant.privilege)
    for grantee, privileges in sorted(held.items()):
        listed = sorted(set(privileges))
        target = {"object_type": kind, "object": qualified, "column": None, "grantee": grantee}
        yield Finding(
            Kind.PRIVILEGE,
            Change.WIDENED,
            Severity.CRITICAL,
            qualified.split(".", 1)[0],
            table,
            grantee,
            f"privileges of {grantee} on the platform's {kind} {qualified} widened:"
            f" {', '.join(listed)} granted (the platform never grants them to the API roles)",
            {**target, "privileges": []},
            {**target, "privileges": listed},
        )
