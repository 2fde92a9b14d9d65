"""From a dropped index (and a GRANT to anon) to a notification: the daemon, Prometheus
with the project's alerts.yml, Alertmanager with a webhook, and the dashboard's queries,
all real.

The database is the example migrations on a private server with pg_stat_statements
preloaded, and the app's reads of public.integrations run before the daemon starts
(the baseline) and after, so that the query-evidence panels have data too.
Prometheus evaluates the production rules unchanged, so the test waits out
their `for: 1m`: about a minute and a half in all.
"""

from __future__ import annotations

import functools
from typing import Any

import psycopg
import pytest
from psycopg import sql as pgsql

from tests.support.deploy_files import (
    alert_rules,
    dashboard,
    panel_queries,
    require_binary,
    substitute,
)
from tests.support.processes import (
    Processes,
    Webhook,
    instant_query,
    prometheus_api,
    start_alertmanager,
    start_monitor,
    start_prometheus,
)
from tests.support.statements import execute, organization, run_workload
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

INDEX = "idx_active_integrations"
# The table with the credentials column, opened to the API's anonymous role; and a
# grant the spec gives taken away (the narrowing shows on the dashboard).
WIDEN = "GRANT ALL ON public.integrations TO anon"
NARROW = "REVOKE EXECUTE ON FUNCTION public.record_system_health() FROM service_role"
RESTORE_GRANTS = (
    "REVOKE ALL ON public.integrations FROM anon",
    "GRANT EXECUTE ON FUNCTION public.record_system_health() TO service_role",
)
POLICY = "Admins can delete integrations"
TABLE = "integrations"
# How Grafana fills the dashboard variables for this target and schema.
VARIABLES = {"target": "supabase", "schema": "public", "__rate_interval": "1m"}
STATEMENTS_AVAILABLE = 'schema_monitor_statements_available{target="supabase"}'
# The app's and PostgREST's reads before the daemon starts and after its first sample.
CALLS_BEFORE, CALLS_SINCE = 5, 8
# The daemon's wait before it says no statement plans through a new index (1h by
# default): this test cannot sit it out.
DAEMON_SETTINGS = {"statements": {"unplanned_after": "5s"}}
# `for: 1m`, evaluation and notification with a wide margin.
ALERT_TIMEOUT = 150


