"""Fix SQL: the statements that bring a drifted object back to what the spec says.

Pure: each fix is computed from the finding and the spec's expected object,
never from the database, so the script can be reviewed (and kept with the
incident) before anyone runs it. The script orders its statements so that
running it hurts as little as possible:

1. one transaction for what is quick and transactional (tables, columns, RLS,
   policies, triggers), under a ``lock_timeout`` so that a queued lock never
   stalls the traffic behind it;
2. index builds and drops ``CONCURRENTLY``, each on its own (they refuse a
   transaction block), allowed to wait for running transactions since they
   block no reads or writes while they do;
3. one transaction for constraints (a unique or primary key one adopts the
   index built in step 2) and index renames;
4. ``VALIDATE CONSTRAINT`` one by one: a full scan under a lock that lets
   reads and writes through (constraints are added ``NOT VALID`` in step 3).

What would lose data (dropping an unexpected table or column) is written
commented out, for a person to decide, unless asked otherwise.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import IntEnum
from typing import Any

from monitor.schema import hashed, normalize
from monitor.schema.model import (
    PUBLIC_ROLE,
    Change,
    Column,
    Constraint,
    ConstraintType,
    Finding,
    Function,
    Grant,
    Index,
    Kind,
    Policy,
    Rls,
    Schema,
    State,
    Table,
    Trigger,
    by_name,
)
from monitor.schema.quote import (
    NotAName,
    function_call,
    function_parts,
    function_signature,
    ident,
    literal,
    qualified,
    table_name,
)

DEFAULT_LOCK_TIMEOUT = "5s"
_MAX_IDENTIFIER = 63


class Phase(IntEnum):
    BEFORE = 0  # one transaction: tables, columns, RLS, policies, triggers
    CONCURRENT = 1  # each alone, outside any transaction block
    AFTER = 2  # one transaction: constraints, index renames
    VALIDATE = 3  # each alone: VALIDATE CONSTRAINT


# Order inside a phase: what others depend on comes first.
_STEP = {
    # BEFORE: what others are made of first, what refers to them after.
    "extension": 0,
    "type": 0,
    "create table": 1,
    "sequence": 2,
    "column": 2,
    "function": 3,
    "rls": 4,
    "policy": 5,
    "trigger": 6,
    "view": 7,
    "index": 8,
    "privilege": 9,
    "owner": 10,
    "grant after owner": 11,
    # AFTER
    "drop constraint": 0,
    "rename index": 1,
    "primary key": 2,
    "unique": 3,
    "exclude": 4,
    "check": 5,
    "foreign key": 6,
    "data loss": 9,
}


@dataclasses.dataclass(frozen=True, slots=True)
class Statement:
    sql: str  # one statement, ending with ";"
    phase: Phase = Phase.BEFORE
    step: str = "column"
    data_loss: bool = False  # written commented out unless asked


@dataclasses.dataclass(frozen=True, slots=True)
class Fix:
    statements: tuple[Statement, ...] = ()
    note: str | None = None  # why there is no statement, or what it cannot restore

    def lines(self, *, allow_data_loss: bool = False) -> list[str]:
        """The fix as it appears in JSON: statements, the ones losing data commented out."""
        lines = [_written(s, allow_data_loss) for s in self.statements]
        if self.note:
            lines.append(comment(self.note))
        return lines


def _written(statement: Statement, allow_data_loss: bool) -> str:
    if statement.data_loss and not allow_data_loss:
        return comment(statement.sql) + "  -- destructive: review, then uncomment"
    return statement.sql


def comment(text: str, prefix: str = "-- ") -> str:
    """`text` as SQL comment lines: a message may hold line breaks (a deparsed policy)."""
    return "\n".join(prefix + line for line in text.splitlines() or [""])


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
    schema = expected.schema(finding.schema) or Schema(finding.schema)
    if finding.kind in _SECURITY_FIXERS:
        return _SECURITY_FIXERS[finding.kind](finding, schema, expected)
    table = schema.table(finding.table) if finding.table else None
    if finding.change is Change.UNEXPECTED:
        return _drop(finding)
    if finding.kind is Kind.TABLE:
        if table is None:
            return Fix(note="the spec does not describe this table")
        return _create_table(schema.name, table)
    if table is None:
        return Fix(note="the spec does not describe the table")
    where = qualified(schema.name, table.name)
    maker = _FIXERS.get(finding.kind)
    if maker is None:
        return Fix(note=f"no repair is known for {finding.kind} drift")
    return maker(finding, schema.name, table, where)


# --- unexpected objects ----------------------------------------------------------------------


def _drop(finding: Finding) -> Fix:
    table = qualified(finding.schema, finding.table) if finding.table else None
    name = ident(finding.name)
    kind = finding.kind
    if kind is Kind.TABLE:
        return _one(f"DROP TABLE {qualified(finding.schema, finding.name)};", Phase.AFTER,
                    "data loss", data_loss=True)  # fmt: skip
    if kind is Kind.COLUMN and table:
        return _one(f"ALTER TABLE {table} DROP COLUMN {name};", Phase.AFTER, "data loss",
                    data_loss=True)  # fmt: skip
    if kind is Kind.INDEX:
        index = qualified(finding.schema, finding.name)
        return _one(f"DROP INDEX CONCURRENTLY IF EXISTS {index};", Phase.CONCURRENT, "index")
    if kind is Kind.POLICY and table:
        return _one(f"DROP POLICY IF EXISTS {name} ON {table};", Phase.BEFORE, "policy")
    if kind is Kind.TRIGGER and table:
        return _one(f"DROP TRIGGER IF EXISTS {name} ON {table};", Phase.BEFORE, "trigger")
    if kind is Kind.CONSTRAINT and table:
        return _one(
            f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name};", Phase.AFTER, "drop constraint"
        )
    return Fix(note=f"no repair is known for an unexpected {kind}")


def _one(sql: str, phase: Phase, step: str, *, data_loss: bool = False) -> Fix:
    return Fix((Statement(sql, phase, step, data_loss),))


# --- tables and columns ----------------------------------------------------------------------


def _create_table(schema: str, table: Table) -> Fix:
    if table.columns is None:
        return Fix(note="the spec lists no columns for this table: re-create it by hand")
    where = qualified(schema, table.name)
    columns = ",\n".join(f"    {column_definition(c)}" for c in table.columns)
    statements = [Statement(f"CREATE TABLE {where} (\n{columns}\n);", Phase.BEFORE, "create table")]
    # The table is new and empty: its indexes and keys need no CONCURRENTLY.
    for index in table.indexes or ():
        if index.constraint is None:
            statements.append(_create_index(schema, table.name, index, concurrently=False))
    for constraint in table.constraints or ():
        definition = constraint_definition(constraint)
        statements.append(
            Statement(
                f"ALTER TABLE {where} ADD CONSTRAINT {ident(constraint.name)} {definition};",
                Phase.AFTER,
                str(constraint.type),
            )
        )
    if table.rls is not None:
        statements.extend(_rls_statements(where, table.rls, Rls(enabled=False)))
    for policy in table.policies or ():
        statements.append(_create_policy(where, policy))
    for trigger in table.triggers or ():
        statements.extend(_create_trigger(where, trigger))
    return Fix(tuple(statements))


def column_definition(column: Column) -> str:
    parts = [ident(column.name), column.type]
    if column.generated is not None:
        parts.append(f"GENERATED ALWAYS AS ({column.generated}) STORED")
    if column.identity is not None:
        parts.append(f"GENERATED {column.identity.upper()} AS IDENTITY")
    if column.default is not None:
        parts.append(f"DEFAULT {column.default}")
    if not column.nullable:
        parts.append("NOT NULL")
    return " ".join(parts)


def _column_fix(finding: Finding, schema: str, table: Table, where: str) -> Fix:
    if table.columns is None:
        return Fix(note="the spec lists no columns for this table")
    if finding.name == "(column order)":
        return Fix(
            note="column order cannot be changed in place; only re-creating the table "
            "restores it (a copy of its rows): left to you"
        )
    column = by_name(table.columns).get(finding.name)
    if column is None:
        return Fix(note="the spec does not list this column")
    if finding.change is Change.MISSING:
        listed = [c.name for c in table.columns]
        note = None
        if listed[-1] != column.name:
            note = "the column comes back at the end of the table, not in its place"
        statement = f"ALTER TABLE {where} ADD COLUMN IF NOT EXISTS {column_definition(column)};"
        return Fix((Statement(statement, Phase.BEFORE, "column"),), note)
    actual = finding.actual if isinstance(finding.actual, dict) else {}
    return Fix(tuple(_column_changes(where, column, actual)), _column_note(column, actual))


def _column_changes(where: str, column: Column, actual: dict[str, Any]) -> Iterator[Statement]:
    alter = f"ALTER TABLE {where} ALTER COLUMN {ident(column.name)}"
    if not normalize.same_type(column.type, actual.get("type") or ""):
        # The USING cast says what the rewrite does; a value that does not fit stops it.
        yield Statement(
            f"{alter} TYPE {column.type} USING {ident(column.name)}::{column.type};",
            Phase.BEFORE,
            "column",
        )
    if not normalize.same_expression(
        column.default, actual.get("default"), column_type=column.type
    ):
        sql = f"{alter} DROP DEFAULT;" if column.default is None else (
            f"{alter} SET DEFAULT {column.default};"
        )  # fmt: skip
        yield Statement(sql, Phase.BEFORE, "column")
    if column.nullable != actual.get("nullable", column.nullable):
        sql = f"{alter} DROP NOT NULL;" if column.nullable else f"{alter} SET NOT NULL;"
        yield Statement(sql, Phase.BEFORE, "column")


def _column_note(column: Column, actual: dict[str, Any]) -> str | None:
    if column.identity != actual.get("identity") or not normalize.same_expression(
        column.generated, actual.get("generated")
    ):
        return "identity and generated columns are not changed in place: left to you"
    return None


# --- constraints -----------------------------------------------------------------------------


def constraint_definition(constraint: Constraint) -> str:
    columns = ", ".join(ident(c) for c in constraint.columns)
    kind = constraint.type
    if kind is ConstraintType.PRIMARY_KEY:
        text = f"PRIMARY KEY ({columns})"
    elif kind is ConstraintType.UNIQUE:
        text = f"UNIQUE ({columns})"
    elif kind is ConstraintType.CHECK:
        text = f"CHECK ({constraint.check})"
    elif kind is ConstraintType.EXCLUDE:
        text = constraint.check or ""
    else:
        text = f"FOREIGN KEY ({columns})" + _references(constraint)
    if constraint.deferrable:
        text += " DEFERRABLE"
        if constraint.deferred:
            text += " INITIALLY DEFERRED"
    return text


def _references(constraint: Constraint) -> str:
    target = constraint.references
    if target is None:
        return ""
    text = f" REFERENCES {table_name(target.table)}"
    if target.columns:
        text += " (" + ", ".join(ident(c) for c in target.columns) + ")"
    if target.match.upper() != "SIMPLE":
        text += f" MATCH {target.match.upper()}"
    if target.on_update.upper() != "NO ACTION":
        text += f" ON UPDATE {target.on_update.upper()}"
    if target.on_delete.upper() != "NO ACTION":
        text += f" ON DELETE {target.on_delete.upper()}"
    return text


def _constraint_fix(finding: Finding, schema: str, table: Table, where: str) -> Fix:
    constraint = by_name(table.constraints or ()).get(finding.name)
    if constraint is None:
        return Fix(note="the spec does not list this constraint")
    name = ident(constraint.name)
    statements = []
    if finding.change is not Change.MISSING:
        statements.append(
            Statement(
                f"ALTER TABLE {where} DROP CONSTRAINT IF EXISTS {name};",
                Phase.AFTER,
                "drop constraint",
            )
        )
    statements.extend(_add_constraint(schema, table.name, where, constraint))
    return Fix(tuple(statements))


def _add_constraint(
    schema: str, table: str, where: str, constraint: Constraint
) -> Iterator[Statement]:
    name, kind = ident(constraint.name), constraint.type
    step = str(kind)
    if kind in (ConstraintType.PRIMARY_KEY, ConstraintType.UNIQUE):
        # Build the index without blocking writes, then let the constraint adopt it
        # (ADD CONSTRAINT ... USING INDEX renames it to the constraint's name).
        building = _temporary_name(constraint.name)
        index = Index(building, constraint.columns, unique=True)
        yield _create_index(schema, table, index, concurrently=True)
        keyword = "PRIMARY KEY" if kind is ConstraintType.PRIMARY_KEY else "UNIQUE"
        deferral = constraint_definition(dataclasses.replace(constraint, columns=()))
        deferral = deferral.partition(")")[2]  # only " DEFERRABLE ..." if any
        yield Statement(
            f"ALTER TABLE {where} ADD CONSTRAINT {name} {keyword} USING INDEX "
            f"{ident(building)}{deferral};",
            Phase.AFTER,
            step,
        )
        return
    if kind is ConstraintType.EXCLUDE:
        definition = constraint_definition(constraint)
        yield Statement(
            f"ALTER TABLE {where} ADD CONSTRAINT {name} {definition};", Phase.AFTER, step
        )
        return
    definition = constraint_definition(constraint)
    # NOT VALID takes its lock for an instant; the scan happens in VALIDATE, which lets
    # reads and writes through.
    yield Statement(
        f"ALTER TABLE {where} ADD CONSTRAINT {name} {definition} NOT VALID;", Phase.AFTER, step
    )
    if constraint.validated:
        yield Statement(f"ALTER TABLE {where} VALIDATE CONSTRAINT {name};", Phase.VALIDATE, step)


def _temporary_name(name: str) -> str:
    suffix = "_repair"
    return name[: _MAX_IDENTIFIER - len(suffix)] + suffix


# --- indexes ---------------------------------------------------------------------------------


def index_definition(schema: str, table: str, index: Index, *, concurrently: bool) -> str:
    unique = "UNIQUE " if index.unique else ""
    how = "CONCURRENTLY " if concurrently else ""
    method = "" if index.method.lower() == "btree" else f" USING {ident(index.method.lower())}"
    text = (
        f"CREATE {unique}INDEX {how}IF NOT EXISTS {ident(index.name)} ON "
        f"{qualified(schema, table)}{method} ({', '.join(index.columns)})"
    )
    if index.include:
        text += f" INCLUDE ({', '.join(index.include)})"
    if index.where is not None:
        text += f" WHERE {index.where}"
    return text + ";"


def _create_index(schema: str, table: str, index: Index, *, concurrently: bool) -> Statement:
    phase = Phase.CONCURRENT if concurrently else Phase.BEFORE
    return Statement(
        index_definition(schema, table, index, concurrently=concurrently), phase, "index"
    )


def _index_fix(finding: Finding, schema: str, table: Table, where: str) -> Fix:
    index = by_name(table.indexes or ()).get(finding.name)
    if index is None:
        return Fix(note="the spec does not list this index")
    qualified_index = qualified(schema, index.name)
    if finding.change is Change.MISSING:
        return Fix((_create_index(schema, table.name, index, concurrently=True),))
    if finding.change is Change.INVALID:
        return _one(f"REINDEX INDEX CONCURRENTLY {qualified_index};", Phase.CONCURRENT, "index")
    # Changed: build the expected one beside it, then swap, so the table is never without.
    building = dataclasses.replace(index, name=_temporary_name(index.name))
    return Fix(
        (
            _create_index(schema, table.name, building, concurrently=True),
            Statement(
                f"DROP INDEX CONCURRENTLY IF EXISTS {qualified_index};", Phase.CONCURRENT, "index"
            ),
            Statement(
                f"ALTER INDEX {qualified(schema, building.name)} RENAME TO {ident(index.name)};",
                Phase.AFTER,
                "rename index",
            ),
        )
    )


# --- row level security and policies ----------------------------------------------------------


def _rls_statements(where: str, expected: Rls, actual: Rls) -> Iterator[Statement]:
    if expected.enabled != actual.enabled:
        switch = "ENABLE" if expected.enabled else "DISABLE"
        yield Statement(f"ALTER TABLE {where} {switch} ROW LEVEL SECURITY;", Phase.BEFORE, "rls")
    if expected.forced != actual.forced:
        switch = "FORCE" if expected.forced else "NO FORCE"
        yield Statement(f"ALTER TABLE {where} {switch} ROW LEVEL SECURITY;", Phase.BEFORE, "rls")


def _rls_fix(finding: Finding, schema: str, table: Table, where: str) -> Fix:
    if table.rls is None:
        return Fix(note="the spec does not say whether row level security is on")
    live = finding.actual if isinstance(finding.actual, dict) else {}
    actual = Rls(bool(live.get("enabled")), bool(live.get("forced")))
    return Fix(tuple(_rls_statements(where, table.rls, actual)))


def policy_definition(where: str, policy: Policy) -> str:
    roles = ", ".join(
        "PUBLIC" if role.lower() == "public" else ident(role) for role in sorted(policy.roles)
    )
    kind = "PERMISSIVE" if policy.permissive else "RESTRICTIVE"
    text = (
        f"CREATE POLICY {ident(policy.name)} ON {where} AS {kind} FOR {policy.command} TO {roles}"
    )
    if policy.using is not None:
        text += f"\n    USING ({policy.using})"
    if policy.with_check is not None:
        text += f"\n    WITH CHECK ({policy.with_check})"
    return text + ";"


def _create_policy(where: str, policy: Policy) -> Statement:
    return Statement(policy_definition(where, policy), Phase.BEFORE, "policy")


def _policy_fix(finding: Finding, schema: str, table: Table, where: str) -> Fix:
    policy = by_name(table.policies or ()).get(finding.name)
    if policy is None:
        return Fix(note="the spec does not list this policy")
    statements = []
    if finding.change is not Change.MISSING:
        # A policy's command and kind cannot be altered; dropping and creating it in one
        # transaction leaves no instant without it.
        statements.append(
            Statement(
                f"DROP POLICY IF EXISTS {ident(policy.name)} ON {where};", Phase.BEFORE, "policy"
            )
        )
    statements.append(_create_policy(where, policy))
    return Fix(tuple(statements))


# --- triggers --------------------------------------------------------------------------------

_ENABLE = {
    "origin": "ENABLE TRIGGER",
    "always": "ENABLE ALWAYS TRIGGER",
    "replica": "ENABLE REPLICA TRIGGER",
    "disabled": "DISABLE TRIGGER",
}


def trigger_definition(where: str, trigger: Trigger) -> str:
    events = []
    for event in trigger.events:
        spelled = event.upper()
        if spelled == "UPDATE" and trigger.columns:
            spelled = "UPDATE OF " + ", ".join(ident(c) for c in trigger.columns)
        events.append(spelled)
    text = (
        f"CREATE TRIGGER {ident(trigger.name)} {trigger.timing.upper()} {' OR '.join(events)}"
        f" ON {where} FOR EACH {trigger.level.upper()}"
    )
    if trigger.when is not None:
        text += f" WHEN ({trigger.when})"
    return text + f" EXECUTE FUNCTION {_function_call(trigger.function)};"


def _function_call(function: str) -> str:
    """The spec writes public functions unqualified; the script must not rely on search_path."""
    return function_call(function if function.rstrip().endswith(")") else f"{function}()")


def _create_trigger(where: str, trigger: Trigger) -> Iterator[Statement]:
    yield Statement(trigger_definition(where, trigger), Phase.BEFORE, "trigger")
    if trigger.enabled != "origin":
        yield _enable_trigger(where, trigger)


def _enable_trigger(where: str, trigger: Trigger) -> Statement:
    switch = _ENABLE[trigger.enabled]
    return Statement(
        f"ALTER TABLE {where} {switch} {ident(trigger.name)};", Phase.BEFORE, "trigger"
    )


def _trigger_fix(finding: Finding, schema: str, table: Table, where: str) -> Fix:
    trigger = by_name(table.triggers or ()).get(finding.name)
    if trigger is None:
        return Fix(note="the spec does not list this trigger")
    if finding.change is Change.MISSING:
        return Fix(tuple(_create_trigger(where, trigger)))
    live = finding.actual if isinstance(finding.actual, dict) else {}
    if live and _only_enabled_differs(trigger, live):
        return Fix((_enable_trigger(where, trigger),))
    drop = Statement(
        f"DROP TRIGGER IF EXISTS {ident(trigger.name)} ON {where};", Phase.BEFORE, "trigger"
    )
    return Fix((drop, *_create_trigger(where, trigger)))


def _only_enabled_differs(trigger: Trigger, live: dict[str, Any]) -> bool:
    return _trigger_differences(trigger, live) == ["enabled"]


def _trigger_differences(trigger: Trigger, live: dict[str, Any]) -> list[str]:
    """Fields of the expected trigger that the live one (as described in the finding) lacks."""
    differ = []
    for name in ("timing", "events", "level", "columns", "enabled"):
        expected = getattr(trigger, name)
        value = live.get(name)
        if isinstance(expected, tuple):
            expected = [str(v).upper() for v in expected]
            value = [str(v).upper() for v in value or []]
        elif isinstance(expected, str) and name != "enabled":
            expected, value = expected.upper(), str(value).upper()
        if expected != value:
            differ.append(name)
    if not normalize.same_expression(trigger.when, live.get("when")):
        differ.append("when")
    try:
        live_call = _function_call(live.get("function") or "")
    except NotAName:
        live_call = ""
    if not normalize.same_expression(_function_call(trigger.function), live_call):
        differ.append("function")
    return differ


_FIXERS = {
    Kind.COLUMN: _column_fix,
    Kind.CONSTRAINT: _constraint_fix,
    Kind.INDEX: _index_fix,
    Kind.RLS: _rls_fix,
    Kind.POLICY: _policy_fix,
    Kind.TRIGGER: _trigger_fix,
}


# --- the script ------------------------------------------------------------------------------


def script(
    findings: Sequence[Finding],
    expected: State,
    *,
    allow_data_loss: bool = False,
    lock_timeout: str = DEFAULT_LOCK_TIMEOUT,
    source: str | None = None,
) -> str:
    """A psql-ready repair script for `findings`, in the safe order described above."""
    fixes = [(finding, fix(finding, expected)) for finding in findings]
    header = [
        "-- Repair script written by schema-monitor"
        + (f" from the spec {source}" if source else ""),
        "-- Review it, then run: psql -v ON_ERROR_STOP=1 -f THIS_FILE",
    ]
    if not findings:
        return "\n".join([*header, "-- no drift: nothing to repair", ""])
    lossy = sum(1 for _, f in fixes for s in f.statements if s.data_loss)
    if lossy and not allow_data_loss:
        header.append(
            f"-- {lossy} destructive statement(s) (dropping a table, column or other object) "
            "are commented out "
            "(--allow-data-loss writes them)"
        )
    out = [*header, f"SET lock_timeout = {literal(lock_timeout)};"]
    for phase in Phase:
        entries = sorted(
            (
                (_STEP[s.step], position, finding, s)
                for position, (finding, f) in enumerate(fixes)
                for s in f.statements
                if s.phase is phase
            ),
            key=lambda entry: (entry[0], entry[1]),
        )
        if entries:
            out.append("")
            out.extend(_phase(phase, [(finding, s) for _, _, finding, s in entries],
                              allow_data_loss, lock_timeout))  # fmt: skip
    notes = [(finding, f.note) for finding, f in fixes if f.note]
    if notes:
        out += ["", "-- Not repaired by this script:"]
        out += [comment(f"{finding.message}: {note}", "--   ") for finding, note in notes]
    return "\n".join(out) + "\n"


_PHASE_HEADINGS = {
    Phase.BEFORE: "-- 1. Tables, columns, row level security, policies and triggers, at once.",
    Phase.CONCURRENT: (
        "-- 2. Indexes, CONCURRENTLY (never in a transaction block): they wait for running\n"
        "--    transactions without blocking reads or writes, so no lock_timeout here."
    ),
    Phase.AFTER: "-- 3. Constraints (adopting the indexes built above) and index renames, at once.",
    Phase.VALIDATE: (
        "-- 4. Constraint validation, one at a time: a scan that lets reads and writes through."
    ),
}


def _phase(
    phase: Phase,
    entries: Iterable[tuple[Finding, Statement]],
    allow_data_loss: bool,
    lock_timeout: str,
) -> list[str]:
    transactional = phase in (Phase.BEFORE, Phase.AFTER)
    out = [_PHASE_HEADINGS[phase]]
    if transactional:
        out.append("BEGIN;")
    if phase is Phase.CONCURRENT:
        out.append("SET lock_timeout = 0;")
    last: Finding | None = None
    for finding, statement in entries:
        if finding is not last:
            out.append(comment(finding.message))
            last = finding
        out.append(_written(statement, allow_data_loss))
    if transactional:
        out.append("COMMIT;")
    if phase is Phase.CONCURRENT:
        out.append(f"SET lock_timeout = {literal(lock_timeout)};")
    return out


# --- the security surface: privileges, owners, functions, views, types, sequences ------------

_GRANT_TARGETS = {
    "table": "TABLE",
    "view": "TABLE",
    "sequence": "SEQUENCE",
    "function": "FUNCTION",
    "type": "TYPE",
    "schema": "SCHEMA",
}
_DEFAULT_PRIVILEGES = re.compile(r"\(default privileges on (\w+) of (.+)\)")


def _role(name: str) -> str:
    return "PUBLIC" if name.lower() == PUBLIC_ROLE else ident(name)


def _object_name(object_type: str, schema: str, target: dict[str, Any]) -> str:
    """The object of a finding's ``object`` field (``schema.name``) for SQL, never cut at a
    dot or a parenthesis: a function is rebuilt from its signature's parts."""
    if object_type == "schema":
        return ident(schema)
    name = str(target.get("object") or "").removeprefix(f"{schema}.")
    if object_type == "function":
        return function_signature(schema, name)
    return qualified(schema, name)


