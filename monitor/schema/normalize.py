"""Canonical forms of SQL pieces, so that comparison is semantic, never textual.

A spec may say ``int`` where the catalog says ``integer``, or
``role IN ('owner', 'admin')`` where ``pg_get_expr`` says
``(role = ANY (ARRAY['owner'::text, 'admin'::text]))``. Both sides are parsed
with pglast (PostgreSQL's own parser) and the parse trees are rewritten into
one canonical shape; two pieces are equal when their canonical keys are.

The rewrites only remove differences PostgreSQL itself does not keep:
parentheses, whitespace and case (gone once parsed), source locations,
``IN (list)`` versus ``= ANY (ARRAY[...])``, casts the server adds to string
literals, ``public``/``pg_catalog`` qualifiers, table qualifiers on columns of
the one relation in scope, and the order of AND/OR operands.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from pglast import parser

from monitor.schema import hashed

Tree = Any  # the JSON form of a pglast parse tree: dicts, lists, scalars

# Keys that say where text was, not what it means.
_POSITION_KEYS = frozenset(
    {
        "location",
        "stmt_location",
        "stmt_len",
        "rexpr_list_start",
        "rexpr_list_end",
        "list_start",
        "list_end",
    }
)
_DEFAULT_SCHEMAS = frozenset({"public", "pg_catalog"})
# Casts PostgreSQL adds to string literals when it stores an expression.
_TEXTUAL_TYPES = frozenset({"text", "varchar", "bpchar", "name", "unknown"})
# Internal type names (as the parser spells them) to format_type()'s spelling.
_TYPE_NAMES = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "smallserial": "smallint",
    "serial": "integer",
    "bigserial": "bigint",
    "float4": "real",
    "float8": "double precision",
    "bool": "boolean",
    "varchar": "character varying",
    "bpchar": "character",
    "varbit": "bit varying",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "timetz": "time with time zone",
    "time": "time without time zone",
    "decimal": "numeric",
}


class SqlSyntaxError(ValueError):
    """A piece of SQL that PostgreSQL's parser rejects."""


def _parse(sql: str, prefix: str = "") -> Tree:
    """Parse `prefix + sql`; an error position counts characters of `sql`, as the user wrote it."""
    try:
        parsed = json.loads(parser.parse_sql_json(prefix + sql))
    except parser.ParseError as exc:
        message, position = exc.args[0], exc.args[1] if len(exc.args) > 1 else None
        if isinstance(position, int) and position > len(prefix):
            message = f"{message} (at character {position - len(prefix) + 1})"
        raise SqlSyntaxError(message) from None
    statements = parsed.get("stmts", [])
    if len(statements) != 1:
        raise SqlSyntaxError("expected exactly one SQL expression")
    return statements[0]["stmt"]


def _only_target(select: Tree, text: str) -> Tree:
    targets = select["SelectStmt"].get("targetList", [])
    if len(targets) != 1 or set(select["SelectStmt"]) - {"targetList", "limitOption", "op"}:
        raise SqlSyntaxError(f"not a single SQL expression: {text!r}")
    if "name" in targets[0]["ResTarget"]:
        # "a = 1 AND" parses as "a = 1 AS and": a trailing word is not an expression.
        raise SqlSyntaxError(f"unexpected word after the expression: {text!r}")
    return targets[0]["ResTarget"]["val"]


def _key(tree: Tree) -> str:
    return json.dumps(tree, sort_keys=True, separators=(",", ":"))


# --- types -----------------------------------------------------------------


@lru_cache(maxsize=4096)
def type_key(text: str) -> str:
    """Canonical type: ``int`` -> ``integer``, ``varchar(50)`` -> ``character varying(50)``."""
    expression = _only_target(_parse(text, "SELECT NULL::"), text)
    type_name = expression.get("TypeCast", {}).get("typeName")
    if type_name is None:
        raise SqlSyntaxError(f"not a type: {text!r}")
    return _type_name_text(type_name)


