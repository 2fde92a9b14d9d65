"""Advisors: what a reviewer would flag in a database, whatever the spec says.

Drift answers "is the database what the migrations say?"; advisors answer "is
what they say safe and fast?". Each rule is a pure function of the same
:class:`State` the drift check compares (the live snapshot, or a spec), so an
advisor costs no catalog statement of its own. Rule ids and levels follow
Supabase's database linter (splinter), so a finding here reads the same as in
Supabase's dashboard; docs/advisors.md lists every rule with its reasoning.

Levels: ``error`` (data is exposed or protection is silently off), ``warning``
(risky or slow, to fix soon), ``info`` (worth a look; sometimes deliberate).
Advisories never fail a check unless asked (``--fail-on-advisory LEVEL``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any

from pglast import parser

from monitor.schema import normalize
from monitor.schema.model import (
    PUBLIC_ROLE,
    ConstraintType,
    Function,
    Grants,
    Index,
    Policy,
    Schema,
    State,
    Table,
)
from monitor.schema.quote import NotAName, function_signature, ident, qualified


class Level(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


LEVEL_RANK = {Level.INFO: 0, Level.WARNING: 1, Level.ERROR: 2}


class Category(StrEnum):
    SECURITY = "security"
    PERFORMANCE = "performance"


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    level: Level
    category: Category
    title: str


@dataclass(frozen=True, slots=True)
class Advisory:
    rule: str
    level: Level
    category: Category
    schema: str
    table: str | None  # the table it is about, if any
    object: str  # the object it names: a table, index, policy, function, view ...
    message: str
    remediation: str

    @property
    def qualified_name(self) -> str:
        """``schema.table.object``, or ``schema.object`` when the object is the table."""
        parts = [self.schema, self.table, self.object]
        if self.table == self.object or self.table is None:
            parts = [self.schema, self.object]
        return ".".join(p for p in parts if p)

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> Advisory:
        return cls(
            rule=item["rule"],
            level=Level(item["level"]),
            category=Category(item["category"]),
            schema=item["schema"],
            table=item["table"],
            object=item["object"],
            message=item["message"],
            remediation=item["remediation"],
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "level": str(self.level),
            "category": str(self.category),
            "schema": self.schema,
            "table": self.table,
            "object": self.object,
            "message": self.message,
            "remediation": self.remediation,
        }


SUPABASE_EXPOSED_SCHEMAS = ("public", "graphql_public")
API_ROLES = frozenset({"anon", "authenticated"})
UNUSED_INDEX_AFTER_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class Settings:
    """What the advisors look at: set by `check` flags and the daemon's `advisors:` section."""

    enabled: bool = True
    exposed_schemas: tuple[str, ...] = SUPABASE_EXPOSED_SCHEMAS
    disabled_rules: frozenset[str] = frozenset()
    # fnmatch globs of qualified object names ("public.legacy_*"), or "rule:glob".
    ignore: tuple[str, ...] = ()
    # An index counts as unused only once the window has watched it this long.
    unused_index_after_seconds: float = UNUSED_INDEX_AFTER_SECONDS

    def ignores(self, advisory: Advisory) -> bool:
        if advisory.rule in self.disabled_rules:
            return True
        name = advisory.qualified_name
        for pattern in self.ignore:
            rule, colon, glob = pattern.partition(":")
            if colon and rule == advisory.rule and fnmatchcase(name, glob):
                return True
            if not colon and fnmatchcase(name, pattern):
                return True
        return False


@dataclass(frozen=True, slots=True)
class IndexActivity:
    """Index scans since the watch window began, by ``schema.index``: the daemon's baseline."""

    scans: Mapping[str, int] = field(default_factory=dict)
    observed_seconds: float = 0.0


