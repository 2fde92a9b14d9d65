"""DRIFT_COMBINATIONS, the registry of what a finding can be, holds what the diff makes:
every drift the suite injects (tests/support/drifts.py), and any diff of two states."""

from __future__ import annotations

from hypothesis import given

from monitor.daemon.metrics_drift import ALERTED_DRIFT
from monitor.schema.compare.diff import diff
from monitor.schema.model import DRIFT_COMBINATIONS, Change, Kind, Severity, State
from tests.support.drifts import DRIFT, SECURITY_DRIFTS
from tests.support.strategies import states


def test_every_drift_the_suite_injects_is_registered() -> None:
    injected = {(kind, change, severity) for _, _, (kind, change, severity, _) in DRIFT}
    injected |= {
        (Kind(kind), Change(change), Severity(severity))
        for _, _, found in SECURITY_DRIFTS.values()
        for kind, _, _, change, severity in found
    }
    assert injected <= DRIFT_COMBINATIONS, injected - DRIFT_COMBINATIONS


@given(states(), states())
def test_every_finding_of_a_diff_is_registered(expected: State, actual: State) -> None:
    for finding in diff(expected, actual):
        assert (finding.kind, finding.change, finding.severity) in DRIFT_COMBINATIONS, finding


def test_the_registry_leaves_out_what_cannot_happen() -> None:
    assert (Kind.TABLE, Change.WIDENED, Severity.CRITICAL) not in DRIFT_COMBINATIONS
    assert len(DRIFT_COMBINATIONS) < len(Kind) * len(Change) * len(Severity) // 4
    assert ALERTED_DRIFT <= DRIFT_COMBINATIONS