def _held(privileges: Iterable[str]) -> dict[str, bool]:
    """["SELECT", "UPDATE WITH GRANT OPTION"] -> {"SELECT": False, "UPDATE": True}."""
    held: dict[str, bool] = {}
    for text in privileges:
        privilege, grantable, _ = text.partition(" WITH GRANT OPTION")
        held[privilege] = bool(grantable) or held.get(privilege, False)
    return held


def _privilege_fix(finding: Finding, schema: Schema, expected: State) -> Fix:
    want = finding.expected if isinstance(finding.expected, dict) else {}
    have = finding.actual if isinstance(finding.actual, dict) else {}
    object_type = str(want.get("object_type") or have.get("object_type") or "")
    grantee = _role(str(want.get("grantee") or have.get("grantee") or finding.name))
    column = want.get("column") or have.get("column")
    wanted, held = _held(want.get("privileges") or ()), _held(have.get("privileges") or ())
    columns = f" ({ident(str(column))})" if column else ""
    if object_type == "default privileges":
        match = _DEFAULT_PRIVILEGES.fullmatch(finding.table or "")
        if match is None:
            return Fix(note="the default privileges this finding is about cannot be told")
        on, owner = match.groups()
        prefix = f"ALTER DEFAULT PRIVILEGES FOR ROLE {ident(owner)} IN SCHEMA {ident(schema.name)} "
        target = on.upper()
    else:
        keyword = _GRANT_TARGETS.get(object_type)
        if keyword is None:
            return Fix(note=f"no repair is known for privileges on a {object_type}")
        prefix = ""
        target = f"{keyword} {_object_name(object_type, schema.name, want or have)}"
    statements = []
    for privilege, option in sorted(held.items()):
        if privilege not in wanted:
            sql = f"{prefix}REVOKE {privilege}{columns} ON {target} FROM {grantee};"
        elif option and not wanted[privilege]:
            sql = (
                f"{prefix}REVOKE GRANT OPTION FOR {privilege}{columns} ON {target} FROM {grantee};"
            )
        else:
            continue
        statements.append(Statement(sql, Phase.BEFORE, "privilege"))
    for privilege, option in sorted(wanted.items()):
        if privilege in held and held[privilege] >= option:
            continue
        grant_option = " WITH GRANT OPTION" if option else ""
        sql = f"{prefix}GRANT {privilege}{columns} ON {target} TO {grantee}{grant_option};"
        statements.append(Statement(sql, Phase.BEFORE, "privilege"))
    return Fix(tuple(statements))


