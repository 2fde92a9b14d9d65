"""Values read back from the state files, checked before anything computes with them.

The files are ours, but anything can end up on a disk: a person's edit, a
restore from another machine, a file written by a newer version. Valid JSON
is not enough. ``1e999`` is infinity, a date without a time zone cannot be
compared with one that has one, and a date in year 9999 overflows when the
window's length is added to it. Each of these raises :class:`ValueError`
here, with the field it is about; the caller sets the file aside (as for
broken syntax) instead of crashing every cycle.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# Dates a monitor could have written: from the Unix epoch to a year whose window
# end (start plus any configured length) still fits in a datetime.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def parse(text: str) -> Any:
    """JSON with finite numbers only; deep nesting fails as a ValueError, not a crash."""
    try:
        return json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number out of range: {text[:40]}")
    return number


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a state file holds")


def mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what}: expected an object, got {_type(value)}")
    return value


def items(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{what}: expected a list, got {_type(value)}")
    return value


def text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what}: expected a string, got {_type(value)}")
    return value


def optional_text(value: Any, what: str) -> str | None:
    return None if value is None else text(value, what)


def count(value: Any, what: str) -> int:
    """A non-negative integer (a bool is not one, whatever Python says)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what}: expected a count, got {_shown(value)}")
    return value


def seconds(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{what}: expected a number of seconds, got {_shown(value)}")
    return float(value)


def moment(value: Any, what: str) -> datetime:
    """An ISO 8601 date and time with its time zone, between EARLIEST and LATEST."""
    written = text(value, what)
    try:
        parsed = datetime.fromisoformat(written)
    except ValueError:
        raise ValueError(f"{what}: not a date and time: {written[:40]!r}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"{what}: {written[:40]!r} has no time zone")
    if not EARLIEST <= parsed < LATEST:
        raise ValueError(f"{what}: {written[:40]!r} is out of range")
    return parsed


def optional_moment(value: Any, what: str) -> datetime | None:
    return None if value is None else moment(value, what)


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _shown(value: Any) -> str:
    return repr(value)[:40] if isinstance(value, int | float | str | bool) else _type(value)