def _type_name_text(type_name: Tree) -> str:
    names = [part["String"]["sval"] for part in type_name["names"]]
    if len(names) > 1 and names[0] in _DEFAULT_SCHEMAS:
        names = names[1:]
    base = ".".join(_TYPE_NAMES.get(name, name) for name in names)
    modifiers = [_modifier_text(_strip(mod)) for mod in type_name.get("typmods", [])]
    if modifiers:
        base += "(" + ",".join(modifiers) + ")"
    return base + "[]" * len(type_name.get("arrayBounds", []))


def _modifier_text(modifier: Tree) -> str:
    constant = modifier.get("A_Const", {})
    if "ival" in constant:
        return str(constant["ival"].get("ival", 0))  # pglast leaves out a zero
    return _key(modifier)


def type_error(text: str) -> str | None:
    return _error_of(type_key, text)


# --- expressions -----------------------------------------------------------


@lru_cache(maxsize=16384)
def expression_key(text: str, table: str | None = None, column_type: str | None = None) -> str:
    """Canonical key of a scalar expression (predicate, default, check, USING).

    ``table`` is the relation the expression belongs to: its name may qualify
    columns or not. ``column_type`` is the type of the column a default
    belongs to: a literal cast to it (``'{}'::jsonb``) equals the bare literal.
    """
    tree = _expression(text)
    scope = frozenset({table}) if table else frozenset()
    canonical = _canonical(tree, scope)
    if column_type is not None:
        canonical = _drop_cast_to(canonical, type_key(column_type))
    return _key(canonical)


def _expression(text: str) -> Tree:
    """The parse tree of one scalar expression; SqlSyntaxError for anything else."""
    return _only_target(_parse(text, "SELECT "), text)


@lru_cache(maxsize=16384)  # `now()`, `true`, `auth.uid() = user_id`... repeat table after table
def expression_error(text: str) -> str | None:
    # Only the parse can fail: the rewrite into expression_key is for a diff whose texts
    # differ, and costs twice the parse. A hash stands for a text read over the byte cap.
    return None if hashed.size(text) is not None else _error_of(_expression, text)


def table_expression_key(text: str, table: str) -> str:
    """:func:`expression_key` of `text` on `table`, parsed once for every table whose name
    qualifies none of its columns (the same predicate on many tables is one parse)."""
    if table in _column_names(text):
        return expression_key(text, table)
    return expression_key(text)


@lru_cache(maxsize=16384)
def _column_names(text: str) -> frozenset[str]:
    """Every name in every column reference of `text`: the table's name can only matter
    to its key (see :func:`_column_ref`) if it is one of them."""
    try:
        tree = _parse(text, "SELECT ")
    except SqlSyntaxError:
        return frozenset()  # expression_key rejects it with or without the table
    return frozenset(
        field["String"]["sval"]
        for reference in _nodes(tree, "ColumnRef")
        for field in reference["fields"]
        if "String" in field
    )


def _nodes(tree: Tree, node_type: str) -> Iterator[Tree]:
    """Every `node_type` node in `tree`, outermost first."""
    if isinstance(tree, list):
        for item in tree:
            yield from _nodes(item, node_type)
    elif isinstance(tree, dict):
        node = tree.get(node_type)
        if isinstance(node, dict):
            yield node
        for value in tree.values():
            yield from _nodes(value, node_type)


def _settled(expected: str, actual: str) -> bool | None:
    """True for equal texts, the verdict of their hashes when either is over the catalog's
    byte cap (:mod:`monitor.schema.hashed`); None: compare their canonical keys."""
    if expected == actual:
        return True
    return hashed.same(expected, actual)


def same_expression(
    expected: str | None,
    actual: str | None,
    table: str | None = None,
    column_type: str | None = None,
) -> bool:
    """Equal text is equal; otherwise compare canonical trees. Unparsable text is unequal."""
    if expected is None or actual is None:
        return expected is actual
    settled = _settled(expected, actual)
    if settled is not None:
        return settled
    try:
        return expression_key(expected, table, column_type) == expression_key(
            actual, table, column_type
        )
    except SqlSyntaxError:
        return False


# --- index columns ---------------------------------------------------------


