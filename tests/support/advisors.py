"""Model pieces shared by the advisors' tests and benchmark."""

from __future__ import annotations

from monitor.schema.advisors import Advisory
from monitor.schema.model import (
    Column,
    Constraint,
    ConstraintType,
    ForeignKey,
    Index,
    Policy,
    Rls,
    Schema,
    State,
    Table,
)

# The usual Supabase membership policy, as PostgreSQL deparses it: `auth.uid()` wrapped
# in a sub-select, so that it is evaluated once per statement, not per row.
MEMBER = (
    "(organization_id IN ( SELECT om.organization_id FROM organization_members om"
    " WHERE (om.user_id = ( SELECT auth.uid() AS uid))))"
)

PKEY = Constraint("integrations_pkey", ConstraintType.PRIMARY_KEY, ("id",))
FKEY = Constraint(
    "integrations_organization_id_fkey",
    ConstraintType.FOREIGN_KEY,
    ("organization_id",),
    ForeignKey("public.organizations", ("id",), on_delete="CASCADE"),
)
PKEY_INDEX = Index("integrations_pkey", ("id",), unique=True, constraint="integrations_pkey")
FKEY_INDEX = Index("idx_integrations_org_status", ("organization_id", "status DESC"))
POLICIES = (
    Policy("view", "SELECT", roles=frozenset({"authenticated"}), using=MEMBER),
    Policy("insert", "INSERT", roles=frozenset({"authenticated"}), with_check=MEMBER),
)
COLUMNS = (
    Column("id", "uuid", nullable=False),
    Column("organization_id", "uuid", nullable=False),
    Column("status", "text"),
)
CLEAN = Table(
    name="integrations",
    rls=Rls(enabled=True),
    columns=COLUMNS,
    constraints=(PKEY, FKEY),
    indexes=(PKEY_INDEX, FKEY_INDEX),
    policies=POLICIES,
    triggers=(),
)


def state(*tables: Table, schema: str = "public") -> State:
    return State(schemas=(Schema(schema, tables),))


def rules_of(advisories: tuple[Advisory, ...]) -> list[tuple[str, str]]:
    return [(a.rule, a.object) for a in advisories]
