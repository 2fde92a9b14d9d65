"""Row level security and its policies: is it on where the API reaches, and does each
policy say what its author meant, at a cost paid once per statement."""

from __future__ import annotations

from collections.abc import Iterator

from monitor.schema.advisors import parsing
from monitor.schema.advisors.base import (
    Advisory,
    Category,
    Context,
    Level,
    Rule,
    applies_to_api,
    roles_text,
)
from monitor.schema.model import Policy, Table
from monitor.schema.quote import ident

RLS_DISABLED_IN_PUBLIC = Rule(
    "rls_disabled_in_public",
    Level.ERROR,
    Category.SECURITY,
    "Table in an API-exposed schema without row level security",
)
POLICY_EXISTS_RLS_DISABLED = Rule(
    "policy_exists_rls_disabled",
    Level.ERROR,
    Category.SECURITY,
    "Policies on a table whose row level security is off",
)
RLS_ENABLED_NO_POLICY = Rule(
    "rls_enabled_no_policy",
    Level.INFO,
    Category.SECURITY,
    "Row level security on, no policy: only the owner and BYPASSRLS roles see rows",
)
MULTIPLE_PERMISSIVE_POLICIES = Rule(
    "multiple_permissive_policies",
    Level.WARNING,
    Category.PERFORMANCE,
    "Several permissive policies for the same role and command",
)
AUTH_RLS_INITPLAN = Rule(
    "auth_rls_initplan",
    Level.WARNING,
    Category.PERFORMANCE,
    "auth.uid(), auth.jwt() or current_setting() re-evaluated for every row",
)
RLS_POLICY_ALWAYS_TRUE = Rule(
    "rls_policy_always_true",
    Level.WARNING,
    Category.SECURITY,
    "A write policy for API roles whose USING or WITH CHECK is always true",
)
RLS_REFERENCES_USER_METADATA = Rule(
    "rls_references_user_metadata",
    Level.ERROR,
    Category.SECURITY,
    "A policy trusts user_metadata from the JWT, which every user can edit",
)
RLS_POLICY_NULL_AUTH_DISJUNCT = Rule(
    "rls_policy_null_auth_disjunct",
    Level.WARNING,
    Category.SECURITY,
    "A read policy that admits every row when auth.uid() (or the like) is NULL",
)
RULES = (
    RLS_DISABLED_IN_PUBLIC,
    POLICY_EXISTS_RLS_DISABLED,
    RLS_ENABLED_NO_POLICY,
    MULTIPLE_PERMISSIVE_POLICIES,
    AUTH_RLS_INITPLAN,
    RLS_POLICY_ALWAYS_TRUE,
    RLS_REFERENCES_USER_METADATA,
    RLS_POLICY_NULL_AUTH_DISJUNCT,
)


def rls_rules(context: Context) -> Iterator[Advisory]:
    for table in context.schema.tables:
        if table.rls is None:
            continue
        policies = table.policies or ()
        if table.rls.enabled and (table.policies is None or policies):
            continue  # the common, quiet case: spell no names for it
        where, name = context.where(table), context.sql_name(table)
        if not table.rls.enabled and context.exposed:
            yield context.advisory(
                RLS_DISABLED_IN_PUBLIC,
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
                POLICY_EXISTS_RLS_DISABLED,
                table.name,
                table.name,
                f"table {where} has {len(policies)} row level security "
                f"{'policy' if len(policies) == 1 else 'policies'} ({names}) but row level "
                "security is disabled: none of them is enforced",
                f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY",
            )
        if table.rls.enabled and table.policies is not None and not policies:
            yield context.advisory(
                RLS_ENABLED_NO_POLICY,
                table.name,
                table.name,
                f"table {where} has row level security enabled and no policy: API roles "
                "see no rows and can write none",
                f"if the API should reach {where}, CREATE POLICY ... ON {name}; if only the "
                "service role should, say so in a comment and switch this advisory off for it",
            )


_COMMANDS = ("SELECT", "INSERT", "UPDATE", "DELETE")


def multiple_permissive(context: Context) -> Iterator[Advisory]:
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
                    MULTIPLE_PERMISSIVE_POLICIES,
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