def evaluate(
    state: State, settings: Settings = Settings(), activity: IndexActivity | None = None
) -> tuple[Advisory, ...]:
    """Every advisory on `state`, worst first. `activity` (daemon only) enables unused_index."""
    if not settings.enabled:
        return ()
    found: list[Advisory] = []
    for schema in state.schemas:
        exposed = schema.name in settings.exposed_schemas
        context = _Context(schema, exposed, settings, activity, state)
        for check in _CHECKS:
            found.extend(a for a in check(context) if not settings.ignores(a))
    return tuple(sorted(set(found), key=_sort_key))


def _sort_key(advisory: Advisory) -> tuple[int, str, str, str, str]:
    return (
        -LEVEL_RANK[advisory.level],
        advisory.schema,
        advisory.table or "",
        advisory.rule,
        advisory.object,
    )


def rule_ids() -> tuple[str, ...]:
    return tuple(RULES)


@dataclass(frozen=True, slots=True)
class _Context:
    schema: Schema
    exposed: bool
    settings: Settings
    activity: IndexActivity | None
    state: State

    def advisory(
        self,
        rule: str,
        table: str | None,
        obj: str,
        message: str,
        remediation: str,
        level: Level | None = None,
    ) -> Advisory:
        """An advisory of `rule`, at the rule's level unless this case is milder."""
        spec = RULES[rule]
        return Advisory(
            rule,
            level or spec.level,
            spec.category,
            self.schema.name,
            table,
            obj,
            message,
            remediation,
        )

    def where(self, table: Table) -> str:
        return f"{self.schema.name}.{table.name}"

    def sql_name(self, table: Table) -> str:
        return qualified(self.schema.name, table.name)


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule(
            "rls_disabled_in_public",
            Level.ERROR,
            Category.SECURITY,
            "Table in an API-exposed schema without row level security",
        ),
        Rule(
            "policy_exists_rls_disabled",
            Level.ERROR,
            Category.SECURITY,
            "Policies on a table whose row level security is off",
        ),
        Rule(
            "rls_enabled_no_policy",
            Level.INFO,
            Category.SECURITY,
            "Row level security on, no policy: only the owner and BYPASSRLS roles see rows",
        ),
        Rule(
            "unindexed_foreign_keys",
            Level.INFO,
            Category.PERFORMANCE,
            "Foreign key without a covering index",
        ),
        Rule("duplicate_index", Level.WARNING, Category.PERFORMANCE, "Identical indexes"),
        Rule(
            "multiple_permissive_policies",
            Level.WARNING,
            Category.PERFORMANCE,
            "Several permissive policies for the same role and command",
        ),
        Rule(
            "auth_rls_initplan",
            Level.WARNING,
            Category.PERFORMANCE,
            "auth.uid(), auth.jwt() or current_setting() re-evaluated for every row",
        ),
        Rule("no_primary_key", Level.INFO, Category.PERFORMANCE, "Table without a primary key"),
        Rule(
            "security_definer_view",
            Level.ERROR,
            Category.SECURITY,
            "View with its owner's rights (no security_invoker) readable by API roles",
        ),
        Rule(
            "function_search_path_mutable",
            Level.WARNING,
            Category.SECURITY,
            "Function without a fixed search_path",
        ),
        Rule(
            "auth_users_exposed",
            Level.ERROR,
            Category.SECURITY,
            "auth.users served to API roles through a view or a SECURITY DEFINER function",
        ),
        Rule(
            "extension_in_public",
            Level.WARNING,
            Category.SECURITY,
            "Extension installed in an API-exposed schema",
        ),
        Rule(
            "sensitive_columns_exposed",
            Level.ERROR,
            Category.SECURITY,
            "Sensitive-looking column readable by anon",
        ),
        Rule(
            "unused_index",
            Level.INFO,
            Category.PERFORMANCE,
            "Index not used since the watch window began",
        ),
    )
}


# --- row level security ------------------------------------------------------------------


