"""Where tables live and how they are laid out: schemas, persistence, partitioning,
inheritance, what a table's owner still holds, and which publications broadcast a
table. Pure; called from :func:`monitor.schema.compare.diff.diff`.

Severities: a missing schema that holds expected tables, a table turned UNLOGGED
(emptied after a crash, never on a standby), a partition detached (its rows leave
the parent's queries) and a table added to a publication the spec lacks it in (its
rows are broadcast) are critical; the rest is a warning.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from monitor.schema.compare.context import Context
from monitor.schema.compare.database_objects import PLATFORM_SCHEMAS
from monitor.schema.compare.describing import describe
from monitor.schema.model import (
    TABLE_PRIVILEGES,
    Change,
    Extra,
    Finding,
    Kind,
    Severity,
    State,
    Table,
)

# Schemas the platform keeps beside PLATFORM_SCHEMAS: never an unexpected schema.
_PLATFORM_EXTRA = frozenset(
    {"_realtime", "_analytics", "pgsodium_masks", "supabase_migrations", "pgtle", "topology"}
)


# --- schemas -----------------------------------------------------------------


def schema_findings(expected: State, actual: State, own: frozenset[str]) -> Iterator[Finding]:
    """Schemas the spec lists that are gone, schemas it says must be gone, and (when
    the spec asks, ``extra_schemas: report``) schemas it does not list."""
    for schema in expected.schemas:
        if actual.schema(schema.name) is None:
            holds = [t.name for t in schema.tables]
            yield Finding(
                Kind.SCHEMA,
                Change.MISSING,
                Severity.CRITICAL if holds else Severity.WARNING,
                schema.name,
                None,
                schema.name,
                f"schema {schema.name} is missing"
                + (f" with the {len(holds)} table(s) the spec expects in it" if holds else ""),
                {"schema": schema.name, "owner": schema.owner},
                None,
            )
    live = set(actual.database_schemas)
    for name in expected.absent_schemas:
        if name in live:
            yield _unexpected_schema(name, f"schema {name} should not exist")
    if expected.extra_schemas is not Extra.REPORT:
        return
    listed = {s.name for s in expected.schemas} | set(expected.absent_schemas)
    ledgers = {table.rpartition(".")[0] for table in own}
    for name in actual.database_schemas:
        if name not in listed | ledgers and not is_platform_schema(name):
            yield _unexpected_schema(name, f"schema {name} is not in the spec")


def with_schema_policy(state: State) -> State:
    """A snapshot as a spec: one that holds every schema of its database but the
    platform's reports any other schema that appears later (``extra_schemas: report``)."""
    taken = {s.name for s in state.schemas}
    others = [n for n in state.database_schemas if n not in taken and not is_platform_schema(n)]
    return state if others else dataclasses.replace(state, extra_schemas=Extra.REPORT)


def is_platform_schema(name: str) -> bool:
    return name in PLATFORM_SCHEMAS or name in _PLATFORM_EXTRA or name.startswith("pg_")


def _unexpected_schema(name: str, message: str) -> Finding:
    return Finding(
        Kind.SCHEMA,
        Change.UNEXPECTED,
        Severity.WARNING,
        name,
        None,
        name,
        message,
        None,
        {"schema": name},
    )


# --- tables ------------------------------------------------------------------


def table_findings(context: Context, expected: Table, actual: Table) -> Iterator[Finding]:
    """Persistence, partitioning, parents and partitions, and the owner's own grants."""
    yield from _layout(context, expected, actual)
    yield from _partitions(context, expected, actual)
    yield from _owner_privileges(context, expected, actual)


_LAYOUT = ("unlogged", "partitioned_by", "inherits")


def _layout(context: Context, expected: Table, actual: Table) -> Iterator[Finding]:
    changed = [f for f in _LAYOUT if getattr(expected, f) != getattr(actual, f)]
    if not changed:
        return
    where = f"{context.schema.name}.{expected.name}"
    words = "; ".join(
        f"{_LAYOUT_WORDS[f](getattr(actual, f))}, expected {_LAYOUT_WORDS[f](getattr(expected, f))}"
        for f in changed
    )
    yield context.finding(
        Kind.TABLE,
        Change.CHANGED,
        Severity.CRITICAL if actual.unlogged and not expected.unlogged else Severity.WARNING,
        expected.name,
        expected.name,
        f"table {where} changed: {words}",
        {f: describe(getattr(expected, f)) for f in changed},
        {f: describe(getattr(actual, f)) for f in changed},
        expected.migration,
    )


