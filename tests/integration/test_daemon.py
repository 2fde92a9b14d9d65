"""The daemon in-process against real PostgreSQL, scraped over real HTTP.

Intervals are one second, so "within two intervals" is a few seconds; the
watch window's 48 hours pass through an injectable clock.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
import structlog

from monitor import cli
from monitor.daemon import runner as daemon
from monitor.daemon.metrics_drift import ALERTED_DRIFT
from monitor.daemon.target import TargetRunner
from tests.support.clock import ManualClock
from tests.support.daemon import Running, dbname, events_named, running, write_config
from tests.support.postgres import use_an_index
from tests.support.proxy import TcpProxy
from tests.support.waiting import fetch, wait_until

INTERVAL = 1.0
# Scheduling and a loaded test machine: what "within two intervals" may overrun by.
SLACK = 2.0
INDEX = "idx_active_integrations"
POLICY = "Users can view organization integrations"
# Series of one target, the examples' database, clean: 290 measured (760 before drift_objects
# kept only possible and alerted combinations, present objects only of the kinds alerts
# use, no zeros for index_building and advisory_rules). Most of the rest: five series for
# each of the spec's 29 indexes, two more for each of its 17 new ones (statement evidence).
SERIES_PER_CLEAN_EXAMPLE_TARGET = 300


class SessionCounter:
    """Samples, all along a test, how many sessions the monitor holds on one database."""

    def __init__(self, admin_dsn: str, dbname: str) -> None:
        self.most = 0
        self._admin_dsn, self._dbname = admin_dsn, dbname
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self._admin_dsn, autocommit=True) as conn:
            while not self._stop.is_set():
                self.most = max(self.most, monitor_sessions(conn, self._dbname))
                time.sleep(0.02)

    def __enter__(self) -> SessionCounter:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def monitor_sessions(conn: psycopg.Connection[Any], dbname: str) -> int:
    return len(monitor_pids(conn, dbname))


def replaced(
    run: Running, admin: psycopg.Connection[Any], database: str, killed: set[int], after: float
) -> bool:
    """A session other than the killed ones exists and both checks succeeded since `after`."""
    return bool(monitor_pids(admin, database) - killed) and all(
        (run.value("check_last_success_timestamp_seconds", check=c) or 0) > after
        for c in ("drift", "stats")
    )


def definitions(dsn: str) -> tuple[str, str]:
    """The index and policy as DDL, to put them back after dropping them."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT pg_get_indexdef(%s::regclass),"
            " (SELECT pg_get_expr(polqual, polrelid) FROM pg_policy WHERE polname = %s)",
            [f"public.{INDEX}", POLICY],
        ).fetchone()
    assert row is not None
    index_ddl, using = row
    policy_ddl = (
        f'CREATE POLICY "{POLICY}" ON public.integrations FOR SELECT TO authenticated'
        f" USING ({using})"
    )
    return index_ddl, policy_ddl


# --- the tests -------------------------------------------------------------------------------


def test_a_clean_database_scrapes_clean(phase3_dsn: str, tmp_path: Path) -> None:
    with running(write_config(tmp_path, phase3_dsn)) as run:
        run.wait_ready()
        samples = run.scrape()
        drift = [v for (name, _), v in samples.items() if name == "schema_monitor_drift_objects"]
        assert len(drift) == len(ALERTED_DRIFT) and sum(drift) == 0
        # Was 760 series (408 of them drift_objects), most of which could never be non-zero.
        of_target = [labels for _, labels in samples if ("target", "app") in labels]
        assert len(of_target) <= SERIES_PER_CLEAN_EXAMPLE_TARGET
        assert run.value("up") == 1
        assert run.present("index", "integrations", INDEX) == 1
        assert run.present("policy", "integrations", POLICY) == 1
        assert run.present("rls", "integrations", "integrations") == 1
        index = {
            "datname": dbname(phase3_dsn),
            "schemaname": "public",
            "relname": "integrations",
            "indexrelname": INDEX,
        }
        assert run.value("index_valid", **index) == 1
        assert run.value("index_building", **index) is None  # only while building
        assert run.value("watch_window_active") == 1
        assert run.value("locked_relations_skipped") == 0
        assert fetch(f"{run.url}/healthz")[0] == 200
        assert fetch(f"{run.url}/readyz")[0] == 200
        assert fetch(f"{run.url}/nope")[0] == 404