@lru_cache(maxsize=16384)
def index_column_key(text: str) -> str:
    """Canonical key of one index key column: ``created_at DESC``, ``lower(email)``."""
    element = dict(_index_element(text))
    expression = element.pop("expr", None)
    if expression is not None:
        expression = _canonical(expression, frozenset())
        fields = expression.get("ColumnRef", {}).get("fields", [])
        if len(fields) == 1 and "String" in fields[0]:
            element["name"] = fields[0]["String"]["sval"]  # "(col)" is just the column
            expression = None
    if expression is not None:
        element["expr"] = expression
    ordering = element.get("ordering", "SORTBY_DEFAULT")
    if ordering == "SORTBY_ASC":
        ordering = "SORTBY_DEFAULT"
    nulls = element.get("nulls_ordering", "SORTBY_NULLS_DEFAULT")
    default_nulls = "SORTBY_NULLS_FIRST" if ordering == "SORTBY_DESC" else "SORTBY_NULLS_LAST"
    if nulls == default_nulls:
        nulls = "SORTBY_NULLS_DEFAULT"
    element["ordering"], element["nulls_ordering"] = ordering, nulls
    if "opclass" in element:
        element["opclass"] = _unqualified(element["opclass"])
    return _key(_strip(element))


def _index_element(text: str) -> Tree:
    """The parse tree of one index key column; SqlSyntaxError for anything else."""
    statement = _parse(f"{text})", "CREATE INDEX ON t (")
    params = statement["IndexStmt"]["indexParams"]
    if len(params) != 1:
        raise SqlSyntaxError(f"not a single index column: {text!r}")
    element: Tree = params[0]["IndexElem"]
    return element


@lru_cache(maxsize=16384)
def index_column_error(text: str) -> str | None:
    return _error_of(_index_element, text)  # only the parse can fail, as expression_error


def same_index_columns(expected: tuple[str, ...], actual: tuple[str, ...]) -> bool:
    if expected == actual:
        return True
    if len(expected) != len(actual):
        return False
    try:
        return all(
            e == a or index_column_key(e) == index_column_key(a)
            for e, a in zip(expected, actual, strict=True)
        )
    except SqlSyntaxError:
        return False


def same_type(expected: str, actual: str) -> bool:
    if expected == actual:
        return True
    try:
        return type_key(expected) == type_key(actual)
    except SqlSyntaxError:
        return False


# --- the rewrites ----------------------------------------------------------


def _canonical(tree: Tree, scope: frozenset[str]) -> Tree:
    """Rewrite a parse tree bottom-up into its canonical shape."""
    if isinstance(tree, list):
        return [_canonical(item, scope) for item in tree]
    if not isinstance(tree, dict):
        return tree
    if len(tree) == 1:
        ((node_type, body),) = tree.items()
        rewrite = _REWRITES.get(node_type)
        if rewrite is not None and isinstance(body, dict):
            return rewrite(body, scope)
    return {
        key: _canonical(value, scope) for key, value in tree.items() if key not in _POSITION_KEYS
    }


def _strip(tree: Tree) -> Tree:
    return _canonical(tree, frozenset())


def _select(body: Tree, scope: frozenset[str]) -> Tree:
    # Inside a subquery over one relation, that relation's name (or alias)
    # may qualify its columns or not; outer names keep their qualifiers.
    sources = body.get("fromClause", [])
    inner: frozenset[str] = frozenset()
    if len(sources) == 1 and "RangeVar" in sources[0]:
        relation = sources[0]["RangeVar"]
        alias = relation.get("alias", {}).get("aliasname")
        inner = frozenset({alias or relation["relname"]})
    select = {k: _canonical(v, inner) for k, v in body.items()}
    # PostgreSQL names the columns of a sub-select it prints ("SELECT auth.uid() AS uid");
    # inside an expression those names mean nothing.
    for target in select.get("targetList", []):
        target.get("ResTarget", {}).pop("name", None)
    return {"SelectStmt": select}


def _column_ref(body: Tree, scope: frozenset[str]) -> Tree:
    fields = [_strip(field) for field in body["fields"]]
    names = [field.get("String", {}).get("sval") for field in fields]
    if len(fields) == 3 and names[0] in _DEFAULT_SCHEMAS:
        fields, names = fields[1:], names[1:]
    if len(fields) == 2 and names[0] in scope:
        fields = fields[1:]
    return {"ColumnRef": {"fields": fields}}


