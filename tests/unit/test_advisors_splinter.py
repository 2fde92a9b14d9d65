"""The rules Supabase's linter has and the gaps it showed: each fires on a crafted state,
stays quiet on the safe variant, and every lint we claim is a rule and is documented."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pglast
import pytest

from monitor.schema import quote
from monitor.schema.advisors import RULES, Advisory, IndexActivity, Level, Settings, evaluate
from monitor.schema.advisors.splinter import SPLINTER_LINTS
from monitor.schema.compare.diff import diff
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
    Table,
    View,
)
from tests.support.advisors import CLEAN, COLUMNS, PKEY, POLICIES, rules_of, state

DOCS = Path(__file__).resolve().parents[2] / "docs" / "advisors.md"
ANON = frozenset({Grant("anon", "SELECT")})
SIGNED_IN = frozenset({Grant("authenticated", "SELECT")})
BOTH = ANON | SIGNED_IN


def only(rule: str, found: tuple[Advisory, ...]) -> list[str]:
    return [a.object for a in found if a.rule == rule]


def with_views(*views: View, schema: str = "public") -> State:
    return State(schemas=(Schema(schema, (CLEAN,), views=views),))


# --- the registry and the docs ----------------------------------------------------------


def test_every_splinter_lint_we_claim_is_a_rule_and_documented() -> None:
    docs = DOCS.read_text()
    claimed = {ours for ours in SPLINTER_LINTS.values() if ours is not None}
    assert claimed <= set(RULES)
    for lint, ours in SPLINTER_LINTS.items():
        assert f"`{lint}`" in docs, lint  # in the mapping table, with or without a rule
        if ours is not None:
            assert f"| `{ours}` |" in docs, ours  # in a table of rules, with its level
    # Every rule of ours answers a lint, under the lint's own id.
    assert set(RULES) <= set(SPLINTER_LINTS)


def test_every_rule_is_documented_with_its_level() -> None:
    docs = DOCS.read_text()
    for rule in RULES.values():
        row = next(line for line in docs.splitlines() if line.startswith(f"| `{rule.id}` |"))
        assert f"| {rule.level} " in row or f"| {rule.level}," in row, row


# --- materialized views' indexes --------------------------------------------------------

ORG_INDEX = Index("org_totals_org", ("organization_id",))
TOTALS = View("org_totals", " SELECT 1", materialized=True, indexes=(ORG_INDEX,))


def test_duplicate_indexes_of_a_materialized_view_are_reported() -> None:
    view = dataclasses.replace(TOTALS, indexes=(ORG_INDEX, Index("b_copy", ("ORGANIZATION_ID",))))
    (advisory,) = evaluate(with_views(view))
    assert (advisory.rule, advisory.table, advisory.object) == (
        "duplicate_index",
        "org_totals",
        "org_totals_org",
    )
    assert "on materialized view public.org_totals is identical to b_copy" in advisory.message


def test_unused_and_invalid_indexes_of_a_materialized_view_are_reported() -> None:
    broken = Index("org_totals_broken", ("created_at",), valid=False)
    view = dataclasses.replace(TOTALS, indexes=(ORG_INDEX, broken))
    scans = {"public.org_totals_org": 0, "public.org_totals_broken": 0}
    found = evaluate(with_views(view), activity=IndexActivity(scans, 7200))
    assert rules_of(found) == [
        ("invalid_index", "org_totals_broken"),
        ("unused_index", "org_totals_org"),
    ]
    assert found[0].remediation.startswith("REINDEX INDEX CONCURRENTLY public.org_totals_broken")


# --- auth_users_exposed -------------------------------------------------------------------

OVER_USERS = " SELECT u.id, u.email FROM auth.users u"


@pytest.mark.parametrize(
    ("view", "how"),
    [
        (View("people", OVER_USERS, security_invoker=True, grants=SIGNED_IN), "runs as the caller"),
        (View("people", OVER_USERS, materialized=True, grants=SIGNED_IN), "stores a copy"),
    ],
    ids=["security invoker over auth.users without RLS", "materialized"],
)
def test_views_over_auth_users_the_api_reads_are_exposures(view: View, how: str) -> None:
    (advisory,) = only_advisories("auth_users_exposed", with_views(view))
    assert advisory.level == Level.ERROR and how in advisory.message


def only_advisories(rule: str, target: State) -> list[Advisory]:
    return [a for a in evaluate(target) if a.rule == rule]


def test_a_security_invoker_view_over_auth_users_with_rls_is_fine() -> None:
    view = View(
        "people", OVER_USERS, security_invoker=True, grants=SIGNED_IN, rls_tables=("auth.users",)
    )
    assert evaluate(with_views(view)) == ()


# --- sensitive_columns_exposed ------------------------------------------------------------

OPEN = dataclasses.replace(CLEAN, rls=Rls(enabled=False), policies=())


@pytest.mark.parametrize(
    ("column", "sensitive"),
    [
        ("otp", True),
        ("otp_code", True),
        ("bank_account", True),
        ("BankAccount", False),  # one word: only the five-letter words match inside a word
        ("user_password_hash", True),
        ("passwordhash", True),
        ("credentials", True),
        ("footprint", False),  # "otp" inside a word is not a one-time password
        ("bic", True),
        ("public_key", False),
        ("status", False),
    ],
)
def test_sensitive_names_are_splinters_and_ours_by_word(column: str, sensitive: bool) -> None:
    table = dataclasses.replace(OPEN, columns=(*COLUMNS, Column(column, "text")), grants=ANON)
    found = only("sensitive_columns_exposed", evaluate(state(table)))
    assert found == ([column] if sensitive else [])


def test_a_sensitive_column_only_signed_in_users_read_without_rls_is_an_error() -> None:
    table = dataclasses.replace(OPEN, columns=(*COLUMNS, Column("otp", "text")), grants=SIGNED_IN)
    (advisory,) = [a for a in evaluate(state(table)) if a.rule == "sensitive_columns_exposed"]
    assert advisory.level == Level.ERROR
    assert "authenticated may SELECT it and row level security is off" in advisory.message


def test_signed_in_users_reach_rows_through_an_always_true_policy_only() -> None:
    secrets = dataclasses.replace(
        CLEAN, columns=(*COLUMNS, Column("bank_account", "text")), grants=SIGNED_IN
    )
    assert only("sensitive_columns_exposed", evaluate(state(secrets))) == []  # member policy
    everyone = Policy("all read", "SELECT", roles=frozenset({"authenticated"}), using="true")
    table = dataclasses.replace(secrets, policies=(*POLICIES, everyone))
    assert only("sensitive_columns_exposed", evaluate(state(table))) == ["bank_account"]


# --- policies -----------------------------------------------------------------------------


OWNER = "owner_id = (SELECT auth.uid())"


def policy_state(*policies: Policy, schema: str = "public") -> State:
    return state(dataclasses.replace(CLEAN, policies=policies), schema=schema)


@pytest.mark.parametrize(
    "policy",
    [
        Policy("p", "UPDATE", roles=frozenset({"authenticated"}), using="true"),
        Policy("p", "DELETE", roles=frozenset({"anon"}), using="(1 = 1)"),
        Policy("p", "INSERT", with_check="'a'::text = 'a'::text"),  # TO public
        Policy("p", "ALL", roles=frozenset({"authenticated"}), using=OWNER, with_check="true"),
        Policy("p", "UPDATE", roles=frozenset({"authenticated"}), using="status = 'x' OR true"),
    ],
    ids=["update using true", "delete 1=1", "insert to public", "all with check", "or true"],
)
def test_write_policies_that_are_always_true_are_flagged(policy: Policy) -> None:
    found = only("rls_policy_always_true", evaluate(policy_state(policy)))
    assert found == ["p"]


@pytest.mark.parametrize(
    ("policy", "schema"),
    [
        (Policy("p", "SELECT", roles=frozenset({"anon"}), using="true"), "public"),
        (Policy("p", "INSERT", roles=frozenset({"authenticated"})), "public"),
        (Policy("p", "UPDATE", False, frozenset({"authenticated"}), "true"), "public"),
        (Policy("p", "UPDATE", roles=frozenset({"service_role"}), using="true"), "public"),
        (Policy("p", "UPDATE", roles=frozenset({"authenticated"}), using="true"), "storage"),
        (Policy("p", "UPDATE", roles=frozenset({"authenticated"}), using="1 = 2"), "public"),
    ],
    ids=["select", "no expression denies", "restrictive", "not an api role", "platform", "false"],
)
def test_read_denying_narrow_or_platform_policies_are_not(policy: Policy, schema: str) -> None:
    assert only("rls_policy_always_true", evaluate(policy_state(policy, schema=schema))) == []


@pytest.mark.parametrize(
    ("expression", "flagged"),
    [
        ("((auth.jwt() -> 'user_metadata'::text) ->> 'role'::text) = 'admin'::text", True),
        ("(auth.jwt() #>> '{user_metadata,org}') = org_id::text", True),
        (
            "((current_setting('request.jwt.claims', true))::jsonb -> 'user_metadata' ->> 'r')"
            " = 'admin'",
            True,
        ),
        ("((auth.jwt() -> 'app_metadata'::text) ->> 'role'::text) = 'admin'::text", False),
        ("note = 'user_metadata'", False),
        ("(payload -> 'user_metadata') IS NOT NULL", False),  # a column, not the JWT
    ],
)
def test_policies_trusting_user_metadata_are_errors(expression: str, flagged: bool) -> None:
    policy = Policy("p", "SELECT", roles=frozenset({"authenticated"}), using=expression)
    found = [a for a in evaluate(policy_state(policy)) if a.rule == "rls_references_user_metadata"]
    assert [a.level for a in found] == ([Level.ERROR] if flagged else [])


@pytest.mark.parametrize(
    ("expression", "flagged"),
    [
        ("(auth.uid() IS NULL) OR (owner_id = auth.uid())", True),
        ("(NOT (auth.uid() IS NOT NULL)) OR (owner_id = (SELECT auth.uid()))", True),
        ("(current_setting('app.user', true) IS NULL) OR (owner = current_user)", True),
        ("(auth.uid() IS NOT NULL) AND (owner_id = auth.uid())", False),
        ("(current_setting('app.user') IS NULL) OR (owner = current_user)", False),
        ("owner_id = auth.uid() AND (auth.uid() IS NULL OR true)", False),  # not top-level
    ],
)
def test_read_policies_open_to_callers_without_a_session_are_flagged(
    expression: str, flagged: bool
) -> None:
    policy = Policy("p", "SELECT", roles=frozenset({"anon"}), using=expression)
    found = only("rls_policy_null_auth_disjunct", evaluate(policy_state(policy)))
    assert found == (["p"] if flagged else [])


# --- what the API serves ------------------------------------------------------------------


def test_a_foreign_table_api_roles_read_is_flagged_in_exposed_schemas_only() -> None:
    remote = Table("remote_orders", owner="postgres", grants=BOTH)
    exposed = State(schemas=(Schema("public", (CLEAN,), foreign_tables=(remote,)),))
    (advisory,) = evaluate(exposed)
    assert (advisory.rule, advisory.object) == ("foreign_table_in_api", "remote_orders")
    assert advisory.remediation.startswith(
        "REVOKE SELECT ON public.remote_orders FROM anon, authenticated"
    )
    hidden = State(schemas=(Schema("private", (CLEAN,), foreign_tables=(remote,)),))
    assert evaluate(hidden) == ()


QUEUE = Table("q_jobs", rls=Rls(enabled=False), grants=ANON)


def test_a_queue_without_rls_is_exposed_only_when_pgmq_public_is() -> None:
    target = State(schemas=(Schema("public", (CLEAN,)),), queues=(QUEUE,))
    assert evaluate(target) == ()
    exposed = Settings(exposed_schemas=("public", "pgmq_public"))
    (advisory,) = evaluate(target, exposed)
    assert (advisory.rule, advisory.schema, advisory.object, advisory.level) == (
        "insecure_queue_exposed_in_api",
        "pgmq",
        "q_jobs",
        Level.ERROR,
    )
    guarded = dataclasses.replace(QUEUE, rls=Rls(enabled=True))
    assert evaluate(dataclasses.replace(target, queues=(guarded,)), exposed) == ()


def test_pg_graphql_introspection_shows_what_api_roles_may_select() -> None:
    table = dataclasses.replace(CLEAN, grants=BOTH)
    target = State(
        schemas=(Schema("public", (table,)),), extensions=(Extension("pg_graphql", "graphql"),)
    )
    assert sorted(a.rule for a in evaluate(target)) == [
        "pg_graphql_anon_table_exposed",
        "pg_graphql_authenticated_table_exposed",
    ]
    assert evaluate(dataclasses.replace(target, extensions=())) == ()


# --- functions, keys, types, extensions ---------------------------------------------------

DEFINER = Function(
    "grant_admin(uuid)",
    "void",
    "sql",
    "UPDATE t SET admin = true WHERE id = $1",
    security_definer=True,
    settings=(("search_path", '""'),),
    grants=frozenset({Grant("public", "EXECUTE")}),
)


def test_a_definer_function_public_may_execute_is_callable_by_both_api_roles() -> None:
    target = State(schemas=(Schema("public", (CLEAN,), functions=(DEFINER,)),))
    found = evaluate(target)
    assert sorted(a.rule for a in found) == [
        "anon_security_definer_function_executable",
        "authenticated_security_definer_function_executable",
    ]
    assert "REVOKE EXECUTE ON FUNCTION public.grant_admin(uuid) FROM PUBLIC" in found[0].remediation


@pytest.mark.parametrize(
    "function",
    [
        dataclasses.replace(DEFINER, returns="trigger"),
        dataclasses.replace(DEFINER, security_definer=False),
        dataclasses.replace(DEFINER, grants=frozenset({Grant("service_role", "EXECUTE")})),
    ],
    ids=["trigger function", "invoker", "service role only"],
)
def test_functions_the_api_cannot_call_as_their_owner_are_fine(function: Function) -> None:
    assert evaluate(State(schemas=(Schema("public", (CLEAN,), functions=(function,)),))) == ()


def test_a_foreign_key_to_an_auth_unique_key_is_an_error_to_its_primary_key_is_not() -> None:
    by_email = Constraint(
        "profiles_email_fkey",
        ConstraintType.FOREIGN_KEY,
        ("email",),
        ForeignKey("auth.users", ("email",), unique_key=True),
    )
    table = dataclasses.replace(
        CLEAN,
        constraints=(PKEY, by_email),
        indexes=(*(CLEAN.indexes or ()), Index("profiles_email", ("email",))),
    )
    (advisory,) = evaluate(state(table))
    assert (advisory.rule, advisory.level, advisory.object) == (
        "fkey_to_auth_unique",
        Level.ERROR,
        "profiles_email_fkey",
    )
    by_id = dataclasses.replace(by_email, references=ForeignKey("auth.users", ("id",)))
    assert evaluate(state(dataclasses.replace(table, constraints=(PKEY, by_id)))) == ()


def test_columns_of_reg_types_pg_upgrade_refuses_are_flagged() -> None:
    columns = (
        *COLUMNS,
        Column("handler", "regproc"),
        Column("dictionaries", "regconfig[]"),
        Column("kind", "regclass"),  # pg_upgrade keeps these
    )
    found = evaluate(state(dataclasses.replace(CLEAN, columns=columns)))
    assert rules_of(found) == [
        ("unsupported_reg_types", "dictionaries"),
        ("unsupported_reg_types", "handler"),
    ]
    assert "ALTER COLUMN dictionaries TYPE text[]" in found[0].remediation


def test_extensions_behind_the_servers_version_or_gone_in_17_are_flagged() -> None:
    extensions = (
        Extension("pg_trgm", "extensions", "1.5", default_version="1.6"),
        Extension("pgcrypto", "extensions", "1.3", default_version="1.3"),
        Extension("plv8", "extensions", "3.1.10", default_version="3.1.10"),
    )
    found = evaluate(State(schemas=(Schema("public", (CLEAN,)),), extensions=extensions))
    assert sorted((a.rule, a.object) for a in found) == [
        ("extension_versions_outdated", "pg_trgm"),
        ("pg17_deprecated_extensions", "plv8"),
    ]


def test_a_table_with_autovacuum_switched_off_is_info() -> None:
    table = dataclasses.replace(CLEAN, autovacuum=False)
    (advisory,) = evaluate(state(table))
    assert (advisory.rule, advisory.level) == ("autovacuum_disabled", Level.INFO)
    assert advisory.remediation.startswith(
        "ALTER TABLE public.integrations RESET (autovacuum_enabled)"
    )
    assert evaluate(state(table, schema="storage")) == ()


def test_the_revoke_for_a_hostile_function_name_names_that_function_only() -> None:
    hostile = 'g(); DROP TABLE x; --"'
    definer = dataclasses.replace(DEFINER, name=f"{quote.ident(hostile)}(uuid)")
    target = State(schemas=(Schema("My Schema", (CLEAN,), functions=(definer,)),))
    found = evaluate(target, Settings(exposed_schemas=("My Schema",)))
    text = next(a.remediation for a in found if a.rule.startswith("anon_"))
    (statement,) = pglast.parse_sql(text[: text.index("; or make it SECURITY INVOKER")])
    revoke = statement.stmt
    assert isinstance(revoke, pglast.ast.GrantStmt) and not revoke.is_grant
    (function,) = revoke.objects or ()
    assert tuple(part.sval for part in function.objname) == ("My Schema", hostile)


def test_the_facts_only_the_advisors_read_are_never_drift() -> None:
    key = Constraint(
        "profiles_phone_fkey",
        ConstraintType.FOREIGN_KEY,
        ("phone",),
        ForeignKey("auth.users", ("phone",)),
    )
    spec_table = dataclasses.replace(CLEAN, constraints=(PKEY, key))
    spec = State(
        schemas=(Schema("public", (spec_table,)),),
        extensions=(Extension("pg_trgm", "extensions", "1.5"),),
    )
    assert key.references is not None
    live_key = dataclasses.replace(
        key, references=dataclasses.replace(key.references, unique_key=True)
    )
    live_table = dataclasses.replace(spec_table, constraints=(PKEY, live_key), autovacuum=False)
    remote = Table("remote_orders", grants=ANON)
    live = State(
        schemas=(Schema("public", (live_table,), foreign_tables=(remote,)),),
        extensions=(Extension("pg_trgm", "extensions", "1.5", default_version="1.6"),),
        queues=(QUEUE,),
    )
    assert diff(spec, live) == ()
    assert {a.rule for a in evaluate(live)} >= {"fkey_to_auth_unique", "autovacuum_disabled"}