_ALTER_OWNER = {
    "table": "TABLE",
    "view": "VIEW",
    "sequence": "SEQUENCE",
    "function": "FUNCTION",
    "type": "TYPE",
    "schema": "SCHEMA",
}


def _owner_fix(finding: Finding, schema: Schema, expected: State) -> Fix:
    want = finding.expected if isinstance(finding.expected, dict) else {}
    object_type, owner = str(want.get("object_type", "")), want.get("owner")
    keyword = _ALTER_OWNER.get(object_type)
    if keyword is None or not owner:
        return Fix(note=f"no repair is known for the owner of a {object_type}")
    if object_type == "view" and any(
        v.materialized and v.name == finding.table for v in schema.views or ()
    ):
        keyword = "MATERIALIZED VIEW"
    name = _object_name(object_type, schema.name, want)
    sql = f"ALTER {keyword} {name} OWNER TO {ident(str(owner))};"
    # The new owner took over the ACL entries of the old; a role that held grants and
    # then owned the object loses them when ownership goes back: grant them again.
    grants = _spec_grants(object_type, finding.table, schema) or frozenset()
    target = _GRANT_TARGETS[object_type]
    again = _grants_of(target, name, (g for g in grants if g.grantee != owner), "grant after owner")
    return Fix((Statement(sql, Phase.BEFORE, "owner"), *again))