def _range_var(body: Tree, scope: frozenset[str]) -> Tree:
    relation = {k: _strip(v) for k, v in body.items() if k not in _POSITION_KEYS}
    if relation.get("schemaname") in _DEFAULT_SCHEMAS:
        del relation["schemaname"]
    return {"RangeVar": relation}


def _func_call(body: Tree, scope: frozenset[str]) -> Tree:
    call = {k: _canonical(v, scope) for k, v in body.items() if k not in _POSITION_KEYS}
    call["funcname"] = _unqualified(call["funcname"])
    return {"FuncCall": call}


def _sql_value_function(body: Tree, scope: frozenset[str]) -> Tree:
    # CURRENT_TIMESTAMP is now() by definition; the catalog keeps whichever was typed.
    if body.get("op") == "SVFOP_CURRENT_TIMESTAMP" and body.get("typmod", -1) == -1:
        return {
            "FuncCall": {
                "funcname": [{"String": {"sval": "now"}}],
                "funcformat": "COERCE_EXPLICIT_CALL",
            }
        }
    return {"SQLValueFunction": _strip(body)}


def _type_cast(body: Tree, scope: frozenset[str]) -> Tree:
    argument = _canonical(body["arg"], scope)
    type_name = _strip(body["typeName"])
    type_name["names"] = _unqualified(type_name["names"])
    names = [part["String"]["sval"] for part in type_name["names"]]
    is_string = "A_Const" in argument and "sval" in argument["A_Const"]
    if is_string and names[-1] in _TEXTUAL_TYPES and not type_name.get("arrayBounds"):
        return argument
    if "A_ArrayExpr" in argument and names[-1] in _TEXTUAL_TYPES and type_name.get("arrayBounds"):
        return argument  # ARRAY['a'::text]::text[] is ARRAY['a']
    return {"TypeCast": {"arg": argument, "typeName": type_name}}


def _a_expr(body: Tree, scope: frozenset[str]) -> Tree:
    expression = {k: _canonical(v, scope) for k, v in body.items() if k not in _POSITION_KEYS}
    if expression.get("kind") == "AEXPR_IN" and "List" in expression.get("rexpr", {}):
        # x IN (a, b) is x = ANY (ARRAY[a, b]); NOT IN is <> ALL.
        operator = expression["name"][0]["String"]["sval"]
        expression["kind"] = "AEXPR_OP_ANY" if operator == "=" else "AEXPR_OP_ALL"
        expression["rexpr"] = {"A_ArrayExpr": {"elements": expression["rexpr"]["List"]["items"]}}
    return {"A_Expr": expression}


def _bool_expr(body: Tree, scope: frozenset[str]) -> Tree:
    operator = body["boolop"]
    arguments = [_canonical(argument, scope) for argument in body["args"]]
    if operator == "NOT_EXPR":
        return {"BoolExpr": {"boolop": operator, "args": arguments}}
    flat: list[Tree] = []
    for argument in arguments:  # (a AND b) AND c is a AND b AND c
        nested = argument.get("BoolExpr")
        if nested is not None and nested["boolop"] == operator:
            flat.extend(nested["args"])
        else:
            flat.append(argument)
    return {"BoolExpr": {"boolop": operator, "args": sorted(flat, key=_key)}}


def _unqualified(names: list[Tree]) -> list[Tree]:
    if len(names) > 1 and names[0].get("String", {}).get("sval") in _DEFAULT_SCHEMAS:
        return names[1:]
    return names


def _drop_cast_to(tree: Tree, wanted_type: str) -> Tree:
    cast = tree.get("TypeCast") if isinstance(tree, dict) else None
    if (
        cast is not None
        and "A_Const" in cast["arg"]
        and _type_name_text(cast["typeName"]) == wanted_type
    ):
        return cast["arg"]
    return tree


_REWRITES: dict[str, Callable[[Tree, frozenset[str]], Tree]] = {
    "SelectStmt": _select,
    "ColumnRef": _column_ref,
    "RangeVar": _range_var,
    "FuncCall": _func_call,
    "SQLValueFunction": _sql_value_function,
    "TypeCast": _type_cast,
    "A_Expr": _a_expr,
    "BoolExpr": _bool_expr,
}


