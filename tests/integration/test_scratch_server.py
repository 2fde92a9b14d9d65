"""Private servers never outlive the command that started them: real processes, real signals.

`spec build`, `demo` and a test session each start one; SIGTERM (docker stop,
systemd, timeout), SIGINT (Ctrl-C) and SIGHUP (a closed terminal) stop it and
remove its directory; a server left by kill -9 is removed by the next start.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import psycopg
import pytest

from monitor.postgres import scratch
from tests.support.paths import ROOT
from tests.support.waiting import wait_until

# The exit status each signal leaves: Ctrl-C is the CLI's 130, the others the signal itself.
# SIGTERM (docker stop, systemd) in the fast suite; every signal in the full one.
STOPS = [
    pytest.param(signal.SIGINT, {130, 0}, marks=pytest.mark.slow),
    (signal.SIGTERM, {-signal.SIGTERM}),
    pytest.param(signal.SIGHUP, {-signal.SIGHUP}, marks=pytest.mark.slow),
]


def servers_of(pid: int) -> list[Path]:
    """The private server directories that process `pid` owns."""
    return [
        folder
        for folder in scratch.base_directory().glob("server-*")
        if (folder / "owner").is_file() and (folder / "owner").read_text().split()[:1] == [str(pid)]
    ]


def postmaster_pid(server: Path) -> int | None:
    """The running postmaster's pid (initdb's standalone backend writes a negative one)."""
    try:
        first = (server / "data" / "postmaster.pid").read_text().split()[0]
    except (OSError, IndexError):
        return None
    return int(first) if first.isdigit() else None


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def running_server(process: subprocess.Popen[str]) -> tuple[Path, psutil.Process]:
    """The process's server, once its postmaster runs."""
    wait_until(
        lambda: any(postmaster_pid(s) for s in servers_of(process.pid)),
        timeout=60,
        what="the private server",
    )
    (server,) = servers_of(process.pid)
    return server, psutil.Process(postmaster_pid(server))


def assert_gone(server: Path, postmaster: psutil.Process) -> None:
    assert not server.exists()
    assert not postmaster.is_running() or postmaster.status() == psutil.STATUS_ZOMBIE


def stop_and_assert_nothing_left(
    command: subprocess.Popen[str], signum: signal.Signals, statuses: set[int]
) -> None:
    """Once `command` runs its private server, stop it with `signum`: it must exit with
    one of `statuses`, print no traceback and leave no server or file behind."""
    try:
        server, postmaster = running_server(command)
        command.send_signal(signum)
        _, stderr = command.communicate(timeout=60)
    finally:
        command.kill()
    assert command.returncode in statuses, stderr
    assert "Traceback" not in stderr
    assert_gone(server, postmaster)


@pytest.mark.parametrize(("signum", "statuses"), STOPS, ids=lambda s: getattr(s, "name", ""))
def test_demo_stopped_by_a_signal_stops_its_server_and_removes_its_files(
    signum: signal.Signals, statuses: set[int]
) -> None:
    stop_and_assert_nothing_left(
        start("-m", "monitor", "demo", "--duration", "300"), signum, statuses
    )


@pytest.mark.parametrize(("signum", "statuses"), STOPS, ids=lambda s: getattr(s, "name", ""))
def test_spec_build_stopped_by_a_signal_stops_its_server_and_removes_its_files(
    tmp_path: Path, signum: signal.Signals, statuses: set[int]
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "1_slow.sql").write_text("CREATE TABLE a (id int);\nSELECT pg_sleep(120);\n")
    stop_and_assert_nothing_left(
        start("-m", "monitor", "spec", "build", str(folder)), signum, statuses
    )


@pytest.mark.slow
def test_a_server_left_by_kill_9_is_removed_by_the_next_start(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "1_slow.sql").write_text("SELECT pg_sleep(120);\n")
    build = start("-m", "monitor", "spec", "build", str(folder))
    try:
        server, postmaster = running_server(build)
        build.kill()  # SIGKILL: no cleanup can run
        build.wait(timeout=30)
        assert postmaster.is_running() and server.exists()  # left behind, as kill -9 leaves it
        with scratch.scratch_server():
            pass  # the next start looks for the stale ones first
    finally:
        build.kill()
    wait_until(lambda: not postmaster.is_running(), timeout=30, what="the stale postmaster to stop")
    assert not server.exists()


@pytest.mark.slow
def test_a_test_session_stopped_by_sigterm_leaves_no_server(tmp_path: Path) -> None:
    test_file = tmp_path / "test_sleeps.py"
    marker = Path(tempfile.mkdtemp(prefix="sm-session-")) / "started"
    test_file.write_text(
        "import pathlib, time\n\n"
        "def test_sleeps(pg_server):\n"
        f"    pathlib.Path({str(marker)!r}).touch()\n"
        "    time.sleep(120)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MONITOR_TEST_DSN", "CI")}
    session = start(
        "-m",
        "pytest",
        "-q",
        "-p",
        "tests.support.postgres",
        "--rootdir",
        str(tmp_path),
        "-c",
        os.devnull,
        str(test_file),
        env=env,
    )
    try:
        wait_until(marker.exists, timeout=120, what="the test to start")
        server, postmaster = running_server(session)
        session.send_signal(signal.SIGTERM)
        session.communicate(timeout=60)
    finally:
        session.kill()
        shutil.rmtree(marker.parent, ignore_errors=True)
    assert_gone(server, postmaster)


def status_ids(pid: int, field: str) -> set[int]:
    """The ids on a line of /proc/PID/status: Uid or Gid (real, effective, saved, fs), Groups."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return {int(value) for value in line.split()[1:]}
    raise AssertionError(f"no {field} in /proc/{pid}/status")


MACHINE_CLUSTERS = Path("/var/lib/postgresql")


@pytest.mark.skipif(os.geteuid() != 0, reason="started by anyone else, it runs as that user")
@pytest.mark.skipif(not MACHINE_CLUSTERS.is_dir(), reason="no PostgreSQL of the machine's own")
def test_a_server_started_by_root_runs_unprivileged_in_a_private_folder() -> None:
    clusters_owner = MACHINE_CLUSTERS.stat().st_uid
    probe = MACHINE_CLUSTERS / f"schema-monitor-probe-{os.getpid()}"
    try:
        with (
            scratch.scratch_server() as server,
            psycopg.connect(server.dsn, autocommit=True) as conn,
        ):
            data = Path(str((conn.execute("SHOW data_directory").fetchone() or ("",))[0]))
            postmaster = int((data / "postmaster.pid").read_text().split()[0])
            (uid,) = status_ids(postmaster, "Uid")
            assert uid not in (0, clusters_owner)
            assert status_ids(postmaster, "Groups") == set()
            for folder in (data, data.parent):  # the data and the server's own folder
                assert folder.stat().st_uid == uid
                assert stat.S_IMODE(folder.stat().st_mode) == 0o700
            # A migration runs as superuser there: the machine's clusters stay out of its reach.
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="Permission denied"):
                conn.execute(f"COPY (SELECT 1) TO '{probe}'".encode())
    finally:
        probe.unlink(missing_ok=True)