def test_a_dropped_index_and_policy_show_within_two_intervals_and_clear_when_restored(
    phase3_dsn: str, sql: Callable[[str], None], pg_server: str, tmp_path: Path
) -> None:
    index_ddl, policy_ddl = definitions(phase3_dsn)
    with (
        structlog.testing.capture_logs() as logs,
        SessionCounter(pg_server, dbname(phase3_dsn)) as sessions,
        running(write_config(tmp_path, phase3_dsn)) as run,
    ):
        run.wait_ready()
        sql(f"DROP INDEX public.{INDEX}")
        sql(f'DROP POLICY "{POLICY}" ON public.integrations')
        wait_until(
            lambda: (
                run.present("index", "integrations", INDEX) == 0
                and run.present("policy", "integrations", POLICY) == 0
            ),
            timeout=2 * INTERVAL + SLACK,
            what="both drifts reported",
        )
        missing = {"kind": "index", "change": "missing", "severity": "critical"}
        assert run.value("drift_objects", **missing) == 1
        assert run.value("drift_objects", **{**missing, "kind": "policy"}) == 1
        sql(index_ddl)
        sql(policy_ddl)
        wait_until(
            lambda: (
                run.present("index", "integrations", INDEX) == 1
                and run.present("policy", "integrations", POLICY) == 1
                and run.value("drift_objects", **missing) == 0
            ),
            timeout=2 * INTERVAL + SLACK,
            what="both drifts resolved",
        )
        time.sleep(2 * INTERVAL)  # more quiet cycles: they must log nothing
    assert sessions.most == 1
    detected = events_named(logs, "drift_detected")
    assert sorted(e["object"] for e in detected) == sorted([INDEX, POLICY])
    assert sorted(e["object"] for e in events_named(logs, "drift_resolved")) == sorted(
        [INDEX, POLICY]
    )
    history = json.loads((tmp_path / "state" / "app" / "history.json").read_text())
    assert {(h["name"], h["resolved_at"] is not None) for h in history} == {
        (INDEX, True),
        (POLICY, True),
    }


@pytest.mark.slow
def test_terminated_sessions_are_replaced_one_at_a_time_without_an_outage(
    phase3_dsn: str, pg_server: str, tmp_path: Path
) -> None:
    """A session killed by an administrator is replaced on the next run, not reported down.

    Each round waits until both checks have succeeded on the replacement, so the
    next kill meets a session that has served a run, as in production.
    """
    database = dbname(phase3_dsn)
    with (
        structlog.testing.capture_logs() as logs,
        SessionCounter(pg_server, database) as sessions,
        running(write_config(tmp_path, phase3_dsn)) as run,
        psycopg.connect(pg_server, autocommit=True) as admin,
    ):
        run.wait_ready()
        killed: set[int] = set()
        for _ in range(3):
            wait_until(lambda: len(monitor_pids(admin, database)) == 1, what="one session")
            (pid,) = monitor_pids(admin, database)
            # With a timeout, pg_terminate_backend returns once the backend is gone.
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
            killed.add(pid)
            wait_until(
                partial(replaced, run, admin, database, killed, time.time()),
                what="both checks succeed on a new session",
            )
        assert run.value("up") == 1
        assert [run.value("check_errors_total", check=c) for c in ("drift", "stats")] == [0, 0]
    assert len(killed) == 3
    assert sessions.most == 1
    assert events_named(logs, "database_unreachable") == []


@pytest.mark.slow
def test_an_unreachable_database_sets_up_0_and_recovers_by_itself(
    phase3_dsn: str, pg_server: str, tmp_path: Path
) -> None:
    proxy = TcpProxy(phase3_dsn)
    proxy.start()
    try:
        with (
            structlog.testing.capture_logs() as logs,
            SessionCounter(pg_server, dbname(phase3_dsn)) as sessions,
            running(write_config(tmp_path, proxy.dsn)) as run,
        ):
            run.wait_ready()
            proxy.stop()
            wait_until(lambda: run.value("up") == 0, what="up drops to 0")
            errors = run.value("check_errors_total", check="drift") or 0
            wait_until(
                lambda: (run.value("check_errors_total", check="drift") or 0) >= errors + 3,
                what="many failed attempts",
            )
            assert fetch(f"{run.url}/healthz")[0] == 200
            assert run.value("check_success", check="drift") == 0
            proxy.start()
            wait_until(lambda: run.value("up") == 1, what="recovery")
            run.wait_ready()
    finally:
        proxy.stop()
    assert sessions.most == 1
    assert len(events_named(logs, "database_unreachable")) == 1
    assert len(events_named(logs, "database_recovered")) == 1
    assert "drift_detected" not in {e["event"] for e in logs}


