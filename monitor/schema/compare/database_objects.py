"""Database-wide objects: extensions, publications and event triggers, and which of
them the platform installed. Pure; called from :func:`monitor.schema.compare.diff.diff`.

A missing extension is critical, and so is a table added to a publication (its rows
are broadcast); the rest is a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from monitor.schema.compare.context import Verdict, same_definition, trigger_verdict, verdict
from monitor.schema.compare.describing import describe
from monitor.schema.model import (
    Change,
    EventTrigger,
    Extension,
    Finding,
    Kind,
    Publication,
    Severity,
    State,
)

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

DatabaseObject = Extension | Publication | EventTrigger


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
        if same_definition(item, found):
            continue
        outcome = compare(item, found)
        if outcome is not None:
            change, severity, changed = outcome
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
    return trigger_verdict(changed, expected.enabled, actual.enabled)
