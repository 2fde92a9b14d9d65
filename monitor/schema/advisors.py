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
from typing import Any

from pglast import parser

from monitor.schema import normalize
from monitor.schema.model import ConstraintType, Index, Schema, State, Table
from monitor.schema.quote import ident, qualified


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
        context = _Context(schema, schema.name in settings.exposed_schemas, settings, activity)
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

    def advisory(
        self, rule: str, table: str | None, obj: str, message: str, remediation: str
    ) -> Advisory:
        spec = RULES[rule]
        return Advisory(
            rule, spec.level, spec.category, self.schema.name, table, obj, message, remediation
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
        where, name = context.where(table), context.sql_name(table)
        policies = table.policies or ()
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
        if len(permissive) < 2:
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


def _unwrapped_calls(expression: str | None) -> Iterator[str]:
    """Names of per-statement functions called where no FROM-less sub-select wraps them."""
    if expression is None:
        return
    try:
        tree = json.loads(parser.parse_sql_json(f"SELECT {expression}"))
    except parser.ParseError:
        return
    for statement in tree.get("stmts", []):
        targets = statement["stmt"]["SelectStmt"].get("targetList", [])
        for target in targets:
            yield from _calls(target["ResTarget"].get("val"), wrapped=False)


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
        else key(index.where, lambda w: normalize.expression_key(w, table)),
        index.unique,
        index.method.lower(),
    )


def _duplicate_index(context: _Context) -> Iterator[Advisory]:
    for table in context.schema.tables:
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


_CHECKS: tuple[Callable[[_Context], Iterable[Advisory]], ...] = (
    _rls_rules,
    _multiple_permissive,
    _auth_rls_initplan,
    _no_primary_key,
    _unindexed_foreign_keys,
    _duplicate_index,
    _unused_index,
)
