"""Catalog rows of the security surface -> model objects. Pure: no database here.

The rows come from ``catalog_functions.sql``, ``catalog_views.sql``,
``catalog_objects.sql`` and the owner and ACL columns of the table and column
queries (see :mod:`monitor.postgres.catalog`, which runs them).

An ACL arrives as ``aclitem`` text, ``grantee=privileges/grantor`` with an
empty grantee for PUBLIC and a ``*`` after each privilege held WITH GRANT
OPTION; a NULL ACL has already been spelled out by ``acldefault()``. The
owner's own entry is dropped: ownership is compared on its own, and an
environment whose owner role differs would otherwise differ in every ACL.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any

from monitor.schema import model, quote
from monitor.schema.spec.provenance_security import identity

Row = tuple[Any, ...]

_intern = sys.intern

# aclitem letters (utils/acl.h, ACL_ALL_RIGHTS_STR "arwdDxtXUCTcsAm").
_PRIVILEGES = {
    "a": "INSERT",
    "r": "SELECT",
    "w": "UPDATE",
    "d": "DELETE",
    "D": "TRUNCATE",
    "x": "REFERENCES",
    "t": "TRIGGER",
    "X": "EXECUTE",
    "U": "USAGE",
    "C": "CREATE",
    "T": "TEMPORARY",
    "c": "CONNECT",
    "s": "SET",
    "A": "ALTER SYSTEM",
    "m": "MAINTAIN",
}


def acl_item(text: str) -> tuple[str, str, str]:
    """``"anon=r*w/postgres"`` -> ``("anon", "r*w", "postgres")``; PUBLIC is ``"public"``."""
    grantee, rest = _role_name(text, 0)
    if rest >= len(text) or text[rest] != "=":
        raise ValueError(f"not an aclitem: {text!r}")
    privileges, _, grantor_text = text[rest + 1 :].partition("/")
    grantor, _ = _role_name(grantor_text, 0)
    return grantee or model.PUBLIC_ROLE, privileges, grantor


def _role_name(text: str, start: int) -> tuple[str, int]:
    """A role name as aclitem writes it (double-quoted when it needs to be), and where it ends."""
    if start < len(text) and text[start] == '"':
        name, position = [], start + 1
        while position < len(text):
            char = text[position]
            if char == '"':
                if text[position + 1 : position + 2] == '"':
                    name.append('"')
                    position += 2
                    continue
                return "".join(name), position + 1
            name.append(char)
            position += 1
        raise ValueError(f"unterminated role name in aclitem: {text!r}")
    end = start
    while end < len(text) and text[end] not in "=/":
        end += 1
    return text[start:end], end


def _privileges(letters: str) -> Iterable[tuple[str, bool]]:
    for position, letter in enumerate(letters):
        if letter == "*":
            continue
        grantable = letters[position + 1 : position + 2] == "*"
        yield _PRIVILEGES.get(letter, letter), grantable


@lru_cache(maxsize=4096)
def _grants(acl: tuple[str, ...], owner: str, column: str | None) -> frozenset[model.Grant]:
    found = set()
    for item in acl:
        grantee, letters, _ = acl_item(item)
        if grantee == owner:
            continue
        for privilege, grantable in _privileges(letters):
            found.add(model.Grant(_intern(grantee), privilege, grantable, column))
    return frozenset(found)


def grants(acl: Sequence[str] | None, owner: str, column: str | None = None) -> model.Grants:
    """The grants of an ACL, without the owner's own; equal ACLs give one shared set."""
    return _grants(tuple(acl or ()), owner, column)


@lru_cache(maxsize=1024)
def _owner_privileges(acl: tuple[str, ...], owner: str) -> tuple[str, ...] | None:
    held: set[str] = set()
    for item in acl:
        grantee, letters, _ = acl_item(item)
        if grantee == owner:
            held.update(privilege for privilege, _ in _privileges(letters))
    if held >= set(model.TABLE_PRIVILEGES):
        return None
    return tuple(p for p in model.TABLE_PRIVILEGES if p in held)