def _spec_grants(object_type: str, name: str | None, schema: Schema) -> frozenset[Grant] | None:
    if object_type == "schema":
        return schema.grants
    collections: dict[str, Iterable[Any] | None] = {
        "table": schema.tables,
        "view": schema.views,
        "function": schema.functions,
        "type": schema.types,
        "sequence": schema.sequences,
    }
    found = _named(collections.get(object_type), name or "", normalize_signature=True)
    grants: frozenset[Grant] | None = getattr(found, "grants", None)
    return grants


def _dollar_quoted(body: str) -> str:
    tag = "$fn$"
    while tag in body:
        tag = f"${tag.strip('$')}_$"
    return f"{tag}{body}{tag}"


def _setting(key: str, value: str) -> str:
    if key == "search_path":
        # proconfig keeps the list as SQL would write it, but '' as a quoted empty name.
        return f"SET search_path = {value}" if value != '""' else "SET search_path = ''"
    return f"SET {ident(key)} = {literal(value)}"


def function_definition(schema: str, function: Function) -> str:
    name, types = function_parts(function.name)
    arguments = function.arguments if function.arguments is not None else ", ".join(types)
    procedure = function.kind == "procedure"
    lines = [
        f"CREATE OR REPLACE {'PROCEDURE' if procedure else 'FUNCTION'} "
        f"{qualified(schema, name)}({arguments})"
    ]
    if not procedure and function.returns:
        lines.append(f"RETURNS {function.returns}")
    lines.append(f"LANGUAGE {function.language}")
    if not procedure:
        lines.append(function.volatility.upper())
        if function.strict:
            lines.append("STRICT")
        if function.leakproof:
            lines.append("LEAKPROOF")
    lines.append("SECURITY DEFINER" if function.security_definer else "SECURITY INVOKER")
    lines += [_setting(key, value) for key, value in function.settings]
    body = function.body or ""
    atomic = body.lstrip().upper().startswith("BEGIN ATOMIC")
    lines.append(body if atomic else f"AS {_dollar_quoted(body)}")
    return "\n".join(lines) + ";"


