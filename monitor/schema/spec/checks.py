"""The checks between the fields of a spec's objects: plain functions of what was read.

Each yields ``(key, message)`` for every problem: ``key`` is the field of the
object's mapping at fault (its line is the problem's), None for the object
itself. The reader records them at their path (:meth:`SpecValues.report_at`).
Most are combinations PostgreSQL refuses: a spec expecting them could never
match a database.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

from monitor.schema import model, normalize

Problems = Iterator[tuple[str | None, str]]

_NEEDS_COLUMNS = (
    model.ConstraintType.PRIMARY_KEY,
    model.ConstraintType.UNIQUE,
    model.ConstraintType.FOREIGN_KEY,
)


def column_problems(what: str, given: Collection[str], column: model.Column) -> Problems:
    both = [key for key in ("default", "identity", "generated") if key in given]
    if len(both) > 1:
        yield None, f"{what}: a column has at most one of {', '.join(both)}"
    if column.identity is not None and "nullable" in given and column.nullable:
        yield "nullable", f"{what}: an identity column is never nullable"


def constraint_problems(
    what: str, found: Mapping[str, Any], constraint: model.Constraint
) -> Problems:
    kind = constraint.type
    is_foreign_key = kind is model.ConstraintType.FOREIGN_KEY
    if is_foreign_key and "references" not in found:
        yield None, f"{what}: a foreign key needs references: {{table, columns}}"
    if not is_foreign_key and "references" in found:
        yield "references", f"{what}: only a foreign key has references"
    if kind in _NEEDS_COLUMNS and not found.get("columns"):
        yield None, f"{what}: a {kind} constraint needs columns"
    references = constraint.references
    counts = (len(references.columns), len(constraint.columns)) if references else (0, 0)
    if all(counts) and counts[0] != counts[1]:
        yield "references", f"{what}: references names {counts[0]} columns for {counts[1]}"
    if kind is model.ConstraintType.CHECK and "check" not in found:
        yield None, f"{what}: a check constraint needs check: <expression>"
    if constraint.check is not None:
        label, check = f"{what}: check", constraint.check
        if kind is model.ConstraintType.CHECK:
            error = normalize.expression_error(check)
            if error is not None:
                yield "check", f"{label} {check!r} is not a valid SQL expression: {error}"
        elif kind is not model.ConstraintType.EXCLUDE:
            yield "check", f"{label} belongs to check and exclude constraints"
    if constraint.deferred and not constraint.deferrable:
        yield "deferred", f"{what}: deferred needs deferrable: true"


def policy_keys_problems(what: str, given: Collection[str]) -> Problems:
    for one, other in (("permissive", "as"), ("with_check", "check")):
        if one in given and other in given:
            yield other, f"{what}: give {one} or {other}, not both"


def policy_problems(
    what: str, given: Collection[str], policy: model.Policy, with_check_key: str
) -> Problems:
    if policy.command == "INSERT" and "using" in given:
        yield "using", f"{what}: an INSERT policy has only with_check"
    if policy.command in ("SELECT", "DELETE") and with_check_key in given:
        message = f"{what}: a {policy.command} policy has only using, no {with_check_key}"
        yield with_check_key, message


def trigger_problems(what: str, trigger: model.Trigger) -> Problems:
    if trigger.timing == "INSTEAD OF" and trigger.level != "ROW":
        yield None, f"{what}: an INSTEAD OF trigger needs level: ROW"
    if "TRUNCATE" in trigger.events and trigger.level == "ROW":
        yield None, f"{what}: a TRUNCATE trigger needs level: STATEMENT"
    if trigger.columns and "UPDATE" not in trigger.events:
        yield "columns", f"{what}: columns (UPDATE OF) need the UPDATE event"
