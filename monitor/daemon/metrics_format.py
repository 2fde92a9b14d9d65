"""The building blocks of the /metrics exposition: families, sample lines, label strings.

The text is written directly, as prometheus_client's exposition would write it
(labels in name order, values as Go prints them). The sections that use these
are in :mod:`monitor.daemon.metrics` (the daemon's and each check's),
:mod:`monitor.daemon.metrics_drift` and :mod:`monitor.daemon.metrics_stats`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import utils as prometheus_utils

PREFIX = "schema_monitor_"


@dataclass(frozen=True, slots=True, eq=False)
class Family:
    """One metric family: the name its samples carry and its headers in both formats."""

    sample: str  # counters: with the _total suffix, in both formats
    text_bytes: bytes  # HELP and TYPE
    openmetrics_bytes: bytes  # counters: named without _total, as OpenMetrics wants


def _family(kind: str, name: str, documentation: str) -> Family:
    full = PREFIX + name
    sample = f"{full}_total" if kind == "counter" else full
    text_help = documentation.replace("\\", r"\\").replace("\n", r"\n")
    openmetrics_help = text_help.replace('"', r"\"")
    return Family(
        sample,
        f"# HELP {sample} {text_help}\n# TYPE {sample} {kind}\n".encode(),
        f"# HELP {full} {openmetrics_help}\n# TYPE {full} {kind}\n".encode(),
    )


def gauge(name: str, documentation: str) -> Family:
    return _family("gauge", name, documentation)


def counter(name: str, documentation: str) -> Family:
    return _family("counter", name, documentation)


# A section's output: each family it announces (in order) with its sample lines.
# Bytes, encoded once when a section is rendered: a rendering only joins them.
Chunks = tuple[tuple[Family, bytes], ...]
# Label strings by label names, then by values (keyed apart: the values alone are the
# smallest key, and the names are the same few tuples every time).
LabelStrings = dict[tuple[str, ...], dict[tuple[str, ...], str]]


# Values as Go prints them (1e+06, +Inf), exactly as prometheus_client's exposition does.
_go_float: Callable[[float], str] = prometheus_utils.floatToGoString


def timestamp(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


def flag(value: bool) -> float:
    return 1.0 if value else 0.0


def label_string(labels: dict[str, str]) -> str:
    """``{name="value",...}`` in name order, escaped as the exposition formats want."""
    if not labels:
        return ""
    pairs = ",".join(
        '{}="{}"'.format(
            name, str(value).replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
        )
        for name, value in sorted(labels.items())
    )
    return "{" + pairs + "}"


def line(family: Family, labels: str, value: float) -> str:
    return f"{family.sample}{labels} {_go_float(value)}\n"


class Lines:
    """Sample lines by family, the families in the order they were first announced."""

    __slots__ = ("_by_family",)

    def __init__(self) -> None:
        self._by_family: dict[Family, list[str]] = {}

    def announce(self, family: Family) -> list[str]:
        """The family's lines so far; announced (HELP and TYPE) even if none follow."""
        lines = self._by_family.get(family)
        if lines is None:
            lines = self._by_family[family] = []
        return lines

    def add(self, family: Family, labels: str, value: float) -> None:
        self.announce(family).append(line(family, labels, value))

    def chunks(self) -> Chunks:
        return tuple((family, "".join(lines).encode()) for family, lines in self._by_family.items())


class Labels:
    """A section's label strings, carried over from its previous rendering: a series'
    identity (an index, a table, an expected object) outlives the values it shows."""

    __slots__ = ("_previous", "kept")

    def __init__(self, previous: LabelStrings) -> None:
        self._previous = previous
        self.kept: LabelStrings = {}  # only the series of this rendering

    def __call__(self, names: tuple[str, ...], *values: str) -> str:
        kept = self.kept.get(names)
        if kept is None:
            kept = self.kept[names] = {}
        text = kept.get(values)
        if text is None:
            previous = self._previous.get(names)
            text = previous.get(values) if previous is not None else None
            if text is None:
                text = label_string(dict(zip(names, values, strict=True)))
            kept[values] = text
        return text
