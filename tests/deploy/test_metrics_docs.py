"""docs/metrics.md and the daemon's /metrics hold each other to account.

The daemon runs against a database holding the example migrations; once both
checks have run, every exported metric must be documented with its type and
labels, and every documented metric must be exported.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.deploy_files import documented_metrics, exported_metrics
from tests.support.processes import Processes, start_monitor
from tests.support.statements import NEEDS_PG_STAT_STATEMENTS
from tests.support.waiting import http_get, wait_until

# Series that appear only after each check has completed once.
AFTER_BOTH_CHECKS = ("schema_monitor_drift_objects{", "schema_monitor_index_scans_total{")


def scrape_after_both_checks(processes: Processes, url: str) -> str:
    def scrape() -> str | None:
        answer = http_get(f"{url}/metrics")
        text = answer[1].decode() if answer and answer[0] == 200 else ""
        return text if all(marker in text for marker in AFTER_BOTH_CHECKS) else None

    return wait_until(scrape, timeout=30, what="drift and stats results", processes=processes)


def test_docs_list_exactly_the_exported_metrics(phase3_dsn: str, tmp_path: Path) -> None:
    with Processes(tmp_path) as processes:
        url = start_monitor(processes, phase3_dsn)
        exported = exported_metrics(scrape_after_both_checks(processes, url))
    documented = documented_metrics()
    assert sorted(exported.keys() - documented.keys()) == [], "exported but not documented"
    # Series of what a clean database does not have: a finding to name, an index being
    # built (tests/unit/test_metrics.py renders them); the query evidence of a database
    # without pg_stat_statements (tests/integration/test_statement_evidence.py checks it).
    only_with_drift = {"schema_monitor_drift_finding", "schema_monitor_index_building"}
    missing = documented.keys() - exported.keys() - only_with_drift - NEEDS_PG_STAT_STATEMENTS
    assert sorted(missing) == [], "documented but not exported"
    for name, metric in exported.items():
        assert documented[name] == metric, f"{name}: documented {documented[name]}, got {metric}"


def test_every_series_but_the_daemons_own_carries_the_target_label() -> None:
    own = {
        "schema_monitor_build_info",
        "schema_monitor_web_info",
        "schema_monitor_config_reload_success",
        "schema_monitor_config_last_reload_success_timestamp_seconds",
    }
    for name, metric in documented_metrics().items():
        if name.startswith("schema_monitor_"):  # process_* describe the process itself
            assert ("target" in metric.labels) == (name not in own), name