def owner_privileges(acl: Sequence[str] | None, owner: str) -> tuple[str, ...] | None:
    """What a table's owner still holds when part of its default set was revoked;
    None when it holds the full set (the usual case: it comes with ownership)."""
    return _owner_privileges(tuple(acl or ()), owner)


def column_grants(rows: Iterable[Row]) -> dict[int, frozenset[model.Grant]]:
    """Column privileges by table oid, from the column rows (name second, ACL last)."""
    found: dict[int, set[model.Grant]] = {}
    for row in rows:
        acl = row[-1]
        if acl:
            found.setdefault(row[0], set()).update(grants(acl, "", row[1]))
    return {oid: frozenset(items) for oid, items in found.items()}


def without_owner(items: model.Grants, owner: str) -> model.Grants:
    return frozenset(g for g in items if g.grantee != owner)


# --- functions -------------------------------------------------------------

_KINDS = {"f": "function", "p": "procedure", "a": "aggregate", "w": "window"}
_VOLATILITY = {"i": "immutable", "s": "stable", "v": "volatile"}


def function_from_row(row: Row) -> tuple[str, model.Function]:
    (
        schema,
        name,
        types,
        kind,
        returns,
        arguments,
        language,
        body,
        volatility,
        strict,
        security_definer,
        leakproof,
        config,
        owner,
        acl,
    ) = row
    return schema, model.Function(
        name=quote.signature(name, types),
        returns=returns,
        language=language,
        body=body,
        kind=_KINDS[kind],
        arguments=None if arguments == types else arguments,
        volatility=_VOLATILITY[volatility],
        strict=strict,
        security_definer=security_definer,
        leakproof=leakproof,
        settings=settings(config),
        owner=_intern(owner),
        grants=grants(acl, owner),
    )


def settings(config: Sequence[str] | None) -> tuple[tuple[str, str], ...]:
    """``proconfig`` (``["search_path=\\"\\""]``) as sorted (name, value) pairs."""
    pairs = (item.partition("=") for item in config or ())
    return tuple(sorted((name.lower(), value) for name, _, value in pairs))


# --- views -----------------------------------------------------------------

_TRUE = frozenset({"true", "on", "yes", "1", "t", "y"})


def view_from_row(
    row: Row, indexes: Mapping[int, tuple[model.Index, ...]]
) -> tuple[str, model.View]:
    (
        oid,
        schema,
        name,
        materialized,
        definition,
        options,
        owner,
        acl,
        column_acl,
        rls_tables,
    ) = row
    chosen = dict(option.partition("=")[::2] for option in options or ())
    view_grants = grants(acl, owner)
    for entry in column_acl:
        column, _, item = entry.rpartition(" ")
        view_grants |= grants([item], owner, column)
    return schema, model.View(
        name=name,
        definition=definition,
        materialized=materialized,
        security_invoker=chosen.get("security_invoker", "false").lower() in _TRUE,
        security_barrier=chosen.get("security_barrier", "false").lower() in _TRUE,
        check_option=chosen.get("check_option"),
        owner=_intern(owner),
        grants=view_grants,
        indexes=indexes.get(oid, ()) if materialized else None,
        rls_tables=tuple(sorted(rls_tables)),
    )


# --- types, sequences, schemas and database-wide objects --------------------

_TYPE_KINDS = {"e": "enum", "d": "domain", "c": "composite", "r": "range"}


def type_from_row(row: Sequence[Any]) -> tuple[str, model.Type]:
    (
        schema,
        name,
        kind,
        labels,
        base,
        not_null,
        default,
        constraints,
        attributes,
        owner,
        acl,
    ) = row
    return schema, model.Type(
        name=name,
        kind=_TYPE_KINDS[kind],
        labels=tuple(labels or ()),
        base=base,
        nullable=not not_null,
        default=default,
        constraints=tuple(
            model.DomainConstraint(con_name, check, validated)
            for con_name, check, validated in constraints or ()
        ),
        attributes=tuple(model.Attribute(a, t) for a, t in attributes or ()),
        owner=owner,
        grants=grants(acl, owner),
    )


