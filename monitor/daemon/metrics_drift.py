"""The drift check's series: drift objects and findings, expected objects, advisories.

Rendered by :class:`monitor.daemon.metrics.Renderer`, whose docstring shows the
exposition and the rules worth knowing when writing alerts.
"""

from __future__ import annotations

from monitor.daemon.metrics_format import (
    Chunks,
    Labels,
    Lines,
    flag,
    gauge,
    label_string,
    line,
)
from monitor.daemon.results import DriftResult, ExpectedObject
from monitor.schema.advisors import RULES, Advisory
from monitor.schema.model import DRIFT_COMBINATIONS, Change, Finding, Kind, Severity

# Per-advisory series, worst first: a catalog of thousands of tables without a
# primary key must not turn into thousands of series; advisory_rules still counts all.
ADVISORY_SERIES = 1000
# Per-finding series per target, worst first: enough to name every object of a bad
# deploy, bounded when a spec meets the wrong database; drift_findings_not_shown counts
# the rest.
DRIFT_FINDING_SERIES = 100
# The drift_objects series kept at 0 while clean: the combinations that the alert rules
# (deploy/prometheus/alerts.yml) select, so that their dashboards read 0, not "no data".
# Others exist only while non-zero; all are combinations the diff can make.
ALERTED_DRIFT = frozenset(
    {
        (Kind.INDEX, Change.MISSING, Severity.CRITICAL),
        (Kind.INDEX, Change.INVALID, Severity.CRITICAL),
        (Kind.POLICY, Change.MISSING, Severity.CRITICAL),
        (Kind.POLICY, Change.CHANGED, Severity.CRITICAL),
        (Kind.POLICY, Change.CHANGED, Severity.WARNING),
        (Kind.RLS, Change.DISABLED, Severity.CRITICAL),
        (Kind.TABLE, Change.MISSING, Severity.CRITICAL),
        (Kind.PRIVILEGE, Change.WIDENED, Severity.CRITICAL),
        (Kind.FUNCTION, Change.CHANGED, Severity.CRITICAL),
        (Kind.FUNCTION, Change.WIDENED, Severity.CRITICAL),
        (Kind.MIGRATION, Change.PENDING, Severity.INFO),
    }
)
assert ALERTED_DRIFT <= DRIFT_COMBINATIONS
_DRIFT_ORDER = {
    combination: position
    for position, combination in enumerate(
        (kind, change, severity) for kind in Kind for change in Change for severity in Severity
    )
}
# expected_object_present series of present objects: the kinds the alert rules name.
PRESENT_SERIES_KINDS = frozenset({Kind.TABLE, Kind.RLS, Kind.INDEX, Kind.POLICY})
_SEVERITY_ORDER = {severity: position for position, severity in enumerate(Severity)}

DRIFT_OBJECTS = gauge(
    "drift_objects",
    "Objects departing from the spec, by kind, change and severity (0 kept for those alerted on).",
)
DRIFT_FINDING = gauge(
    "drift_finding",
    "One series per drift finding, naming its object (worst first, capped): always 1.",
)
DRIFT_FINDINGS_NOT_SHOWN = gauge(
    "drift_findings_not_shown", "Drift findings left out of drift_finding by its cap."
)
EXPECTED_OBJECT_PRESENT = gauge(
    "expected_object_present",
    "Whether an object the spec lists exists in the database (RLS: is enabled).",
)
LOCKED_RELATIONS_SKIPPED = gauge(
    "locked_relations_skipped",
    "Tables the last drift check left out: their AccessExclusiveLock was held or awaited.",
)
ADVISORY_RULES = gauge(
    "advisory_rules",
    "Advisories of the last full drift check, by rule (the rules that have some).",
)
ADVISORIES = gauge(
    "advisories",
    "One series per advisory (what a reviewer would flag; not drift): always 1.",
)

_DRIFT_LABELS = ("target", "kind", "change", "severity")
_FINDING_LABELS = ("target", "kind", "change", "severity", "schemaname", "relname", "object")
_EXPECTED_LABELS = ("target", "kind", "schemaname", "relname", "object")
_RULE_LABELS = ("target", "rule", "level")
_ADVISORY_LABELS = ("target", "rule", "level", "schemaname", "relname", "object")


