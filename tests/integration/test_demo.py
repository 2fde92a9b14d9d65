"""`schema-monitor demo`: the first look a user gets must work end to end."""

from __future__ import annotations

import pytest

from tests.support.processes import run_monitor


@pytest.mark.slow
def test_demo_shows_a_clean_check_then_the_metrics_flip_on_drift() -> None:
    result = run_monitor("demo", "--drift", "--duration", "12", timeout=180)
    assert result.returncode == 0, result.stderr
    before, _, after = result.stdout.partition("hand edits in a SQL editor:")
    assert "no drift: the database matches the spec" in before
    assert 'schema_monitor_up{target="demo"} 1.0' in before
    assert 'object="idx_active_integrations"' in before and "drift_objects" not in before
    assert (
        'schema_monitor_drift_objects{change="missing",kind="index",severity="critical",'
        'target="demo"} 1.0' in after
    )
    assert "critical index public.integrations.idx_active_integrations is missing" in after
    assert "drift_detected" in result.stderr
