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
    now = datetime.now(UTC)
    counts = []
    for settings in (advisors.Settings(enabled=False), advisors.Settings()):
        check_ = DriftCheck(expected_state, 900.0, 2000, settings)
        with db.connect(phase3_dsn) as conn, Trace(conn) as trace:
            result = check_.run(conn, now)
        counts.append(len(trace.statements))
        assert bool(result.advisories) is settings.enabled
    assert counts[0] == counts[1]


@pytest.fixture
def expected_state(public_spec: Path) -> State:
    return spec.load(public_spec)
