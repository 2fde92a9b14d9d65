"""The planner: every finding's statements in one order that PostgreSQL accepts.

Statements say what they make true and what they need (see
:class:`~statements.Statement`). The planner

1. leaves out what it was asked to leave (findings below ``--fail-on``,
   narrowings unless ``--restore-narrowed``) and holds (writes commented out)
   what may lose data unless ``--allow-data-loss``, then holds whatever needs a
   held statement, so that what it writes never fails for want of it;
2. moves a statement to the phase of the latest statement it needs (a view
   that relies on a primary key added after the index builds comes after
   them);
3. orders each phase by dependency, then by a fixed step order.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Sequence

from monitor.schema.model import Change, Finding, Severity, State
from monitor.schema.repair.fixes import fix
from monitor.schema.repair.statements import (
    DEFAULT_LOCK_TIMEOUT,
    STEP,
    Phase,
    Safety,
    Statement,
)

_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
NARROWED_NOTE = (
    "narrower than the spec (hardened by hand?): left as it is; "
    "update the migrations, or run with --restore-narrowed"
)


@dataclasses.dataclass(frozen=True, slots=True)
class Options:
    allow_data_loss: bool = False
    restore_narrowed: bool = False
    fail_on: Severity = Severity.INFO  # findings below it are left out, as from the exit code
    lock_timeout: str = DEFAULT_LOCK_TIMEOUT


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    statement: Statement
    finding: Finding  # the first finding it repairs
    phase: Phase
    held: str | None = None  # why it is written commented out
    findings: tuple[Finding, ...] = ()  # every finding it repairs


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    steps: tuple[Step, ...]  # in the order they run
    not_repaired: tuple[tuple[Finding, str], ...]  # one line each in the header, with why

    def count(self, safety: Safety) -> int:
        return sum(1 for step in self.steps if step.statement.safety is safety)

    @property
    def held(self) -> int:
        return sum(1 for step in self.steps if step.held)


@dataclasses.dataclass(slots=True)
class _Entry:
    statement: Statement
    finding: Finding
    order: int
    phase: Phase
    held: str | None = None
    findings: list[Finding] = dataclasses.field(default_factory=list)


def plan(findings: Sequence[Finding], expected: State, options: Options = Options()) -> Plan:
    not_repaired: list[tuple[Finding, str]] = []
    entries: dict[str, _Entry] = {}
    for finding in findings:
        left = _left_out(finding, options)
        repair = fix(finding, expected)
        if left is not None:
            not_repaired.append((finding, left))
            continue
        if repair.note:
            not_repaired.append((finding, repair.note))
        for statement in repair.statements:
            known = entries.get(statement.sql)
            if known is None:
                known = entries[statement.sql] = _Entry(
                    statement, finding, len(entries), statement.phase
                )
            known.findings.append(finding)
    ordered = list(entries.values())
    providers = _providers(ordered)
    _hold(ordered, providers, options)
    _place(ordered, providers)
    ordered = _tables_dropped_at_once(ordered)
    steps = tuple(
        Step(e.statement, e.finding, e.phase, e.held, tuple(e.findings))
        for e in _ordered(ordered, providers)
    )
    own: dict[int, list[Step]] = {}
    for step in steps:
        for finding in step.findings:
            own.setdefault(id(finding), []).append(step)
    listed = {id(finding) for finding, _ in not_repaired}
    for finding in findings:
        mine = own.get(id(finding), [])
        if mine and all(s.held for s in mine) and id(finding) not in listed:
            not_repaired.append((finding, str(mine[0].held)))
    return Plan(steps, tuple(not_repaired))


def _left_out(finding: Finding, options: Options) -> str | None:
    if _RANK[finding.severity] < _RANK[options.fail_on]:
        return f"below --fail-on {options.fail_on}: left out"
    if finding.change is Change.NARROWED and not options.restore_narrowed:
        return NARROWED_NOTE
    return None


def _providers(entries: list[_Entry]) -> dict[str, list[_Entry]]:
    found: dict[str, list[_Entry]] = {}
    for entry in entries:
        for token in entry.statement.provides:
            found.setdefault(token, []).append(entry)
    return found


def _needed(entry: _Entry, providers: dict[str, list[_Entry]]) -> list[_Entry]:
    return [
        other
        for token in entry.statement.requires
        for other in providers.get(token, ())
        if other is not entry
    ]


def _hold(entries: list[_Entry], providers: dict[str, list[_Entry]], options: Options) -> None:
    """Hold what may lose data, unless allowed; then whatever needs a held statement."""
    for entry in entries:
        if entry.statement.safety is Safety.DATA_LOSS and not options.allow_data_loss:
            entry.held = "may lose data: --allow-data-loss writes it"
    changed = True
    while changed:
        changed = False
        held_bonds = {e.statement.bond: e for e in entries if e.held and e.statement.bond}
        for entry in entries:
            if entry.held:
                continue
            blocker = next((n for n in _needed(entry, providers) if n.held), None)
            if blocker is None and entry.statement.bond is not None:
                blocker = held_bonds.get(entry.statement.bond)
            if blocker is not None:
                first = blocker.statement.sql.splitlines()[0]
                entry.held = f"needs a statement held above ({first})"
                changed = True


def _tables_dropped_at_once(entries: list[_Entry]) -> list[_Entry]:
    """Unexpected tables in one DROP TABLE: one may hold a foreign key to another."""
    drops = [e for e in entries if e.statement.step == "drop table" and not e.held]
    if len(drops) < 2:
        return entries
    first, rest = drops[0], drops[1:]
    names = [e.statement.sql.removeprefix(_DROP_TABLE).removesuffix(";") for e in drops]
    first.findings += [f for e in rest for f in e.findings]
    first.statement = dataclasses.replace(
        first.statement,
        sql=f"{_DROP_TABLE}{', '.join(names)};",
        provides=tuple(t for e in drops for t in e.statement.provides),
        requires=tuple(t for e in drops for t in e.statement.requires),
    )
    return [e for e in entries if not any(e is r for r in rest)]


_DROP_TABLE = "DROP TABLE IF EXISTS "


def _place(entries: list[_Entry], providers: dict[str, list[_Entry]]) -> None:
    """Move each statement to the phase of the latest statement it needs."""
    changed = True
    while changed:
        changed = False
        for entry in entries:
            latest = max((n.phase for n in _needed(entry, providers)), default=entry.phase)
            phase = max(entry.phase, latest)
            if phase is Phase.CONCURRENT and entry.statement.phase is not Phase.CONCURRENT:
                phase = Phase.AFTER  # a transactional statement waits for the next transaction
            if phase != entry.phase:
                entry.phase = phase
                changed = True


def _ordered(entries: list[_Entry], providers: dict[str, list[_Entry]]) -> list[_Entry]:
    """Phase by phase; in a phase, what a statement needs first, else by step and finding."""
    out: list[_Entry] = []
    for phase in Phase:
        members = [e for e in entries if e.phase is phase]
        ids = {id(e) for e in members}
        waiting = {
            id(e): {id(n) for n in _needed(e, providers) if id(n) in ids and n is not e}
            for e in members
        }
        after: dict[int, list[_Entry]] = {}
        for e in members:
            for needed in waiting[id(e)]:
                after.setdefault(needed, []).append(e)
        ready = [_key(e) for e in members if not waiting[id(e)]]
        by_id = {id(e): e for e in members}
        heapq.heapify(ready)
        done: set[int] = set()
        while len(done) < len(members):
            if not ready:  # a cycle: take the earliest left, by step
                rest = min(_key(e) for e in members if id(e) not in done)
                ready.append(rest)
            _, _, ident_ = heapq.heappop(ready)
            if ident_ in done:
                continue
            done.add(ident_)
            out.append(by_id[ident_])
            for follower in after.get(ident_, ()):
                waiting[id(follower)].discard(ident_)
                if not waiting[id(follower)] and id(follower) not in done:
                    heapq.heappush(ready, _key(follower))
    return out


def _key(entry: _Entry) -> tuple[int, int, int]:
    return STEP[entry.statement.step], entry.order, id(entry)
