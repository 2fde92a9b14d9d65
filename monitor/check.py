"""The one-shot check: connect, snapshot, diff, and the findings written for people or tools.

`schema-monitor check` and the demo use it; it never passes through the daemon's or the
window's rooms.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TextIO

from monitor.postgres import catalog, db
from monitor.schema import diff
from monitor.schema.model import Finding, Severity, State

_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def run_check(expected: State, dsn: str) -> tuple[Finding, ...]:
    """One check of a live database against a spec: connect, snapshot, diff."""
    ledger_table = expected.ledger.table if expected.ledger else None
    with db.connect(dsn) as conn:
        snap = catalog.snapshot(conn, [s.name for s in expected.schemas], ledger_table)
    findings = diff.diff(expected, snap.state, skipped=snap.skipped)
    return diff.explain_unread_ledger(findings, snap.ledger_problem)


def failing(findings: Iterable[Finding], threshold: Severity) -> bool:
    """Whether any finding is at or above `threshold` (`--fail-on`)."""
    rank = _SEVERITY_RANK[threshold]
    return any(_SEVERITY_RANK[f.severity] >= rank for f in findings)


def check_json(findings: Sequence[Finding], *, ok: bool) -> dict[str, object]:
    summary = {severity.value: 0 for severity in Severity}
    for finding in findings:
        summary[finding.severity.value] += 1
    return {"ok": ok, "findings": [f.as_json() for f in findings], "summary": summary}


_COLOURS = {Severity.CRITICAL: "\033[31m", Severity.WARNING: "\033[33m", Severity.INFO: "\033[36m"}


def print_findings(findings: Sequence[Finding], out: TextIO) -> None:
    """Findings for people: grouped by table, coloured on a terminal."""
    colour = out.isatty() and not os.environ.get("NO_COLOR")
    if not findings:
        print("no drift: the database matches the spec", file=out)
        return
    group = None
    for finding in findings:
        heading = f"{finding.schema}.{finding.table}" if finding.table else finding.schema
        if finding.kind == "migration":
            heading = "migrations"
        if heading != group:
            group = heading
            print(f"\n{heading}", file=out)
        label = f"{finding.severity.value:<8}"
        if colour:
            label = f"{_COLOURS[finding.severity]}{label}\033[0m"
        print(f"  {label} {finding.message}", file=out)
    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    total = ", ".join(f"{n} {s.value}" for s, n in counts.items())
    print(f"\n{len(findings)} finding{'s' if len(findings) != 1 else ''}: {total}", file=out)