def test_a_wrong_dsn_never_unreadies_the_sidecar(tmp_path: Path) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with running(write_config(tmp_path, f"postgresql://monitor@127.0.0.1:{port}/app")) as run:
        wait_until(lambda: (run.value("check_errors_total", check="drift") or 0) >= 1)
        assert run.value("up") == 0
        assert fetch(f"{run.url}/healthz") == (200, "ok\n")
        assert fetch(f"{run.url}/readyz") == (200, "ready\n")


@pytest.mark.slow
def test_a_network_stall_is_visible_within_interval_budget_and_grace(
    phase3_dsn: str, tmp_path: Path, tcp_proxy: Callable[[str], TcpProxy]
) -> None:
    """The peer stops answering, no RST: our kernel still acknowledges, only deadlines see it."""
    proxy = tcp_proxy(phase3_dsn)
    with (
        structlog.testing.capture_logs() as logs,
        running(write_config(tmp_path, proxy.dsn)) as run,
    ):
        run.wait_ready()
        proxy.stall()
        stalled = time.monotonic()
        # interval (1 s) + run budget (0.9 s) + the watchdog's grace (3 s) + scheduling slack
        wait_until(
            lambda: run.value("up") == 0 or run.value("check_success", check="drift") == 0,
            timeout=INTERVAL + 0.9 * INTERVAL + 3.0 + SLACK,
            what="the stall to show",
        )
        seen_after = time.monotonic() - stalled
        assert fetch(f"{run.url}/readyz")[0] == 200
        proxy.resume()
        wait_until(lambda: run.value("up") == 1, what="recovery after the stall")
        run.wait_ready()
    # The drift and stats checks share the session: whichever meets the stall first says
    # why; the other may only see the session already given up ("next attempt in ...").
    unreachable = events_named(logs, "database_unreachable")
    assert any("no answer" in e["error"] or "budget" in e["error"] for e in unreachable), (
        unreachable
    )
    assert seen_after < INTERVAL + 0.9 * INTERVAL + 3.0 + SLACK


@pytest.mark.slow
def test_an_idle_session_killer_shorter_than_the_interval_is_no_outage(
    phase3_dsn: str, sql: Callable[[str], None], pg_server: str, tmp_path: Path
) -> None:
    sql(f"ALTER DATABASE {dbname(phase3_dsn)} SET idle_session_timeout = '1500ms'")
    config = write_config(tmp_path, phase3_dsn, intervals="{drift: 3s, stats: 3s}")
    pids: set[int] = set()
    with running(config) as run, psycopg.connect(pg_server, autocommit=True) as admin:
        run.wait_ready()
        deadline = time.monotonic() + 10.0  # three runs or so, each after a killed session
        while time.monotonic() < deadline:
            assert run.value("up") == 1
            pids.update(monitor_pids(admin, dbname(phase3_dsn)))
            time.sleep(0.1)
        errors = sum(run.value("check_errors_total", check=c) or 0 for c in ("drift", "stats"))
    assert errors == 0
    assert len(pids) >= 3  # the server did kill idle sessions: each run needed a new one


def test_a_rotated_dsn_file_is_read_again_at_the_next_connect(
    phase3_dsn: str, tmp_path: Path
) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    secret = tmp_path / "dsn"
    secret.write_text(f"postgresql://monitor@127.0.0.1:{port}/app\n")
    config = write_config(tmp_path, "unused")
    config.write_text(config.read_text().replace('dsn: "unused"', f"dsn_file: {secret}"))
    with running(config) as run:
        wait_until(lambda: (run.value("check_errors_total", check="drift") or 0) >= 1)
        assert run.value("up") == 0
        secret.write_text(phase3_dsn + "\n")  # the secret is rotated; no reload is sent
        wait_until(lambda: run.value("up") == 1, what="a connect with the new DSN")
        run.wait_ready()


def monitor_pids(conn: psycopg.Connection[Any], database: str) -> set[int]:
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity"
        " WHERE application_name = 'schema-monitor' AND datname = %s",
        [database],
    ).fetchall()
    return {int(row[0]) for row in rows}


