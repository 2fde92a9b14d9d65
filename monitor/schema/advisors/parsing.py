"""What the advisors read in SQL text, always through pglast's parse tree, never by pattern:
a policy expression, a view's query, a function's body. Each text is parsed once (cached):
the same policy or body repeats table after table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from pglast import parser

Node = dict[str, Any]

# Functions whose value is the same for every row of a statement, but which the
# planner calls per row unless they sit in a sub-select it can run once.
PER_STATEMENT_FUNCTIONS = frozenset(
    {
        "auth.uid",
        "auth.jwt",
        "auth.role",
        "auth.email",
        "current_setting",
        "pg_catalog.current_setting",
    }
)
# A call to one of them has its name in the text: no parse without it.
_CALL_WORDS = ("uid", "jwt", "role", "email", "current_setting")


def nodes(tree: Any, kind: str) -> Iterator[Node]:
    """Every node of `kind` in a pglast JSON tree, depth first."""
    if isinstance(tree, list):
        for item in tree:
            yield from nodes(item, kind)
    elif isinstance(tree, dict):
        for key, value in tree.items():
            if key == kind and isinstance(value, dict):
                yield value
            yield from nodes(value, kind)


@lru_cache(maxsize=16384)
def _expression_json(expression: str) -> str | None:
    """The parse tree of a policy expression (as ``SELECT expression``), as JSON text."""
    try:
        tree = json.loads(parser.parse_sql_json(f"SELECT {expression}"))
    except parser.ParseError:
        return None
    (statement,) = tree.get("stmts", [None])
    if statement is None:
        return None
    targets = statement["stmt"]["SelectStmt"].get("targetList", [])
    if len(targets) != 1:
        return None
    return json.dumps(targets[0]["ResTarget"].get("val"))


def expression_tree(expression: str | None) -> Any:
    """A fresh copy of the expression's tree; ``None`` when absent or not an expression."""
    if expression is None:
        return None
    text = _expression_json(expression)
    return None if text is None else json.loads(text)


def function_name(call: Node) -> str:
    return ".".join(part["String"]["sval"] for part in call.get("funcname", []))


# --- auth_rls_initplan --------------------------------------------------------------------


def unwrapped_calls(expression: str | None) -> tuple[str, ...]:
    """Names of per-statement functions called where no FROM-less sub-select wraps them."""
    if expression is None:
        return ()
    return unwrapped_calls_of(expression)


@lru_cache(maxsize=16384)
def unwrapped_calls_of(expression: str) -> tuple[str, ...]:
    # The same policy text on table after table: even the word scan runs once per text.
    if not any(w in expression.lower() for w in _CALL_WORDS):
        return ()
    return unwrapped_calls_parsed(expression)


@lru_cache(maxsize=16384)
def unwrapped_calls_parsed(expression: str) -> tuple[str, ...]:
    # Policies repeat across tables (the same membership check on each): parse each once.
    return tuple(_calls(expression_tree(expression), wrapped=False))


def _calls(node: Any, *, wrapped: bool) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _calls(item, wrapped=wrapped)
        return
    if not isinstance(node, dict):
        return
    select = node.get("SelectStmt")
    if isinstance(select, dict):
        # (SELECT auth.uid()) is planned once; a sub-select reading a table is not a wrapper.
        wrapped = wrapped or "fromClause" not in select
    call = node.get("FuncCall")
    if isinstance(call, dict) and not wrapped:
        name = function_name(call)
        if name in PER_STATEMENT_FUNCTIONS:
            yield name.removeprefix("pg_catalog.")
    for value in node.values():
        yield from _calls(value, wrapped=wrapped)


# --- constants: rls_policy_always_true ----------------------------------------------------


def _constant(node: Any) -> Any:
    """A constant's value without its position (a cast kept), ``None`` for anything else."""
    if not isinstance(node, dict):
        return None
    if "A_Const" in node:
        value = {k: v for k, v in node["A_Const"].items() if k != "location"}
        return json.dumps(value, sort_keys=True)
    cast = node.get("TypeCast")
    if isinstance(cast, dict):
        inner = _constant(cast.get("arg"))
        names = [part["String"]["sval"] for part in cast["typeName"].get("names", [])]
        return None if inner is None else f"{inner}::{names[-1]}"
    return None


_TRUE_CONSTANTS = frozenset(
    {_constant({"A_Const": {"boolval": {"boolval": True}}})}
    | {
        _constant({"TypeCast": {"arg": {"A_Const": {"sval": {"sval": s}}}, "typeName": {
            "names": [{"String": {"sval": "bool"}}]}}})
        for s in ("t", "true", "on", "yes", "y", "1")
    }
)  # fmt: skip


@lru_cache(maxsize=16384)
def always_true(expression: str) -> bool:
    """Whether an expression is true whatever the row and the caller: ``true``, ``1 = 1``,
    ``'x' = 'x'``, an OR with such an arm, an AND of only such arms."""
    return _always_true(expression_tree(expression))


def _always_true(node: Any) -> bool:
    if not isinstance(node, dict):
        return False
    if _constant(node) in _TRUE_CONSTANTS:
        return True
    boolean = node.get("BoolExpr")
    if isinstance(boolean, dict):
        args = boolean.get("args", [])
        if boolean["boolop"] == "OR_EXPR":
            return any(_always_true(arg) for arg in args)
        if boolean["boolop"] == "AND_EXPR":
            return all(_always_true(arg) for arg in args)
        return False
    operation = node.get("A_Expr")
    if isinstance(operation, dict) and operation.get("kind") == "AEXPR_OP":
        name = [part["String"]["sval"] for part in operation.get("name", [])]
        left, right = _constant(operation.get("lexpr")), _constant(operation.get("rexpr"))
        return name == ["="] and left is not None and left == right
    return False


