"""`schema-monitor demo`: the whole flow on a private PostgreSQL, for a first look.

It starts a private server (the machine's PostgreSQL, else the embedded
one), applies the example Supabase migrations the way a deploy would
(recording each in the migration ledger), checks the result against the
committed expected-state spec, then shows what drift looks like.
"""

from __future__ import annotations

import socket
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg

from monitor import EXAMPLE_MIGRATIONS, EXAMPLE_SPEC, demo_available
from monitor import SOURCE_ROOT as ROOT
from monitor.check import print_findings, run_check
from monitor.daemon import config
from monitor.daemon import events as log
from monitor.daemon import runner as daemon
from monitor.errors import MonitorError
from monitor.postgres import migrations, scratch
from monitor.schema import spec
from monitor.schema.model import State

DEMO_DATABASE = "demo"

# What --drift does to the demo database: the two hand edits the alerts exist for.
DRIFT_STATEMENTS = (
    "DROP INDEX public.idx_active_integrations",
    'ALTER POLICY "Users can view organization integrations" ON public.integrations'
    " TO authenticated, anon",
)


def main(*, drift: bool, listen_address: str | None, duration: float | None) -> int:
    if not demo_available():
        raise MonitorError(
            f"demo needs the example migrations and spec of a source checkout ({ROOT})"
        )
    expected = spec.load(EXAMPLE_SPEC)
    if duration is None:
        duration = None if sys.stdout.isatty() else DEFAULT_UNATTENDED_SECONDS
    print("starting a private PostgreSQL ...", flush=True)
    # SIGTERM and SIGHUP unwind like Ctrl-C: the server and its files never outlive the demo.
    with (
        scratch.signals_unwind(),
        scratch.scratch_server() as server,
        tempfile.TemporaryDirectory() as state_dir,
    ):
        dsn = create_demo_database(server.dsn)
        applied = migrations.deploy(dsn, EXAMPLE_MIGRATIONS)
        print(f"applied {len(applied)} example migrations to database {DEMO_DATABASE!r}")
        print(f"\n$ schema-monitor check --spec {EXAMPLE_SPEC.relative_to(ROOT)}")
        print_findings(run_check(expected, dsn), sys.stdout)
        log.configure("console", stream=sys.stderr)
        monitor = daemon.Daemon(_config(dsn, Path(state_dir), listen_address), {"demo": expected})
        monitor.start()
        try:
            return _watch(monitor, expected, dsn, drift=drift, duration=duration)
        finally:
            monitor.stop()


DEFAULT_UNATTENDED_SECONDS = 20.0
DRIFT_DELAY_SECONDS = 6.0
INTERVAL_SECONDS = 2.0
# The objects --drift edits; the demo prints their series.
WATCHED_OBJECTS = ("idx_active_integrations", "Users can view organization integrations")


def _config(dsn: str, state_dir: Path, listen_address: str | None) -> config.Config:
    target = config.Target("demo", dsn, "inline", EXAMPLE_SPEC)
    return config.Config(
        path=EXAMPLE_SPEC,
        targets=(target,),
        state_dir=state_dir,
        web=config.Web(listen_address or _free_listen_address()),
        intervals=config.Intervals(drift=INTERVAL_SECONDS, stats=INTERVAL_SECONDS),
    )


def _free_listen_address() -> str:
    """The default port when it is free, else any free port: a demo must just work."""
    host, port = "127.0.0.1", int(config.DEFAULT_LISTEN_ADDRESS.rpartition(":")[2])
    with socket.socket() as probe:
        if probe.connect_ex((host, port)) != 0:
            return f"{host}:{port}"
    return f"{host}:0"


def _watch(
    monitor: daemon.Daemon, expected: State, dsn: str, *, drift: bool, duration: float | None
) -> int:
    url = f"{monitor.url}/metrics"
    print(f"\nthe daemon checks every {INTERVAL_SECONDS:g} s; metrics at {url}")
    if not drift:
        print("(run `schema-monitor demo --drift` to see them flip)")
    started = time.monotonic()
    time.sleep(INTERVAL_SECONDS * 1.5)
    _print_metrics(url, "before")
    if drift:
        time.sleep(max(0.0, DRIFT_DELAY_SECONDS - (time.monotonic() - started)))
        _make_drift(dsn)
        time.sleep(INTERVAL_SECONDS * 2)
        _print_metrics(url, "after the hand edits")
        print(f"\n$ schema-monitor check --spec {EXAMPLE_SPEC.relative_to(ROOT)}")
        print_findings(run_check(expected, dsn), sys.stdout)
    if duration is None:
        print("\nserving until Ctrl-C", flush=True)
    try:
        while duration is None or time.monotonic() - started < duration:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    return 0


def _print_metrics(url: str, when: str) -> None:
    with urllib.request.urlopen(url, timeout=5) as response:
        exposition = response.read().decode()
    print(f"\n$ curl -s {url}   # {when}")
    for line in exposition.splitlines():
        if _shown(line):
            print(f"  {line}")


def _shown(line: str) -> bool:
    """The series that tell the story: up, drift that is not zero, the two watched objects."""
    if line.startswith("schema_monitor_up{"):
        return True
    if line.startswith("schema_monitor_drift_objects{"):
        return not line.endswith(" 0.0")
    return line.startswith("schema_monitor_expected_object_present{") and any(
        name in line for name in WATCHED_OBJECTS
    )


def create_demo_database(server_dsn: str) -> str:
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DEMO_DATABASE}")
    return psycopg.conninfo.make_conninfo(server_dsn, dbname=DEMO_DATABASE)


def _make_drift(dsn: str) -> None:
    print("\nhand edits in a SQL editor:")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in DRIFT_STATEMENTS:
            print(f"  {statement};")
            conn.execute(statement.encode())
