"""What every advisor shares: levels, the advisory record, settings, and the context a rule
reads one schema through."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any

from monitor.schema.model import PUBLIC_ROLE, Grants, Schema, State, Table
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
UNUSED_INDEX_AFTER_SECONDS = 3600.0

# The schemas Supabase and its extensions own: rules about the project's own objects
# leave them alone, as Supabase's linter does.
PLATFORM_SCHEMAS = frozenset(
    {
        "_timescaledb_cache", "_timescaledb_catalog", "_timescaledb_config",
        "_timescaledb_internal", "auth", "cron", "extensions", "graphql", "graphql_public",
        "information_schema", "net", "pgmq", "pgroonga", "pgsodium", "pgsodium_masks", "pgtle",
        "pgbouncer", "pg_catalog", "realtime", "repack", "storage", "supabase_functions",
        "supabase_migrations", "tiger", "topology", "vault",
    }
)  # fmt: skip


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


@dataclass(frozen=True, slots=True)
class Context:
    """One schema of the state, as the rules see it."""

    schema: Schema
    exposed: bool
    settings: Settings
    activity: IndexActivity | None
    state: State

    @property
    def platform(self) -> bool:
        """A schema the platform owns (``auth``, ``storage`` ...), not the project."""
        return self.schema.name in PLATFORM_SCHEMAS

    def advisory(
        self,
        rule: Rule,
        table: str | None,
        obj: str,
        message: str,
        remediation: str,
        level: Level | None = None,
    ) -> Advisory:
        """An advisory of `rule`, at the rule's level unless this case is milder."""
        return Advisory(
            rule.id,
            level or rule.level,
            rule.category,
            self.schema.name,
            table,
            obj,
            message,
            remediation,
        )

    def where(self, table: Table) -> str:
        return f"{self.schema.name}.{table.name}"

    def sql_name(self, table: Table | str) -> str:
        return qualified(self.schema.name, table if isinstance(table, str) else table.name)


API_ROLES = frozenset({"anon", "authenticated"})
API_GRANTEES = frozenset({"anon", "authenticated", PUBLIC_ROLE})


def granted(
    grants: Grants | None,
    privilege: str,
    grantees: frozenset[str] = API_GRANTEES,
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


def roles_text(roles: Iterable[str]) -> str:
    return ", ".join("PUBLIC" if r == PUBLIC_ROLE else r for r in sorted(roles))


def roles_sql(roles: Iterable[str]) -> str:
    return ", ".join("PUBLIC" if r == PUBLIC_ROLE else ident(r) for r in sorted(roles))


@lru_cache(maxsize=1024)  # policies share a handful of role lists
def applies_to_api(roles: frozenset[str]) -> frozenset[str]:
    """Which API roles (or PUBLIC) a policy's role list names."""
    return frozenset(r.lower() for r in roles) & API_GRANTEES
