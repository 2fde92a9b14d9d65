"""Each advisor fires on a crafted state and is quiet on a clean one; settings switch them off."""

from __future__ import annotations

import dataclasses

import pytest

from monitor.schema.advisors import (
    RULES,
    IndexActivity,
    Level,
    Settings,
    evaluate,
)
from monitor.schema.model import (
    Column,
    Constraint,
    ConstraintType,
    Extension,
    ForeignKey,
    Function,
    Grant,
    Index,
    Policy,
    Rls,
    Schema,
    State,
    View,
)
from tests.support.advisors import (
    CLEAN,
    COLUMNS,
    FKEY,
    FKEY_INDEX,
    MEMBER,
    PKEY,
    PKEY_INDEX,
    POLICIES,
    rules_of,
    state,
)


def test_a_clean_table_has_no_advisory() -> None:
    assert evaluate(state(CLEAN)) == ()


def test_rls_disabled_in_an_exposed_schema_is_an_error_naming_the_table() -> None:
    table = dataclasses.replace(CLEAN, rls=Rls(enabled=False), policies=())
    (advisory,) = evaluate(state(table))
    assert (advisory.rule, advisory.level, advisory.qualified_name) == (
        "rls_disabled_in_public",
        Level.ERROR,
        "public.integrations",
    )
    assert "ALTER TABLE public.integrations ENABLE ROW LEVEL SECURITY" in advisory.remediation


def test_rls_disabled_outside_exposed_schemas_is_quiet_and_the_list_is_configurable() -> None:
    table = dataclasses.replace(CLEAN, rls=Rls(enabled=False), policies=())
    assert evaluate(state(table, schema="internal")) == ()
    exposed = Settings(exposed_schemas=("internal",))
    assert rules_of(evaluate(state(table, schema="internal"), exposed)) == [
        ("rls_disabled_in_public", "integrations")
    ]


def test_policies_on_a_table_whose_rls_is_off_are_an_error() -> None:
    table = dataclasses.replace(CLEAN, rls=Rls(enabled=False))
    found = evaluate(state(table, schema="private"))
    assert rules_of(found) == [("policy_exists_rls_disabled", "integrations")]
    assert "insert, view" in found[0].message


def test_rls_on_without_a_policy_is_info() -> None:
    (advisory,) = evaluate(state(dataclasses.replace(CLEAN, policies=())))
    assert (advisory.rule, advisory.level) == ("rls_enabled_no_policy", Level.INFO)


def test_several_permissive_policies_for_one_role_and_command_are_named() -> None:
    extra = Policy("admins see all", "ALL", roles=frozenset({"authenticated"}), using="true")
    restrictive = Policy("only active", "SELECT", permissive=False, using="status = 'on'")
    table = dataclasses.replace(CLEAN, policies=(*POLICIES, extra, restrictive))
    found = [a for a in evaluate(state(table)) if a.rule == "multiple_permissive_policies"]
    assert [a.object for a in found] == ["authenticated INSERT", "authenticated SELECT"]
    assert "admins see all, view" in found[1].message


def test_a_policy_to_public_applies_to_every_role() -> None:
    public = Policy("everyone reads", "SELECT", using="true")
    table = dataclasses.replace(CLEAN, policies=(*POLICIES, public))
    found = [a.object for a in evaluate(state(table)) if a.rule == "multiple_permissive_policies"]
    assert found == ["authenticated SELECT"]


@pytest.mark.parametrize(
    "expression",
    [
        "user_id = auth.uid()",
        "(auth.jwt() ->> 'role') = 'admin'",
        "org_id = (current_setting('app.org', true))::uuid",
        "org_id IN (SELECT om.org FROM members om WHERE om.user_id = auth.uid())",
    ],
)
def test_per_row_auth_calls_are_flagged_through_the_parse_tree(expression: str) -> None:
    policy = Policy("p", "SELECT", roles=frozenset({"authenticated"}), using=expression)
    table = dataclasses.replace(CLEAN, policies=(policy,))
    assert rules_of(evaluate(state(table))) == [("auth_rls_initplan", "p")]


@pytest.mark.parametrize(
    "expression",
    [
        "user_id = (SELECT auth.uid())",
        "((SELECT auth.jwt()) ->> 'role') = 'admin'",
        "org_id = (SELECT (current_setting('app.org', true))::uuid)",
        MEMBER,
        "note = 'auth.uid()'",  # text, not a call: a regex would be fooled
    ],
)
def test_calls_in_a_sub_select_or_in_text_are_not_flagged(expression: str) -> None:
    policy = Policy("p", "SELECT", roles=frozenset({"authenticated"}), using=expression)
    table = dataclasses.replace(CLEAN, policies=(policy,))
    assert evaluate(state(table)) == ()


