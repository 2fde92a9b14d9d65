"""From a dropped index (and a GRANT to anon) to a notification: the daemon, Prometheus
with the project's alerts.yml, Alertmanager with a webhook, and the dashboard's queries,
all real.

Prometheus evaluates the production rules unchanged, so the test waits out
their `for: 1m`: about a minute and a half in all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
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
# The query-evidence panels read pg_stat_statements, which the test server does not preload:
# there they are empty, and the panel of statements_available says why (0).
NEEDS_STATEMENTS = (
    "schema_monitor_index_not_planned",
    "schema_monitor_index_planned_statements",
    "schema_monitor_statement_advisories",
    "schema_monitor_table_statement_mean_seconds",
    "schema_monitor_statement_mean_seconds",
)
STATEMENTS_AVAILABLE = 'schema_monitor_statements_available{target="supabase"}'
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


def widened_privileges(prometheus: str) -> float | None:
    result = instant_query(
        prometheus,
        'schema_monitor_drift_objects{kind="privilege",change="widened",severity="critical"}',
    )
    return float(result[0]["value"][1]) if result else None


def test_dropped_index_and_policy_and_a_grant_to_anon_page_and_resolve(
    phase3_dsn: str, sql: Callable[[str], None], processes: Processes
) -> None:
    prometheus_binary = require_binary("prometheus")
    alertmanager_binary = require_binary("alertmanager", "prometheus-alertmanager")
    monitor = start_monitor(processes, phase3_dsn)
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

        restore = restore_statements(phase3_dsn)
        sql(f"DROP INDEX public.{INDEX}")
        sql(f'DROP POLICY "{POLICY}" ON public.{TABLE}')
        sql(WIDEN)
        sql(NARROW)
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

        # While the alerts wait out `for:`, every dashboard panel must show data.
        available = instant_query(
            prometheus, 'schema_monitor_statements_available{target="supabase"}'
        )
        assert [sample["value"][1] for sample in available] == ["0"]
        for query in panel_queries(dashboard()):
            if any(name in query.expr for name in NEEDS_STATEMENTS):
                continue
            expr = substitute(query.expr, VARIABLES)
            wait_until(
                functools.partial(instant_query, prometheus, expr),
                timeout=20,
                what=f"data for panel {query.panel!r} ({query.ref_id}): {expr}",
                processes=processes,
            )

        index_alert = wait_until(
            lambda: webhook.find("SchemaIndexMissing", "firing"),
            timeout=ALERT_TIMEOUT,
            what="SchemaIndexMissing at the webhook",
            processes=processes,
        )
        assert_names_object(index_alert, INDEX)
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

        for statement in (*restore, *RESTORE_GRANTS):
            sql(statement)
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
