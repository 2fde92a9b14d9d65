"""Provenance: the spec that a replay of the migrations describes. Pure, no database.

`spec build` reads the whole catalog after the bootstrap and at the end, and
after every migration file the versions of its objects (their keys, and the
catalog rows they are made of: see ``catalog_versions.sql``), a sixth of the
cost of a whole read. This turns them into the spec: who created or last
changed each object, what was dropped for good, and which objects belong to the
platform (the bootstrap), which are never expected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from monitor.errors import MonitorError
from monitor.schema import model
from monitor.schema.spec import provenance_security as security


@dataclass(frozen=True, slots=True)
class Step:
    """The catalog as one migration left it: every object's key, and a version of it
    that moves when the object changes (its catalog rows, or its definition itself)."""

    migration: str  # the provenance stamp of the migration
    versions: Mapping[tuple[str, ...], object]


# Where a table's objects live, in the order of the model.
_COLLECTIONS = ("columns", "constraints", "indexes", "policies", "triggers")
_KIND_OF = {
    "tables": model.Kind.TABLE,
    "columns": model.Kind.COLUMN,
    "constraints": model.Kind.CONSTRAINT,
    "indexes": model.Kind.INDEX,
    "policies": model.Kind.POLICY,
    "triggers": model.Kind.TRIGGER,
}

# A platform schema's tables list what migrations added; the platform's own columns,
# constraints, indexes and triggers differ between its versions. Its policies, and
# tables of the user's own there, are still reported when they appear unlisted.
_PLATFORM_EXTRA = model.ExtraPolicy(
    columns=model.Extra.IGNORE,
    constraints=model.Extra.IGNORE,
    indexes=model.Extra.IGNORE,
    triggers=model.Extra.IGNORE,
)

# (collection, schema, table, name); a table's own key is ("tables", schema, table, table).
# The security surface's keys have three parts (see provenance_security).
Key = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Drop:
    step: int  # position of the dropping migration, to find the latest drop
    migration: str
    with_table: bool  # the object went because its whole table did


def provenance(
    baseline: model.State,
    steps: Sequence[Step],
    *,
    start: Mapping[tuple[str, ...], object],
    final: model.State,
    schemas: Sequence[str],
    ledger: model.Ledger | None,
    platform: Mapping[str, Sequence[str]] | None = None,
) -> model.State:
    """The spec that a replay describes.

    `baseline` is the catalog after the bootstrap and `start` its versions,
    `steps` the versions after each migration, `final` the catalog at the end.
    Each object is stamped with the migration that created or last changed it;
    one of the bootstrap's that ends as the bootstrap made it has no stamp.
    Objects that existed at some point but not at the end are listed as absent,
    stamped with the migration that dropped them, unless they went with their
    whole table (then only the table is absent).
    Bootstrap tables appear only with the objects migrations added or changed.
    The `schemas` asked for are always present; the others (those of the
    bootstrap) only when a migration touched them.

    Platform tables (the bootstrap's, and `platform`'s names by schema, which
    a real platform has beyond the bootstrap) are never expected: a schema
    lists their names in `ignore`, so a table of the user's own in that schema
    is still reported when it appears unlisted.
    """
    after = versions_of(final)
    before = versions_of(baseline)
    changed_by, dropped = _history(start, steps, before, after)
    objects: dict[Key, object] = {k: v for k, v in after.items() if len(k) == 4}
    missing = [name for name in schemas if final.schema(name) is None]
    if missing:
        raise MonitorError(
            ", ".join(f'schema "{name}" does not exist after the migrations' for name in missing)
        )
    bootstrap_tables = {(s.name, t.name): t for s in baseline.schemas for t in s.tables}
    platform_names: dict[str, set[str]] = {}
    for schema_name, table_name in bootstrap_tables:
        platform_names.setdefault(schema_name, set()).add(table_name)
    for schema_name, names in (platform or {}).items():
        platform_names.setdefault(schema_name, set()).update(names)
    result = []
    for schema in sorted(final.schemas, key=lambda s: s.name):
        platform_schema = schema.name not in schemas and baseline.schema(schema.name) is not None
        tables = []
        for table in schema.tables:
            bootstrap = bootstrap_tables.get((schema.name, table.name))
            stamped = _stamped(schema.name, table, bootstrap, changed_by)
            if stamped is None:
                continue
            if platform_schema and (bootstrap is None or stamped.migration is not None):
                # The project's own table among the platform's: its unlisted parts count.
                stamped = replace(stamped, extra=model.ExtraPolicy())
            tables.append(stamped)
        absent = _absent(schema.name, objects, dropped)
        listed = {t.name for t in tables}
        # A column (policy ...) dropped from a platform table the spec does not list
        # otherwise: the table is listed with that absence alone.
        tables.extend(
            model.Table(name=name)
            for name in sorted({a.table for a in absent if a.table is not None} - listed)
        )
        if schema.name not in schemas and not tables and not absent:
            continue
        listed = {t.name for t in tables}
        ignored = sorted(platform_names.get(schema.name, set()) - listed)
        result.append(
            model.Schema(
                name=schema.name,
                tables=tuple(sorted(tables, key=lambda t: t.name)),
                absent=absent,
                ignore=tuple(ignored),
                extra=_PLATFORM_EXTRA if platform_schema else model.ExtraPolicy(),
            )
        )
    tables_only = model.State(schemas=tuple(result), ledger=ledger)
    return security.with_security_surface(tables_only, before, final, changed_by, schemas)


_GONE = object()


def _history(
    start: Mapping[tuple[str, ...], object],
    steps: Sequence[Step],
    bootstrap: Mapping[tuple[str, ...], object],
    final: Mapping[tuple[str, ...], object],
) -> tuple[dict[Any, str | None], dict[Key, _Drop]]:
    """Who last changed each object (None: the bootstrap), and the drops of tables and
    their parts, each with the latest migration that dropped it. `bootstrap` and
    `final` are the definitions of the objects before the first migration and after
    the last."""
    versions = start
    changed_by: dict[Any, str | None] = dict.fromkeys(versions)
    dropped: dict[Key, _Drop] = {}
    gone: set[Key] = set()
    for number, step in enumerate(steps):
        now = step.versions
        for key, _ in now.items() - versions.items():  # new, or of another version
            changed_by[key] = step.migration
        for key in versions.keys() - now.keys():
            gone.add(key)
            if len(key) == 4:  # a table, or one of its parts
                table_gone = _table_key(key) not in now
                dropped[key] = _Drop(number, step.migration, table_gone)
        versions = now
    # The bootstrap's objects that end as it made them, never dropped on the way, are
    # the platform's: no stamp, whatever a migration rewrote (a GRANT of what it had).
    for key, value in bootstrap.items():
        if key not in gone and final.get(key, _GONE) == value:
            changed_by[key] = None
    return changed_by, dropped


def versions_of(state: model.State) -> dict[tuple[str, ...], object]:
    """Every object of a state by key, its definition as its version."""
    found: dict[tuple[str, ...], object] = {}
    found.update(_objects(state))
    found.update(security.objects(state))
    return found


def _objects(state: model.State) -> dict[Key, object]:
    """Every object of a state by key, without provenance, so values compare as definitions."""
    found: dict[Key, object] = {}
    for schema in state.schemas:
        for table in schema.tables:
            # A table itself is compared by existence: its contents have keys of their own.
            found[("tables", schema.name, table.name, table.name)] = None
            for collection in _COLLECTIONS:
                for item in getattr(table, collection) or ():
                    key = (collection, schema.name, table.name, item.name)
                    found[key] = replace(item, migration=None)
    return found


def _table_key(key: Key) -> Key:
    _, schema, table, _ = key
    return ("tables", schema, table, table)


def _stamped(
    schema: str,
    table: model.Table,
    bootstrap: model.Table | None,
    changed_by: Mapping[Any, str | None],
) -> model.Table | None:
    """`table` with provenance; for a bootstrap table only what migrations changed, or None."""

    def collection(name: str) -> tuple[Any, ...]:
        return tuple(
            replace(item, migration=changed_by.get((name, schema, table.name, item.name)))
            for item in getattr(table, name) or ()
        )

    created_by = changed_by.get(("tables", schema, table.name, table.name))
    whole = bootstrap is None or created_by is not None
    kept = {name: collection(name) for name in _COLLECTIONS}
    if not whole:
        # The platform's table: only what migrations added or changed; its other columns,
        # indexes and triggers vary with the platform's version (see _PLATFORM_EXTRA).
        # Its policies are all listed once one is touched: an unlisted one is reported.
        kept = {
            name: items if name == "policies" else tuple(i for i in items if i.migration)
            for name, items in kept.items()
            if any(item.migration is not None for item in items)
        }
    rls = table.rls if whole or bootstrap is None or table.rls != bootstrap.rls else None
    if not whole and not kept and rls is None:
        return None
    return model.Table(
        name=table.name,
        columns=kept.get("columns"),
        constraints=kept.get("constraints"),
        indexes=kept.get("indexes"),
        policies=kept.get("policies"),
        triggers=kept.get("triggers"),
        rls=rls,
        migration=created_by,
    )


def _absent(
    schema: str, final: dict[Key, object], dropped: dict[Key, _Drop]
) -> tuple[model.Absent, ...]:
    """The objects of `schema` that were dropped and not created again."""
    # Index names are unique in a schema: one that moved to another table is not absent.
    indexes_now = {key[3] for key in final if key[0] == "indexes" and key[1] == schema}
    latest: dict[tuple[model.Kind, str | None, str], tuple[int, model.Absent]] = {}
    for key, drop in dropped.items():
        collection, key_schema, table, name = key
        if key_schema != schema or key in final:
            continue
        if collection != "tables":
            if drop.with_table or _table_key(key) not in final:
                continue
            if collection == "indexes" and name in indexes_now:
                continue
        owner = None if collection in ("tables", "indexes") else table
        entry = model.Absent(_KIND_OF[collection], name, owner, drop.migration)
        identity = (entry.kind, owner, name)
        if identity not in latest or latest[identity][0] < drop.step:
            latest[identity] = (drop.step, entry)
    entries = [entry for _, entry in latest.values()]
    return tuple(sorted(entries, key=lambda a: (a.kind, a.table or "", a.name)))
