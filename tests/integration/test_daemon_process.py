"""`python -m monitor run` as a process: signals, reloads, and what its logs may say."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.exposition import Samples, parse
from tests.support.paths import SPEC
from tests.support.processes import run_monitor
from tests.support.waiting import fetch, wait_until

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-Pass-word"


def free_port() -> int:
    probe = socket.create_server(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port


def config_text(state_dir: Path, targets: dict[str, str], extra: str = "") -> str:
    listed = "".join(
        f'  - {{name: {name}, dsn: "{dsn}", spec: {SPEC}}}\n' for name, dsn in targets.items()
    )
    return (
        f"version: 1\nstate_dir: {state_dir}\nlog_format: auto\n"
        "intervals: {drift: 1s, stats: 1s}\n"
        "timeouts: {lock: 200ms, statement: 800ms, connect: 5s}\n"
        "reconnect: {initial_delay: 200ms, max_delay: 1s}\n"
        f"{extra}targets:\n{listed}"
    )


class Process:
    def __init__(self, config: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._log_file = log.open("w")
        self.popen = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "monitor",
                "run",
                "--config",
                str(config),
                "--web.listen-address",
                f"127.0.0.1:{self.port}",
            ],
            cwd=ROOT,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def scrape(self) -> Samples:
        try:
            status, text = fetch(f"{self.url}/metrics")
        except OSError:
            return {}
        return parse(text) if status == 200 else {}

    def value(self, name: str, **labels: str) -> float | None:
        return self.scrape().get((f"schema_monitor_{name}", frozenset(labels.items())))

    def lines(self) -> list[dict[str, Any]]:
        """Every log line, each of which must be one JSON object (stderr is not a TTY)."""
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["event"] == name]

    def terminate(self) -> float:
        """SIGTERM; returns how long the process took to exit."""
        started = time.monotonic()
        self.popen.send_signal(signal.SIGTERM)
        self.popen.wait(timeout=10)
        return time.monotonic() - started

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
        self._log_file.close()


@contextmanager
def daemon_process(config: Path, log: Path) -> Iterator[Process]:
    process = Process(config, log)
    try:
        yield process
    finally:
        process.close()


@contextmanager
def app_running(dsn: str, tmp_path: Path) -> Iterator[Process]:
    """The daemon watching one target `app` (config in tmp_path/monitor.yaml), checked once."""
    config = tmp_path / "monitor.yaml"
    config.write_text(config_text(tmp_path / "state", {"app": dsn}))
    with daemon_process(config, tmp_path / "log") as process:
        wait_until(lambda: process.value("check_success", target="app", check="drift") == 1)
        yield process


def with_password(dsn: str) -> str:
    return psycopg.conninfo.make_conninfo(dsn, password=PASSWORD)


@pytest.mark.slow
def test_sighup_reloads_a_good_config_and_keeps_the_running_one_on_a_bad_one(
    phase3_dsn: str, tmp_path: Path
) -> None:
    config = tmp_path / "monitor.yaml"
    state = tmp_path / "state"
    config.write_text(config_text(state, {"app": phase3_dsn}))
    with daemon_process(config, tmp_path / "log") as process:
        wait_until(lambda: process.value("check_success", target="app", check="drift") == 1)
        loaded_at = process.value("config_last_reload_success_timestamp_seconds")
        config.write_text(config_text(state, {"app": phase3_dsn, "second": phase3_dsn}))
        process.popen.send_signal(signal.SIGHUP)
        wait_until(lambda: process.value("check_success", target="second", check="drift") == 1)
        assert process.value("config_reload_success") == 1
        assert (process.value("config_last_reload_success_timestamp_seconds") or 0) > (
            loaded_at or 0
        )

        config.write_text(config_text(state, {"app": phase3_dsn}, extra="bogus: true\n"))
        process.popen.send_signal(signal.SIGHUP)
        wait_until(lambda: process.value("config_reload_success") == 0)
        assert process.value("up", target="second") == 1  # the old config keeps running
        (failed,) = process.events("config_reload_failed")
        assert f"{config}:7: config: unknown key 'bogus'" in failed["error"]

        config.write_text(config_text(state, {"app": phase3_dsn}))
        process.popen.send_signal(signal.SIGHUP)
        wait_until(lambda: process.value("config_reload_success") == 1)
        # The removed target leaves no series behind.
        assert not [labels for _, labels in process.scrape() if ("target", "second") in labels]
        assert process.value("up", target="app") == 1
        assert process.terminate() < 5
        assert process.popen.returncode == 0
    assert [e["event"] for e in process.lines()][-1] == "daemon_stopped"
    # The report, from another process, at any time: a clean window so far.
    for fmt in ("markdown", "json"):
        done = run_monitor("report", "--config", str(config), "--format", fmt, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["targets"][0]["passed"] is True


@pytest.mark.slow
def test_logs_are_json_one_line_per_state_change_and_never_hold_a_password(
    phase3_dsn: str, tmp_path: Path
) -> None:
    config = tmp_path / "monitor.yaml"
    down = f"postgresql://monitor:{PASSWORD}@127.0.0.1:{free_port()}/app"
    config.write_text(
        config_text(tmp_path / "state", {"up": with_password(phase3_dsn), "down": down})
    )
    with daemon_process(config, tmp_path / "log") as process:
        wait_until(lambda: process.value("check_success", target="up", check="drift") == 1)
        wait_until(
            lambda: (process.value("check_errors_total", target="down", check="drift") or 0) >= 4,
            what="several failed cycles",
        )
        scraped = fetch(f"{process.url}/metrics")[1]
        assert process.terminate() < 5
    log = process.log.read_text()
    assert PASSWORD not in log and PASSWORD not in scraped
    lines = process.lines()  # every line is JSON
    (unreachable,) = [e for e in lines if e["event"] == "database_unreachable"]
    assert unreachable["target"] == "down"
    assert "connection refused" in unreachable["error"]
    assert "***" in str(process.events("daemon_started")[0]["targets"])
    assert not [e for e in lines if e["event"] == "check_failed"]
    # Started, window started per target, unreachable once, stopped: no line per cycle.
    assert len(lines) <= 6, [e["event"] for e in lines]


@pytest.mark.slow
def test_sigterm_stops_within_five_seconds_even_while_a_connect_hangs(tmp_path: Path) -> None:
    # A server that accepts and never answers: libpq waits for its connect_timeout (5 s).
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    config = tmp_path / "monitor.yaml"
    config.write_text(
        config_text(tmp_path / "state", {"stuck": f"postgresql://monitor@127.0.0.1:{port}/app"})
    )
    try:
        with daemon_process(config, tmp_path / "log") as process:
            wait_until(
                lambda: fetch(f"{process.url}/healthz")[0] == 200 if process.scrape() else False
            )
            accepted, _ = silent.accept()  # the daemon is now inside its connect
            assert process.terminate() < 5
            assert process.popen.returncode == 0
            accepted.close()
    finally:
        silent.close()


def test_a_sighup_onto_a_broken_config_keeps_the_old_one_and_says_so(
    phase3_dsn: str, tmp_path: Path
) -> None:
    config = tmp_path / "monitor.yaml"
    good = config_text(tmp_path / "state", {"app": phase3_dsn})
    config.write_text(good)
    with daemon_process(config, tmp_path / "log") as process:
        wait_until(lambda: process.value("check_success", target="app", check="drift") == 1)
        config.write_bytes(good.encode() + b"# \xff\xfe a byte that is no UTF-8\n")
        process.popen.send_signal(signal.SIGHUP)
        wait_until(lambda: process.value("config_reload_success") == 0, what="a failed reload")
        assert process.popen.poll() is None
        assert process.value("up", target="app") == 1
        (failed,) = process.events("config_reload_failed")
        assert str(config) in failed["error"]
        assert process.terminate() < 5
        assert process.popen.returncode == 0


@pytest.mark.slow
def test_sigterm_is_answered_within_five_seconds_while_a_reload_hangs(
    phase3_dsn: str, tmp_path: Path
) -> None:
    config = tmp_path / "monitor.yaml"
    with app_running(phase3_dsn, tmp_path) as process:
        config.unlink()
        os.mkfifo(config)  # reading it waits for a writer that never comes
        process.popen.send_signal(signal.SIGHUP)
        time.sleep(1.0)  # the reload is now reading (or refusing) the FIFO
        assert process.value("up", target="app") == 1  # still scraped meanwhile
        assert process.terminate() < 5
        assert process.popen.returncode == 0


def test_report_reads_state_files_without_the_database_variable(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"version: 1\nstate_dir: {tmp_path / 'state'}\n"
        f"targets:\n  - {{name: app, dsn_env: SM_UNSET_DATABASE_URL, spec: {SPEC}}}\n"
    )
    environment = {k: v for k, v in os.environ.items() if k != "SM_UNSET_DATABASE_URL"}
    done = run_monitor(
        "report", "--config", str(config), "--format", "json", env=environment, timeout=60
    )
    assert done.returncode in (0, 1), done.stderr
    assert json.loads(done.stdout)["targets"][0]["target"] == "app"
    run = run_monitor(
        "run", "--config", str(config), "--validate-config", env=environment, timeout=60
    )
    assert run.returncode == 2 and "SM_UNSET_DATABASE_URL is not set" in run.stderr


@pytest.mark.slow
def test_sigusr1_and_sigusr2_log_the_state_and_never_end_the_daemon(
    phase3_dsn: str, tmp_path: Path
) -> None:
    with app_running(phase3_dsn, tmp_path) as process:
        for number in (signal.SIGUSR1, signal.SIGUSR2):
            process.popen.send_signal(number)
        wait_until(lambda: len(process.events("status")) >= 1)
        assert process.popen.poll() is None
        (target,) = process.events("status")[-1]["targets"]
        assert (target["name"], target["up"], target["drift_ok"]) == ("app", True, True)
        assert process.value("up", target="app") == 1
        assert process.terminate() < 5
        assert process.popen.returncode == 0