def _error_of(function: Callable[[str], object], text: str) -> str | None:
    try:
        function(text)
    except SqlSyntaxError as exc:
        return str(exc)
    return None


# --- the security surface: functions, bodies, views, settings -----------------


def function_key(signature: str) -> str:
    """Canonical identity of a function: ``public.f(target int4)`` -> ``f(integer)``.

    Argument names and modes other than OUT say nothing about which function
    it is; types compare as :func:`type_key` spells them. Text the parser
    rejects is its own key.
    """
    parsed = _signature(signature)
    if isinstance(parsed, str):
        return signature
    (key,) = parsed
    return key


def function_error(signature: str) -> str | None:
    """Why a function signature is not one, or None."""
    if not signature.endswith(")") or "(" not in signature:
        return "write it with its argument types, e.g. is_super_admin() or f(uuid, text)"
    parsed = _signature(signature)
    return parsed if isinstance(parsed, str) else None


@lru_cache(maxsize=16384)
def _signature(signature: str) -> tuple[str, ...] | str:
    """The keys of the functions `signature` names, or why the parser rejects it: one parse
    for the spec's check of a signature and the diff's matching by it."""
    try:
        statement = _parse(signature, "DROP FUNCTION ")
    except SqlSyntaxError as exc:
        return str(exc)
    return tuple(
        _function_identity(target["ObjectWithArgs"]) for target in statement["DropStmt"]["objects"]
    )


def _function_identity(arguments: Tree) -> str:
    name = [part["String"]["sval"] for part in _unqualified(arguments["objname"])]
    types = [
        _type_name_text(parameter["FunctionParameter"]["argType"])
        for parameter in arguments.get("objfuncargs", [])
        if parameter["FunctionParameter"].get("mode") != "FUNC_PARAM_OUT"
    ]
    return ".".join(name) + "(" + ", ".join(types) + ")"


_COMMENT_TOKENS = frozenset({"SQL_COMMENT", "C_COMMENT"})


def token_key(text: str) -> str:
    """The text as PostgreSQL's lexer reads it: comments and whitespace gone, keywords and
    unquoted names folded to lower case, everything else (literals, quoted names) exact."""
    tokens = []
    for token in parser.scan(text):
        if token.name in _COMMENT_TOKENS:
            continue
        word = text[token.start : token.end + 1]
        if token.kind != "NO_KEYWORD" or (token.name == "IDENT" and not word.startswith('"')):
            word = word.lower()
        tokens.append(word)
    return "\x00".join(tokens)


def _without_positions(tree: Tree) -> Tree:
    if isinstance(tree, list):
        return [_without_positions(item) for item in tree]
    if isinstance(tree, dict):
        return {k: _without_positions(v) for k, v in tree.items() if k not in _POSITION_KEYS}
    return tree


_ATOMIC_PREFIXES = ("begin atomic", "return")


@lru_cache(maxsize=4096)
def body_key(language: str, body: str) -> str:
    """Canonical key of a function body, by language.

    SQL: the parse tree (a ``BEGIN ATOMIC`` or ``RETURN`` body as the server
    keeps it, or the statements of a quoted body); PL/pgSQL: PL/pgSQL's own
    parse tree with line numbers gone and each embedded SQL read by the
    lexer. Whitespace and comments never count, literals always do. Other
    languages, or a body the parsers reject, compare token by token (or as
    stripped text when even the lexer fails).
    """
    language = language.lower()
    try:
        if language == "sql":
            return _sql_body_key(body)
        if language == "plpgsql":
            return _plpgsql_body_key(body)
        if language in ("c", "internal"):
            return body.strip()
        return token_key(body)
    except (parser.ParseError, SqlSyntaxError):
        try:
            return token_key(body)
        except parser.ParseError:
            return body.strip()


def _sql_body_key(body: str) -> str:
    text = body.strip()
    if text.lower().startswith(_ATOMIC_PREFIXES):
        wrapped = json.loads(
            parser.parse_sql_json(f"CREATE FUNCTION f() RETURNS int LANGUAGE sql {text}")
        )
        tree = wrapped["stmts"][0]["stmt"]["CreateFunctionStmt"]["sql_body"]
    else:
        tree = [s["stmt"] for s in json.loads(parser.parse_sql_json(text)).get("stmts", [])]
    return _key(_without_positions(tree))


