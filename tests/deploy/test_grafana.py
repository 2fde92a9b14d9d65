"""The Grafana dashboard and its provisioning: structure, variables, valid PromQL."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.deploy_files import (
    PanelQuery,
    dashboard,
    documented_metrics,
    metric_names,
    panel_queries,
    require_binary,
    substitute,
    variables_in,
)
from tests.support.paths import DEPLOY

PROVISIONING = DEPLOY / "grafana" / "provisioning"
COMPOSE = DEPLOY / "compose" / "docker-compose.yml"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRAFANA_GLOBALS = {"__rate_interval", "__interval", "__range"}
# What the panels must show, by title.
REQUIRED_PANELS = {
    "Drift status",
    "Missing objects",
    "Drift findings by kind and change",
    "Index scans since watch window start",
    "Unused new indexes",
    "Check success",
    "Check duration",
    "Watch window progress",
    "Connections by state",
    "Lock waits and longest transaction",
    "Advisories",
    "Privileges widened to API roles",
    "Security-sensitive functions changed",
    "Security surface findings by kind and change",
}


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


def variable(board: dict[str, Any], name: str) -> dict[str, Any]:
    found = [v for v in board["templating"]["list"] if v["name"] == name]
    assert len(found) == 1, f"dashboard variable {name!r}"
    variable: dict[str, Any] = found[0]
    return variable


def test_dashboard_is_a_current_grafana_dashboard() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 39
    assert board["uid"] == "schema-monitor"
    assert board["title"]


def test_a_datasource_variable_selects_prometheus() -> None:
    datasource = variable(dashboard(), "datasource")
    assert datasource["type"] == "datasource"
    assert datasource["query"] == "prometheus"


@pytest.mark.parametrize("name", ["target", "schema"])
def test_target_and_schema_variables_query_the_monitor_metrics(name: str) -> None:
    var = variable(dashboard(), name)
    assert var["type"] == "query"
    assert var["datasource"] == DATASOURCE
    assert var["multi"] and var["includeAll"] and var["allValue"] == ".*"
    assert var["definition"].startswith("label_values(schema_monitor_")
    assert var["query"]["query"] == var["definition"]


def test_every_panel_reads_the_selected_datasource() -> None:
    for panel in panels(dashboard()):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], f"{panel['title']}: no query"
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_the_required_panels_exist() -> None:
    titles = {panel["title"] for panel in panels(dashboard())}
    assert titles >= REQUIRED_PANELS, REQUIRED_PANELS - titles


def test_panel_ids_are_unique_and_panels_do_not_overlap() -> None:
    board = dashboard()
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    boxes = []
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        boxes.append(
            (panel["title"], grid["x"], grid["y"], grid["x"] + grid["w"], grid["y"] + grid["h"])
        )
    for i, (title, x1, y1, x2, y2) in enumerate(boxes):
        for other, ox1, oy1, ox2, oy2 in boxes[i + 1 :]:
            overlap = x1 < ox2 and ox1 < x2 and y1 < oy2 and oy1 < y2
            assert not overlap, f"panels {title!r} and {other!r} overlap"


def test_queries_use_only_defined_variables() -> None:
    board = dashboard()
    defined = {v["name"] for v in board["templating"]["list"]} | GRAFANA_GLOBALS
    for query in panel_queries(board):
        assert variables_in(query.expr) <= defined, query


def test_queries_use_only_documented_metrics() -> None:
    documented = documented_metrics().keys()
    for query in panel_queries(dashboard()):
        assert metric_names(query.expr), f"{query.panel}: reads no schema-monitor metric"
        assert metric_names(query.expr) <= documented, query


# Values Grafana would put in for the variables when checking the syntax.
SAMPLE_VALUES = {
    "target": ".*",
    "schema": ".*",
    "datasource": "prometheus",
    "__rate_interval": "1m",
}


def promtool_check_queries(
    queries: list[PanelQuery], directory: Path
) -> subprocess.CompletedProcess[str]:
    """promtool parses each expression as a recording rule: PromQL syntax and types, offline."""
    rules = [
        {"record": f"dashboard:query_{n}", "expr": substitute(q.expr, SAMPLE_VALUES)}
        for n, q in enumerate(queries)
    ]
    path = directory / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    return subprocess.run(
        [require_binary("promtool"), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    queries = panel_queries(dashboard())
    result = promtool_check_queries(queries, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_the_promql_check_rejects_a_broken_query(tmp_path: Path) -> None:
    broken = PanelQuery("broken", "A", "sum by (target (schema_monitor_up)")
    assert promtool_check_queries([broken], tmp_path).returncode != 0


def test_datasource_provisioning_points_at_the_compose_prometheus() -> None:
    config = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    [source] = config["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert "prometheus" in yaml.safe_load(COMPOSE.read_text())["services"]


def test_dashboard_provisioning_reads_the_directory_compose_mounts() -> None:
    config = yaml.safe_load((PROVISIONING / "dashboards" / "schema-monitor.yml").read_text())
    [provider] = config["providers"]
    grafana = yaml.safe_load(COMPOSE.read_text())["services"]["grafana"]
    mounts = {target: source for source, target, *_ in (v.split(":") for v in grafana["volumes"])}
    source = mounts[provider["options"]["path"]]
    assert (COMPOSE.parent / source).resolve() == (DEPLOY / "grafana" / "dashboards")
    assert (COMPOSE.parent / mounts["/etc/grafana/provisioning"]).resolve() == PROVISIONING
