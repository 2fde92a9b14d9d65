"""State files that are valid JSON and hostile: each must be set aside, never crash a reader."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from monitor.window import watch

START = datetime(2025, 1, 23, 10, tzinfo=UTC)
DEEP = 200_000
CASES = ("infinite number", "deep nesting", "no time zone", "year 9999", "wrong type")


def _deep() -> str:
    return "[" * DEEP + "]" * DEEP


def watch_file(case: str) -> bytes:
    """watch.json as the daemon writes it, with one hostile value (`case` of CASES)."""
    data: dict[str, Any] = watch.watch_to_json(watch.begin(START))
    text: str | None = None
    if case == "infinite number":
        text = json.dumps(data).replace('"samples": 0', '"samples": 1e999')
    elif case == "deep nesting":
        text = json.dumps(data).replace('"indexes": {}', f'"indexes": {_deep()}')
    elif case == "no time zone":
        data["start"] = "2025-01-23T10:00:00"
    elif case == "year 9999":
        data["start"] = "9999-12-31T00:00:00+00:00"
    elif case == "wrong type":
        data["peaks"]["longest_transaction_seconds"] = "NaN"
    return (text or json.dumps(data)).encode()


def history_file(case: str) -> bytes:
    """history.json with one drift record carrying one hostile value."""
    record: dict[str, Any] = {
        "kind": "index",
        "change": "missing",
        "severity": "critical",
        "schema": "public",
        "table": "integrations",
        "name": "idx_active_integrations",
        "message": "index missing",
        "first_seen": START.isoformat(),
        "last_seen": START.isoformat(),
        "resolved_at": None,
        "occurrences": 1,
    }
    text: str | None = None
    if case == "infinite number":
        text = json.dumps([record]).replace('"occurrences": 1', '"occurrences": 1e999')
    elif case == "deep nesting":
        text = json.dumps([record]).replace('"resolved_at": null', f'"resolved_at": {_deep()}')
    elif case == "no time zone":
        record["first_seen"] = "2025-01-23T10:00:00"
    elif case == "year 9999":
        record["last_seen"] = "9999-12-31T23:59:59+00:00"
    elif case == "wrong type":
        record["schema"] = 5
    return (text or json.dumps([record])).encode()


FILES: dict[str, Callable[[str], bytes]] = {"watch.json": watch_file, "history.json": history_file}