def _plpgsql_body_key(body: str) -> str:
    tag = "$schema_monitor_body$"
    wrapped = f"CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS {tag}{body}{tag}"
    return _key(_plpgsql_canonical(json.loads(parser.parse_plpgsql_json(wrapped))))


def _plpgsql_canonical(tree: Tree) -> Tree:
    if isinstance(tree, list):
        return [_plpgsql_canonical(item) for item in tree]
    if not isinstance(tree, dict):
        return tree
    canonical = {}
    for key, value in tree.items():
        if key == "lineno":
            continue
        if key == "query" and isinstance(value, str):
            canonical[key] = token_key(value)
        else:
            canonical[key] = _plpgsql_canonical(value)
    return canonical


def same_body(language: str, expected: str | None, actual: str | None) -> bool:
    if expected is None or actual is None:
        return expected is actual
    settled = _settled(expected, actual)
    if settled is not None:
        return settled
    return body_key(language, expected) == body_key(language, actual)


def search_path_key(value: str) -> tuple[str, ...]:
    """``'"$user", public'`` -> ``("$user", "public")``; ``'""'`` and ``''`` -> ``()``."""
    names = []
    for part in value.split(","):
        name = part.strip()
        if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
            name = name[1:-1]
        elif name:
            name = name.lower()
        if name:
            names.append(name)
    return tuple(names)


def setting_key(name: str, value: str) -> str:
    """A function setting's value as the server would apply it."""
    if name.lower() == "search_path":
        return ",".join(search_path_key(value))
    stripped = value.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] == "'":
        stripped = stripped[1:-1]
    return stripped.lower()


@lru_cache(maxsize=4096)
def view_key(definition: str) -> str:
    """Canonical key of a view's query: the expression rewrites of :func:`expression_key`
    applied to the whole SELECT, keeping the names of its output columns."""
    tree = _parse(_view_text(definition))
    names = [
        target.get("ResTarget", {}).get("name")
        for target in tree.get("SelectStmt", {}).get("targetList", [])
    ]
    return _key({"names": names, "query": _canonical(tree, frozenset())})


def _view_text(definition: str) -> str:
    return definition.strip().rstrip(";")


def same_view(expected: str | None, actual: str | None) -> bool:
    if expected is None or actual is None:
        return expected is actual
    settled = _settled(expected, actual)
    if settled is not None:
        return settled
    try:
        return view_key(expected) == view_key(actual)
    except SqlSyntaxError:
        return token_key(expected) == token_key(actual)


def view_error(definition: str) -> str | None:
    # Only the parse can fail: the rewrite into view_key is for a diff whose texts differ.
    if hashed.size(definition) is not None:
        return None  # a query read over the byte cap: its hash
    try:
        _parse(_view_text(definition))
    except SqlSyntaxError as exc:
        return str(exc)
    return None


@lru_cache(maxsize=16384)  # a policy expression repeats table after table
def called_functions(expression: str) -> frozenset[str]:
    """The names (unqualified, as parsed) of the functions an expression calls."""
    try:
        tree = _only_target(_parse(expression, "SELECT "), expression)
    except SqlSyntaxError:
        return frozenset()
    return frozenset(call["funcname"][-1]["String"]["sval"] for call in _nodes(tree, "FuncCall"))


@lru_cache(maxsize=4096)
def read_relations(query: str) -> frozenset[tuple[str | None, str]]:
    """The (schema or None, name) of every relation a query names (a view's definition);
    none when it does not parse."""
    try:
        tree = _parse(query.strip().rstrip(";"))
    except SqlSyntaxError:
        return frozenset()
    return frozenset((node.get("schemaname"), node["relname"]) for node in _nodes(tree, "RangeVar"))


def tree_nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every node (mapping) of a parse tree as pglast's JSON gives it, without recursion: a
    deep expression must not reach Python's recursion limit."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            yield item
            stack.extend(value for value in item.values() if isinstance(value, dict | list))
