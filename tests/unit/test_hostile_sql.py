"""Names from hostile alphabets: every statement the tool writes around them parses (with
PostgreSQL's own parser) to exactly the statement intended, on the object named."""

from __future__ import annotations

from typing import Any

import pglast
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pglast import ast

from monitor.schema import advisors, quote, repair
from monitor.schema.model import (
    Change,
    Column,
    EventTrigger,
    Finding,
    Function,
    Grant,
    Index,
    Kind,
    Policy,
    Rls,
    Schema,
    Severity,
    State,
    Table,
    Trigger,
)
from tests.support.psql_script import on_plain_tables

_LIMIT = 63  # NAMEDATALEN - 1: the bytes of the longest name PostgreSQL keeps
_HOSTILE = list("\"'();-\n\r\t $.\\/*,:[]{}=aZ_0éß€😀\u200b\x1b\x7f")


def _fit(name: str) -> str:
    """Cut to at most 63 bytes on a character boundary."""
    return name.encode()[:_LIMIT].decode(errors="ignore") or "x"


def _at_limit(name: str) -> str:
    """Exactly 63 bytes: the name, cut or padded."""
    name = _fit(name)
    return name + "x" * (_LIMIT - len(name.encode()))


_characters = st.sampled_from(_HOSTILE) | st.characters(
    exclude_categories=["Cs"], exclude_characters="\x00"
)
_text = st.text(_characters, min_size=1, max_size=40)
names = st.one_of(
    _text.map(_fit),
    _text.map(_at_limit),
    st.sampled_from(["g(); CREATE TABLE x(); --", "select", "User", "a.b", '"', "x\ny", "$1"]),
)


def parsed(sql: str) -> list[Any]:
    return [raw.stmt for raw in pglast.parse_sql(sql)]


def one(sql: str, kind: type[ast.Node]) -> Any:
    statements = parsed(sql)
    assert len(statements) == 1, sql
    assert isinstance(statements[0], kind), sql
    return statements[0]


def strings(nodes: Any) -> tuple[str, ...]:
    return tuple(node.sval for node in nodes)


def relation(node: Any) -> tuple[str | None, str]:
    return node.schemaname, node.relname


def finding(kind: Kind, change: Change, schema: str, table: str | None, name: str,
            **rest: Any) -> Finding:  # fmt: skip
    # The message holds the names too: the script writes it as a comment.
    message = f"{kind} {schema}.{table}.{name} {change}\n-- {name}\nBEGIN;"
    return Finding(kind, change, Severity.WARNING, schema, table, name, message, **rest)


def a_state(schema: str, table: str, index: str, policy: str, trigger: str,
            function: str, role: str) -> State:  # fmt: skip
    call = f"{quote.qualified(schema, function)}({quote.literal(role)})"
    return State(
        (
            Schema(
                schema,
                tables=(
                    Table(
                        table,
                        columns=(Column(index, "integer"),),
                        indexes=(Index(index, (quote.ident(index),)),),
                        policies=(Policy(policy, "SELECT", roles=frozenset({role})),),
                        triggers=(Trigger(trigger, "BEFORE", ("INSERT",), "ROW", call),),
                        rls=Rls(enabled=True),
                    ),
                ),
                functions=(
                    Function(
                        f"{quote.ident(function)}(integer, text[])",
                        returns="integer",
                        language="sql",
                        body="SELECT 1",
                        owner=role,
                        grants=frozenset({Grant(role, "EXECUTE")}),
                    ),
                ),
            ),
        ),
        event_triggers=(
            EventTrigger(trigger, "ddl_command_end", f"{quote.qualified(schema, function)}()"),
        ),
    )


def findings_for(schema: str, table: str, index: str, policy: str, trigger: str,
                 function: str, role: str) -> list[Finding]:  # fmt: skip
    signature = f"{quote.ident(function)}(integer, text[])"
    target = {"object_type": "function", "object": f"{schema}.{signature}", "grantee": role}
    return [
        finding(Kind.INDEX, Change.MISSING, schema, table, index),
        finding(Kind.POLICY, Change.CHANGED, schema, table, policy),
        finding(Kind.TRIGGER, Change.MISSING, schema, table, trigger),
        finding(Kind.FUNCTION, Change.MISSING, schema, None, signature),
        finding(Kind.FUNCTION, Change.UNEXPECTED, schema, None, f"{quote.ident(index)}()"),
        finding(Kind.TABLE, Change.UNEXPECTED, schema, None, policy),
        finding(Kind.EVENT_TRIGGER, Change.MISSING, schema, None, trigger),
        finding(
            Kind.PRIVILEGE,
            Change.WIDENED,
            schema,
            signature,
            role,
            expected={**target, "privileges": []},
            actual={**target, "privileges": ["EXECUTE"]},
        ),
    ]


