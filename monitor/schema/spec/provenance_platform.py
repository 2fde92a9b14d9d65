"""The platform boundary of a spec taken from a live database (`spec snapshot`). Pure.

`spec build` knows what the migrations made: it saw the catalog before and after
each. A snapshot of a live Supabase database sees everything at once, so it
draws the same line by the platform's shape: in the platform's schemas, a table
the platform makes (the bootstrap's, and the hosted platform's by name) keeps
only what is the project's there (its policies, its triggers, its RLS switch);
the platform's functions, views, types and sequences there, its owners and
grants, and the versions of extensions are left out, and objects of other
platform versions are ignored. Tables of the project's own in those schemas
are kept whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from monitor.schema import model

# The schemas a Supabase database has before its first migration runs.
PLATFORM_SCHEMAS = frozenset(
    {"auth", "storage", "realtime", "vault", "supabase_migrations", "graphql", "graphql_public"}
)
# Every kind but tables and policies: what the platform has there varies with its version.
_IGNORED = model.ExtraPolicy(
    columns=model.Extra.IGNORE,
    constraints=model.Extra.IGNORE,
    indexes=model.Extra.IGNORE,
    triggers=model.Extra.IGNORE,
    functions=model.Extra.IGNORE,
    views=model.Extra.IGNORE,
    types=model.Extra.IGNORE,
    sequences=model.Extra.IGNORE,
)


def platform_shaped(state: model.State) -> bool:
    """A Supabase database: its auth.users and storage.objects exist."""
    auth, storage = state.schema("auth"), state.schema("storage")
    return bool(auth and auth.table("users") and storage and storage.table("objects"))


def live_boundary(state: model.State, platform_tables: Mapping[str, Sequence[str]]) -> model.State:
    """A snapshot of a Supabase database with the platform's objects left out.

    `platform_tables` names the platform's tables by schema. A trigger on one of
    them is the platform's when its function lives in a platform schema
    (``storage.update_updated_at_column()``), the project's otherwise.
    """
    schemas = tuple(
        _schema(schema, frozenset(platform_tables.get(schema.name, ())))
        if schema.name in PLATFORM_SCHEMAS
        else schema
        for schema in state.schemas
    )
    extensions = tuple(replace(e, version=None) for e in state.extensions or ())
    return replace(
        state,
        schemas=schemas,
        extensions=None if state.extensions is None else extensions,
    )


def _schema(schema: model.Schema, platform: frozenset[str]) -> model.Schema:
    tables = []
    for table in schema.tables:
        if table.name not in platform:
            # The project's own table in the platform's schema: its unlisted parts count.
            tables.append(replace(table, extra=model.ExtraPolicy()))
            continue
        own_triggers = tuple(t for t in table.triggers or () if not _platform_function(t.function))
        if table.policies or own_triggers:
            tables.append(
                model.Table(
                    name=table.name,
                    policies=table.policies,
                    triggers=own_triggers or None,
                    rls=table.rls,
                )
            )
    listed = {t.name for t in tables}
    return model.Schema(
        name=schema.name,
        tables=tuple(tables),
        absent=schema.absent,
        extra=_IGNORED,
        ignore=tuple(sorted(platform - listed)),
    )


def _platform_function(function: str) -> bool:
    schema, dot, _ = function.partition(".")
    return bool(dot) and schema.strip('"') in PLATFORM_SCHEMAS


def live_spec(
    state: model.State, asked: Sequence[str], platform_tables: Mapping[str, Sequence[str]]
) -> tuple[model.State, bool]:
    """The spec of a snapshot read with the platform's auth and storage beside the `asked`
    schemas: those alone, the platform's objects left out on a Supabase database (True)."""
    supabase = platform_shaped(state)
    bounded = live_boundary(state, platform_tables) if supabase else state
    schemas = tuple(s for s in bounded.schemas if s.name in asked)
    return replace(bounded, schemas=schemas), supabase
