"""Advisors on real PostgreSQL: the examples' report as docs/advisors.md explains it, crafted
cases from real DDL, and not one catalog statement more per cycle."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.daemon.drift import DriftCheck
from monitor.postgres import db
from monitor.schema import advisors, spec
from monitor.schema.model import State
from tests.support.processes import run_monitor
from tests.support.trace import Trace

# docs/advisors.md, "The examples' advisories, explained": this list and that section agree.
EXAMPLE_ADVISORIES = [
    ("auth_users_exposed", "warning", "get_organization_members(uuid)"),
    (
        "authenticated_security_definer_function_executable",
        "warning",
        "get_organization_members(uuid)",
    ),
    ("multiple_permissive_policies", "warning", "authenticated SELECT"),  # api_integrations
    ("multiple_permissive_policies", "warning", "authenticated SELECT"),  # audit_log
    ("unindexed_foreign_keys", "info", "workflows_created_by_fkey"),
]
EVERY_RULE = advisors.Settings()
DOCS = Path(__file__).resolve().parents[2] / "docs" / "advisors.md"


def check(public_spec: Path, dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_monitor("check", "--spec", str(public_spec), "--dsn", dsn, *args, timeout=120)


def advisories_of(public_spec: Path, dsn: str, *args: str) -> list[dict[str, str]]:
    result = check(public_spec, dsn, "--format", "json", *args)
    assert result.returncode in (0, 1), result.stderr
    found: list[dict[str, str]] = json.loads(result.stdout)["advisories"]
    return found


def test_the_examples_advisories_are_the_ones_the_docs_explain(
    public_spec: Path, phase3_dsn: str
) -> None:
    found = advisories_of(public_spec, phase3_dsn)
    assert sorted((a["rule"], a["level"], a["object"]) for a in found) == sorted(EXAMPLE_ADVISORIES)
    explained = DOCS.read_text().split("### The examples' advisories, explained", 1)[1]
    for advisory in found:
        assert advisory["message"] in explained, advisory["message"]


def test_advisories_do_not_fail_the_gate_unless_asked(public_spec: Path, phase3_dsn: str) -> None:
    assert check(public_spec, phase3_dsn).returncode == 0
    assert check(public_spec, phase3_dsn, "--fail-on-advisory", "error").returncode == 0
    assert check(public_spec, phase3_dsn, "--fail-on-advisory", "warning").returncode == 1
    quiet = [
        "--disable-advisor",
        "multiple_permissive_policies",
        "--ignore-advisory",
        "auth_users_exposed:public.get_organization_members*",
        "--ignore-advisory",
        "authenticated_security_definer_function_executable:public.get_organization_members*",
    ]
    assert check(public_spec, phase3_dsn, "--fail-on-advisory", "warning", *quiet).returncode == 0


CRAFTED = """
CREATE TABLE public.api_tokens (id int PRIMARY KEY, token text, owner text);
GRANT SELECT ON public.api_tokens TO anon;
CREATE VIEW public.integration_secrets AS SELECT id, credentials FROM public.integrations;
GRANT SELECT ON public.integration_secrets TO anon;
CREATE FUNCTION public.loose() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE EXTENSION pg_trgm SCHEMA public;
CREATE INDEX idx_integrations_type_again ON public.integrations (integration_type);
CREATE POLICY per_row ON public.integrations FOR DELETE TO authenticated
    USING (organization_id = (auth.jwt() ->> 'org')::uuid);
"""


def test_each_advisor_fires_on_real_ddl(
    public_spec: Path, phase3_dsn: str, sql: Callable[[str], None]
) -> None:
    sql(CRAFTED)
    found = {(a["rule"], a["object"]) for a in advisories_of(public_spec, phase3_dsn)}
    assert {
        ("rls_disabled_in_public", "api_tokens"),
        ("sensitive_columns_exposed", "token"),
        ("security_definer_view", "integration_secrets"),
        ("function_search_path_mutable", "loose()"),
        ("extension_in_public", "pg_trgm"),
        ("duplicate_index", "idx_integrations_type_again"),
        ("auth_rls_initplan", "per_row"),
    } <= found


def test_a_schema_not_exposed_gets_no_api_rules(
    public_spec: Path, phase3_dsn: str, sql: Callable[[str], None]
) -> None:
    sql("CREATE TABLE public.api_tokens (id int PRIMARY KEY, token text)")
    found = {a["rule"] for a in advisories_of(public_spec, phase3_dsn, "--exposed-schema", "api")}
    assert "rls_disabled_in_public" not in found


def test_advisors_cost_no_catalog_statement(
    expected_state: State, phase3_dsn: str, sql: Callable[[str], None]
) -> None:
    sql(CRAFTED)
    off = _snapshot_statements(expected_state, phase3_dsn, advisors.Settings(enabled=False))
    assert off == _snapshot_statements(expected_state, phase3_dsn)


@pytest.fixture
def expected_state(public_spec: Path) -> State:
    return spec.load(public_spec)


# The rules beside Supabase's linter that read what the snapshot reads for them: a
# materialized view's indexes, foreign tables, a foreign key's unique key, extensions'
# default versions, column types, pgmq's queue tables.
SPLINTER_CRAFTED = """
CREATE MATERIALIZED VIEW public.org_counts AS
    SELECT organization_id, count(*) AS n FROM public.integrations GROUP BY organization_id;