def _grants_of(
    keyword: str, name: str, grants: Iterable[Grant], step: str = "privilege"
) -> Iterator[Statement]:
    by_grantee: dict[str, dict[str, bool]] = {}
    for grant in grants:
        held = by_grantee.setdefault(grant.grantee, {})
        key = f"{grant.privilege}" + (f" ({ident(grant.column)})" if grant.column else "")
        held[key] = held.get(key, False) or grant.grantable
    for grantee, held in sorted(by_grantee.items()):
        for option in (False, True):
            privileges = sorted(p for p, o in held.items() if o is option)
            if privileges:
                suffix = " WITH GRANT OPTION" if option else ""
                to = f"{_role(grantee)}{suffix}"
                yield Statement(
                    f"GRANT {', '.join(privileges)} ON {keyword} {name} TO {to};",
                    Phase.BEFORE,
                    step,
                )


def _function_fix(finding: Finding, schema: Schema, expected: State) -> Fix:
    if finding.change is Change.UNEXPECTED:
        name = function_signature(schema.name, finding.name)
        return _one(f"DROP FUNCTION IF EXISTS {name};", Phase.AFTER, "data loss", data_loss=True)
    function = _named(schema.functions, finding.name, normalize_signature=True)
    if function is None or function.body is None:
        return Fix(note="the spec does not hold this function's definition")
    statements = [Statement(function_definition(schema.name, function), Phase.BEFORE, "function")]
    if finding.change is Change.MISSING:
        # A new function is executable by PUBLIC and owned by whoever runs the script.
        name = function_signature(schema.name, function.name)
        statements.append(
            Statement(f"REVOKE ALL ON FUNCTION {name} FROM PUBLIC;", Phase.BEFORE, "privilege")
        )
        statements.extend(_grants_of("FUNCTION", name, function.grants or ()))
        if function.owner:
            statements.append(
                Statement(
                    f"ALTER FUNCTION {name} OWNER TO {ident(function.owner)};",
                    Phase.BEFORE,
                    "owner",
                )
            )
    return Fix(tuple(statements))


