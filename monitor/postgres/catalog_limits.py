"""What one catalog read may cost the monitor, whatever the database holds.

Two caps, both in ``limits:`` of the daemon's config:

- ``definition_bytes``: a function body, a view's query, a policy's
  expression, a CHECK or EXCLUDE constraint or a column's default or
  generation expression over it is never sent whole; the server sends its MD5
  and length
  (:mod:`monitor.schema.hashed`) and the comparison is by hash. Each such text
  is told in a note ("function public.f(): body of 52,428,800 bytes, over the
  cap of 1,048,576: compared by hash").
- ``objects_per_kind``: a kind (constraints, indexes, policies, triggers,
  functions, views) with more objects than this in the watched schemas is not
  read at all: the context statement counts them first. Its comparison is
  given up, and one finding says so, instead of memory growing with the
  catalog. The statement for it still runs, on nothing, so a snapshot's number
  of statements stays fixed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from monitor.schema import hashed, model

# Table attributes and schema attributes a kind is read into.
TABLE_KINDS = ("constraints", "indexes", "policies", "triggers")
SCHEMA_KINDS = ("functions", "views")
_KIND_OF = {
    "constraints": model.Kind.CONSTRAINT,
    "indexes": model.Kind.INDEX,
    "policies": model.Kind.POLICY,
    "triggers": model.Kind.TRIGGER,
    "functions": model.Kind.FUNCTION,
    "views": model.Kind.VIEW,
}


@dataclass(frozen=True, slots=True)
class Limits:
    definition_bytes: int = 1024 * 1024
    objects_per_kind: int = 50_000


DEFAULT_LIMITS = Limits()


def over_cap(counts: Mapping[str, int], limits: Limits) -> dict[str, int]:
    """The kinds with more objects than the cap, and how many they have."""
    return {
        kind: count
        for kind, count in counts.items()
        if kind in _KIND_OF and count > limits.objects_per_kind
    }


def unread(state: model.State, kinds: Mapping[str, int]) -> model.State:
    """`state` with the kinds that were not read as None ("not compared"), not as empty."""
    if not kinds:
        return state
    tables: dict[str, Any] = {kind: None for kind in TABLE_KINDS if kind in kinds}
    schemas: dict[str, Any] = {kind: None for kind in SCHEMA_KINDS if kind in kinds}
    return replace(
        state,
        schemas=tuple(
            replace(schema, tables=tuple(replace(t, **tables) for t in schema.tables), **schemas)
            for schema in state.schemas
        ),
    )


def findings(kinds: Mapping[str, int], limits: Limits) -> tuple[model.Finding, ...]:
    """One finding per kind over the cap: its comparison was given up, not passed."""
    return tuple(
        model.Finding(
            kind=_KIND_OF[kind],
            change=model.Change.INVALID,
            severity=model.Severity.WARNING,
            schema="*",
            table=None,
            name="*",
            message=(
                f"{kind} not compared: {count:,} in the watched schemas, over the cap of"
                f" {limits.objects_per_kind:,} per kind (limits.objects_per_kind)"
            ),
        )
        for kind, count in sorted(kinds.items())
    )


def notes(state: model.State, limits: Limits) -> tuple[str, ...]:
    """A line for each definition that came as its hash, over the byte cap."""
    return tuple(_notes(state, f"{limits.definition_bytes:,}"))


def _notes(state: model.State, cap: str) -> Iterator[str]:
    def note(what: str, text: str | None) -> Iterator[str]:
        size = hashed.size(text) if text is not None else None
        if size is not None:
            yield f"{what} of {size:,} bytes, over the cap of {cap}: compared by hash"

    for schema in state.schemas:
        for function in schema.functions or ():
            yield from note(f"function {schema.name}.{function.name}: body", function.body)
        for view in schema.views or ():
            yield from note(f"view {schema.name}.{view.name}: query", view.definition)
        for table in schema.tables:
            where = f"{schema.name}.{table.name}"
            for column in table.columns or ():
                yield from note(f"column {column.name} of {where}: default", column.default)
                yield from note(f"column {column.name} of {where}: expression", column.generated)
            for constraint in table.constraints or ():
                yield from note(f"constraint {constraint.name} on {where}", constraint.check)
            for policy in table.policies or ():
                on = f"policy {policy.name} on {where}"
                yield from note(f"{on}: USING expression", policy.using)
                yield from note(f"{on}: WITH CHECK expression", policy.with_check)