def _rls_rules(context: _Context) -> Iterator[Advisory]:
    for table in context.schema.tables:
        if table.rls is None:
            continue
        policies = table.policies or ()
        if table.rls.enabled and (table.policies is None or policies):
            continue  # the common, quiet case: spell no names for it
        where, name = context.where(table), context.sql_name(table)
        if not table.rls.enabled and context.exposed:
            yield context.advisory(
                "rls_disabled_in_public",
                table.name,
                table.name,
                f"table {where} is in API-exposed schema {context.schema.name} but row level "
                "security is disabled: anyone holding the anon key can read and write every row "
                "the table's grants allow",
                f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY; then add policies for the access "
                f"the API needs, or REVOKE ALL ON {name} FROM anon, authenticated",
            )
        if not table.rls.enabled and policies:
            names = ", ".join(sorted(p.name for p in policies))
            yield context.advisory(
                "policy_exists_rls_disabled",
                table.name,
                table.name,
                f"table {where} has {len(policies)} row level security "
                f"{'policy' if len(policies) == 1 else 'policies'} ({names}) but row level "
                "security is disabled: none of them is enforced",
                f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY",
            )
        if table.rls.enabled and table.policies is not None and not policies:
            yield context.advisory(
                "rls_enabled_no_policy",
                table.name,
                table.name,
                f"table {where} has row level security enabled and no policy: API roles "
                "see no rows and can write none",
                f"if the API should reach {where}, CREATE POLICY ... ON {name}; if only the "
                "service role should, say so in a comment and switch this advisory off for it",
            )


# --- policies ----------------------------------------------------------------------------

_COMMANDS = ("SELECT", "INSERT", "UPDATE", "DELETE")


def _multiple_permissive(context: _Context) -> Iterator[Advisory]:
    for table in context.schema.tables:
        permissive = [p for p in table.policies or () if p.permissive]
        if len(permissive) < 2 or not _commands_overlap(permissive):
            continue
        named = {role.lower() for p in permissive for role in p.roles} - {"public"}
        for role in sorted(named or {"public"}):
            for command in _COMMANDS:
                applying = sorted(
                    p.name
                    for p in permissive
                    if p.command in ("ALL", command)
                    and ({role, "public"} & {r.lower() for r in p.roles})
                )
                if len(applying) < 2:
                    continue
                yield context.advisory(
                    "multiple_permissive_policies",
                    table.name,
                    f"{role} {command}",
                    f"table {context.where(table)} has {len(applying)} permissive policies for "
                    f"role {role} and {command} ({', '.join(applying)}): every one of them is "
                    "evaluated for every row",
                    "merge them into one policy whose USING/WITH CHECK ORs their conditions, "
                    "or make the ones that only narrow access RESTRICTIVE",
                )


def _commands_overlap(policies: list[Policy]) -> bool:
    """Whether two of `policies` apply to one command: else no role can have two."""
    commands = [p.command for p in policies]
    return "ALL" in commands or len(set(commands)) < len(commands)


# Functions whose value is the same for every row of a statement, but which the
# planner calls per row unless they sit in a sub-select it can run once.
_PER_STATEMENT_FUNCTIONS = frozenset(
    {
        "auth.uid",
        "auth.jwt",
        "auth.role",
        "auth.email",
        "current_setting",
        "pg_catalog.current_setting",
    }
)


def _auth_rls_initplan(context: _Context) -> Iterator[Advisory]:
    for table in context.schema.tables:
        for policy in table.policies or ():
            calls = sorted(
                set(_unwrapped_calls(policy.using)) | set(_unwrapped_calls(policy.with_check))
            )
            if not calls:
                continue
            spelled = ", ".join(f"{call}()" for call in calls)
            wrapped = ", ".join(f"(select {call}())" for call in calls)
            yield context.advisory(
                "auth_rls_initplan",
                table.name,
                policy.name,
                f"policy {policy.name!r} on {context.where(table)} calls {spelled} outside a "
                "sub-select: it is evaluated again for every row the query reads",
                f"write {wrapped} instead, so PostgreSQL runs it once per statement "
                "(an InitPlan): ALTER POLICY "
                f"{ident(policy.name)} ON {context.sql_name(table)} USING (...)",
            )


