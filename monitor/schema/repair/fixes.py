"""One finding's fix: the statements that restore what it departs from."""

from __future__ import annotations

from collections.abc import Callable

from monitor.schema import hashed
from monitor.schema.model import Change, Finding, Kind, Schema, State
from monitor.schema.quote import NotAName
from monitor.schema.repair import layout, objects, security, tables, views
from monitor.schema.repair.statements import Fix

_SCHEMA_FIXERS: dict[Kind, Callable[[Finding, Schema, State], Fix]] = {
    Kind.PRIVILEGE: security.privilege_fix,
    Kind.OWNER: security.owner_fix,
    Kind.FUNCTION: objects.function_fix,
    Kind.VIEW: views.view_fix,
    Kind.TYPE: objects.type_fix,
    Kind.SEQUENCE: objects.sequence_fix,
    Kind.EXTENSION: objects.extension_fix,
    Kind.PUBLICATION: objects.publication_fix,
    Kind.EVENT_TRIGGER: objects.event_trigger_fix,
}


def fix(finding: Finding, expected: State) -> Fix:
    """The statements that restore what `finding` departs from."""
    if finding.change is Change.PENDING:
        return Fix(note="apply the pending migration with your migration tool")
    if finding.kind is Kind.MIGRATION:
        return Fix(note="the migration ledger is kept by your migration tool, not repaired here")
    try:
        made = _fix(finding, expected)
    except NotAName as exc:
        return Fix(note=f"no repair is written for a name that does not read back: {exc}")
    if any(hashed.PREFIX in statement.sql for statement in made.statements):
        # A spec read from a catalog over limits.definition_bytes holds only a definition's
        # hash: written out, it would replace the object's real text with the hash.
        return Fix(note="the spec holds only a hash of this definition: re-create it by hand")
    return made


def _fix(finding: Finding, expected: State) -> Fix:
    placed = layout.fix(finding, expected)  # schemas, partitions, persistence, parents ...
    if placed is not None:
        return placed
    schema = expected.schema(finding.schema) or Schema(finding.schema)
    if finding.kind in _SCHEMA_FIXERS:
        return _SCHEMA_FIXERS[finding.kind](finding, schema, expected)
    if finding.change is Change.UNEXPECTED:
        return tables.drop(finding)
    table = schema.table(finding.table or finding.name) if finding.table else None
    if table is None:
        return Fix(note="the spec does not describe the table")
    return tables.fix_on_table(finding, schema.name, table, expected)
