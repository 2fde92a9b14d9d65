"""Running a schema pair through the repair script, both ways, on real databases.

For one direction (spec from `target`, `source` checked against it): the spec
goes through its YAML text as `spec snapshot` would write it; the findings
must not be empty; then, on a copy of `source` each, the default script and
the script with ``--allow-data-loss --restore-narrowed`` are applied with
``psql -v ON_ERROR_STOP=1`` and `check` is run again.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg

from monitor.postgres import catalog, db
from monitor.schema import repair, spec
from monitor.schema.compare.diff import diff
from monitor.schema.model import Finding, State
from tests.support.postgres import psql_binary, with_database

FindingName = tuple[str, str, str | None, str]  # kind, schema, table, name
DEFAULT = repair.Options()
EVERYTHING = repair.Options(allow_data_loss=True, restore_narrowed=True)


def name_of(finding: Finding) -> FindingName:
    return str(finding.kind), finding.schema, finding.table, finding.name


@dataclass(frozen=True, slots=True)
class Applied:
    """One script applied to one copy of the checked database."""

    script: str
    returncode: int
    stderr: str
    left: frozenset[FindingName]  # findings after the script
    listed: frozenset[FindingName]  # what the script says it leaves (header, held statements)

    @property
    def aborted(self) -> bool:
        return self.returncode != 0

    @property
    def clean(self) -> bool:
        return not self.aborted and not self.left

    @property
    def only_listed_left(self) -> bool:
        return not self.aborted and self.left <= self.listed


@dataclass(frozen=True, slots=True)
class Direction:
    findings: tuple[Finding, ...]
    default: Applied
    everything: Applied


@dataclass
class Databases:
    """Databases made on one server, all dropped at the end, at once: each DROP DATABASE
    waits for a checkpoint, and drops that run together share one."""

    server: str
    made: list[str] = field(default_factory=list)

    def create(self, template: str | None = None, setup: str = "") -> str:
        name = f"sm_pair_{uuid.uuid4().hex[:12]}"
        clause = f' TEMPLATE "{template}"' if template else " TEMPLATE template0"
        with psycopg.connect(self.server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{clause}'.encode())
        self.made.append(name)
        if setup:
            with psycopg.connect(self.dsn(name), autocommit=True) as conn:
                conn.execute(setup.encode())
        return name

    def dsn(self, name: str) -> str:
        return with_database(self.server, name)

    def drop_all(self) -> None:
        with ThreadPoolExecutor(max(1, len(self.made))) as pool:
            list(pool.map(self._drop, self.made))

    def _drop(self, name: str) -> None:
        with psycopg.connect(self.server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


@contextmanager
def databases(server: str) -> Iterator[Databases]:
    made = Databases(server)
    try:
        yield made
    finally:
        made.drop_all()


def ensure_roles(server: str, roles: Sequence[str]) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        for role in roles:
            conn.execute(
                f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN;"
                " EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$".encode()
            )


def snapshot(dsn: str) -> State:
    with db.connect(dsn) as conn:
        return catalog.snapshot(conn, ["public"]).state


def spec_of(dsn: str) -> State:
    """The spec `spec snapshot` would write for the database, read back."""
    return spec.loads(spec.dumps(snapshot(dsn)))


def psql(dsn: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [psql_binary(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn],
        input=script, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def listed(
    findings: Sequence[Finding], expected: State, options: repair.Options
) -> set[FindingName]:
    """Names of the findings the script says it leaves: in its header, or held."""
    plan = repair.plan(findings, expected, options)
    named = {name_of(f) for f, _ in plan.not_repaired}
    named |= {name_of(f) for step in plan.steps if step.held for f in step.findings}
    # A column said to come back at the end of its table leaves that table's order changed.
    named |= {
        (kind, schema, table, "(column order)")
        for kind, schema, table, _ in list(named)
        if kind == "column"
    }
    return named


def apply(
    dsn: str, expected: State, findings: tuple[Finding, ...], options: repair.Options
) -> Applied:
    text = repair.script(findings, expected, options=options)
    done = psql(dsn, text)
    left = frozenset(name_of(f) for f in diff(expected, snapshot(dsn)))
    return Applied(
        text, done.returncode, done.stderr, left, frozenset(listed(findings, expected, options))
    )


def run_pair(server: str, setup_a: str, setup_b: str) -> tuple[Direction, Direction]:
    """A checked against B's spec, and B against A's; each repaired on two copies of itself,
    by the default script and by the script that does everything."""
    with databases(server) as dbs:
        a = dbs.create(setup=setup_a)
        b = dbs.create(setup=setup_b)
        copies = {name: dbs.create(template=name) for name in (a, b)}
        # Both specs and both checks before either database is repaired.
        specs = {name: spec_of(dbs.dsn(name)) for name in (a, b)}
        ways = [(a, specs[b]), (b, specs[a])]
        checked = [(source, spec, diff(spec, snapshot(dbs.dsn(source)))) for source, spec in ways]
        first, second = (
            Direction(
                findings,
                apply(dbs.dsn(source), spec, findings, DEFAULT),
                apply(dbs.dsn(copies[source]), spec, findings, EVERYTHING),
            )
            for source, spec, findings in checked
        )
        return first, second


def main() -> None:
    """Every pair of the corpus, both ways: the figures the docs quote."""
    import os
    import time

    from tests.support.schema_pairs import PAIRS, ROLES

    server = os.environ.get("MONITOR_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
    ensure_roles(server, ROLES)
    started = time.monotonic()
    ways = [way for pair in PAIRS for way in run_pair(server, pair.a, pair.b)]
    print(f"{len(PAIRS)} pairs, {len(ways)} checks (both ways), {time.monotonic() - started:.0f} s")
    print(f"  drift found:                       {sum(bool(w.findings) for w in ways)}")
    for label, pick in (
        ("default", "default"),
        ("--allow-data-loss --restore-narrowed", "everything"),
    ):
        runs = [getattr(w, pick) for w in ways]
        print(f"  {label}:")
        print(f"    scripts that abort:              {sum(r.aborted for r in runs)}")
        print(f"    clean afterwards:                {sum(r.clean for r in runs)}")
        print(f"    only what it lists is left:      {sum(r.only_listed_left for r in runs)}")


if __name__ == "__main__":
    main()