# A call to one of them has its name in the text: no parse without it.
_CALL_WORDS = ("uid", "jwt", "role", "email", "current_setting")


def _unwrapped_calls(expression: str | None) -> tuple[str, ...]:
    """Names of per-statement functions called where no FROM-less sub-select wraps them."""
    if expression is None:
        return ()
    return _unwrapped_calls_of(expression)


@lru_cache(maxsize=16384)
def _unwrapped_calls_of(expression: str) -> tuple[str, ...]:
    # The same policy text on table after table: even the word scan runs once per text.
    if not any(w in expression.lower() for w in _CALL_WORDS):
        return ()
    return _unwrapped_calls_parsed(expression)


@lru_cache(maxsize=16384)
def _unwrapped_calls_parsed(expression: str) -> tuple[str, ...]:
    # Policies repeat across tables (the same membership check on each): parse each once.
    try:
        tree = json.loads(parser.parse_sql_json(f"SELECT {expression}"))
    except parser.ParseError:
        return ()
    found: list[str] = []
    for statement in tree.get("stmts", []):
        targets = statement["stmt"]["SelectStmt"].get("targetList", [])
        for target in targets:
            found.extend(_calls(target["ResTarget"].get("val"), wrapped=False))
    return tuple(found)


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
        name = ".".join(part["String"]["sval"] for part in call.get("funcname", []))
        if name in _PER_STATEMENT_FUNCTIONS:
            yield name.removeprefix("pg_catalog.")
    for value in node.values():
        yield from _calls(value, wrapped=wrapped)


# --- keys and indexes --------------------------------------------------------------------


def _no_primary_key(context: _Context) -> Iterator[Advisory]:
    for table in context.schema.tables:
        if table.constraints is None:
            continue
        if any(c.type is ConstraintType.PRIMARY_KEY for c in table.constraints):
            continue
        yield context.advisory(
            "no_primary_key",
            table.name,
            table.name,
            f"table {context.where(table)} has no primary key: rows cannot be told apart, "
            "logical replication cannot send its updates and deletes, and tools that edit "
            "rows refuse it",
            f"ALTER TABLE {context.sql_name(table)} ADD PRIMARY KEY (...) on a unique, "
            "not null column (or add an identity column)",
        )


@lru_cache(maxsize=16384)  # the same key columns ("id", "organization_id") on every table
def _plain_column(key: str) -> str | None:
    """The column an index key is on, ``None`` for an expression."""
    try:
        element = json.loads(normalize.index_column_key(key))
    except normalize.SqlSyntaxError:
        return None
    name = element.get("name")
    return name if isinstance(name, str) else None


def _covers(index: Index, columns: tuple[str, ...]) -> bool:
    if not index.valid or index.where is not None or len(index.columns) < len(columns):
        return False
    leading = [_plain_column(key) for key in index.columns[: len(columns)]]
    return set(leading) == set(columns)


def _unindexed_foreign_keys(context: _Context) -> Iterator[Advisory]:
    for table in context.schema.tables:
        indexes = table.indexes or ()
        for constraint in table.constraints or ():
            if constraint.type is not ConstraintType.FOREIGN_KEY or not constraint.columns:
                continue
            if any(_covers(index, constraint.columns) for index in indexes):
                continue
            columns = ", ".join(constraint.columns)
            referenced = constraint.references.table if constraint.references else "its table"
            yield context.advisory(
                "unindexed_foreign_keys",
                table.name,
                constraint.name,
                f"foreign key {constraint.name} on {context.where(table)} ({columns}) has no "
                f"index starting with its columns: every delete or key update in {referenced} "
                "scans the whole table, and joins on it cannot use an index",
                f"CREATE INDEX CONCURRENTLY ON {context.sql_name(table)} "
                f"({', '.join(ident(c) for c in constraint.columns)})",
            )