def drift_objects(name: str, findings: tuple[Finding, ...], labels: Labels) -> Chunks:
    counts: dict[tuple[Kind, Change, Severity], int] = dict.fromkeys(ALERTED_DRIFT, 0)
    for finding in findings:
        key = (finding.kind, finding.change, finding.severity)
        counts[key] = counts.get(key, 0) + 1
    lines = Lines()
    for key in sorted(counts, key=lambda k: _DRIFT_ORDER.get(k, len(_DRIFT_ORDER))):
        kind, change, severity = key
        series = labels(_DRIFT_LABELS, name, kind, change, severity)
        lines.add(DRIFT_OBJECTS, series, float(counts[key]))
    return lines.chunks()


def drift_findings(name: str, findings: tuple[Finding, ...], labels: Labels) -> Chunks:
    """A series per finding (value: the findings with those labels, 1 but for rare twins),
    worst first up to :data:`DRIFT_FINDING_SERIES`, and the count of those left out."""
    shown: dict[str, int] = {}
    left_out = 0
    for finding in sorted(findings, key=lambda f: _SEVERITY_ORDER[f.severity]):
        series = labels(
            _FINDING_LABELS,
            name,
            finding.kind,
            finding.change,
            finding.severity,
            finding.schema,
            finding.table or "",
            finding.name,
        )
        if series in shown:
            shown[series] += 1
        elif len(shown) < DRIFT_FINDING_SERIES:
            shown[series] = 1
        else:
            left_out += 1
    lines = Lines()
    for series, count in shown.items():  # none: the family is not announced
        lines.add(DRIFT_FINDING, series, float(count))
    lines.add(DRIFT_FINDINGS_NOT_SHOWN, label_string({"target": name}), float(left_out))
    return lines.chunks()


def expected_objects(name: str, expected: tuple[ExpectedObject, ...], labels: Labels) -> Chunks:
    """Missing objects always; present ones of the kinds the alert rules name or join on
    (the drift of the others is named by drift_finding)."""
    indexes = {
        (item.schemaname, item.relname, item.object) for item in expected if item.kind == "index"
    }
    lines = Lines()
    present = lines.announce(EXPECTED_OBJECT_PRESENT)
    for item in expected:
        if item.present and item.kind not in PRESENT_SERIES_KINDS:
            # A constraint enforced by an index keeps its series: the unused-index
            # alert leaves such indexes out by joining on it.
            backs_an_index = (item.schemaname, item.relname, item.object) in indexes
            if item.kind != "constraint" or not backs_an_index:
                continue
        series = labels(
            _EXPECTED_LABELS, name, item.kind, item.schemaname, item.relname, item.object
        )
        present.append(line(EXPECTED_OBJECT_PRESENT, series, flag(item.present)))
    return lines.chunks()


def locked_skipped(name: str, drift: DriftResult) -> Chunks:
    sample = line(LOCKED_RELATIONS_SKIPPED, label_string({"target": name}), len(drift.skipped))
    return ((LOCKED_RELATIONS_SKIPPED, sample.encode()),)


def advisories(name: str, advisories: tuple[Advisory, ...], labels: Labels) -> Chunks:
    counts: dict[str, int] = {}
    for advisory in advisories:
        counts[advisory.rule] = counts.get(advisory.rule, 0) + 1
    lines = Lines()
    for rule in RULES.values():  # rules with advisories: none, the family is not announced
        if rule.id in counts:
            series = labels(_RULE_LABELS, name, rule.id, rule.level)
            lines.add(ADVISORY_RULES, series, float(counts[rule.id]))
    for advisory in advisories[:ADVISORY_SERIES]:  # none: the family is not announced
        series = labels(
            _ADVISORY_LABELS,
            name,
            advisory.rule,
            advisory.level,
            advisory.schema,
            advisory.table or "",
            advisory.object,
        )
        lines.add(ADVISORIES, series, 1.0)
    return lines.chunks()
