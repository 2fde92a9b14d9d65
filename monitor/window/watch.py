"""The watch window after a deploy: counters since its start, and the drift seen in it.

PostgreSQL's statistics counters only grow until someone resets them
(``pg_stat_reset()``). "Scans since the window started" is kept as a running
sum of increases, so a reset in the middle of the window loses nothing but
the few scans between the last sample and the reset: after a reset the
counter restarted from zero, and all of its new value is new.

Everything here survives a restart: the state lives in ``state_dir/<target>/``
as JSON, written atomically. The functions that move the state forward are
pure; :class:`StateFiles` is the I/O.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.errors import MonitorError
from monitor.postgres.stats import Sample
from monitor.schema.advisors import Advisory
from monitor.schema.model import Finding, FindingKey, finding_key
from monitor.window import strict


@dataclass(frozen=True, slots=True)
class WindowStatus:
    start: datetime
    end: datetime
    active: bool


@dataclass(frozen=True, slots=True)
class Counter:
    """A statistics counter followed across samples: what it gained since the window began."""

    since: int  # gained since the window started
    last: int  # the raw value at the last sample

    def advance(self, current: int, reset: bool) -> Counter:
        # A counter that went down was reset (pg_stat_reset_single_table_counters
        # does not touch stats_reset), so it restarted from zero.
        gained = current if reset or current < self.last else current - self.last
        return Counter(self.since + gained, current)


@dataclass(frozen=True, slots=True)
class Peaks:
    """The worst the database's health got during the window."""

    connections: int = 0
    lock_waiting_sessions: int = 0
    longest_transaction_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class WatchState:
    start: datetime
    samples: int = 0
    stats_reset: datetime | None = None  # the server's stats_reset at the last sample
    resets: int = 0  # statistics resets seen during the window
    indexes: Mapping[str, Counter] = field(default_factory=dict)  # "schema.index" -> scans
    deadlocks: Counter = Counter(0, 0)
    rollbacks: Counter = Counter(0, 0)
    peaks: Peaks = Peaks()
    failed_checks: int = 0
    ended: datetime | None = None  # when the end-of-window report was written


def begin(start: datetime) -> WatchState:
    return WatchState(start=start)


def status(state: WatchState, duration_seconds: float, now: datetime) -> WindowStatus:
    end = state.start + timedelta(seconds=duration_seconds)
    return WindowStatus(start=state.start, end=end, active=state.start <= now < end)


def observe(state: WatchState, sample: Sample) -> tuple[WatchState, bool]:
    """Fold one statistics sample into the window; also says whether a reset was detected.

    The first sample is the baseline: every counter starts at zero gained. An
    index first seen later was created during the window, so all its scans count.
    """
    database = sample.database
    first = state.samples == 0
    reset = not first and database.stats_reset != state.stats_reset
    indexes: dict[str, Counter] = {}
    for index in sample.indexes:
        key = f"{index.schemaname}.{index.indexrelname}"
        known = state.indexes.get(key)
        if known is not None:
            indexes[key] = known.advance(index.scans, reset)
        else:
            indexes[key] = Counter(0 if first else index.scans, index.scans)
    connections = sum(count for _, count in database.connections)
    peaks = Peaks(
        connections=max(state.peaks.connections, connections),
        lock_waiting_sessions=max(
            state.peaks.lock_waiting_sessions, database.lock_waiting_sessions
        ),
        longest_transaction_seconds=max(
            state.peaks.longest_transaction_seconds, database.longest_transaction_seconds
        ),
    )
    observed = replace(
        state,
        samples=state.samples + 1,
        stats_reset=database.stats_reset,
        resets=state.resets + int(reset),
        indexes=indexes,
        deadlocks=_baseline_or_advance(state.deadlocks, database.deadlocks, first, reset),
        rollbacks=_baseline_or_advance(state.rollbacks, database.rollbacks, first, reset),
        peaks=peaks,
    )
    return observed, reset


def _baseline_or_advance(counter: Counter, current: int, first: bool, reset: bool) -> Counter:
    return Counter(0, current) if first else counter.advance(current, reset)


def scans_since_start(state: WatchState, schemaname: str, indexrelname: str) -> int | None:
    counter = state.indexes.get(f"{schemaname}.{indexrelname}")
    return counter.since if counter is not None else None


# --- drift history -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DriftRecord:
    """One drift, from the first time a check saw it to the last: its latest finding."""

    finding: Finding
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None = None
    occurrences: int = 1  # separate episodes: it came back after being resolved

    @property
    def key(self) -> FindingKey:
        return finding_key(self.finding)

    def as_json(
        self, time: Callable[[datetime | None], str | None] | None = None
    ) -> dict[str, Any]:
        """The finding's JSON and when it was seen: the history file's and (with the
        report's ``time`` format) the report's."""
        written = time or _time
        return {
            **self.finding.as_json(),
            "first_seen": written(self.first_seen),
            "last_seen": written(self.last_seen),
            "resolved_at": written(self.resolved_at),
            "occurrences": self.occurrences,
        }

    @classmethod
    def from_json(cls, item: Any) -> DriftRecord:
        """:meth:`as_json` read back, each value checked; ValueError or KeyError if not."""
        item = strict.mapping(item, "record")
        return cls(
            finding=finding_from_json(item),
            first_seen=strict.moment(item["first_seen"], "first_seen"),
            last_seen=strict.moment(item["last_seen"], "last_seen"),
            resolved_at=strict.optional_moment(item["resolved_at"], "resolved_at"),
            occurrences=strict.count(item["occurrences"], "occurrences"),
        )


