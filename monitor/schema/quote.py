"""Quoting names and strings for SQL we print, the way PostgreSQL's quote_ident does.

Every name the tool writes into SQL (repair scripts, advisors' remediations,
the catalog's spelling of a function) goes through :func:`ident`. A function
signature or a trigger's call is never cut as text: it is parsed, and written
again from its parts (schema, name, argument types or literals), each quoted,
so a name such as ``g(); CREATE TABLE x(); --`` stays one name.

Pure: psycopg's ``sql.Identifier`` needs a connection to render, and the
repair script and advisor remediations are written without one.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pglast
from pglast import ast
from pglast.enums import FunctionParameterMode
from pglast.keywords import COL_NAME_KEYWORDS, RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS
from pglast.stream import RawStream

_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")
# Every keyword but the unreserved ones must be quoted to be read as a name.
_NEEDS_QUOTES = frozenset(RESERVED_KEYWORDS) | COL_NAME_KEYWORDS | TYPE_FUNC_NAME_KEYWORDS


class NotAName(ValueError):
    """Text that was to name one function (or call one) and does not."""


def ident(name: str) -> str:
    """``name`` as an identifier: bare when PostgreSQL would read it back unchanged."""
    if _PLAIN.fullmatch(name) and name not in _NEEDS_QUOTES:
        return name
    return '"' + name.replace('"', '""') + '"'


def qualified(*parts: str | None) -> str:
    """``schema.table`` (or any dotted name), each part quoted; empty parts left out."""
    return ".".join(ident(part) for part in parts if part)


def literal(text: str) -> str:
    """A string literal that reads the same whatever ``standard_conforming_strings`` says."""
    quoted = "'" + text.replace("'", "''") + "'"
    return "E" + quoted.replace("\\", "\\\\") if "\\" in text else quoted


def table_name(qualified_name: str) -> str:
    """A catalog-spelled ``schema.table`` (as a foreign key's target is kept), quoted."""
    schema, _, table = qualified_name.rpartition(".")
    return qualified(schema or None, table)


def signature(name: str, argument_types: str) -> str:
    """How the catalog reader spells a function: its name quoted, then the server's
    ``oidvectortypes`` (each type already quoted by ``format_type``)."""
    return f"{ident(name)}({argument_types})"


def function_signature(schema: str | None, text: str) -> str:
    """``schema.name(types)`` for SQL, from a signature as a spec or the catalog writes it
    (``f(uuid)``, ``"My f"(integer)``); :class:`NotAName` unless it names one function."""
    name, types = function_parts(text)
    return f"{qualified(schema, name)}({', '.join(types)})"


def function_parts(text: str) -> tuple[str, tuple[str, ...]]:
    """A signature's function name (as stored, unquoted) and argument types (quoted SQL)."""
    names, types = _signature_parts(text)
    return names[-1], types


@lru_cache(maxsize=4096)
def _signature_parts(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    # The name and the argument list parsed apart, each as a whole signature of its own
    # (so neither can carry a second statement): a catalog's thousands of functions
    # share a few argument lists, whose types are spelled once each.
    opening = _first_parenthesis(text)
    if opening is None:  # a name alone: the one function of that name
        return _signature(text, text)
    names, _ = _signature(f"{text[:opening]}()", text)
    _, types = _argument_types(text[opening:])
    return names, types


@lru_cache(maxsize=1024)
def _argument_types(arguments: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return _signature(f"f{arguments}", arguments)


def _signature(signature: str, text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    drop = _only_statement(f"DROP FUNCTION {signature}", text, "a function signature")
    if not isinstance(drop, ast.DropStmt) or len(drop.objects or ()) != 1:
        raise NotAName(f"not one function signature: {text!r}")
    (target,) = drop.objects or ()
    names = tuple(part.sval for part in target.objname)
    types = tuple(
        RawStream()(parameter.argType)
        for parameter in target.objfuncargs or ()
        if parameter.mode is not FunctionParameterMode.FUNC_PARAM_OUT
    )
    return names, types


def _first_parenthesis(text: str) -> int | None:
    """Where the first "(" stands as PostgreSQL's lexer reads `text` (not in a quoted name
    or a comment), if anywhere."""
    try:
        tokens = pglast.parser.scan(text)
    except pglast.parser.ParseError as exc:
        raise NotAName(f"not a function signature: {text!r} ({exc})") from None
    return next((token.start for token in tokens if token.name == "ASCII_40"), None)


def _only_statement(sql: str, text: str, what: str) -> ast.Node | None:
    """The statement `sql` holds, None if it holds more; NotAName if it does not parse."""
    try:
        statements = pglast.parse_sql(sql)
    except pglast.parser.ParseError as exc:
        raise NotAName(f"not {what}: {text!r} ({exc})") from None
    return statements[0].stmt if len(statements) == 1 else None


def function_call(text: str, default_schema: str = "public") -> str:
    """A trigger's function call (``f()``, ``audit.log('a', 'b')``) for SQL: the name
    qualified and quoted, the arguments string literals; :class:`NotAName` for anything
    but one plain call with constant arguments."""
    names, arguments = _call_parts(text)
    if len(names) == 1:
        names = (default_schema, *names)
    return f"{qualified(*names)}({', '.join(literal(a) for a in arguments)})"


@lru_cache(maxsize=4096)
def _call_parts(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    select = _only_statement(f"SELECT {text}", text, "a function call")
    targets = select.targetList or () if isinstance(select, ast.SelectStmt) else ()
    call = targets[0].val if len(targets) == 1 and targets[0].name is None else None
    plain = (
        isinstance(select, ast.SelectStmt)
        and select.fromClause is None
        and select.whereClause is None
        and isinstance(call, ast.FuncCall)
        and not (call.agg_star or call.agg_distinct or call.func_variadic)
        and call.agg_order is None
        and call.agg_filter is None
        and call.over is None
    )
    if not plain or not isinstance(call, ast.FuncCall):
        raise NotAName(f"not a plain function call: {text!r}")
    return tuple(part.sval for part in call.funcname or ()), tuple(
        _constant(argument, text) for argument in call.args or ()
    )


def _constant(argument: ast.Node, text: str) -> str:
    """A trigger argument: the server keeps each as a string, whatever was written."""
    value = argument.val if isinstance(argument, ast.A_Const) and not argument.isnull else None
    if isinstance(value, ast.String):
        return str(value.sval)
    if isinstance(value, ast.Integer):
        return str(value.ival)
    if isinstance(value, ast.Float):
        return str(value.fval)
    raise NotAName(f"a trigger's arguments are constants: {text!r}")