# --- rls_references_user_metadata ---------------------------------------------------------

_JSON_OPERATORS = frozenset({"->", "->>", "#>", "#>>"})


def _string(node: Any) -> str | None:
    """A string constant's text (a cast around it allowed)."""
    if not isinstance(node, dict):
        return None
    cast = node.get("TypeCast")
    if isinstance(cast, dict):
        return _string(cast.get("arg"))
    constant = node.get("A_Const")
    if isinstance(constant, dict) and "sval" in constant:
        value = constant["sval"].get("sval")
        return value if isinstance(value, str) else None
    return None


def _reads_jwt(node: Any) -> bool:
    """Whether the subtree calls auth.jwt() or reads the request.jwt.claims setting."""
    for call in nodes(node, "FuncCall"):
        name = function_name(call).removeprefix("pg_catalog.")
        if name == "auth.jwt":
            return True
        arguments = call.get("args", [])
        if name == "current_setting" and arguments:
            setting = _string(arguments[0])
            if setting is not None and setting.startswith("request.jwt.claim"):
                return True
    return False


@lru_cache(maxsize=16384)
def references_user_metadata(expression: str) -> bool:
    """Whether the expression reads ``user_metadata`` out of the caller's JWT."""
    for operation in nodes(expression_tree(expression), "A_Expr"):
        name = [part["String"]["sval"] for part in operation.get("name", [])]
        if len(name) != 1 or name[0] not in _JSON_OPERATORS:
            continue
        key = _string(operation.get("rexpr"))
        if key is None:
            continue
        first = key.strip("{}").split(",")[0].strip().strip('"')
        if first == "user_metadata" and _reads_jwt(operation.get("lexpr")):
            return True
    return False


# --- rls_policy_null_auth_disjunct --------------------------------------------------------

_NULLABLE_AUTH = frozenset({"auth.uid", "auth.jwt", "auth.role"})


def _nullable_auth_call(node: Any) -> bool:
    """auth.uid(), auth.jwt(), auth.role(), or current_setting(name, true): NULL for a
    caller without a session."""
    call = node.get("FuncCall") if isinstance(node, dict) else None
    if not isinstance(call, dict):
        return False
    name = function_name(call).removeprefix("pg_catalog.")
    if name in _NULLABLE_AUTH:
        return True
    arguments = call.get("args", [])
    return (
        name == "current_setting"
        and len(arguments) == 2
        and (_constant(arguments[1]) in _TRUE_CONSTANTS)
    )


def _auth_is_null(node: Any) -> bool:
    """``f() IS NULL``, or ``NOT (f() IS NOT NULL)``, for a nullable auth call."""
    if not isinstance(node, dict):
        return False
    test = node.get("NullTest")
    if isinstance(test, dict):
        return test["nulltesttype"] == "IS_NULL" and _nullable_auth_call(test.get("arg"))
    boolean = node.get("BoolExpr")
    if isinstance(boolean, dict) and boolean["boolop"] == "NOT_EXPR":
        (inner,) = boolean.get("args", [None])
        test = inner.get("NullTest") if isinstance(inner, dict) else None
        return (
            isinstance(test, dict)
            and test["nulltesttype"] == "IS_NOT_NULL"
            and _nullable_auth_call(test.get("arg"))
        )
    return False


@lru_cache(maxsize=16384)
def null_auth_disjunct(expression: str) -> bool:
    """Whether the expression is an OR with an arm true when the caller has no session
    (``auth.uid() IS NULL OR owner_id = auth.uid()``): it admits every row then."""
    tree = expression_tree(expression)
    boolean = tree.get("BoolExpr") if isinstance(tree, dict) else None
    if not isinstance(boolean, dict) or boolean["boolop"] != "OR_EXPR":
        return False
    return any(_auth_is_null(arm) for arm in boolean.get("args", []))


# --- auth_users_exposed: what a query or body reads ---------------------------------------


@lru_cache(maxsize=4096)  # generated functions share their bodies: parse each text once
def body_reads_auth_users(language: str, body: str, returns: str) -> bool:
    if language == "sql":
        return sql_reads_auth_users(body)
    if language == "plpgsql":
        return any(sql_reads_auth_users(q) for q in plpgsql_queries(body, returns))
    return False


@lru_cache(maxsize=4096)
def sql_reads_auth_users(text: str) -> bool:
    if not text:
        return False
    try:
        tree = json.loads(parser.parse_sql_json(text))
    except parser.ParseError:
        return False
    return any(
        node.get("schemaname") == "auth" and node.get("relname") == "users"
        for node in nodes(tree, "RangeVar")
    )


def plpgsql_queries(body: str, returns: str) -> list[str]:
    """The SQL statements and expressions inside a PL/pgSQL body, as pglast's parser sees them
    (it checks RETURN against the return type, so the function's own is given)."""
    source = f"CREATE FUNCTION f() RETURNS {returns} LANGUAGE plpgsql AS $monitor${body}$monitor$"
    try:
        parsed = json.loads(parser.parse_plpgsql_json(source))
    except (parser.ParseError, AttributeError, ValueError):
        return []
    return [node["query"] for node in nodes(parsed, "PLpgSQL_expr") if "query" in node]
