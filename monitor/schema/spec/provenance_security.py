"""Provenance of the security surface: which migration made each function, view, type,
sequence, extension, publication and event trigger; the platform's own left out. Pure.

Called by :func:`monitor.schema.spec.provenance.provenance` on the spec it built from the
tables. An object the bootstrap made and no migration changed belongs to the
platform: a schema the user did not ask for lists none of them (and ignores
unlisted ones of that kind); database-wide objects (extensions, publications,
event triggers) are listed only when a migration made or changed them, so a
platform with more of them, or other versions, checks clean.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from monitor.schema import model, normalize

_SCHEMA_COLLECTIONS = ("functions", "views", "types", "sequences", "default_privileges")
_DATABASE_COLLECTIONS = ("extensions", "publications", "event_triggers")


Key = tuple[str, ...]  # (collection, schema, identity)


def identity(collection: str, item: Any) -> str:
    """An object's name in its key (``catalog_security.version_key`` keys catalog rows
    by it too)."""
    if collection == "functions":
        return normalize.function_key(item.name)
    if collection == "default_privileges":
        return f"{item.role} {item.on}"
    return str(item.name)


def objects(state: model.State) -> dict[Key, Any]:
    """Every object of the security surface by key, without provenance."""
    found: dict[Key, Any] = {}
    for schema in state.schemas:
        found[("schema", schema.name, schema.name)] = (schema.owner, schema.grants)
        for collection in _SCHEMA_COLLECTIONS:
            for item in getattr(schema, collection) or ():
                key = (collection, schema.name, identity(collection, item))
                found[key] = replace(item, migration=None)
        for table in schema.tables:
            found[("table", schema.name, table.name)] = (table.owner, table.grants)
    for collection in _DATABASE_COLLECTIONS:
        for item in getattr(state, collection) or ():
            found[(collection, "", item.name)] = replace(item, migration=None)
    return found


def with_security_surface(
    spec: model.State,
    before: Mapping[tuple[str, ...], Any],
    final: model.State,
    changed_by: Mapping[Any, str | None],
    schemas: Sequence[str],
) -> model.State:
    """``spec`` (built from the tables) with the security surface and its provenance:
    `before` holds the bootstrap's objects by key (:func:`objects` of its state among
    them), `changed_by` the migration that last changed each object (None: the
    bootstrap)."""

    def stamped(collection: str, schema: str, items: Iterable[Any], whole: bool) -> list[Any]:
        kept = []
        for item in items:
            key = (collection, schema, identity(collection, item))
            migration = changed_by.get(key)
            if whole or migration is not None:
                # Default privileges are written per role, with no room for provenance.
                stamp = None if collection == "default_privileges" else migration
                platform = before.get(key) if migration is not None else None
                kept.append(replace(_the_change(item, platform), migration=stamp))
        return kept

    result = []
    for schema in spec.schemas:
        live = final.schema(schema.name)
        if live is None:
            result.append(schema)
            continue
        asked = schema.name in schemas
        platform_schema = ("schema", schema.name, schema.name) in before
        fields: dict[str, Any] = {}
        extra = {}
        for collection in _SCHEMA_COLLECTIONS:
            items = getattr(live, collection)
            if items is None:
                continue
            fields[collection] = tuple(stamped(collection, schema.name, items, asked))
            if not asked and platform_schema and collection in model.EXTRA_KINDS:
                extra[collection] = model.Extra.IGNORE  # the platform's own, any version's
        own_key = ("schema", schema.name, schema.name)
        if asked or changed_by.get(own_key) is not None:
            fields["owner"], fields["grants"] = live.owner, live.grants
        elif "default_privileges" in fields and not fields["default_privileges"]:
            fields["default_privileges"] = None  # the platform's, not the user's
        tables = tuple(_table_security(t, live, before) for t in schema.tables)
        result.append(
            replace(
                schema,
                tables=tables,
                extra=replace(schema.extra, **extra),
                **fields,
            )
        )

    def database(collection: str) -> tuple[Any, ...] | None:
        items = getattr(final, collection)
        return None if items is None else tuple(stamped(collection, "", items, False))

    return replace(
        spec,
        schemas=tuple(result),
        extensions=database("extensions"),
        publications=database("publications"),
        event_triggers=database("event_triggers"),
    )


# What a platform version decides (a function's body, a view's query): pinned only
# when a migration changed it, so that another version of the platform checks clean.
_VERSIONED = {model.Function: "body", model.View: "definition"}


def _the_change(item: Any, platform: Any) -> Any:
    """A platform object a migration changed: with the change, not what it left as it was."""
    if platform is None or type(platform) is not type(item) or not hasattr(item, "owner"):
        return item
    same = {
        field: None
        for field in ("owner", "grants", _VERSIONED.get(type(item)))
        if field is not None and getattr(item, field) == getattr(platform, field)
    }
    return replace(item, **same) if same else item


def _table_security(
    table: model.Table,
    live: model.Schema,
    before: Mapping[Key, Any],
) -> model.Table:
    """A table with its owner and grants; a platform table with those a migration changed."""
    found = live.table(table.name)
    if found is None:
        return table
    key = ("table", live.name, table.name)
    if key in before and table.migration is None:
        # The platform's table: its owner and grants only where a migration changed them.
        owner, grants = before[key]
        return replace(
            table,
            owner=None if found.owner == owner else found.owner,
            grants=None if found.grants == grants else found.grants,
        )
    return replace(table, owner=found.owner, grants=found.grants)