def test_a_table_locked_by_a_migration_is_skipped_and_its_alter_is_not_delayed(
    phase3_dsn: str, tmp_path: Path
) -> None:
    config, specs = daemon.load(write_config(tmp_path, phase3_dsn))
    runner = daemon.Daemon(config, specs).runners["app"]
    runner.run_stats()  # the session is open before the lock is taken; no drift check yet
    monitor_pid = next_monitor_pid(phase3_dsn)
    locker = psycopg.connect(phase3_dsn)
    locker.execute("LOCK TABLE public.integrations IN ACCESS EXCLUSIVE MODE")
    alter_pid: list[int] = []
    alter = threading.Thread(target=run_alter, args=(phase3_dsn, alter_pid))
    try:
        started = time.monotonic()
        runner.run_drift()
        runner.run_stats()
        # Nothing waited on the lock: well inside lock_timeout (200 ms) plus a margin.
        assert time.monotonic() - started < 0.2 + 0.5
        alter.start()
        with psycopg.connect(phase3_dsn, autocommit=True) as observer:
            wait_until(lambda: bool(alter_pid) and waiting(observer, alter_pid[0]))
            blockers: set[int] = set()
            for _ in range(5):  # checks run while the ALTER queues: it must only wait on the locker
                runner.run_drift()
                runner.run_stats()
                blockers |= blocking_pids(observer, alter_pid[0])
            assert monitor_pid not in blockers
            assert blockers == {locker.info.backend_pid}
        latest = runner_results(runner)
        assert latest.drift is not None and latest.drift.skipped == ("public.integrations",)
        assert latest.drift_check.ok and latest.stats_check.ok
        assert not [f for f in latest.drift.findings if f.table == "integrations"]
        locker.commit()
        released = time.monotonic()
        alter.join(timeout=10)
        assert time.monotonic() - released < 1.0
    finally:
        locker.close()
        alter.join(timeout=10)
    runner.run_drift()
    latest = runner_results(runner)
    assert latest.drift is not None and latest.drift.skipped == ()
    assert [(f.name, str(f.change)) for f in latest.drift.findings] == [("note", "unexpected")]