def _index_identity(index: Index, table: str) -> tuple[Any, ...]:
    """What makes two indexes do the same work, spelling aside."""

    def key(text: str, canonical: Callable[[str], str]) -> str:
        try:
            return canonical(text)
        except normalize.SqlSyntaxError:
            return text

    return (
        tuple(key(c, normalize.index_column_key) for c in index.columns),
        tuple(key(c, normalize.index_column_key) for c in index.include),
        None
        if index.where is None
        else key(index.where, lambda w: normalize.table_expression_key(w, table)),
        index.unique,
        index.method.lower(),
    )


def _could_share_identity(indexes: tuple[Index, ...]) -> bool:
    """Whether two of `indexes` agree in what no spelling changes (counts, uniqueness,
    method, partial or not): only such a pair can be identical, and most tables have none."""
    shapes = {
        (len(i.columns), len(i.include), i.where is None, i.unique, i.method.lower())
        for i in indexes
    }
    return len(shapes) < len(indexes)


def _duplicate_index(context: _Context) -> Iterator[Advisory]:
    for table in context.schema.tables:
        if not table.indexes or not _could_share_identity(table.indexes):
            continue
        groups: dict[tuple[Any, ...], list[Index]] = {}
        for index in table.indexes or ():
            groups.setdefault(_index_identity(index, table.name), []).append(index)
        for group in groups.values():
            if len(group) < 2:
                continue
            # Keep the one a constraint needs, else the first by name; the others can go.
            keep, *others = sorted(group, key=lambda i: (i.constraint is None, i.name))
            for index in others:
                yield context.advisory(
                    "duplicate_index",
                    table.name,
                    index.name,
                    f"index {index.name} on {context.where(table)} is identical to "
                    f"{keep.name}: it costs every write and its disk space for nothing",
                    f"DROP INDEX CONCURRENTLY {qualified(context.schema.name, index.name)}",
                )


def _unused_index(context: _Context) -> Iterator[Advisory]:
    activity = context.activity
    if activity is None or activity.observed_seconds < context.settings.unused_index_after_seconds:
        return  # `check` has no baseline; a young window has not seen the traffic yet
    hours = activity.observed_seconds / 3600
    for table in context.schema.tables:
        for index in table.indexes or ():
            if index.unique or index.constraint is not None or not index.valid:
                continue  # a unique index works on every write, scanned or not
            scans = activity.scans.get(f"{context.schema.name}.{index.name}")
            if scans != 0:
                continue
            yield context.advisory(
                "unused_index",
                table.name,
                index.name,
                f"index {index.name} on {context.where(table)} has not been scanned in the "
                f"{hours:.1f} h since the watch window began",
                "check the queries it was built for (EXPLAIN them); if none needs it, "
                f"DROP INDEX CONCURRENTLY {qualified(context.schema.name, index.name)}",
            )


# --- the security surface: functions, views, grants, extensions --------------------------

_API_GRANTEES = frozenset({"anon", "authenticated", PUBLIC_ROLE})


def _granted(
    grants: Grants | None,
    privilege: str,
    grantees: frozenset[str] = _API_GRANTEES,
    column: str | None = None,
) -> frozenset[str]:
    """Which of `grantees` hold `privilege` (on the object, or on `column`)."""
    if grants is None:
        return frozenset()
    return frozenset(
        g.grantee.lower()
        for g in grants
        if g.privilege == privilege
        and g.grantee.lower() in grantees
        and (g.column is None or g.column == column)
    )


def _roles_text(roles: Iterable[str]) -> str:
    return ", ".join("PUBLIC" if r == PUBLIC_ROLE else r for r in sorted(roles))


def _roles_sql(roles: Iterable[str]) -> str:
    return ", ".join("PUBLIC" if r == PUBLIC_ROLE else ident(r) for r in sorted(roles))