def _named(items: Iterable[Any] | None, name: str, *, normalize_signature: bool = False) -> Any:
    def key(text: str) -> str:
        return "".join(text.split()).lower() if normalize_signature else text

    return next((item for item in items or () if key(item.name) == key(name)), None)


def _view_fix(finding: Finding, schema: Schema, expected: State) -> Fix:
    name = qualified(schema.name, finding.name)
    view = _named(schema.views, finding.name)
    if finding.change is Change.UNEXPECTED:
        live = finding.actual if isinstance(finding.actual, dict) else {}
        keyword = "MATERIALIZED VIEW" if live.get("materialized") else "VIEW"
        return _one(f"DROP {keyword} IF EXISTS {name};", Phase.AFTER, "data loss", data_loss=True)
    if view is None:
        return Fix(note="the spec does not describe this view")
    if view.materialized:
        return Fix(note="a materialized view is re-created by hand (its data is refreshed)")
    statements = []
    if finding.change is Change.MISSING or (
        view.definition is not None and "definition" in finding.message
    ):
        if view.definition is None:
            return Fix(note="the spec does not hold this view's definition")
        statements.append(
            Statement(
                f"CREATE OR REPLACE VIEW {name} AS{view.definition.rstrip(';')};",
                Phase.BEFORE,
                "view",
            )
        )
    options = [
        f"security_invoker = {str(view.security_invoker).lower()}",
        f"security_barrier = {str(view.security_barrier).lower()}",
    ]
    statements.append(
        Statement(f"ALTER VIEW {name} SET ({', '.join(options)});", Phase.BEFORE, "view")
    )
    check = f"ALTER VIEW {name} " + (
        f"SET (check_option = {view.check_option})" if view.check_option else "RESET (check_option)"
    )
    statements.append(Statement(check + ";", Phase.BEFORE, "view"))
    if finding.change is Change.MISSING:
        statements.extend(_grants_of("TABLE", name, view.grants or ()))
    return Fix(tuple(statements))