CREATE INDEX org_counts_org ON public.org_counts (organization_id);
CREATE INDEX org_counts_org_again ON public.org_counts (organization_id);
GRANT SELECT ON public.org_counts TO anon;
CREATE VIEW public.people WITH (security_invoker = true) AS SELECT id, email FROM auth.users;
GRANT SELECT ON public.people TO authenticated;
CREATE EXTENSION postgres_fdw SCHEMA extensions;
CREATE SERVER elsewhere FOREIGN DATA WRAPPER postgres_fdw;
CREATE FOREIGN TABLE public.remote_orders (id int) SERVER elsewhere;
GRANT SELECT ON public.remote_orders TO anon;
CREATE TABLE public.profiles (
    id int PRIMARY KEY,
    phone text REFERENCES auth.users (phone),
    handler regproc,
    otp text
);
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY anyone_edits ON public.profiles FOR UPDATE TO authenticated USING (true);
CREATE POLICY admins ON public.profiles FOR SELECT TO authenticated
    USING ((auth.jwt() -> 'user_metadata' ->> 'role') = 'admin');
CREATE POLICY own_or_nobody ON public.profiles FOR SELECT TO anon
    USING (auth.uid() IS NULL OR id = 1);
CREATE EXTENSION pg_trgm VERSION '1.5' SCHEMA extensions;
CREATE TABLE public.bulk_loads (id int PRIMARY KEY) WITH (autovacuum_enabled = off);
CREATE SCHEMA pgmq;
CREATE TABLE pgmq.q_jobs (msg_id bigint PRIMARY KEY, message jsonb);
GRANT USAGE ON SCHEMA pgmq TO anon;
GRANT SELECT ON pgmq.q_jobs TO anon;
"""


def test_the_rules_beside_supabases_linter_fire_on_real_ddl(
    public_spec: Path, phase3_dsn: str, sql: Callable[[str], None]
) -> None:
    sql(SPLINTER_CRAFTED)
    exposed = ("--exposed-schema", "public", "--exposed-schema", "pgmq_public")
    found = {(a["rule"], a["object"]) for a in advisories_of(public_spec, phase3_dsn, *exposed)}
    assert {
        ("duplicate_index", "org_counts_org_again"),
        ("materialized_view_in_api", "org_counts"),
        ("auth_users_exposed", "people"),
        ("foreign_table_in_api", "remote_orders"),
        ("fkey_to_auth_unique", "profiles_phone_fkey"),
        ("unsupported_reg_types", "handler"),
        ("rls_policy_always_true", "anyone_edits"),
        ("rls_references_user_metadata", "admins"),
        ("rls_policy_null_auth_disjunct", "own_or_nobody"),
        ("sensitive_columns_exposed", "otp"),
        ("extension_versions_outdated", "pg_trgm"),
        ("insecure_queue_exposed_in_api", "q_jobs"),
        ("autovacuum_disabled", "bulk_loads"),
    } <= found
    # A key to auth.users' primary key, and the queue unseen while pgmq_public is not served.
    assert ("fkey_to_auth_unique", "workflows_created_by_fkey") not in found
    default = {a["rule"] for a in advisories_of(public_spec, phase3_dsn)}
    assert "insecure_queue_exposed_in_api" not in default


def test_the_linter_rules_add_no_catalog_statement(
    expected_state: State, phase3_dsn: str, sql: Callable[[str], None]
) -> None:
    before = _snapshot_statements(expected_state, phase3_dsn)
    sql(SPLINTER_CRAFTED)
    assert _snapshot_statements(expected_state, phase3_dsn) == before


def _snapshot_statements(
    expected_state: State, dsn: str, settings: advisors.Settings = EVERY_RULE
) -> int:
    """The statements one drift cycle sends (advisories found when `settings` asks)."""
    check_ = DriftCheck(expected_state, 900.0, 2000, settings)
    with db.connect(dsn) as conn, Trace(conn) as trace:
        result = check_.run(conn, datetime.now(UTC))
    assert bool(result.advisories) is settings.enabled
    return len(trace.statements)