def restore_statements(dsn: str) -> list[str]:
    """The DDL that puts the index and the policy back exactly as the catalog has them now."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        index_row = conn.execute(
            "SELECT pg_get_indexdef(%s::regclass)", (f"public.{INDEX}",)
        ).fetchone()
        policy_row = conn.execute(
            "SELECT permissive, cmd, roles, qual, with_check FROM pg_policies"
            " WHERE schemaname = 'public' AND tablename = %s AND policyname = %s",
            (TABLE, POLICY),
        ).fetchone()
        assert index_row and policy_row, "the example migrations create both"
        permissive, command, roles, using, with_check = policy_row
        policy = pgsql.SQL("CREATE POLICY {} ON {} AS {} FOR {} TO {}").format(
            pgsql.Identifier(POLICY),
            pgsql.Identifier("public", TABLE),
            pgsql.SQL(permissive),
            pgsql.SQL(command),
            pgsql.SQL(", ").join(
                pgsql.SQL("PUBLIC") if role == "public" else pgsql.Identifier(role)
                for role in roles
            ),
        )
        if using:
            policy += pgsql.SQL(" USING ({})").format(pgsql.SQL(using))
        if with_check:
            policy += pgsql.SQL(" WITH CHECK ({})").format(pgsql.SQL(with_check))
        return [index_row[0], policy.as_string(conn)]


def add_organizations(dsn: str, count: int) -> None:
    """The organizations the workload reads, each with three integrations, one inactive."""
    ids = [organization(number) for number in range(count)]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO public.organizations (id, name, slug) SELECT id, 'Org ' || n,"
            " 'org-' || n FROM unnest(%s::uuid[]) WITH ORDINALITY AS added (id, n)",
            (ids,),
        )
        conn.execute(
            "INSERT INTO public.integrations (organization_id, integration_type, is_active)"
            " SELECT id, kind, kind <> 'github' FROM unnest(%s::uuid[]) AS added (id),"
            " unnest(ARRAY['slack', 'github', 'salesforce']) AS kind",
            (ids,),
        )
        conn.execute("ANALYZE public.organizations, public.integrations")


def presence(prometheus: str, name: str) -> float | None:
    result = instant_query(
        prometheus, f'schema_monitor_expected_object_present{{relname="{TABLE}",object="{name}"}}'
    )
    return float(result[0]["value"][1]) if result else None


def loaded_rules(prometheus: str) -> list[dict[str, Any]]:
    groups = prometheus_api(prometheus, "rules")["groups"]
    return [rule for group in groups for rule in group["rules"]]


def active_alerts(prometheus: str) -> dict[str, str]:
    """alertname -> state (pending or firing) of the alerts Prometheus holds now."""
    alerts = prometheus_api(prometheus, "alerts")["alerts"]
    return {alert["labels"]["alertname"]: alert["state"] for alert in alerts}


def assert_names_object(alert: dict[str, Any], name: str) -> None:
    assert alert["labels"]["object"] == name
    assert alert["labels"]["relname"] == TABLE
    assert alert["labels"]["target"] == "supabase"
    assert name in alert["annotations"]["description"]
    assert alert["annotations"]["runbook_url"].endswith(f"#{alert['labels']['alertname'].lower()}")


def statements_available(prometheus: str) -> list[str]:
    return [sample["value"][1] for sample in instant_query(prometheus, STATEMENTS_AVAILABLE)]


def calls_since_watch_start(prometheus: str) -> list[str]:
    """The calls of each statement that ran since the window began, the statements that
    ran only before it left out."""
    query = 'schema_monitor_statement_calls_since_watch_start{target="supabase"} > 0'
    return sorted(sample["value"][1] for sample in instant_query(prometheus, query))


def widened_privileges(prometheus: str) -> float | None:
    result = instant_query(
        prometheus,
        'schema_monitor_drift_objects{kind="privilege",change="widened",severity="critical"}',
    )
    return float(result[0]["value"][1]) if result else None


def test_dropped_index_and_policy_and_a_grant_to_anon_page_and_resolve(
    pgss_phase3_dsn: str, processes: Processes
) -> None:
    prometheus_binary = require_binary("prometheus")
    alertmanager_binary = require_binary("alertmanager", "prometheus-alertmanager")
    dsn = pgss_phase3_dsn
    add_organizations(dsn, max(CALLS_BEFORE, CALLS_SINCE))
    run_workload(dsn, CALLS_BEFORE)
    monitor = start_monitor(processes, dsn, settings=DAEMON_SETTINGS)
    with Webhook() as webhook:
        alertmanager = start_alertmanager(processes, alertmanager_binary, webhook.url)
        prometheus = start_prometheus(processes, prometheus_binary, monitor, alertmanager)

        # Before: both objects are there and every rule of alerts.yml evaluates cleanly.
        wait_until(
            lambda: presence(prometheus, INDEX) == 1 and presence(prometheus, POLICY) == 1,
            timeout=30,
            what="Prometheus to scrape the index and the policy as present",
            processes=processes,
        )
        assert len(loaded_rules(prometheus)) == len(alert_rules()), "alerts.yml loaded whole"
        wait_until(
            lambda: all(rule["health"] == "ok" for rule in loaded_rules(prometheus)),
            timeout=15,
            what="every rule of alerts.yml to evaluate without error",
            processes=processes,
        )
        quiet = active_alerts(prometheus)
        paging = ("SchemaIndexMissing", "SchemaPolicyMissing", "SchemaPrivilegeWidened")
        assert not any(name in quiet for name in paging), quiet
        assert widened_privileges(prometheus) == 0
        # Once the daemon has read the statements' baseline, the workload goes on.
        wait_until(
            lambda: statements_available(prometheus) == ["1"],
            timeout=30,
            what="the daemon's first read of pg_stat_statements",
            processes=processes,
        )
        run_workload(dsn, CALLS_SINCE)

        restore = restore_statements(dsn)
        execute(
            dsn,
            f"DROP INDEX public.{INDEX}",
            f'DROP POLICY "{POLICY}" ON public.{TABLE}',
            WIDEN,
            NARROW,
        )
        wait_until(
            lambda: (
                presence(prometheus, INDEX) == 0
                and presence(prometheus, POLICY) == 0
                and widened_privileges(prometheus) == 1
            ),
            timeout=30,
            what="Prometheus to see the index and the policy missing, anon's grant widened",
            processes=processes,
        )

        # While the alerts wait out `for:`, every dashboard panel must show data, the
        # query evidence's too.
        assert statements_available(prometheus) == ["1"]
        for query in panel_queries(dashboard()):
            expr = substitute(query.expr, VARIABLES)
            wait_until(
                functools.partial(instant_query, prometheus, expr),
                timeout=20,
                what=f"data for panel {query.panel!r} ({query.ref_id}): {expr}",
                processes=processes,
            )
        # The app's read and PostgREST's, counted from the baseline on.
        wait_until(
            lambda: calls_since_watch_start(prometheus) == [str(CALLS_SINCE)] * 2,
            timeout=20,
            what=f"the workload's two statements at {CALLS_SINCE} calls since the window began",
            processes=processes,
        )

        index_alert = wait_until(
            lambda: webhook.find("SchemaIndexMissing", "firing"),
            timeout=ALERT_TIMEOUT,
            what="SchemaIndexMissing at the webhook",
            processes=processes,
        )
        assert_names_object(index_alert, INDEX)
        # The link is the page the daemon serves, at the address Prometheus scrapes it by.
        (up,) = instant_query(prometheus, 'schema_monitor_up{target="supabase"}')
        (web,) = instant_query(prometheus, "schema_monitor_web_info")
        assert index_alert["annotations"]["runbook_url"] == (
            f"{web['metric']['scheme']}://{up['metric']['instance']}/runbooks#schemaindexmissing"
        )
        policy_alert = wait_until(
            lambda: webhook.find("SchemaPolicyMissing", "firing"),
            timeout=30,
            what="SchemaPolicyMissing at the webhook",
            processes=processes,
        )
        assert_names_object(policy_alert, POLICY)
        grant_alert = wait_until(
            lambda: webhook.find("SchemaPrivilegeWidened", "firing"),
            timeout=30,
            what="SchemaPrivilegeWidened at the webhook",
            processes=processes,
        )
        assert grant_alert["labels"]["severity"] == "critical"
        assert grant_alert["labels"]["target"] == "supabase"
        assert "anon" in grant_alert["annotations"]["description"]
        assert grant_alert["annotations"]["runbook_url"].endswith("#schemaprivilegewidened")

        execute(dsn, *restore, *RESTORE_GRANTS)
        for alertname, name in (("SchemaIndexMissing", INDEX), ("SchemaPolicyMissing", POLICY)):
            resolved = wait_until(
                functools.partial(webhook.find, alertname, "resolved"),
                timeout=60,
                what=f"{alertname} resolved at the webhook",
                processes=processes,
            )
            assert_names_object(resolved, name)
        wait_until(
            functools.partial(webhook.find, "SchemaPrivilegeWidened", "resolved"),
            timeout=60,
            what="SchemaPrivilegeWidened resolved at the webhook",
            processes=processes,
        )
        assert presence(prometheus, INDEX) == 1 and presence(prometheus, POLICY) == 1
        assert widened_privileges(prometheus) == 0