def check_targets(statement: Any, want: dict[str, str]) -> None:
    """The object each statement acts on is the generated one, name for name."""
    schema, table, function = want["schema"], want["table"], want["function"]
    kind = type(statement).__name__
    if kind == "IndexStmt":
        assert (statement.idxname, relation(statement.relation)) == (want["index"], (schema, table))
    elif kind == "CreatePolicyStmt":
        assert statement.policy_name == want["policy"]
        assert relation(statement.table) == (schema, table)
        assert [r.rolename for r in statement.roles] == [want["role"]]
    elif kind == "CreateTrigStmt":
        assert (statement.trigname, relation(statement.relation)) == (
            want["trigger"],
            (schema, table),
        )
        assert strings(statement.funcname) == (schema, function)
        assert strings(statement.args) == (want["role"],)
    elif kind == "CreateEventTrigStmt":
        assert statement.trigname == want["trigger"]
        assert strings(statement.funcname) == (schema, function)
    elif kind == "CreateFunctionStmt":
        assert strings(statement.funcname) == (schema, function)
    elif kind == "GrantStmt":
        (target,) = statement.objects
        assert strings(target.objname) == (schema, function)
        # The role, or PUBLIC (no name) for the REVOKE a new function starts with.
        assert [r.rolename for r in statement.grantees] in ([want["role"]], [None])
    elif kind == "AlterOwnerStmt":
        assert strings(statement.object.objname) == (schema, function)
        assert statement.newowner.rolename == want["role"]
    elif kind == "DropStmt":
        (target,) = statement.objects
        dropped = strings(target.objname if isinstance(target, ast.ObjectWithArgs) else target)
        assert dropped in {
            (schema, want["index"]),  # the unexpected function
            (schema, want["policy"]),  # the unexpected table
            (schema, table, want["policy"]),  # the changed policy
        }, dropped
    else:
        pytest.fail(f"a statement nobody asked for: {statement}")


@settings(max_examples=150, deadline=None)
@given(names, names, names, names, names, names, names)
def test_every_statement_around_hostile_names_is_the_one_intended(
    schema: str, table: str, index: str, policy: str, trigger: str, function: str, role: str
) -> None:
    parts = (schema, table, index, policy, trigger, function, role)
    expected = a_state(*parts)
    found = findings_for(*parts)
    want = dict(zip(("schema", "table", "index", "policy", "trigger", "function", "role"), parts,
                    strict=True))  # fmt: skip
    statements: list[repair.Statement] = []
    for item in found:
        fixed = repair.fix(item, expected)
        assert fixed.statements, (item, fixed.note)
        statements.extend(fixed.statements)
    for statement in statements:
        check_targets(one(statement.sql, ast.Node), want)
    # The whole script: the planned statements, in one piece, plus the transaction around each
    # phase (BEGIN and COMMIT, or SET lock_timeout and back) and its first two SETs.
    options = repair.Options(allow_data_loss=True)
    script = repair.script(found, expected, options=options)
    planned = repair.plan(found, expected, options).steps
    phases = {step.phase for step in planned}
    kinds = sorted(type(s).__name__ for s in parsed(on_plain_tables(script)))
    intended = [type(one(s.statement.sql, ast.Node)).__name__ for s in planned]
    setup = ["VariableSetStmt", "VariableSetStmt"]
    assert kinds == sorted([*intended, *setup, *_wrappers(phases)]), script


def _wrappers(phases: set[repair.Phase]) -> list[str]:
    out = []
    for phase in phases:
        if phase in (repair.Phase.LABELS, repair.Phase.BEFORE, repair.Phase.AFTER):
            out += ["TransactionStmt", "TransactionStmt"]
        elif phase is repair.Phase.CONCURRENT:
            out += ["VariableSetStmt", "VariableSetStmt"]
    return out


@settings(max_examples=150, deadline=None)
@given(names, names)
def test_a_remediation_names_the_hostile_function_it_is_about(function: str, schema: str) -> None:
    state = State(
        (
            Schema(
                schema,
                functions=(
                    Function(
                        f"{quote.ident(function)}(uuid)",
                        language="sql",
                        body="SELECT count(*) FROM auth.users",
                        security_definer=True,
                        grants=frozenset({Grant("anon", "EXECUTE")}),
                    ),
                ),
            ),
        )
    )
    found = advisors.evaluate(state, advisors.Settings(exposed_schemas=(schema,)))
    remediations = {a.rule: a.remediation for a in found}
    text = remediations["auth_users_exposed"]
    revoke = one(text[text.index("REVOKE EXECUTE") :], ast.GrantStmt)
    (target,) = revoke.objects
    assert strings(target.objname) == (schema, function)
    assert [r.rolename for r in revoke.grantees] == ["anon"]
    text = remediations["function_search_path_mutable"]
    alter = one(text[: text.index(" SET search_path")] + " SET search_path = ''", ast.Node)
    assert strings(alter.func.objname) == (schema, function)


@pytest.mark.parametrize("text", ["g(); CREATE TABLE x(); --()", "f(), g()", "f(", "f() x"])
def test_a_signature_that_is_not_one_function_gets_a_note_and_no_sql(text: str) -> None:
    function = Function(text, language="sql", body="SELECT 1")
    expected = State((Schema("public", functions=(function,)),))
    for change in (Change.UNEXPECTED, Change.MISSING):
        fixed = repair.fix(finding(Kind.FUNCTION, change, "public", None, text), expected)
        assert fixed.statements == () and fixed.note is not None


@pytest.mark.parametrize(
    "text", ["g(); CREATE TABLE x(); --()", "f() FROM t", "count(*)", "f(a)", "f(); DROP t"]
)
def test_a_trigger_call_that_is_not_one_plain_call_gets_a_note_and_no_sql(text: str) -> None:
    trigger = Trigger("t", "BEFORE", ("INSERT",), "ROW", text)
    expected = State((Schema("public", tables=(Table("t", triggers=(trigger,)),)),))
    fixed = repair.fix(finding(Kind.TRIGGER, Change.MISSING, "public", "t", "t"), expected)
    assert fixed.statements == () and fixed.note is not None
