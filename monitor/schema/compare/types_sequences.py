"""What decides a changed type, collation or sequence: their definitions only, never
a widening; every change is a warning. Pure."""

from __future__ import annotations

from monitor.schema import normalize
from monitor.schema.compare.context import Verdict, verdict
from monitor.schema.model import Change, Collation, Severity, Type, sequence_bounds
from monitor.schema.model import Sequence as SequenceDef


def compare_type(expected: Type, actual: Type) -> Verdict:
    changed = [
        field
        for field in ("kind", "labels", "nullable", "attributes")
        if getattr(expected, field) != getattr(actual, field)
    ]
    if expected.kind == "composite" and "attributes" in changed:
        same = len(expected.attributes) == len(actual.attributes) and all(
            e.name == a.name and normalize.same_type(e.type, a.type)
            for e, a in zip(expected.attributes, actual.attributes, strict=True)
        )
        if same:
            changed.remove("attributes")
    if (expected.base or actual.base) and not (
        expected.base and actual.base and normalize.same_type(expected.base, actual.base)
    ):
        changed.append("base")
    if not normalize.same_expression(expected.default, actual.default):
        changed.append("default")
    wanted = {c.name: c for c in expected.constraints}
    have = {c.name: c for c in actual.constraints}
    if wanted.keys() != have.keys() or any(
        not normalize.same_expression(
            c.check.replace("VALUE", "value"), have[n].check.replace("VALUE", "value")
        )
        or c.validated != have[n].validated
        for n, c in wanted.items()
    ):
        changed.append("constraints")
    return verdict(changed, [], [], False)


def compare_collation(expected: Collation, actual: Collation) -> Verdict:
    fields = ("provider", "locale", "ctype", "deterministic")
    changed = [f for f in fields if getattr(expected, f) != getattr(actual, f)]
    return (Change.CHANGED, Severity.WARNING, changed) if changed else None


def compare_sequence(expected: SequenceDef, actual: SequenceDef) -> Verdict:
    changed = []
    if not normalize.same_type(expected.type, actual.type):
        changed.append("type")
    for field in ("increment", "cache", "cycle", "owned_by"):
        if getattr(expected, field) != getattr(actual, field):
            changed.append(field)
    if _bounds(expected) != _bounds(actual):
        changed.append("bounds")
    return verdict(changed, [], [], False)


def _bounds(sequence: SequenceDef) -> tuple[int, int, int]:
    low, high = sequence_bounds(normalize.type_key(sequence.type), sequence.increment)
    minimum = low if sequence.minimum is None else sequence.minimum
    maximum = high if sequence.maximum is None else sequence.maximum
    start = sequence.start
    if start is None:
        start = minimum if sequence.increment > 0 else maximum
    return minimum, maximum, start
