"""The repair script as psql runs it: a header that says what it does and what it leaves,
then the planner's statements phase by phase."""

from __future__ import annotations

from collections.abc import Sequence

from monitor.schema.model import Finding, State
from monitor.schema.quote import literal
from monitor.schema.repair.columns import REFUSE, REFUSE_DEFINITION
from monitor.schema.repair.plan import Options, Plan, Step, plan
from monitor.schema.repair.statements import Phase, Safety, comment

_PHASE_HEADINGS = {
    Phase.LABELS: (
        "-- 0. Enum labels, committed first: a label cannot be used in the transaction that\n"
        "--    adds it."
    ),
    Phase.BEFORE: (
        "-- 1. What others are made of and what hangs on tables (columns, row level security,\n"
        "--    policies, triggers, views), at once."
    ),
    Phase.CONCURRENT: (
        "-- 2. Indexes, CONCURRENTLY (never in a transaction block): they wait for running\n"
        "--    transactions without blocking reads or writes, so no lock_timeout here."
    ),
    Phase.AFTER: (
        "-- 3. Constraints (adopting the indexes built above), index renames, drops, and what\n"
        "--    relies on them, at once."
    ),
    Phase.VALIDATE: (
        "-- 4. Constraint validation, one at a time: a scan that lets reads and writes through."
    ),
}
_TRANSACTIONAL = (Phase.LABELS, Phase.BEFORE, Phase.AFTER)


def script(
    findings: Sequence[Finding],
    expected: State,
    *,
    allow_data_loss: bool = False,
    lock_timeout: str | None = None,
    source: str | None = None,
    options: Options | None = None,
) -> str:
    """A psql-ready repair script for `findings` (see :mod:`plan` for the order)."""
    options = options or Options(allow_data_loss=allow_data_loss)
    if lock_timeout is not None:
        options = Options(
            options.allow_data_loss, options.restore_narrowed, options.fail_on, lock_timeout
        )
    header = [
        "-- Repair script written by schema-monitor"
        + (f" from the spec {source}" if source else ""),
        "-- Review it, then run: psql -v ON_ERROR_STOP=1 -f THIS_FILE",
    ]
    if not findings:
        return "\n".join([*header, "-- no drift: nothing to repair", ""])
    planned = plan(findings, expected, options)
    out = [*header, *_summary(planned)]
    out += [
        f"SET lock_timeout = {literal(options.lock_timeout)};",
        "SET check_function_bodies = off;  -- bodies are checked when called, as pg_dump does",
    ]
    if any(REFUSE in s.statement.sql and not s.held for s in planned.steps):
        out += ["-- Stops the script where a conversion would change a value:", REFUSE_DEFINITION]
    for phase in Phase:
        steps = [s for s in planned.steps if s.phase is phase]
        if steps:
            out += ["", *_phase(phase, steps, options.lock_timeout)]
    return "\n".join(out) + "\n"


def _summary(planned: Plan) -> list[str]:
    counts = ", ".join(f"{planned.count(safety)} {safety}" for safety in Safety)
    lines = [f"-- Statements: {counts}."]
    held = planned.held
    if held:
        lines.append(
            f"-- {held} statement(s) written commented out: they may lose data, or need one "
            "that may (--allow-data-loss writes them)."
        )
    if planned.not_repaired:
        lines.append("-- Not repaired by this script:")
        lines += [
            comment(f"{finding.message}: {why}", "--   ") for finding, why in planned.not_repaired
        ]
    return lines


def _choice(sql: str, condition: str, instead: str) -> list[str]:
    """psql picks `instead` when `condition` holds on the database it runs on."""
    return [
        f"SELECT coalesce({condition}, false) AS {_CHOICE} \\gset",
        f"\\if :{_CHOICE}",
        instead,
        "\\else",
        sql,
        "\\endif",
    ]


_CHOICE = "schema_monitor_instead"


def _phase(phase: Phase, steps: Sequence[Step], lock_timeout: str) -> list[str]:
    transactional = phase in _TRANSACTIONAL
    out = [_PHASE_HEADINGS[phase]]
    if transactional:
        out.append("BEGIN;")
    if phase is Phase.CONCURRENT:
        out.append("SET lock_timeout = 0;")
    last: Finding | None = None
    for step in steps:
        for finding in step.findings:
            if finding is not last:
                out.append(comment(finding.message))
                last = finding
        if step.statement.safety is Safety.LOCKING:
            out.append("-- locking: blocks writes to the table while it scans or rewrites")
        if step.held:
            out.append(comment(step.statement.sql) + f"  -- held: {step.held}")
        elif step.statement.instead is not None:
            out += _choice(step.statement.sql, *step.statement.instead)
        else:
            out.append(step.statement.sql)
    if transactional:
        out.append("COMMIT;")
    if phase is Phase.CONCURRENT:
        out.append(f"SET lock_timeout = {literal(lock_timeout)};")
    return out