def _type_fix(finding: Finding, schema: Schema, expected: State) -> Fix:
    name = qualified(schema.name, finding.name)
    if finding.change is Change.UNEXPECTED:
        return _one(f"DROP TYPE IF EXISTS {name};", Phase.AFTER, "data loss", data_loss=True)
    kind = _named(schema.types, finding.name)
    if kind is None:
        return Fix(note="the spec does not describe this type")
    if finding.change is Change.MISSING and kind.kind == "enum":
        labels = ", ".join(literal(label) for label in kind.labels)
        return _one(f"CREATE TYPE {name} AS ENUM ({labels});", Phase.BEFORE, "type")
    if kind.kind == "domain" and finding.change is not Change.MISSING:
        statements = []
        live = finding.actual if isinstance(finding.actual, dict) else {}
        for constraint in live.get("constraints") or ():
            statements.append(
                Statement(
                    f"ALTER DOMAIN {name} DROP CONSTRAINT IF EXISTS {ident(constraint['name'])};",
                    Phase.BEFORE,
                    "type",
                )
            )
        for constraint in kind.constraints:
            statements.append(
                Statement(
                    f"ALTER DOMAIN {name} ADD CONSTRAINT {ident(constraint.name)} "
                    f"CHECK ({constraint.check});",
                    Phase.BEFORE,
                    "type",
                )
            )
        return Fix(tuple(statements))
    return Fix(
        note="an enum label cannot be removed, nor a type changed in place: "
        "re-create the type and its columns by hand"
    )


