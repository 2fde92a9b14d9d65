"""JSON-able descriptions of model objects and of what changed, for findings. Pure."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from typing import Any


def describe(obj: Any) -> Any:
    """A JSON-able form of a model object, without its provenance."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: describe(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if f.name != "migration" and f.compare  # live-only facts are not described
        }
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, frozenset):
        items = [describe(item) for item in obj]
        if all(isinstance(item, str) for item in items):
            return sorted(items)
        return sorted(items, key=repr)  # grants: dicts, in a stable order
    if isinstance(obj, tuple | list):
        return [describe(item) for item in obj]
    return obj


def describe_changes(fields: Sequence[str], expected: Any, actual: Any) -> str:
    parts = []
    for field in fields:
        before, after = describe(getattr(expected, field)), describe(getattr(actual, field))
        parts.append(f"{field} {short(before)} -> {short(after)}")
    return "; ".join(parts)


def short(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{k}: {v}" for k, v in value.items() if v not in (None, False)) + "}"
        )
    return str(value)