def test_with_check_is_inspected_too() -> None:
    policy = Policy("p", "INSERT", roles=frozenset({"authenticated"}), with_check="a = auth.uid()")
    table = dataclasses.replace(CLEAN, policies=(policy,))
    (advisory,) = evaluate(state(table))
    assert "(select auth.uid())" in advisory.remediation


def test_a_table_without_primary_key_is_info() -> None:
    table = dataclasses.replace(CLEAN, constraints=(FKEY,))
    assert rules_of(evaluate(state(table))) == [("no_primary_key", "integrations")]


def test_a_foreign_key_without_covering_index_is_flagged_with_the_index_to_build() -> None:
    table = dataclasses.replace(CLEAN, indexes=(PKEY_INDEX,))
    (advisory,) = evaluate(state(table))
    assert advisory.rule == "unindexed_foreign_keys"
    assert advisory.object == "integrations_organization_id_fkey"
    assert advisory.remediation == (
        "CREATE INDEX CONCURRENTLY ON public.integrations (organization_id)"
    )


def test_indexes_not_read_leave_foreign_keys_unjudged() -> None:
    # Over limits.objects_per_kind the catalog does not read indexes: None, not none.
    assert evaluate(state(dataclasses.replace(CLEAN, indexes=None))) == ()


@pytest.mark.parametrize(
    "index",
    [
        Index("i", ("status", "organization_id")),  # fk column is not leading
        Index("i", ("organization_id",), where="status = 'on'"),  # partial
        Index("i", ("organization_id",), valid=False),
        Index("i", ("lower(organization_id::text)",)),
    ],
    ids=["not leading", "partial", "invalid", "expression"],
)
def test_an_index_that_does_not_cover_the_foreign_key_does_not_count(index: Index) -> None:
    table = dataclasses.replace(CLEAN, indexes=(PKEY_INDEX, index))
    found = [a.rule for a in evaluate(state(table)) if a.rule != "invalid_index"]
    assert found == ["unindexed_foreign_keys"]


def test_a_quoted_column_name_still_covers_its_foreign_key() -> None:
    fk = Constraint("fk", ConstraintType.FOREIGN_KEY, ("Org",), ForeignKey("public.o", ("id",)))
    table = dataclasses.replace(
        CLEAN,
        constraints=(PKEY, fk),
        indexes=(PKEY_INDEX, Index("i", ('"Org"',))),
    )
    assert evaluate(state(table)) == ()


def test_identical_indexes_spelled_differently_are_duplicates_keeping_the_constraint_one() -> None:
    copy = Index("a_copy", ("ID",), unique=True, method="BTREE")
    table = dataclasses.replace(CLEAN, indexes=(PKEY_INDEX, FKEY_INDEX, copy))
    (advisory,) = evaluate(state(table))
    assert (advisory.rule, advisory.object) == ("duplicate_index", "a_copy")
    assert "identical to integrations_pkey" in advisory.message
    assert advisory.remediation == "DROP INDEX CONCURRENTLY public.a_copy"


def test_indexes_that_differ_in_predicate_are_not_duplicates() -> None:
    partial = Index("p", ("organization_id", "status DESC"), where="status IS NOT NULL")
    table = dataclasses.replace(CLEAN, indexes=(PKEY_INDEX, FKEY_INDEX, partial))
    assert evaluate(state(table)) == ()


def test_a_predicate_qualified_by_its_own_table_matches_the_bare_one_on_that_table_only() -> None:
    bare = Index("bare", ("status",), where="status IS NOT NULL")
    qualified = Index("qualified", ("status",), where="integrations.status IS NOT NULL")
    table = dataclasses.replace(CLEAN, indexes=(PKEY_INDEX, FKEY_INDEX, bare, qualified))
    assert rules_of(evaluate(state(table))) == [("duplicate_index", "qualified")]
    # On another table the qualifier names a different relation: not the same predicate.
    other = dataclasses.replace(table, name="others")
    assert evaluate(state(other)) == ()


def test_the_same_predicate_on_two_tables_is_no_duplicate() -> None:
    partial = Index("p", ("status",), where="status IS NOT NULL")
    first = dataclasses.replace(CLEAN, indexes=(PKEY_INDEX, FKEY_INDEX, partial))
    second = dataclasses.replace(first, name="others")
    assert evaluate(state(first, second)) == ()