def auth_rls_initplan(context: Context) -> Iterator[Advisory]:
    for table in context.schema.tables:
        for policy in table.policies or ():
            calls = sorted(
                set(parsing.unwrapped_calls(policy.using))
                | set(parsing.unwrapped_calls(policy.with_check))
            )
            if not calls:
                continue
            spelled = ", ".join(f"{call}()" for call in calls)
            wrapped = ", ".join(f"(select {call}())" for call in calls)
            yield context.advisory(
                AUTH_RLS_INITPLAN,
                table.name,
                policy.name,
                f"policy {policy.name!r} on {context.where(table)} calls {spelled} outside a "
                "sub-select: it is evaluated again for every row the query reads",
                f"write {wrapped} instead, so PostgreSQL runs it once per statement "
                "(an InitPlan): ALTER POLICY "
                f"{ident(policy.name)} ON {context.sql_name(table)} USING (...)",
            )


def _api_policies(context: Context) -> Iterator[tuple[Table, Policy, frozenset[str]]]:
    """Permissive policies for API roles (or PUBLIC) on enforced tables of the project."""
    if context.platform:
        return
    for table in context.schema.tables:
        if table.rls is None or not table.rls.enabled:
            continue  # RLS off is rls_disabled_in_public's and policy_exists_rls_disabled's
        for policy in table.policies or ():
            roles = applies_to_api(policy.roles)
            if policy.permissive and roles:
                yield table, policy, roles


def _always_true(expression: str | None) -> bool:
    return expression is not None and parsing.always_true(expression)


def rls_policy_always_true(context: Context) -> Iterator[Advisory]:
    # A missing USING or WITH CHECK denies in PostgreSQL (the policy adds no qualifier),
    # so only an expression that is there and always true opens the table. SELECT is
    # left out: `USING (true)` for reading is how a table is made public on purpose.
    for table, policy, roles in _api_policies(context):
        using = policy.command in ("UPDATE", "DELETE", "ALL") and _always_true(policy.using)
        check = policy.command in ("INSERT", "UPDATE", "ALL") and _always_true(policy.with_check)
        if not (using or check):
            continue
        which = " and ".join(
            clause for clause, on in (("USING", using), ("WITH CHECK", check)) if on
        )
        yield context.advisory(
            RLS_POLICY_ALWAYS_TRUE,
            table.name,
            policy.name,
            f"policy {policy.name!r} on {context.where(table)} lets {roles_text(roles)} "
            f"{policy.command} with a {which} that is always true: for that command row level "
            "security protects nothing",
            f"ALTER POLICY {ident(policy.name)} ON {context.sql_name(table)} with a condition on "
            "the row (for example owner_id = (select auth.uid())), or drop the policy",
        )


def _reads_user_metadata(expression: str | None) -> bool:
    # The word is in the text of every expression that reads it: most need no parse.
    return (
        expression is not None
        and "user_metadata" in expression
        and parsing.references_user_metadata(expression)
    )


def rls_references_user_metadata(context: Context) -> Iterator[Advisory]:
    if context.platform:
        return
    for table in context.schema.tables:
        for policy in table.policies or ():
            if not (_reads_user_metadata(policy.using) or _reads_user_metadata(policy.with_check)):
                continue
            yield context.advisory(
                RLS_REFERENCES_USER_METADATA,
                table.name,
                policy.name,
                f"policy {policy.name!r} on {context.where(table)} reads user_metadata from "
                "the JWT: every user can set it for themselves (supabase.auth.updateUser), so "
                "it proves nothing about them",
                "decide on app_metadata (only the service role writes it) or on a table the "
                f"user cannot write: ALTER POLICY {ident(policy.name)} ON "
                f"{context.sql_name(table)} ...",
            )


def rls_policy_null_auth_disjunct(context: Context) -> Iterator[Advisory]:
    for table, policy, roles in _api_policies(context):
        if policy.command not in ("SELECT", "ALL") or policy.using is None:
            continue
        if not parsing.null_auth_disjunct(policy.using):
            continue
        yield context.advisory(
            RLS_POLICY_NULL_AUTH_DISJUNCT,
            table.name,
            policy.name,
            f"policy {policy.name!r} on {context.where(table)} ORs in a test that is true when "
            f"the caller has no session (auth.uid() IS NULL or the like): {roles_text(roles)} "
            "without one read every row",
            "remove the IS NULL arm, or make it a guard: auth.uid() IS NOT NULL AND (...)",
        )


CHECKS = (
    rls_rules,
    multiple_permissive,
    auth_rls_initplan,
    rls_policy_always_true,
    rls_references_user_metadata,
    rls_policy_null_auth_disjunct,
)
