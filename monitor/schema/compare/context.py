"""What the diff knows while it walks one schema of the spec: the schema, the pending
migrations, what was left unread, how owners map; how it words a finding, and how it
weighs a change. Pure.

Shared by :mod:`monitor.schema.compare.diff` (tables) and the modules of the other
kinds beside it (:mod:`~monitor.schema.compare.schema_objects`,
:mod:`~monitor.schema.compare.database_objects`, ...).
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Iterable, Iterator
from fnmatch import fnmatchcase
from typing import Any

from monitor.schema.model import (
    Change,
    Extra,
    Finding,
    Kind,
    OwnerPolicy,
    Schema,
    Severity,
    Table,
)

# What a kind's comparison decides: the change, its severity and the fields that differ;
# None when the two are the same.
Verdict = tuple[Change, Severity, list[str]] | None


@dataclasses.dataclass(frozen=True, slots=True)
class Context:
    schema: Schema
    pending: frozenset[str]  # migration versions the spec expects but the live ledger lacks
    skipped: frozenset[str]
    owners: OwnerPolicy
    ledger_tables: frozenset[str] = frozenset()  # "schema.table" of the deploy tool's ledger

    def filtered(self, findings: Iterable[Finding]) -> Iterator[Finding]:
        for finding in findings:
            if not any(fnmatchcase(finding.name, glob) for glob in self.schema.ignore):
                yield finding

    def reports_extra(self, kind: str, table: Table | None = None) -> bool:
        """Whether unlisted objects of `kind` are reported: as `table` (when it has a
        choice of its own for its parts) or else its schema says."""
        extra = table.extra if table is not None and table.extra is not None else self.schema.extra
        return extra.for_kind(kind) is Extra.REPORT

    def is_absent(self, kind: Kind, table: str | None, name: str) -> bool:
        """Absent objects that reappear are reported once, as such, not also as extras."""
        owner = None if kind in (Kind.TABLE, Kind.INDEX) else table
        return any(
            a.kind is kind and a.name == name and (a.table if owner else None) == owner
            for a in self.schema.absent
        )

    def is_pending(self, migration: str | None) -> bool:
        return migration is not None and migration_version(migration) in self.pending

    def finding(
        self,
        kind: Kind,
        change: Change,
        severity: Severity,
        table: str | None,
        name: str,
        message: str,
        expected: Any = None,
        actual: Any = None,
        migration: str | None = None,
    ) -> Finding:
        if change in (Change.MISSING, Change.CHANGED) and self.is_pending(migration):
            change, severity = Change.PENDING, Severity.INFO
            message = f"{message} (migration {migration} is not applied yet)"
        return Finding(
            kind, change, severity, self.schema.name, table, name, message, expected, actual
        )


_GETTERS: dict[tuple[type, frozenset[str]], Callable[[Any], Any]] = {}


def fields_but(cls: type, left_out: frozenset[str]) -> Callable[[Any], Any]:
    """A getter of the dataclass `cls`'s fields other than `left_out` (and other than the
    live-only facts declared ``compare=False``), all at once: what the diff compares, one
    getter per class (an object per comparison is too slow)."""
    getter = _GETTERS.get((cls, left_out))
    if getter is None:
        names = [f.name for f in dataclasses.fields(cls) if f.name not in left_out and f.compare]
        getter = _GETTERS[cls, left_out] = operator.attrgetter(*names)
    return getter


_NOT_DEFINITION = frozenset({"migration", "owner", "grants", "rls_tables", "indexes"})


def same_definition(expected: Any, actual: Any) -> bool:
    """Equal as written, apart from what is compared on its own (owner, grants, provenance)."""
    definition = fields_but(type(expected), _NOT_DEFINITION)
    return bool(definition(expected) == definition(actual))


def verdict(changed: list[str], widened: list[str], narrowed: list[str], critical: bool) -> Verdict:
    """Widened when anything lets more through (critical when ``critical`` says so),
    narrowed when everything only lets less, changed otherwise."""
    if not (changed or widened or narrowed):
        return None
    fields = widened + narrowed + changed
    if widened:
        return Change.WIDENED, Severity.CRITICAL if critical else Severity.WARNING, fields
    if narrowed and not changed:
        return Change.NARROWED, Severity.WARNING, fields
    return Change.CHANGED, Severity.CRITICAL if critical else Severity.WARNING, fields


def trigger_verdict(changed: list[str], expected_enabled: str, actual_enabled: str) -> Verdict:
    """A trigger's (or an event trigger's) verdict: its definition first, then whether it
    fires (disabled is a change of its own)."""
    if changed:
        return Change.CHANGED, Severity.WARNING, changed
    if expected_enabled != actual_enabled:
        if actual_enabled == "disabled":
            return Change.DISABLED, Severity.WARNING, ["enabled"]
        return Change.CHANGED, Severity.WARNING, ["enabled"]
    return None


def migration_version(migration: str) -> str:
    """ "20250122000000_create_integrations_table" -> "20250122000000"; "1.1_add_x" -> "1.1"."""
    head = migration.split("_", 1)[0]
    return head if head.replace(".", "").isdigit() and not head.startswith(".") else migration