def sequence_from_row(row: Sequence[Any]) -> tuple[str, model.Sequence]:
    (
        schema,
        name,
        type_,
        increment,
        minimum,
        maximum,
        start,
        cache,
        cycle,
        owned_by,
        owner,
        acl,
    ) = row
    low, high = model.sequence_bounds(type_, increment)
    return schema, model.Sequence(
        name=name,
        type=type_,
        increment=increment,
        minimum=None if minimum == low else minimum,
        maximum=None if maximum == high else maximum,
        start=None if start == (low if increment > 0 else high) else start,
        cache=cache,
        cycle=cycle,
        owned_by=owned_by,
        owner=owner,
        grants=grants(acl, owner),
    )


_COLLATION_PROVIDERS = {"c": "libc", "i": "icu", "b": "builtin", "d": "default"}


def collation_from_row(row: Sequence[Any]) -> tuple[str, model.Collation]:
    schema, name, provider, collate, ctype, locale, deterministic, owner = row
    if provider == "c":  # libc: LC_COLLATE, and LC_CTYPE only when it differs
        locale, ctype = collate, None if ctype == collate else ctype
    else:
        ctype = None
    return schema, model.Collation(
        name=name,
        provider=_COLLATION_PROVIDERS.get(provider, provider),
        locale=locale,
        ctype=ctype,
        deterministic=deterministic,
        owner=owner,
    )


def _by_name(item: Any) -> str:
    return str(item.name)


_DEFAULT_ON = {"r": "tables", "S": "sequences", "f": "functions", "T": "types", "n": "schemas"}
_OPERATIONS = ("insert", "update", "delete", "truncate")
_ENABLED = {"O": "origin", "A": "always", "R": "replica", "D": "disabled"}


def with_surface(
    state: model.State,
    functions: Iterable[tuple[str, model.Function]],
    views: Iterable[tuple[str, model.View]],
    objects: Row,
) -> model.State:
    """``state`` (tables of the asked schemas) with the rest of the security surface;
    ``functions`` and ``views`` by schema, from :func:`function_from_row` and
    :func:`view_from_row`."""
    (
        schemas_json,
        defaults_json,
        types_json,
        sequences_json,
        extensions,
        publications,
        events,
        *advisor_facts,
        collations_json,
    ) = objects
    by_schema = _by_schema(
        state,
        (
            ("functions", functions),
            ("views", views),
            ("types", map(type_from_row, types_json)),
            ("sequences", map(sequence_from_row, sequences_json)),
            ("collations", map(collation_from_row, collations_json)),
            ("defaults", map(_default_privilege, defaults_json)),
        ),
    )
    owners: dict[str, tuple[str | None, model.Grants | None]] = {
        schema_name: (owner, grants(acl, owner)) for schema_name, owner, acl in schemas_json
    }
    surface = replace(
        state,
        schemas=tuple(
            _with_objects(schema, by_schema[schema.name], *owners.get(schema.name, (None, None)))
            for schema in state.schemas
        ),
        extensions=tuple(map(_extension, extensions)),
        publications=tuple(map(_publication, publications)),
        event_triggers=tuple(map(_event_trigger, events)),
    )
    return with_advisor_facts(surface, *advisor_facts)


def _by_schema(
    state: model.State, kinds: Sequence[tuple[str, Iterable[tuple[str, Any]]]]
) -> dict[str, dict[str, list[Any]]]:
    """Each asked schema's objects, by kind: ``kinds`` pairs a kind with its (schema,
    object) pairs."""
    by_schema: dict[str, dict[str, list[Any]]] = {
        s.name: {kind: [] for kind, _ in kinds} for s in state.schemas
    }
    for kind, pairs in kinds:
        for name, item in pairs:
            by_schema[name][kind].append(item)
    return by_schema