def _sequence_fix(finding: Finding, schema: Schema, expected: State) -> Fix:
    name = qualified(schema.name, finding.name)
    if finding.change is Change.UNEXPECTED:
        return _one(f"DROP SEQUENCE IF EXISTS {name};", Phase.AFTER, "data loss", data_loss=True)
    sequence = _named(schema.sequences, finding.name)
    if sequence is None:
        return Fix(note="the spec does not describe this sequence")
    verb = "CREATE SEQUENCE IF NOT EXISTS" if finding.change is Change.MISSING else "ALTER SEQUENCE"
    parts = [f"{verb} {name} AS {sequence.type}", f"INCREMENT BY {sequence.increment}"]
    parts.append(f"MINVALUE {sequence.minimum}" if sequence.minimum is not None else "NO MINVALUE")
    parts.append(f"MAXVALUE {sequence.maximum}" if sequence.maximum is not None else "NO MAXVALUE")
    parts += [f"CACHE {sequence.cache}", "CYCLE" if sequence.cycle else "NO CYCLE"]
    return _one(" ".join(parts) + ";", Phase.BEFORE, "sequence")


def _extension_fix(finding: Finding, schema: Schema, expected: State) -> Fix:
    name = ident(finding.name)
    if finding.change is Change.UNEXPECTED:
        return _one(f"DROP EXTENSION IF EXISTS {name};", Phase.AFTER, "data loss", data_loss=True)
    extension = _named(expected.extensions, finding.name)
    if extension is None:
        return Fix(note="the spec does not describe this extension")
    if finding.change is Change.MISSING:
        version = f" VERSION {literal(extension.version)}" if extension.version else ""
        sql = f"CREATE EXTENSION IF NOT EXISTS {name} SCHEMA {ident(extension.schema)}{version};"
        return _one(sql, Phase.BEFORE, "extension")
    statements = [
        Statement(
            f"ALTER EXTENSION {name} SET SCHEMA {ident(extension.schema)};",
            Phase.BEFORE,
            "extension",
        )
    ]
    live = finding.actual if isinstance(finding.actual, dict) else {}
    if live.get("schema") == extension.schema:
        statements = []
    if extension.version and live.get("version") != extension.version:
        statements.append(
            Statement(
                f"ALTER EXTENSION {name} UPDATE TO {literal(extension.version)};",
                Phase.BEFORE,
                "extension",
            )
        )
    return Fix(tuple(statements))


def _publication_fix(finding: Finding, schema: Schema, expected: State) -> Fix:
    name = ident(finding.name)
    if finding.change is Change.UNEXPECTED:
        return _one(f"DROP PUBLICATION IF EXISTS {name};", Phase.AFTER, "data loss", data_loss=True)
    publication = _named(expected.publications, finding.name)
    if publication is None:
        return Fix(note="the spec does not describe this publication")
    if publication.all_tables:
        return Fix(note="a FOR ALL TABLES publication is re-created by hand")
    tables = ", ".join(table_name(t) for t in publication.tables)
    verb = "CREATE PUBLICATION" if finding.change is Change.MISSING else "ALTER PUBLICATION"
    clause = f"FOR TABLE {tables}" if verb.startswith("CREATE") else f"SET TABLE {tables}"
    if not publication.tables:
        return Fix(note="a publication of no table: drop its tables by hand")
    return _one(f"{verb} {name} {clause};", Phase.BEFORE, "extension")


def _event_trigger_fix(finding: Finding, schema: Schema, expected: State) -> Fix:
    name = ident(finding.name)
    if finding.change is Change.UNEXPECTED:
        return _one(f"DROP EVENT TRIGGER IF EXISTS {name};", Phase.AFTER, "data loss",
                    data_loss=True)  # fmt: skip
    trigger = _named(expected.event_triggers, finding.name)
    if trigger is None:
        return Fix(note="the spec does not describe this event trigger")
    if finding.change is Change.MISSING:
        tags = (
            f" WHEN TAG IN ({', '.join(literal(t) for t in trigger.tags)})" if trigger.tags else ""
        )
        sql = (f"CREATE EVENT TRIGGER {name} ON {trigger.event}{tags} "
               f"EXECUTE FUNCTION {function_call(trigger.function)};")  # fmt: skip
        return _one(sql, Phase.BEFORE, "trigger")
    switch = {"origin": "ENABLE", "always": "ENABLE ALWAYS", "replica": "ENABLE REPLICA",
              "disabled": "DISABLE"}[trigger.enabled]  # fmt: skip
    return _one(f"ALTER EVENT TRIGGER {name} {switch};", Phase.BEFORE, "trigger")


_SECURITY_FIXERS: dict[Kind, Callable[[Finding, Schema, State], Fix]] = {
    Kind.PRIVILEGE: _privilege_fix,
    Kind.OWNER: _owner_fix,
    Kind.FUNCTION: _function_fix,
    Kind.VIEW: _view_fix,
    Kind.TYPE: _type_fix,
    Kind.SEQUENCE: _sequence_fix,
    Kind.EXTENSION: _extension_fix,
    Kind.PUBLICATION: _publication_fix,
    Kind.EVENT_TRIGGER: _event_trigger_fix,
}