def test_unused_index_needs_the_daemons_baseline_and_a_long_enough_window() -> None:
    scans = {"public.idx_integrations_org_status": 0, "public.integrations_pkey": 0}
    assert evaluate(state(CLEAN)) == ()  # `check`: no baseline
    young = IndexActivity(scans, observed_seconds=600)
    assert evaluate(state(CLEAN), activity=young) == ()
    old = IndexActivity(scans, observed_seconds=7200)
    # The primary key's index is never "unused": it enforces uniqueness on every write.
    assert rules_of(evaluate(state(CLEAN), activity=old)) == [
        ("unused_index", "idx_integrations_org_status")
    ]
    used = IndexActivity({**scans, "public.idx_integrations_org_status": 3}, 7200)
    assert evaluate(state(CLEAN), activity=used) == ()


def test_rules_and_objects_can_be_switched_off() -> None:
    table = dataclasses.replace(CLEAN, rls=Rls(enabled=False), constraints=())
    assert {a.rule for a in evaluate(state(table))} == {
        "rls_disabled_in_public",
        "policy_exists_rls_disabled",
        "no_primary_key",
    }
    off = Settings(disabled_rules=frozenset({"no_primary_key"}))
    assert "no_primary_key" not in {a.rule for a in evaluate(state(table), off)}
    one_rule = Settings(ignore=("policy_exists_rls_disabled:public.integ*",))
    assert {a.rule for a in evaluate(state(table), one_rule)} == {
        "rls_disabled_in_public",
        "no_primary_key",
    }
    whole_object = Settings(ignore=("public.integrations",))
    assert evaluate(state(table), whole_object) == ()
    assert evaluate(state(table), Settings(enabled=False)) == ()


def test_advisories_come_worst_first_and_as_the_json_contract_says() -> None:
    table = dataclasses.replace(CLEAN, rls=Rls(enabled=False), policies=(), constraints=())
    found = evaluate(state(table))
    assert [a.level for a in found] == [Level.ERROR, Level.INFO]
    assert found[0].as_json() == {
        "rule": "rls_disabled_in_public",
        "level": "error",
        "category": "security",
        "schema": "public",
        "table": "integrations",
        "object": "integrations",
        "message": found[0].message,
        "remediation": found[0].remediation,
    }


def test_every_rule_has_a_level_a_category_and_a_title() -> None:
    for rule_id, rule in RULES.items():
        assert rule.id == rule_id and rule.title and rule.level in Level


# --- the security surface ----------------------------------------------------------------

ANON_READS = frozenset({Grant("anon", "SELECT"), Grant("authenticated", "SELECT")})
MEMBERS_VIEW = (
    " SELECT m.user_id, u.email"
    " FROM (organization_members m JOIN auth.users u ON ((u.id = m.user_id)))"
)


def with_surface(
    views: tuple[View, ...] | None = None, functions: tuple[Function, ...] | None = None
) -> State:
    return State(schemas=(Schema("public", (CLEAN,), views=views, functions=functions),))


def test_a_view_without_security_invoker_readable_by_api_roles_is_an_error() -> None:
    view = View("org_summary", " SELECT 1", grants=ANON_READS, rls_tables=("public.integrations",))
    (advisory,) = evaluate(with_surface(views=(view,)))
    assert (advisory.rule, advisory.level, advisory.object) == (
        "security_definer_view",
        Level.ERROR,
        "org_summary",
    )
    assert "bypasses the policies of public.integrations" in advisory.message
    assert advisory.remediation.startswith(
        "ALTER VIEW public.org_summary SET (security_invoker = true)"
    )


@pytest.mark.parametrize(
    "view",
    [
        View("v", " SELECT 1", grants=ANON_READS, security_invoker=True),
        View("v", " SELECT 1", grants=frozenset({Grant("service_role", "SELECT")})),
    ],
    ids=["security invoker", "not readable by API roles"],
)
def test_views_that_run_as_the_caller_or_that_the_api_cannot_read_are_fine(view: View) -> None:
    assert evaluate(with_surface(views=(view,))) == ()


def test_a_materialized_view_is_no_security_definer_view_but_served_without_rls() -> None:
    view = View("totals", " SELECT 1", grants=ANON_READS, materialized=True)
    (advisory,) = evaluate(with_surface(views=(view,)))
    assert (advisory.rule, advisory.level, advisory.object) == (
        "materialized_view_in_api",
        Level.WARNING,
        "totals",
    )
    assert advisory.remediation.startswith(
        "REVOKE SELECT ON public.totals FROM anon, authenticated"
    )
    private = dataclasses.replace(view, grants=frozenset({Grant("service_role", "SELECT")}))
    assert evaluate(with_surface(views=(private,))) == ()
    hidden = State(schemas=(Schema("private", (CLEAN,), views=(view,)),))
    assert evaluate(hidden) == ()