def next_monitor_pid(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'schema-monitor'"
            " AND datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def run_alter(dsn: str, pid: list[int]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        pid.append(conn.info.backend_pid)
        conn.execute("ALTER TABLE public.integrations ADD COLUMN note text")


def waiting(conn: psycopg.Connection[Any], pid: int) -> bool:
    row = conn.execute(
        "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", [pid]
    ).fetchone()
    return bool(row and row[0])


def blocking_pids(conn: psycopg.Connection[Any], pid: int) -> set[int]:
    row = conn.execute("SELECT pg_blocking_pids(%s)", [pid]).fetchone()
    assert row is not None
    return set(row[0])


def runner_results(runner: TargetRunner) -> Any:
    found = runner._store.latest().target(runner.name)
    assert found is not None
    return found


def test_a_quiet_cycle_reuses_the_last_snapshot_and_a_change_forces_a_full_one(
    phase3_dsn: str, sql: Callable[[str], None], tmp_path: Path
) -> None:
    config, specs = daemon.load(write_config(tmp_path, phase3_dsn))
    runner = daemon.Daemon(config, specs).runners["app"]
    runner.run_drift()
    assert runner_results(runner).drift.full
    runner.run_drift()
    quiet = runner_results(runner).drift
    assert not quiet.full and quiet.findings == ()
    sql(f"DROP INDEX public.{INDEX}")
    runner.run_drift()
    changed = runner_results(runner).drift
    assert changed.full and [f.name for f in changed.findings] == [INDEX]
    runner.close()


@pytest.mark.slow
def test_scans_since_the_window_started_survive_a_statistics_reset_and_a_restart(
    phase3_dsn: str, sql: Callable[[str], None], tmp_path: Path
) -> None:
    name = use_an_index(phase3_dsn, times=0)
    labels = {
        "datname": dbname(phase3_dsn),
        "schemaname": "public",
        "relname": "integrations",
        "indexrelname": name,
    }
    config_path = write_config(tmp_path, phase3_dsn)
    with running(config_path) as run:
        run.wait_ready()
        start = run.value("watch_window_start_timestamp_seconds")
        use_an_index(phase3_dsn, times=3)
        wait_until(lambda: run.value("index_scans_since_watch_start", **labels) == 3)
        reset_before = run.value("stats_reset_timestamp_seconds", datname=labels["datname"])
        sql("SELECT pg_stat_reset()")
        wait_until(
            lambda: (
                run.value("stats_reset_timestamp_seconds", datname=labels["datname"])
                != reset_before
            ),
            what="reset seen",
        )
        use_an_index(phase3_dsn, times=2)
        wait_until(lambda: run.value("index_scans_since_watch_start", **labels) == 5)
        assert run.value("index_scans_total", **labels) == 2
    with running(config_path) as run:
        run.wait_ready()
        assert run.value("watch_window_start_timestamp_seconds") == start
        use_an_index(phase3_dsn, times=1)
        wait_until(lambda: run.value("index_scans_since_watch_start", **labels) == 6)


@pytest.mark.slow
def test_the_end_of_the_window_writes_the_report_and_may_exit(
    phase3_dsn: str,
    sql: Callable[[str], None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = ManualClock(datetime.now(UTC))
    index_ddl, _ = definitions(phase3_dsn)
    config_path = write_config(
        tmp_path, phase3_dsn, extra="watch_window: {duration: 48h, after: exit}"
    )
    state = tmp_path / "state" / "app"
    with structlog.testing.capture_logs() as logs, running(config_path, clock) as run:
        run.wait_ready()
        sql(f"DROP INDEX public.{INDEX}")
        wait_until(lambda: run.present("index", "integrations", INDEX) == 0)
        clock.advance(timedelta(hours=3))
        sql(index_ddl)
        wait_until(lambda: run.present("index", "integrations", INDEX) == 1)
        assert not (state / "report.md").exists()
        clock.advance(timedelta(hours=46))
        wait_until(run.finished, what="the daemon exits after the window")
        assert run.exit_code == 0
    (ended,) = events_named(logs, "watch_window_ended")
    assert ended["report_markdown"] == str(state / "report.md")
    written = json.loads((state / "report.json").read_text())
    verdicts = {c["title"]: c["verdict"] for c in written["criteria"]}
    assert verdicts == {
        "Migrations applied in order": "pass",
        "Table structure verified": "pass",
        "Indexes created and valid": "pass",
        "RLS policies active": "pass",
        "No drift during the watch window": "fail",
        "Database health during the window": "pass",
    }
    (drift,) = written["drift"]
    assert drift["name"] == INDEX and drift["resolved_at"] is not None
    assert written["window"]["active"] is False
    markdown = (state / "report.md").read_text()
    assert "### FAIL: No drift during the watch window" in markdown
    assert f"index public.integrations.{INDEX}" in markdown
    capsys.readouterr()
    assert cli.report_command(config_path, "json", clock=clock) == 1
    printed = json.loads(capsys.readouterr().out)["targets"][0]
    assert printed["criteria"] == written["criteria"]
    assert printed["drift"] == written["drift"]


def test_run_once_exit_codes(phase3_dsn: str, sql: Callable[[str], None], tmp_path: Path) -> None:
    (tmp_path / "clean").mkdir()
    (tmp_path / "down").mkdir()
    clean = write_config(tmp_path / "clean", phase3_dsn)
    assert daemon.run(clean, None, validate_only=False, once=True) == 0
    sql(f"DROP INDEX public.{INDEX}")
    assert daemon.run(clean, None, validate_only=False, once=True) == 1
    down = write_config(tmp_path / "down", "postgresql://monitor@127.0.0.1:1/app")
    assert daemon.run(down, None, validate_only=False, once=True) == 2


def test_metrics_over_tls(phase3_dsn: str, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    config_path = write_config(tmp_path, phase3_dsn)
    text = config_path.read_text().replace(
        'web: {listen_address: "127.0.0.1:0"}',
        f'web: {{listen_address: "127.0.0.1:0", tls: {{cert_file: {cert}, key_file: {key}}}}}',
    )
    config_path.write_text(text)
    with running(config_path) as run:
        assert run.url.startswith("https://")
        context = ssl.create_default_context(cafile=str(cert))
        with pytest.raises(OSError):  # plain HTTP to a TLS port: the server hangs up
            urllib.request.urlopen(run.url.replace("https", "http") + "/metrics", timeout=5)
        status, body = fetch(f"{run.url}/metrics", context)
        assert status == 200 and "schema_monitor_build_info" in body