def _parents(parents: Any) -> str:
    return f"inherits {', '.join(parents)}" if parents else "inherits nothing"


_LAYOUT_WORDS = {
    "unlogged": lambda unlogged: "UNLOGGED" if unlogged else "LOGGED",
    "partitioned_by": lambda key: f"PARTITION BY {key}" if key else "not partitioned",
    "inherits": _parents,
}


def _partitions(context: Context, expected: Table, actual: Table) -> Iterator[Finding]:
    if expected.partitions is None or actual.partitions is None:
        return
    if expected.partitions == actual.partitions:
        return
    schema = context.schema.name
    where = f"{schema}.{expected.name}"
    live = {p.name: p for p in actual.partitions}
    for partition in expected.partitions:
        qualified = partition.name if "." in partition.name else f"{schema}.{partition.name}"
        if qualified in context.skipped:
            continue
        found = live.get(partition.name)
        label = f"partition {qualified} of {where}"
        if found is None:
            yield context.finding(
                Kind.PARTITION,
                Change.MISSING,
                Severity.CRITICAL,
                expected.name,
                partition.name,
                f"{label} is not attached: its rows are not in {where}",
                describe(partition),
                None,
                partition.migration or expected.migration,
            )
        elif found.bound != partition.bound:
            yield context.finding(
                Kind.PARTITION,
                Change.CHANGED,
                Severity.WARNING,
                expected.name,
                partition.name,
                f"{label} is bound {found.bound}, expected {partition.bound}",
                describe(partition),
                describe(found),
                partition.migration,
            )
    if not context.reports_extra("tables"):
        return
    listed = {p.name for p in expected.partitions}
    for found in actual.partitions:
        if found.name not in listed:
            yield context.finding(
                Kind.PARTITION,
                Change.UNEXPECTED,
                Severity.WARNING,
                expected.name,
                found.name,
                f"partition {found.name} ({found.bound}) of {where} is not in the spec",
                None,
                describe(found),
            )


def _owner_privileges(context: Context, expected: Table, actual: Table) -> Iterator[Finding]:
    """Privileges revoked from (or given back to) the owner: the usual grant diff leaves
    the owner out, since ownership brings them; a spec says so only when they differ."""
    if expected.grants is None or expected.owner_privileges == actual.owner_privileges:
        return
    owner = actual.owner or context.owners.live(expected.owner or "")
    before, after = _owner_set(expected), _owner_set(actual)
    if before == after:
        return
    lost, gained = sorted(before - after), sorted(after - before)
    signed = (("+", gained), ("-", lost))
    detail = "; ".join(f"{sign} {', '.join(names)}" for sign, names in signed if names)
    change = Change.WIDENED if gained else Change.NARROWED
    where = f"{context.schema.name}.{expected.name}"

    def held(privileges: set[str]) -> dict[str, Any]:
        return {
            "object_type": "table",
            "object": where,
            "column": None,
            "grantee": owner,
            "privileges": [p for p in TABLE_PRIVILEGES if p in privileges],
        }

    yield context.finding(
        Kind.PRIVILEGE,
        change,
        Severity.WARNING,
        expected.name,
        f"{owner} (owner)",
        f"privileges of the owner {owner} on table {where} {change}: {detail}",
        held(before),
        held(after),
        expected.migration,
    )


def _owner_set(table: Table) -> set[str]:
    held = table.owner_privileges
    return set(TABLE_PRIVILEGES if held is None else held)


# --- publications --------------------------------------------------------------


def publication_findings(expected: State, actual: State) -> Iterator[Finding]:
    """Tables of watched schemas that a publication the spec does not list broadcasts
    (Supabase Realtime's own, say). Only when the spec lists publications at all."""
    if expected.publications is None or actual.publications is None:
        return
    listed = {p.name for p in expected.publications}
    watched = {s.name: s for s in expected.schemas}
    for publication in actual.publications:
        if publication.name in listed:
            continue
        for qualified in publication.tables:
            schema, _, table = qualified.rpartition(".")  # as every "schema.table" is read
            if schema not in watched:
                continue
            yield Finding(
                Kind.PUBLICATION,
                Change.UNEXPECTED,
                Severity.CRITICAL,
                schema,
                table,
                publication.name,
                f"table {qualified} is in publication {publication.name}, which the spec"
                " lacks it in: its rows are broadcast to the publication's subscribers",
                None,
                {"publication": publication.name, "table": qualified},
            )