@dataclass(frozen=True, slots=True)
class History:
    records: tuple[DriftRecord, ...] = ()


def record(history: History, findings: Iterable[Finding], now: datetime) -> History:
    """Fold one drift check's findings into the history."""
    current = {finding_key(f): f for f in findings}
    records: list[DriftRecord] = []
    for entry in history.records:
        finding = current.pop(entry.key, None)
        if finding is None:
            records.append(entry if entry.resolved_at else replace(entry, resolved_at=now))
            continue
        reopened = entry.resolved_at is not None
        records.append(
            replace(
                entry,
                finding=finding,
                last_seen=now,
                resolved_at=None,
                occurrences=entry.occurrences + int(reopened),
            )
        )
    for finding in current.values():
        records.append(DriftRecord(finding=finding, first_seen=now, last_seen=now))
    return History(
        tuple(sorted(records, key=lambda r: (r.first_seen, r.finding.schema, r.finding.name)))
    )


# --- the latest drift check, for reports made by another process ---------------------------


@dataclass(frozen=True, slots=True)
class Evidence:
    checked_at: datetime
    findings: tuple[Finding, ...]
    ledger: tuple[str, ...] | None  # live migration versions in applied order
    skipped: tuple[str, ...]
    building: tuple[str, ...]
    advisories: tuple[Advisory, ...] = ()


# --- persistence -------------------------------------------------------------------------


class StateFiles:
    """The files of one target under ``state_dir/<target>/``."""

    def __init__(self, state_dir: Path, target: str) -> None:
        self.target = target
        self.directory = state_dir / target
        self.watch = self.directory / "watch.json"
        self.history = self.directory / "history.json"
        self.evidence = self.directory / "latest.json"
        self.report_markdown = self.directory / "report.md"
        self.report_json = self.directory / "report.json"

    def load_watch(self) -> WatchState | None:
        data = self._read(self.watch)
        return None if data is None else watch_from_json(data, self.watch)

    def save_watch(self, state: WatchState) -> None:
        self.write(self.watch, json.dumps(watch_to_json(state), sort_keys=True))

    def load_history(self) -> History:
        data = self._read(self.history)
        return History() if data is None else history_from_json(data, self.history)

    def save_history(self, history: History) -> None:
        self.write(self.history, json.dumps(history_to_json(history), indent=1, sort_keys=True))

    def load_evidence(self) -> Evidence | None:
        data = self._read(self.evidence)
        return None if data is None else evidence_from_json(data, self.evidence)

    def save_evidence(self, evidence: Evidence) -> None:
        self.write(self.evidence, json.dumps(evidence_to_json(evidence), sort_keys=True))

    def write(self, path: Path, text: str) -> None:
        """Write all or nothing: a crash, a full disk or a power cut leaves the previous file.

        The data reaches the disk before the rename, and the rename before we return
        (the directory is synced too); a failed write leaves no temporary file behind.
        """
        temporary: str | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=f".{path.name}.")
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
            temporary = None
            _sync_directory(self.directory)
        except (OSError, UnicodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else None
            raise MonitorError(f"cannot write {path}: {reason or exc}") from None
        finally:
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)

    def set_aside(self, path: Path, now: datetime) -> Path:
        """Rename a corrupt file out of the way (kept for a person to look at); returns its name."""
        aside = path.with_name(f"{path.name}.corrupt-{now.strftime('%Y%m%dT%H%M%S%fZ')}")
        try:
            os.replace(path, aside)
        except OSError as exc:
            raise MonitorError(f"cannot set aside corrupt {path}: {exc.strerror or exc}") from None
        return aside

    @staticmethod
    def _read(path: Path) -> Any:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise MonitorError(f"cannot read {path}: {exc.strerror}") from None
        try:
            return strict.parse(data.decode("utf-8"))
        except ValueError as exc:  # bad bytes, bad syntax, infinite numbers, deep nesting
            raise CorruptStateFile(path, str(exc)) from None