def _with_objects(
    schema: model.Schema,
    found: Mapping[str, list[Any]],
    owner: str | None,
    schema_grants: model.Grants | None,
) -> model.Schema:
    return replace(
        schema,
        owner=owner,
        grants=schema_grants,
        # In the order a spec loads them: by name (a function by its signature).
        functions=tuple(sorted(found["functions"], key=_by_name)),
        views=tuple(sorted(found["views"], key=_by_name)),
        types=tuple(sorted(found["types"], key=_by_name)),
        sequences=tuple(sorted(found["sequences"], key=_by_name)),
        collations=tuple(sorted(found["collations"], key=_by_name)),
        default_privileges=tuple(sorted(found["defaults"], key=lambda d: (d.role, d.on))),
    )


def _default_privilege(row: Sequence[Any]) -> tuple[str, model.DefaultPrivilege]:
    schema, role, on, acl = row
    return schema, model.DefaultPrivilege(role=role, on=_DEFAULT_ON[on], grants=grants(acl, ""))


def _publication(row: Sequence[Any]) -> model.Publication:
    name, all_tables, *flags, tables = row
    return model.Publication(
        name=name,
        all_tables=all_tables,
        operations=tuple(op for op, on in zip(_OPERATIONS, flags, strict=True) if on),
        tables=tuple(tables or ()),
    )


def _event_trigger(row: Sequence[Any]) -> model.EventTrigger:
    name, event, function_schema, function_name, enabled, tags = row
    return model.EventTrigger(
        name=name,
        event=event,
        function=f"{quote.qualified(function_schema, function_name)}()",
        enabled=_ENABLED[enabled],
        tags=tuple(sorted(tags or ())),
    )


def _extension(row: Sequence[Any]) -> model.Extension:
    name, schema, version, default_version = row
    return model.Extension(name, schema, version, default_version=default_version)


def with_advisor_facts(
    state: model.State,
    foreign_tables: Iterable[Sequence[Any]],
    queues: Iterable[Sequence[Any]] | None,
    autovacuum: Iterable[Sequence[Any]],
) -> model.State:
    """``state`` with what only the advisors read, never compared: each schema's foreign
    tables (owner and ACL), the tables whose storage parameters switch autovacuum off,
    and pgmq's queue tables (``None`` without a pgmq schema)."""
    foreign: dict[str, list[model.Table]] = {}
    for name, table, owner, acl in foreign_tables:
        foreign.setdefault(name, []).append(
            model.Table(table, owner=owner, grants=grants(acl, owner))
        )
    off = {(name, table) for name, table, value in autovacuum if value.lower() not in _TRUE}
    schemas = tuple(
        replace(
            schema,
            foreign_tables=tuple(foreign.get(schema.name, ())),
            tables=tuple(
                replace(table, autovacuum=False) if (schema.name, table.name) in off else table
                for table in schema.tables
            )
            if any(name == schema.name for name, _ in off)
            else schema.tables,
        )
        for schema in state.schemas
    )
    return replace(
        state, schemas=schemas, queues=None if queues is None else tuple(map(_queue, queues))
    )


def _queue(row: Sequence[Any]) -> model.Table:
    """A pgmq queue table: only what says whether the API may read it."""
    name, rls_enabled, owner, acl = row
    return model.Table(
        name, rls=model.Rls(enabled=rls_enabled), owner=owner, grants=grants(acl, owner)
    )


def version_key(
    collection: str, schema: str, table: str | None, name: str, detail: str | None
) -> tuple[str, ...]:
    """The key of a ``catalog_versions.sql`` row, as provenance keys the model's objects:
    a table's parts by table and name, the rest by :func:`provenance_security.identity`
    of the object the row names (a function by its signature, default privileges by role
    and kind of object)."""
    if table is not None:
        return (collection, schema, table, name)
    if collection == "functions":
        item: Any = model.Function(quote.signature(name, detail or ""))
    elif collection == "default_privileges":
        item = model.DefaultPrivilege(role=name, on=_DEFAULT_ON[detail or ""], grants=frozenset())
    else:
        return (collection, schema, name)
    return (collection, schema, identity(collection, item))