def _function_sql(context: _Context, function: Function) -> str:
    """The function for a remediation: its signature rebuilt from parts, each quoted."""
    try:
        return function_signature(context.schema.name, function.name)
    except NotAName:  # a spec's text the parser refuses: no SQL is written around it
        return "<the function>"


def _security_definer_view(context: _Context) -> Iterator[Advisory]:
    if not context.exposed:
        return
    for view in context.schema.views or ():
        if view.materialized or view.security_invoker:
            continue
        readers = _granted(view.grants, "SELECT")
        if not readers:
            continue
        name = qualified(context.schema.name, view.name)
        bypassed = (
            f" and bypasses the policies of {', '.join(view.rls_tables)}" if view.rls_tables else ""
        )
        yield context.advisory(
            "security_definer_view",
            None,
            view.name,
            f"view {context.schema.name}.{view.name} runs with its owner's rights (no "
            f"security_invoker) and is readable by {_roles_text(readers)}: it reads as its "
            f"owner{bypassed}",
            f"ALTER VIEW {name} SET (security_invoker = true); or REVOKE SELECT ON {name} "
            f"FROM {_roles_sql(readers)}",
        )


def _function_search_path_mutable(context: _Context) -> Iterator[Advisory]:
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
            "function_search_path_mutable",
            None,
            function.name,
            f"{definer}function {context.schema.name}.{function.name} has no fixed "
            f"search_path{level_note}",
            f"ALTER FUNCTION {_function_sql(context, function)} SET search_path = '' "
            "(and schema-qualify the names it uses)",
        )


def _auth_users_exposed(context: _Context) -> Iterator[Advisory]:
    if not context.exposed:
        return
    for view in context.schema.views or ():
        readers = _granted(view.grants, "SELECT")
        if not readers or view.security_invoker or not _reads_auth_users_sql(view.definition):
            continue
        yield context.advisory(
            "auth_users_exposed",
            None,
            view.name,
            f"view {context.schema.name}.{view.name} reads auth.users and is readable by "
            f"{_roles_text(readers)}: user e-mails and metadata are served by the API",
            f"REVOKE SELECT ON {qualified(context.schema.name, view.name)} FROM "
            f"{_roles_sql(readers)}; or move the view out of the exposed schemas",
        )
    for function in context.schema.functions or ():
        callers = _granted(function.grants, "EXECUTE")
        if not function.security_definer or not callers:
            continue
        if not _reads_auth_users(function):
            continue
        yield context.advisory(
            "auth_users_exposed",
            None,
            function.name,
            f"SECURITY DEFINER function {context.schema.name}.{function.name} reads "
            f"auth.users and is executable by {_roles_text(callers)} through the API: "
            "whatever it returns from auth.users, any caller gets",
            "make sure it returns only rows the caller may see (check auth.uid() inside), or "
            f"REVOKE EXECUTE ON FUNCTION {_function_sql(context, function)} FROM "
            f"{_roles_sql(callers)}",
            # A guarded definer function is the documented way to reach auth.users: it
            # needs a review, not an alarm; a view hands the table out as it is.
            level=Level.WARNING,
        )


def _reads_auth_users(function: Function) -> bool:
    if function.body is None:
        return False
    return _body_reads_auth_users(function.language, function.body, function.returns or "void")


@lru_cache(maxsize=4096)  # generated functions share their bodies: parse each text once
def _body_reads_auth_users(language: str, body: str, returns: str) -> bool:
    if language == "sql":
        return _reads_auth_users_sql(body)
    if language == "plpgsql":
        return any(_reads_auth_users_sql(q) for q in _plpgsql_queries(body, returns))
    return False


def _reads_auth_users_sql(text: str | None) -> bool:
    if not text:
        return False
    return _sql_reads_auth_users(text)


@lru_cache(maxsize=4096)
def _sql_reads_auth_users(text: str) -> bool:
    try:
        tree = json.loads(parser.parse_sql_json(text))
    except parser.ParseError:
        return False
    return any(
        node.get("schemaname") == "auth" and node.get("relname") == "users"
        for node in _nodes(tree, "RangeVar")
    )