def test_functions_without_a_fixed_search_path_are_flagged_definers_said_so() -> None:
    loose = Function("touch()", "trigger", "plpgsql", "BEGIN RETURN NEW; END")
    definer = Function("admin()", "boolean", security_definer=True, body="SELECT true")
    fixed = Function("safe()", "boolean", settings=(("search_path", '""'),), body="SELECT 1")
    fixed_empty = Function("empty()", "boolean", settings=(("search_path", ""),), body="SELECT 1")
    found = evaluate(with_surface(functions=(loose, definer, fixed, fixed_empty)))
    assert [(a.rule, a.object) for a in found] == [
        ("function_search_path_mutable", "admin()"),
        ("function_search_path_mutable", "touch()"),
    ]
    assert found[0].message.startswith("SECURITY DEFINER function public.admin() has no fixed")
    assert found[1].remediation.startswith("ALTER FUNCTION public.touch() SET search_path = ''")


def test_a_view_over_auth_users_readable_by_api_roles_exposes_them() -> None:
    view = View("members", MEMBERS_VIEW, grants=ANON_READS, security_invoker=False)
    rules = {a.rule for a in evaluate(with_surface(views=(view,)))}
    assert rules == {"auth_users_exposed", "security_definer_view"}
    # The same view over another table, or not readable by the API: quiet on this rule.
    other = dataclasses.replace(view, definition=" SELECT id FROM organizations")
    assert "auth_users_exposed" not in {a.rule for a in evaluate(with_surface(views=(other,)))}


@pytest.mark.parametrize(
    ("language", "body"),
    [
        ("sql", "SELECT u.email FROM auth.users u WHERE u.id = $1"),
        (
            "plpgsql",
            "DECLARE e text; BEGIN SELECT email INTO e FROM auth.users WHERE id = uid; "
            "RETURN e; END",
        ),
    ],
)
def test_a_definer_function_reading_auth_users_for_api_roles_needs_a_review(
    language: str, body: str
) -> None:
    function = Function(
        "email_of(uuid)", "text", language, body, security_definer=True,
        settings=(("search_path", '""'),),
        grants=frozenset({Grant("authenticated", "EXECUTE")}),
    )  # fmt: skip
    (advisory,) = [
        a for a in evaluate(with_surface(functions=(function,))) if a.rule == "auth_users_exposed"
    ]
    assert advisory.level == Level.WARNING
    invoker = dataclasses.replace(function, security_definer=False)
    assert evaluate(with_surface(functions=(invoker,))) == ()
    private = dataclasses.replace(function, grants=frozenset({Grant("service_role", "EXECUTE")}))
    assert evaluate(with_surface(functions=(private,))) == ()


def test_extensions_in_an_exposed_schema_are_flagged() -> None:
    state = State(
        schemas=(Schema("public", (CLEAN,)),),
        extensions=(Extension("pg_trgm", "public"), Extension("pgcrypto", "extensions")),
    )
    (advisory,) = evaluate(state)
    assert (advisory.rule, advisory.schema, advisory.object) == (
        "extension_in_public",
        "public",
        "pg_trgm",
    )
    assert advisory.remediation.startswith("ALTER EXTENSION pg_trgm SET SCHEMA extensions")


SECRETS = dataclasses.replace(
    CLEAN,
    columns=(*COLUMNS, Column("credentials", "jsonb"), Column("api_key", "text")),
)


def test_sensitive_columns_anon_can_read_are_an_error() -> None:
    open_table = dataclasses.replace(
        SECRETS, rls=Rls(enabled=False), policies=(), grants=frozenset({Grant("anon", "SELECT")})
    )
    found = [a for a in evaluate(state(open_table)) if a.rule == "sensitive_columns_exposed"]
    assert [a.object for a in found] == ["api_key", "credentials"]
    assert "row level security is off" in found[0].message


def test_sensitive_columns_behind_rls_without_an_anon_policy_are_fine() -> None:
    # Supabase grants anon SELECT on every table by default; RLS with no anon policy
    # returns no row, so the grant alone exposes nothing.
    guarded = dataclasses.replace(SECRETS, grants=frozenset({Grant("anon", "SELECT")}))
    assert evaluate(state(guarded)) == ()
    anon_policy = Policy("anyone reads", "SELECT", roles=frozenset({"anon"}), using="true")
    leaky = dataclasses.replace(guarded, policies=(*POLICIES, anon_policy))
    found = [a.object for a in evaluate(state(leaky)) if a.rule == "sensitive_columns_exposed"]
    assert found == ["api_key", "credentials"]
    # A column grant that leaves the secret out is the fix.
    narrowed = dataclasses.replace(
        leaky, grants=frozenset({Grant("anon", "SELECT", column="status")})
    )
    assert "sensitive_columns_exposed" not in {a.rule for a in evaluate(state(narrowed))}
