"""The direct renderer writes what the MetricFamily-based render wrote, byte for byte.

The reference (tests/support/metrics_reference.py) is the collector the daemon
used to serve through prometheus_client's exposition; the renderer must produce
the same families, samples, HELP and TYPE lines in both formats, also after a
series of updates that it renders partly from what it kept.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from monitor.daemon import results as values
from monitor.daemon.metrics import Renderer
from monitor.daemon.results import Results, ResultsStore, TargetResults, UsageResult
from monitor.schema.advisors import RULES, Advisory, Category, Level
from monitor.schema.model import Change, Finding, Kind, Severity
from monitor.window.watch import WindowStatus
from tests.support import metrics_reference

NOW = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
TABLES = 600  # beyond the default cap of 500 spec relations: the shape the daemon serves
# Label values the exposition must escape, and names no ASCII identifier has.
ODD_NAMES = ('we"ird', "back\\slash", "new\nline", "ünïcødé")


def table_name(n: int) -> str:
    return ODD_NAMES[n] if n < len(ODD_NAMES) else f"table_{n:04}"


def usage(scale: int = 1) -> UsageResult:
    indexes = tuple(
        values.IndexUsage(
            schemaname="public",
            relname=table_name(n // 2),
            indexrelname=f"{table_name(n // 2)}_idx_{n % 2}",
            scans=n * 1_000 * scale,  # up to millions: Go's exponent notation
            size_bytes=8192 * (n + 1),
            valid=n % 97 != 5,
            building=n % 89 == 3,
            scans_since_watch_start=None if n % 13 == 0 else n * scale,
        )
        for n in range(2 * TABLES)
    )
    tables = tuple(
        values.TableUsage("public", table_name(n), n * 7 * scale, n * 3 * scale)
        for n in range(TABLES)
    )
    health = values.Health(
        (("active", 2), ("idle", 5 * scale), ("idle in transaction", 0)), 1, 0.25, 0, 4
    )
    return UsageResult("app", NOW - timedelta(days=1), indexes, tables, health, NOW)


def drift(missing_every: int = 50) -> values.DriftResult:
    expected = tuple(
        values.ExpectedObject(kind, "public", table_name(n), name, n % missing_every != 1)
        for n in range(TABLES)
        for kind, name in (
            (Kind.TABLE, table_name(n)),
            (Kind.RLS, table_name(n)),
            (Kind.INDEX, f"{table_name(n)}_idx_0"),
            (Kind.POLICY, f"{table_name(n)}_read"),
        )
    )
    findings = tuple(
        Finding(o.kind, Change.MISSING, Severity.CRITICAL, "public", o.relname, o.object, "gone")
        for o in expected
        if not o.present
    )
    rules = list(RULES.values())
    advisories = tuple(
        Advisory(
            rules[n % len(rules)].id,
            rules[n % len(rules)].level,
            Category.PERFORMANCE,
            "public",
            None if n % 10 == 0 else table_name(n % TABLES),
            f"object_{n}",
            "a message",
            "a remedy",
        )
        for n in range(1_100)  # beyond the 1,000 shown
    )
    return values.DriftResult(
        findings=findings,
        expected=expected,
        skipped=("public.locked",),
        ledger=("20261130000000",),
        building=(),
        checked_at=NOW,
        full=True,
        advisories=advisories,
    )


def statements() -> values.StatementsResult:
    """Query evidence with every kind of series, some means unknown (no calls yet)."""
    advisory = Advisory(
        "statement_slower",
        Level.WARNING,
        Category.PERFORMANCE,
        "public",
        "integrations",
        "0fe641d1340b9bf3",
        "slower",
        "look",
    )
    return values.StatementsResult(
        datname="app",
        available=True,
        resets=1,
        statements=tuple(
            values.StatementTiming(
                queryid=-(2**63) + n,
                fingerprint=f"{n:016x}",
                calls_since_watch_start=n * 100,
                mean_ms_since_watch_start=None if n == 0 else 0.05 * n,
                mean_ms_before_watch_start=None if n == 1 else 12.5,
            )
            for n in range(20)
        ),
        tables=(
            values.TableTiming("public", "integrations", 12.5, 0.25),
            values.TableTiming("public", ODD_NAMES[0], None, 3.0),
        ),
        indexes=(
            values.IndexPlanning("public", "integrations", "idx_active_integrations", 3, False),
            values.IndexPlanning("public", ODD_NAMES[1], "idx_unplanned", 0, True),
        ),
        advisories=(advisory, advisory),
    )


def realistic() -> Results:
    """A fresh target, a fully checked one, and one with drift but no statistics yet:
    families announced by a later target come after those of the earlier ones."""
    fresh = TargetResults(name="fresh")
    full = TargetResults(
        name="full",
        up=True,
        drift_check=values.CheckResult().succeeded(1.25, NOW),
        stats_check=values.CheckResult().failed(0.5, "boom").succeeded(0.125, NOW),
        drift=drift(),
        usage=usage(),
        statements=statements(),
        window=WindowStatus(NOW - timedelta(hours=2), NOW + timedelta(hours=46), True),
        state_write_errors=2,
    )
    drift_only = TargetResults(
        name="drift-only",
        up=False,
        drift_check=values.CheckResult().failed(3.0, "down"),
        drift=replace(drift(missing_every=7), advisories=()),
        state_files_corrupt=1,
    )
    return Results(
        version="1.2.3",
        targets=(fresh, full, drift_only),
        config_last_reload_success=NOW,
    )


def reference(results: Results) -> tuple[bytes, bytes]:
    registry = metrics_reference.registry(lambda: results)
    openmetrics: bytes = generate_openmetrics(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), openmetrics


def openmetrics_families(text: str) -> list[Metric]:
    return list(parse_openmetrics(text))  # type: ignore[no-untyped-call]


def families(metrics: list[Metric]) -> list[tuple[str, str, str, list[object]]]:
    return [(m.name, m.type, m.documentation, list(m.samples)) for m in metrics]


def assert_same_as_reference(renderer: Renderer, results: Results) -> None:
    """Parsed, the same families and samples as the reference (a readable failure); then
    the same bytes."""
    text, openmetrics = reference(results)
    fast_text, fast_openmetrics = renderer.text(), renderer.openmetrics()
    assert families(list(parse_text(fast_text.decode()))) == families(
        list(parse_text(text.decode()))
    )
    assert families(openmetrics_families(fast_openmetrics.decode())) == families(
        openmetrics_families(openmetrics.decode())
    )
    assert_same_bytes_as_reference(renderer, results)


def assert_same_bytes_as_reference(renderer: Renderer, results: Results) -> None:
    text, openmetrics = reference(results)
    assert renderer.text() == text
    assert renderer.openmetrics() == openmetrics


def test_a_realistic_result_renders_as_the_reference_does() -> None:
    results = realistic()
    samples = sum(1 for line in generate_latest(metrics_reference.registry(lambda: results))
                  .splitlines() if not line.startswith(b"#"))  # fmt: skip
    assert samples > 5_000  # the size the renderer is for, not a toy
    assert_same_as_reference(Renderer(lambda: results), results)


def test_what_is_kept_between_renderings_never_shows_stale_values() -> None:
    store = ResultsStore(realistic())
    renderer = Renderer(store.latest)
    assert_same_as_reference(renderer, store.latest())

    def full(change: object) -> None:
        store.update_target("full", change)  # type: ignore[arg-type]
        # Bytes only: the parsers are slow on 6,000 series, and the first assertion
        # above already showed the format's meaning.
        assert_same_bytes_as_reference(renderer, store.latest())

    full(lambda t: replace(t, usage=usage(scale=3)))  # new values, same series
    full(lambda t: replace(t, drift=replace(t.drift, checked_at=NOW, findings=())))  # quiet cycle
    full(lambda t: replace(t, drift=drift(missing_every=3)))  # a full cycle that found more
    shrunk = usage()
    full(lambda t: replace(t, usage=replace(shrunk, indexes=shrunk.indexes[::3])))  # indexes gone
    full(lambda t: replace(t, usage=None, window=None))
    store.update(lambda r: replace(r, targets=r.targets[1:]))  # a target removed by a reload
    assert_same_bytes_as_reference(renderer, store.latest())
    store.update(lambda r: replace(r, targets=(replace(r.targets[0], name="renamed"),)))
    assert_same_bytes_as_reference(renderer, store.latest())
