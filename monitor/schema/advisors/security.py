"""The security surface: functions and views that run with their owner's rights, what
they hand out of ``auth.users``, keys into the platform's tables, and column types that
block an upgrade."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from monitor.schema.advisors import parsing
from monitor.schema.advisors.base import (
    Advisory,
    Category,
    Context,
    Level,
    Rule,
    granted,
    roles_sql,
    roles_text,
)
from monitor.schema.model import PUBLIC_ROLE, ConstraintType, Function, View
from monitor.schema.quote import NotAName, function_signature, ident, qualified

SECURITY_DEFINER_VIEW = Rule(
    "security_definer_view",
    Level.ERROR,
    Category.SECURITY,
    "View with its owner's rights (no security_invoker) readable by API roles",
)
FUNCTION_SEARCH_PATH_MUTABLE = Rule(
    "function_search_path_mutable",
    Level.WARNING,
    Category.SECURITY,
    "Function without a fixed search_path",
)
AUTH_USERS_EXPOSED = Rule(
    "auth_users_exposed",
    Level.ERROR,
    Category.SECURITY,
    "auth.users served to API roles through a view or a SECURITY DEFINER function",
)
ANON_SECURITY_DEFINER_FUNCTION_EXECUTABLE = Rule(
    "anon_security_definer_function_executable",
    Level.WARNING,
    Category.SECURITY,
    "SECURITY DEFINER function the anon key can call through the API",
)
AUTHENTICATED_SECURITY_DEFINER_FUNCTION_EXECUTABLE = Rule(
    "authenticated_security_definer_function_executable",
    Level.WARNING,
    Category.SECURITY,
    "SECURITY DEFINER function any signed-in user can call through the API",
)
FKEY_TO_AUTH_UNIQUE = Rule(
    "fkey_to_auth_unique",
    Level.ERROR,
    Category.SECURITY,
    "Foreign key to a unique key of an auth table (not its primary key)",
)
UNSUPPORTED_REG_TYPES = Rule(
    "unsupported_reg_types",
    Level.WARNING,
    Category.SECURITY,
    "Column of a reg* type that pg_upgrade refuses",
)
RULES = (
    SECURITY_DEFINER_VIEW,
    FUNCTION_SEARCH_PATH_MUTABLE,
    AUTH_USERS_EXPOSED,
    ANON_SECURITY_DEFINER_FUNCTION_EXECUTABLE,
    AUTHENTICATED_SECURITY_DEFINER_FUNCTION_EXECUTABLE,
    FKEY_TO_AUTH_UNIQUE,
    UNSUPPORTED_REG_TYPES,
)


def security_definer_view(context: Context) -> Iterator[Advisory]:
    if not context.exposed:
        return
    for view in context.schema.views or ():
        if view.materialized or view.security_invoker:
            continue
        readers = granted(view.grants, "SELECT")
        if not readers:
            continue
        name = qualified(context.schema.name, view.name)
        bypassed = (
            f" and bypasses the policies of {', '.join(view.rls_tables)}" if view.rls_tables else ""
        )
        yield context.advisory(
            SECURITY_DEFINER_VIEW,
            None,
            view.name,
            f"view {context.schema.name}.{view.name} runs with its owner's rights (no "
            f"security_invoker) and is readable by {roles_text(readers)}: it reads as its "
            f"owner{bypassed}",
            f"ALTER VIEW {name} SET (security_invoker = true); or REVOKE SELECT ON {name} "
            f"FROM {roles_sql(readers)}",
        )


def _function_sql(context: Context, function: Function) -> str:
    """The function for a remediation: its signature rebuilt from parts, each quoted."""
    try:
        return function_signature(context.schema.name, function.name)
    except NotAName:  # a spec's text the parser refuses: no SQL is written around it
        return "<the function>"


def function_search_path_mutable(context: Context) -> Iterator[Advisory]:
    for function in context.schema.functions or ():
        if function.kind not in ("function", "procedure"):
            continue
        if function.setting("search_path") is not None:
            continue
        definer = "SECURITY DEFINER " if function.security_definer else ""
        level_note = (
            ": a caller can put an object of the same name earlier on the search_path and "
            "run it with the owner's rights"
            if function.security_definer
            else ": what its unqualified names resolve to depends on the caller's search_path"
        )
        yield context.advisory(
            FUNCTION_SEARCH_PATH_MUTABLE,
            None,
            function.name,
            f"{definer}function {context.schema.name}.{function.name} has no fixed "
            f"search_path{level_note}",
            f"ALTER FUNCTION {_function_sql(context, function)} SET search_path = '' "
            "(and schema-qualify the names it uses)",
        )


_AUTH_USERS = "auth.users"


def _view_exposes_auth_users(view: View) -> str | None:
    """How a view over auth.users hands its rows out, ``None`` if it does not."""
    if view.materialized:
        return "stores a copy of its rows"
    if not view.security_invoker:
        return "reads it with its owner's rights"
    if _AUTH_USERS not in view.rls_tables:
        # It runs as the caller, but auth.users has no row level security of its own:
        # whoever may read auth.users reads every user through it.
        return "runs as the caller, but auth.users has no row level security"
    return None


def auth_users_exposed(context: Context) -> Iterator[Advisory]:
    if not context.exposed:
        return
    for view in context.schema.views or ():
        readers = granted(view.grants, "SELECT")
        if not readers or not parsing.sql_reads_auth_users(view.definition or ""):
            continue
        how = _view_exposes_auth_users(view)
        if how is None:
            continue
        kind = "materialized view" if view.materialized else "view"
        yield context.advisory(
            AUTH_USERS_EXPOSED,
            None,
            view.name,
            f"{kind} {context.schema.name}.{view.name} reads auth.users, {how}, and is "
            f"readable by {roles_text(readers)}: user e-mails and metadata are served by the "
            "API",
            f"REVOKE SELECT ON {qualified(context.schema.name, view.name)} FROM "
            f"{roles_sql(readers)}; or move the {kind} out of the exposed schemas",
        )
    for function in context.schema.functions or ():
        callers = granted(function.grants, "EXECUTE")
        if not function.security_definer or not callers:
            continue
        if not _reads_auth_users(function):
            continue
        yield context.advisory(
            AUTH_USERS_EXPOSED,
            None,
            function.name,
            f"SECURITY DEFINER function {context.schema.name}.{function.name} reads "
            f"auth.users and is executable by {roles_text(callers)} through the API: "
            "whatever it returns from auth.users, any caller gets",
            "make sure it returns only rows the caller may see (check auth.uid() inside), or "
            f"REVOKE EXECUTE ON FUNCTION {_function_sql(context, function)} FROM "
            f"{roles_sql(callers)}",
            # A guarded definer function is the documented way to reach auth.users: it
            # needs a review, not an alarm; a view hands the table out as it is.
            level=Level.WARNING,
        )


def _reads_auth_users(function: Function) -> bool:
    if function.body is None:
        return False
    return parsing.body_reads_auth_users(
        function.language or "", function.body, function.returns or "void"
    )


# Functions no API call reaches: PostgreSQL runs them only as triggers.
_NOT_CALLABLE = frozenset({"trigger", "event_trigger"})
_CALLABLE_BY = (
    (ANON_SECURITY_DEFINER_FUNCTION_EXECUTABLE, "anon", "the anon key, signed in or not"),
    (AUTHENTICATED_SECURITY_DEFINER_FUNCTION_EXECUTABLE, "authenticated", "any signed-in user"),
)


def security_definer_function_executable(context: Context) -> Iterator[Advisory]:
    if not context.exposed:
        return  # PostgREST's /rpc serves the exposed schemas only
    for function in context.schema.functions or ():
        if not function.security_definer or function.kind not in ("function", "procedure"):
            continue
        if (function.returns or "").lower() in _NOT_CALLABLE:
            continue
        callers = granted(function.grants, "EXECUTE")
        for rule, role, who in _CALLABLE_BY:
            holders = callers & {role, PUBLIC_ROLE}
            if not holders:
                continue
            yield context.advisory(
                rule,
                None,
                function.name,
                f"SECURITY DEFINER function {context.schema.name}.{function.name} is "
                f"executable by {roles_text(holders)}, so {who} can call it through the API "
                "(/rest/v1/rpc): it runs with its owner's rights and bypasses row level "
                "security",
                f"REVOKE EXECUTE ON FUNCTION {_function_sql(context, function)} FROM "
                f"{roles_sql(holders)}; or make it SECURITY INVOKER; or, if {role} must "
                "call it, check the caller inside (auth.uid()) and keep this advisory off "
                "for it",
            )


def fkey_to_auth_unique(context: Context) -> Iterator[Advisory]:
    for table in context.schema.tables:
        for constraint in table.constraints or ():
            target = constraint.references
            if constraint.type is not ConstraintType.FOREIGN_KEY or target is None:
                continue
            if not (target.table.startswith("auth.") and target.unique_key):
                continue
            columns = ", ".join(target.columns)
            yield context.advisory(
                FKEY_TO_AUTH_UNIQUE,
                table.name,
                constraint.name,
                f"foreign key {constraint.name} on {context.where(table)} references "
                f"{target.table} ({columns}), a unique key that is not its primary key: the "
                "platform may change or drop that constraint on an upgrade, and this key "
                "then blocks it",
                f"reference {target.table}'s primary key instead, or ALTER TABLE "
                f"{context.sql_name(table)} DROP CONSTRAINT {ident(constraint.name)}",
            )


# Types whose values are oids pg_upgrade cannot carry over (regclass, regtype and
# regrole it keeps: those oids are preserved).
_REG_TYPES = frozenset(
    {
        "regcollation",
        "regconfig",
        "regdictionary",
        "regnamespace",
        "regoper",
        "regoperator",
        "regproc",
        "regprocedure",
    }
)
_NOT_USER_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pgsodium"})


@lru_cache(maxsize=4096)  # a catalog has a few dozen distinct column types
def _reg_type(type_: str) -> str | None:
    """The reg* type pg_upgrade refuses that a column type is (or is an array of)."""
    base = type_.removesuffix("[]").removeprefix("pg_catalog.")
    return base if base in _REG_TYPES else None


def unsupported_reg_types(context: Context) -> Iterator[Advisory]:
    if context.schema.name in _NOT_USER_SCHEMAS:
        return
    for table in context.schema.tables:
        for column in table.columns or ():
            base = _reg_type(column.type)
            if base is None:
                continue
            yield context.advisory(
                UNSUPPORTED_REG_TYPES,
                table.name,
                column.name,
                f"column {context.where(table)}.{column.name} is of type {column.type}: its "
                "values are oids that pg_upgrade cannot carry over, so it refuses to upgrade "
                "the database",
                f"ALTER TABLE {context.sql_name(table)} ALTER COLUMN {ident(column.name)} "
                f"TYPE {'text[]' if column.type.endswith('[]') else 'text'} (the names, read "
                f"back with ::{base} when needed)",
            )


CHECKS = (
    security_definer_view,
    function_search_path_mutable,
    auth_users_exposed,
    security_definer_function_executable,
    fkey_to_auth_unique,
    unsupported_reg_types,
)
