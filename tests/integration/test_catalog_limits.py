"""The catalog read within its caps on real PostgreSQL: a 2 MB function body, view and policy
expression sent as their hash, a kind with too many objects not read, and the daemon honest
about both."""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import structlog
from psycopg import pq

from monitor import cli
from monitor.daemon import runner as daemon
from monitor.postgres import catalog, catalog_limits, db
from monitor.postgres.catalog_limits import Limits
from monitor.schema import hashed, model, spec
from monitor.schema.compare import diff
from tests.support.daemon import events_named, write_config
from tests.support.paths import SPEC

Run = Callable[[str], None]
CAP = 64 * 1024
BODY = "SELECT 1 AS one; -- " + "x" * (2 * 1024 * 1024) + "\n"
PREDICATE = "id > 0 AND (" + " OR ".join(f"id = {n}" for n in range(12_000)) + ")"


@pytest.fixture
def monitor_conn(phase3_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """The monitor's own session on the test's database (the examples' schema in it)."""
    with db.connect(phase3_dsn) as conn:
        yield conn


def hostile(sql: Run) -> None:
    sql(
        f"""
        CREATE TABLE t (id int PRIMARY KEY);
        ALTER TABLE t ENABLE ROW LEVEL SECURITY;
        CREATE FUNCTION big() RETURNS int LANGUAGE sql AS $body${BODY}$body$;
        CREATE POLICY wide ON t USING ({PREDICATE});
        CREATE VIEW v AS SELECT id FROM t WHERE {PREDICATE};
        CREATE TABLE u (
            id int CONSTRAINT wide CHECK ({PREDICATE}),
            label int DEFAULT length('{"y" * 100_000}')
        );
        """
    )


def received_bytes(conn: psycopg.Connection[Any], read: Callable[[], Any]) -> tuple[Any, int]:
    """What `read` returned, and the bytes of the server's messages meanwhile (libpq's trace)."""
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            result = read()
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        total = sum(int(line.split("\t")[1]) for line in trace if line.startswith("B\t"))
    return result, total


def test_texts_over_the_cap_come_as_their_hash_never_whole(
    sql: Run, monitor_conn: psycopg.Connection[Any]
) -> None:
    hostile(sql)
    snap, received = received_bytes(
        monitor_conn, lambda: catalog.snapshot(monitor_conn, ["public"], None, Limits(CAP))
    )
    assert received < 512 * 1024  # the 2 MB body and the 150 kB expressions stayed there
    public = snap.state.schema("public")
    assert public is not None and public.functions is not None and public.views is not None
    big = model.by_name(public.functions)["big()"]
    digest = hashlib.md5(BODY.encode(), usedforsecurity=False).hexdigest()
    assert big.body == f"hashed:md5:{digest}:{len(BODY.encode())}"
    view = model.by_name(public.views)["v"]
    table = public.table("t")
    assert table is not None and table.policies is not None
    (policy,) = table.policies
    assert hashed.size(view.definition or "") and hashed.size(policy.using or "")
    notes = catalog_limits.notes(snap.state, snap.limits)
    assert (
        f"function public.big(): body of {len(BODY.encode()):,} bytes, over the cap of"
        in (notes[0])
    )
    assert notes[0].endswith(f"{CAP:,}: compared by hash") and len(notes) == 5
    for what in ("column label of public.u: default of ", "constraint wide on public.u of "):
        assert [n for n in notes if n.startswith(what)], what


def test_a_hashed_text_compares_with_the_whole_text_byte_for_byte(
    sql: Run, monitor_conn: psycopg.Connection[Any]
) -> None:
    hostile(sql)
    whole = catalog.snapshot(monitor_conn, ["public"], None)  # under the default 1 MiB cap
    capped = catalog.snapshot(monitor_conn, ["public"], None, Limits(CAP))
    expected = whole.state
    # A spec holding the whole texts, and one written from the capped read, read back.
    assert diff.diff(expected, capped.state) == ()
    assert diff.diff(spec.loads(spec.dumps(capped.state)), capped.state) == ()
    sql(f"CREATE OR REPLACE FUNCTION big() RETURNS int LANGUAGE sql AS $b${BODY} $b$")
    changed = catalog.snapshot(monitor_conn, ["public"], None, Limits(CAP))
    (finding,) = diff.diff(expected, changed.state)
    assert (finding.kind, finding.change, finding.name) == (
        model.Kind.FUNCTION,
        model.Change.CHANGED,
        "big()",
    )


def test_a_kind_over_the_object_cap_is_not_read_and_says_so(
    sql: Run, monitor_conn: psycopg.Connection[Any]
) -> None:
    sql(
        "CREATE TABLE t (id int PRIMARY KEY); ALTER TABLE t ENABLE ROW LEVEL SECURITY;"
        + "".join(f"CREATE POLICY p{n} ON t USING (id > {n});" for n in range(300))
    )
    limits = Limits(objects_per_kind=200)
    expected = catalog.snapshot(monitor_conn, ["public"], None).state  # all 300 policies
    snap = catalog.snapshot(monitor_conn, ["public"], None, limits)
    (policies,) = snap.over_cap.values()  # the examples' own and these 300
    assert set(snap.over_cap) == {"policies"} and policies > 300
    table = snap.state.schema("public").table("t")  # type: ignore[union-attr]
    assert table is not None and table.policies is None  # not read: not compared
    assert table.indexes  # the other kinds are
    (finding,) = catalog_limits.findings(snap.over_cap, limits)
    assert (finding.kind, finding.change, finding.severity) == (
        model.Kind.POLICY,
        model.Change.INVALID,
        model.Severity.WARNING,
    )
    assert finding.message == (
        f"policies not compared: {policies:,} in the watched schemas, over the cap of 200 per kind"
        " (limits.objects_per_kind)"
    )
    assert diff.diff(expected, snap.state) == ()  # no policy reported missing


def test_the_daemon_reports_hashed_texts_and_kinds_over_the_cap(
    phase3_dsn: str, sql: Run, tmp_path: Path
) -> None:
    sql(f"CREATE FUNCTION public.big() RETURNS int LANGUAGE sql AS $body${BODY}$body$")
    sql("".join(f"CREATE POLICY p{n} ON public.integrations USING (true);" for n in range(300)))
    config = write_config(
        tmp_path, phase3_dsn, extra="limits: {definition_bytes: 65536, objects_per_kind: 200}"
    )
    with structlog.testing.capture_logs() as logs:
        loaded, specs = daemon.load(config)
        runner = daemon.Daemon(loaded, specs).runners["app"]
        runner.run_drift()
        runner.close()
    found = runner._store.latest().target("app")
    assert found is not None and found.up and found.drift_check.ok and found.drift is not None
    over = [f for f in found.drift.findings if f.name == "*"]
    assert [(f.kind, f.change) for f in over] == [(model.Kind.POLICY, model.Change.INVALID)]
    policies = [o for o in found.drift.expected if o.kind is model.Kind.POLICY]
    assert policies == []  # the spec's policies are not known missing: they were not read
    indexes = [o.present for o in found.drift.expected if o.kind is model.Kind.INDEX]
    assert indexes and all(indexes)  # the kinds within the cap are compared as ever
    (note,) = events_named(logs, "definition_compared_by_hash")
    assert str(note["note"]).startswith(
        f"function public.big(): body of {len(BODY.encode()):,} bytes"
    )
    assert json.dumps(note)  # a log line like any other


@pytest.mark.slow
def test_a_run_slow_on_our_side_is_reported_slow_never_as_an_outage(
    phase3_dsn: str, tmp_path: Path
) -> None:
    loaded, specs = daemon.load(write_config(tmp_path, phase3_dsn))  # drift every 1 s
    runner = daemon.Daemon(loaded, specs).runners["app"]
    budget = loaded.run_budget("drift")
    published: list[tuple[bool, str | None]] = []

    def cpu_bound(conn: psycopg.Connection[Any]) -> Callable[[Any], Any]:
        conn.execute("SELECT 1")  # the database answers at once ...
        deadline = time.monotonic() + budget + 5.0
        while time.monotonic() < deadline:  # ... and our side takes its time
            published.extend(
                (t.up, t.drift_check.error)
                for t in runner._store.latest().targets
                if t.drift_check.error
            )
            sum(range(10_000))
        return lambda t: t

    stop = threading.Event()

    def watchdog() -> None:
        while not stop.wait(0.2):
            runner.watchdog()

    watching = threading.Thread(target=watchdog, daemon=True)
    with structlog.testing.capture_logs() as logs:
        watching.start()
        try:
            runner._run("drift", cpu_bound)
        finally:
            stop.set()
            watching.join()
            runner.close()
    assert not events_named(logs, "database_unreachable")
    (failed,) = events_named(logs, "check_failed")
    assert "the monitor's own processing is slow (CPU-bound), not the database" in str(
        failed["error"]
    )
    assert published and all(up for up, _ in published)  # up stayed 1 all along
    found = runner._store.latest().target("app")
    assert found is not None and found.up and found.drift_check.ok  # the late run's result


def test_check_says_which_definitions_it_compared_by_hash(
    phase3_dsn: str, sql: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    sql(f"CREATE FUNCTION public.big() RETURNS int LANGUAGE sql AS $body${BODY}$body$")
    command = ["check", "--spec", str(SPEC), "--dsn", phase3_dsn, "--format", "json"]
    cli.main(command)
    out, err = capsys.readouterr()
    answer = json.loads(out)
    note = f"function public.big(): body of {len(BODY.encode()):,} bytes, over the cap of 1,048,576"
    assert [n for n in answer["notes"] if n.startswith(note)] and f"note: {note}" in err
    assert answer["omitted"] == {"findings": 0, "advisories": 0, "notes": 0}
    assert len(out) < 100_000  # the body is in neither the findings nor the notes
