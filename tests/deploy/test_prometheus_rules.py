"""The alerting rules: promtool accepts them, their unit tests pass, and docs and runbooks agree."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from monitor.daemon import runbooks
from tests.support.deploy_files import (
    ALERTS,
    alert_rules,
    documented_metrics,
    metric_names,
    require_binary,
)
from tests.support.paths import DEPLOY, ROOT

RULE_TESTS = DEPLOY / "prometheus" / "alerts.test.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
ALERTS_DOC = ROOT / "docs" / "alerts.md"
REQUIRED = {
    "SchemaIndexMissing",
    "SchemaPolicyMissing",
    "SchemaRLSDisabled",
    "SchemaPolicyChanged",
    "SchemaIndexInvalid",
    "SchemaDriftDetected",
    "SchemaMigrationPending",
    "SchemaMonitorDown",
    "SchemaCheckStale",
    "SchemaIndexUnusedDuringWatchWindow",
}
SEVERITIES = {"critical", "warning", "info"}
# Alerts with one series per object, and the label that names the object.
NAMED_OBJECT = {
    "SchemaIndexMissing": "object",
    "SchemaPolicyMissing": "object",
    "SchemaTableMissing": "relname",
    "SchemaRLSDisabled": "relname",
    "SchemaIndexInvalid": "indexrelname",
    "SchemaIndexUnusedDuringWatchWindow": "indexrelname",
    "SchemaNewIndexNotPlanned": "indexrelname",
}


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [require_binary("promtool"), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", ALERTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_rule_unit_tests_catch_a_broken_rule(tmp_path: Path) -> None:
    broken = ALERTS.read_text().replace(
        '(schema_monitor_expected_object_present{kind="index"}) == 0',
        '(schema_monitor_expected_object_present{kind="index"}) == 2',
    )
    assert broken != ALERTS.read_text()
    (tmp_path / "alerts.yml").write_text(broken)
    shutil.copy(RULE_TESTS, tmp_path / "alerts.test.yml")
    result = promtool("test", "rules", tmp_path / "alerts.test.yml")
    assert result.returncode != 0
    assert "SchemaIndexMissing" in result.stdout + result.stderr


def test_the_required_alerts_exist() -> None:
    missing = REQUIRED - {rule["alert"] for rule in alert_rules()}
    assert not missing


def test_every_alert_has_unit_tests() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    tested = {check["alertname"] for case in cases for check in case["alert_rule_test"]}
    assert tested == {rule["alert"] for rule in alert_rules()}


def test_every_alert_follows_the_conventions() -> None:
    for rule in alert_rules():
        name = rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "")), f"{name}: needs a for: duration"
        severity = rule["labels"]["severity"]
        # The catch-all passes the finding's own severity label through.
        assert severity in SEVERITIES or severity == "{{ $labels.severity }}", name
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook_url"} <= annotations.keys(), name
        assert annotations["runbook_url"].endswith(f"/runbooks#{name.lower()}")


def test_every_runbook_link_of_rules_and_dashboards_has_its_anchor_in_the_served_page() -> None:
    served = set(re.findall(r' id="([^"]+)"', runbooks.page().decode()))
    linked = {rule["annotations"]["runbook_url"].rpartition("#")[2] for rule in alert_rules()}
    assert linked and linked <= served, linked - served


def test_the_dashboards_runbook_link_is_the_page_the_daemon_serves() -> None:
    for dashboard in (DEPLOY / "grafana" / "dashboards").glob("*.json"):
        board = json.loads(dashboard.read_text())
        links = [link["url"] for link in board["links"]]
        assert "${runbook_scheme}://${runbook_base}/runbooks" in links, dashboard.name
        queries = {v["name"]: v.get("definition") for v in board["templating"]["list"]}
        assert queries["runbook_base"] == (
            'label_values(schema_monitor_up{target=~"$target"}, instance)'
        )
        assert queries["runbook_scheme"] == (
            'label_values(schema_monitor_web_info{instance=~"$runbook_base"}, scheme)'
        )


def test_alerts_about_one_object_name_it() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    for name, label in NAMED_OBJECT.items():
        annotations = rules[name]["annotations"]
        for text in (annotations["summary"], annotations["description"]):
            assert f"{{{{ $labels.{label} }}}}" in text, name


def test_every_alert_has_a_runbook_section_and_every_section_an_alert() -> None:
    headings = re.findall(r"^## (\S+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    assert sorted(headings) == sorted(rule["alert"] for rule in alert_rules())


def test_the_alerts_reference_matches_the_rules() -> None:
    rows = re.findall(
        r"^\| \[(\w+)\]\(runbooks\.md#(\w+)\) \| ([^|]+) \| (\w+) \|",
        ALERTS_DOC.read_text(),
        flags=re.MULTILINE,
    )
    documented = {name: (anchor, severity.strip(), for_) for name, anchor, severity, for_ in rows}
    assert documented.keys() == {rule["alert"] for rule in alert_rules()}
    for rule in alert_rules():
        anchor, severity, duration = documented[rule["alert"]]
        assert anchor == rule["alert"].lower()
        assert duration == rule["for"], rule["alert"]
        expected = rule["labels"]["severity"]
        assert severity == (expected if expected in SEVERITIES else "the finding's"), rule["alert"]


def test_rules_use_only_documented_metrics() -> None:
    documented = documented_metrics().keys()
    for rule in alert_rules():
        assert metric_names(rule["expr"]) <= documented, rule["alert"]


def test_prometheus_config_loads_the_rules() -> None:
    result = promtool("check", "config", DEPLOY / "prometheus" / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