class CorruptStateFile(MonitorError):
    """A state file that exists but cannot be read back: kept aside, never overwritten."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        super().__init__(f"corrupt state file {path}: {reason}")


def _sync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable (a no-op where directories cannot be opened)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename is done
    finally:
        os.close(descriptor)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _counter(data: Any, what: str) -> Counter:
    pair = strict.items(data, what)
    if len(pair) != 2:
        raise ValueError(f"{what}: expected [since, last]")
    return Counter(strict.count(pair[0], f"{what}[0]"), strict.count(pair[1], f"{what}[1]"))


def watch_to_json(state: WatchState) -> dict[str, Any]:
    return {
        "start": _time(state.start),
        "samples": state.samples,
        "stats_reset": _time(state.stats_reset),
        "resets": state.resets,
        # [since, last]: compact, this map may hold thousands of indexes.
        "indexes": {key: [c.since, c.last] for key, c in sorted(state.indexes.items())},
        "deadlocks": [state.deadlocks.since, state.deadlocks.last],
        "rollbacks": [state.rollbacks.since, state.rollbacks.last],
        "peaks": {
            "connections": state.peaks.connections,
            "lock_waiting_sessions": state.peaks.lock_waiting_sessions,
            "longest_transaction_seconds": state.peaks.longest_transaction_seconds,
        },
        "failed_checks": state.failed_checks,
        "ended": _time(state.ended),
    }


def watch_from_json(data: Any, path: Path) -> WatchState:
    try:
        top = strict.mapping(data, "watch state")
        peaks = strict.mapping(top["peaks"], "peaks")
        indexes = strict.mapping(top["indexes"], "indexes")
        return WatchState(
            start=strict.moment(top["start"], "start"),
            samples=strict.count(top["samples"], "samples"),
            stats_reset=strict.optional_moment(top["stats_reset"], "stats_reset"),
            resets=strict.count(top["resets"], "resets"),
            indexes={k: _counter(v, f"indexes.{k}") for k, v in indexes.items()},
            deadlocks=_counter(top["deadlocks"], "deadlocks"),
            rollbacks=_counter(top["rollbacks"], "rollbacks"),
            peaks=Peaks(
                strict.count(peaks["connections"], "peaks.connections"),
                strict.count(peaks["lock_waiting_sessions"], "peaks.lock_waiting_sessions"),
                strict.seconds(
                    peaks["longest_transaction_seconds"], "peaks.longest_transaction_seconds"
                ),
            ),
            failed_checks=strict.count(top["failed_checks"], "failed_checks"),
            ended=strict.optional_moment(top["ended"], "ended"),
        )
    except KeyError as exc:
        raise CorruptStateFile(path, f"missing {exc}") from None
    except (ValueError, TypeError) as exc:
        raise CorruptStateFile(path, str(exc)) from None


def history_to_json(history: History) -> list[dict[str, Any]]:
    return [r.as_json() for r in history.records]


def history_from_json(data: Any, path: Path) -> History:
    try:
        return History(tuple(map(DriftRecord.from_json, strict.items(data, "history"))))
    except KeyError as exc:
        raise CorruptStateFile(path, f"missing {exc}") from None
    except (ValueError, TypeError) as exc:
        raise CorruptStateFile(path, str(exc)) from None


def evidence_to_json(evidence: Evidence) -> dict[str, Any]:
    return {
        "checked_at": _time(evidence.checked_at),
        "findings": [f.as_json() for f in evidence.findings],
        "ledger": list(evidence.ledger) if evidence.ledger is not None else None,
        "skipped": list(evidence.skipped),
        "building": list(evidence.building),
        "advisories": [a.as_json() for a in evidence.advisories],
    }


def evidence_from_json(data: Any, path: Path) -> Evidence:
    try:
        top = strict.mapping(data, "latest check")
        ledger = top["ledger"]
        return Evidence(
            checked_at=strict.moment(top["checked_at"], "checked_at"),
            findings=tuple(map(finding_from_json, strict.items(top["findings"], "findings"))),
            ledger=_texts(ledger, "ledger") if ledger is not None else None,
            skipped=_texts(top["skipped"], "skipped"),
            building=_texts(top["building"], "building"),
            # Files written before advisors existed have none.
            advisories=tuple(map(_advisory, strict.items(top.get("advisories", []), "advisories"))),
        )
    except KeyError as exc:
        raise CorruptStateFile(path, f"missing {exc}") from None
    except (ValueError, TypeError) as exc:
        raise CorruptStateFile(path, str(exc)) from None


def _texts(value: Any, what: str) -> tuple[str, ...]:
    return tuple(strict.text(item, what) for item in strict.items(value, what))


def _advisory(item: Any) -> Advisory:
    item = strict.mapping(item, "advisory")
    for key in ("rule", "schema", "object", "message", "remediation"):
        strict.text(item[key], f"advisory.{key}")
    strict.optional_text(item["table"], "advisory.table")
    return Advisory.from_json(item)


def finding_from_json(item: Any) -> Finding:
    """:meth:`Finding.from_json` of a value read from a file: its texts checked first."""
    item = strict.mapping(item, "finding")
    for key in ("schema", "name", "message"):
        strict.text(item[key], f"finding.{key}")
    strict.optional_text(item["table"], "finding.table")
    return Finding.from_json(item)