def _plpgsql_queries(body: str, returns: str) -> list[str]:
    """The SQL statements and expressions inside a PL/pgSQL body, as pglast's parser sees them
    (it checks RETURN against the return type, so the function's own is given)."""
    source = f"CREATE FUNCTION f() RETURNS {returns} LANGUAGE plpgsql AS $monitor${body}$monitor$"
    try:
        parsed = json.loads(parser.parse_plpgsql_json(source))
    except (parser.ParseError, AttributeError, ValueError):
        return []
    return [node["query"] for node in _nodes(parsed, "PLpgSQL_expr") if "query" in node]


def _nodes(tree: Any, kind: str) -> Iterator[dict[str, Any]]:
    if isinstance(tree, list):
        for item in tree:
            yield from _nodes(item, kind)
    elif isinstance(tree, dict):
        for key, value in tree.items():
            if key == kind and isinstance(value, dict):
                yield value
            yield from _nodes(value, kind)


def _extension_in_public(context: _Context) -> Iterator[Advisory]:
    if not context.exposed:
        return
    for extension in context.state.extensions or ():
        if extension.schema != context.schema.name:
            continue
        yield context.advisory(
            "extension_in_public",
            None,
            extension.name,
            f"extension {extension.name} is installed in API-exposed schema "
            f"{extension.schema}: its functions and tables are served by the API",
            f"ALTER EXTENSION {ident(extension.name)} SET SCHEMA extensions "
            "(if it supports it; else drop and create it there)",
        )


_SENSITIVE = (
    "password", "passwd", "secret", "token", "credential", "api_key", "apikey",
    "access_key", "private_key", "ssn", "social_security", "credit_card", "card_number", "cvv",
    "iban",
)  # fmt: skip


@lru_cache(maxsize=16384)  # column names repeat table after table ("id", "created_at")
def _looks_sensitive(column: str) -> bool:
    lowered = column.lower()
    return any(word in lowered for word in _SENSITIVE)


def _sensitive_columns_exposed(context: _Context) -> Iterator[Advisory]:
    if not context.exposed:
        return
    for table in context.schema.tables:
        if table.grants is None or table.columns is None:
            continue
        rows_visible = (table.rls is not None and not table.rls.enabled) or any(
            p.permissive
            and p.command in ("ALL", "SELECT")
            and {r.lower() for r in p.roles} & {"anon", PUBLIC_ROLE}
            for p in table.policies or ()
        )
        if not rows_visible:
            continue
        for column in table.columns:
            if not _looks_sensitive(column.name):
                continue
            readers = _granted(
                table.grants, "SELECT", frozenset({"anon", PUBLIC_ROLE}), column.name
            )
            if not readers:
                continue
            how = (
                "a policy lets anon read rows"
                if table.rls is not None and table.rls.enabled
                else "row level security is off"
            )
            yield context.advisory(
                "sensitive_columns_exposed",
                table.name,
                column.name,
                f"column {context.where(table)}.{column.name} looks sensitive, "
                f"{_roles_text(readers)} may SELECT it and {how}: the anon key reads it",
                f"REVOKE SELECT ON {context.sql_name(table)} FROM {_roles_sql(readers)}; "
                f"GRANT SELECT (<the other columns>) ON {context.sql_name(table)} TO anon; or "
                "move the column to a table the API cannot read",
            )


_CHECKS: tuple[Callable[[_Context], Iterable[Advisory]], ...] = (
    _rls_rules,
    _multiple_permissive,
    _auth_rls_initplan,
    _no_primary_key,
    _unindexed_foreign_keys,
    _duplicate_index,
    _unused_index,
    _security_definer_view,
    _function_search_path_mutable,
    _auth_users_exposed,
    _extension_in_public,
    _sensitive_columns_exposed,
)
