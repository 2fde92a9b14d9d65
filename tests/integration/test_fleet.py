"""A fleet: shards over replicas, a targets file re-read while running, and the sidecar's
hygiene (one daemon per state_dir, run --once, closed pipes, modes, healthcheck)."""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from monitor.daemon.fleet import Heap, Shard, first_runs
from tests.support.daemon import running, write_config
from tests.support.paths import ROOT, SPEC
from tests.support.processes import Processes, monitor_command, run_monitor
from tests.support.waiting import fetch, free_port, wait_until

THIRTY = [f"customer-{n:03d}" for n in range(30)]


def fleet_config(directory: Path, names: list[str], dsn: str) -> Path:
    targets = directory / "targets.yaml"
    targets.write_text(yaml.safe_dump([{"name": n, "dsn": dsn, "spec": str(SPEC)} for n in names]))
    config = directory / "monitor.yaml"
    config.write_text(
        f"version: 1\nstate_dir: {directory / 'state'}\ntargets_file: {targets}\n"
        "intervals: {drift: 1s, stats: 1s}\n"
        "timeouts: {lock: 200ms, statement: 800ms, connect: 2s}\n"
    )
    return config


def test_three_replicas_watch_each_of_thirty_targets_exactly_once(tmp_path: Path) -> None:
    config = fleet_config(tmp_path, THIRTY, "postgresql://unused@127.0.0.1/none")
    counts = []
    for index in range(3):
        done = run_monitor(
            "run", "--config", str(config), "--shard", f"{index}/3", "--validate-config"
        )
        assert done.returncode == 0, done.stderr
        counts.append(int(re.search(r"\((\d+) targets of shard", done.stdout)[1]))  # type: ignore[index]
    owners = [[i for i in range(3) if Shard(i, 3).owns(name)] for name in THIRTY]
    assert all(len(o) == 1 for o in owners)
    assert sum(counts) == 30 and min(counts) >= 5, counts
    assert counts == [sum(1 for o in owners if o == [i]) for i in range(3)]


def test_a_bad_shard_is_refused_with_exit_2(tmp_path: Path) -> None:
    config = fleet_config(tmp_path, THIRTY[:1], "postgresql://unused@127.0.0.1/none")
    done = run_monitor("run", "--config", str(config), "--shard", "3/3", "--validate-config")
    assert done.returncode == 2 and "--shard: '3/3' is not I/N" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_large_fleet_starts_in_batches_spread_within_the_interval() -> None:
    runs = first_runs([f"t{n}" for n in range(500)], 60.0, 4)
    stats = sorted(r.stats for r in runs.values())
    assert stats[0] == 0 and stats[-1] < 60 * 0.8
    assert max(stats.count(d) for d in set(stats)) == 4  # never more than a worker pool at once
    assert all(r.stats < r.drift < 60 for r in runs.values())
    assert {r.drift for r in first_runs(["a", "b"], 60.0, 4).values()} == {0.0}


@pytest.mark.slow
def test_a_target_added_to_or_removed_from_the_file_needs_no_restart(
    tmp_path: Path, phase3_dsn: str
) -> None:
    config = fleet_config(tmp_path, ["first"], phase3_dsn)
    config.write_text(config.read_text() + 'web: {listen_address: "127.0.0.1:0"}\n')
    targets = tmp_path / "targets.yaml"
    with running(config) as run:
        wait_until(lambda: run.value("up", target="first") == 1, timeout=30, what="first up")
        entries = [{"name": n, "dsn": phase3_dsn, "spec": str(SPEC)} for n in ("second",)]
        targets.write_text(yaml.safe_dump(entries))  # first removed, second added
        wait_until(lambda: run.value("up", target="second") == 1, timeout=30, what="second up")
        wait_until(
            lambda: not [labels for _, labels in run.scrape() if ("target", "first") in labels],
            timeout=10,
            what="the removed target's series gone",
        )


def test_a_second_daemon_on_one_state_dir_is_refused_naming_the_first(
    tmp_path: Path, phase3_dsn: str
) -> None:
    config = write_config(tmp_path, phase3_dsn, listen=f"127.0.0.1:{free_port()}")
    with Processes(tmp_path) as processes:
        first = processes.start("first", [*monitor_command(), "run", "--config", str(config)])
        lock = tmp_path / "state" / ".lock"
        wait_until(lambda: lock.exists() and lock.read_text(), timeout=30, what="the lock")
        second = run_monitor("run", "--config", str(config), timeout=60)
        assert second.returncode == 2, second.stderr
        assert f"pid {first.pid} on host" in second.stderr and "Traceback" not in second.stderr


def test_run_once_never_starts_a_watch_window(tmp_path: Path, phase3_dsn: str) -> None:
    config = write_config(tmp_path, phase3_dsn)
    done = run_monitor("run", "--config", str(config), "--once", timeout=120)
    assert done.returncode in (0, 1), done.stderr
    state = tmp_path / "state"
    assert not [p for p in state.rglob("*") if p.is_file()], list(state.rglob("*"))


def test_a_closed_pipe_ends_quietly(tmp_path: Path, phase3_dsn: str) -> None:
    command = [*monitor_command(), "check", "--spec", str(SPEC), "--dsn", phase3_dsn]
    shell = " ".join(f"'{part}'" for part in [*command, "--format", "json"]) + " | head -c 10"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, timeout=120
    )
    assert len(done.stdout) == 10
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_a_spec_is_written_with_the_umask_not_0600(tmp_path: Path, phase3_dsn: str) -> None:
    output = tmp_path / "spec.yaml"
    script = (
        "import os, sys; os.umask(0o022); from monitor.cli import main;"
        f" sys.exit(main(['spec', 'snapshot', '--dsn', {phase3_dsn!r}, '-o', {str(output)!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert output.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("tls", [False, True])
def test_healthcheck_answers_with_and_without_tls(
    tmp_path: Path, phase3_dsn: str, tls: bool
) -> None:
    port = free_port()
    config = write_config(tmp_path, phase3_dsn, listen=f"127.0.0.1:{port}")
    if tls:
        key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        listen = f'listen_address: "127.0.0.1:{port}"'
        tls_config = f"{listen}, tls: {{cert_file: {cert}, key_file: {key}}}"
        config.write_text(config.read_text().replace(listen, tls_config))
    health = ["healthcheck", "--config", str(config)]
    assert run_monitor(*health, timeout=60).returncode == 2  # nothing listens yet
    with Processes(tmp_path) as processes:
        processes.start("daemon", [*monitor_command(), "run", "--config", str(config)])
        wait_until(
            lambda: run_monitor(*health, timeout=60).returncode == 0,
            timeout=30,
            what="a healthy daemon",
            processes=processes,
        )


def test_a_dsn_env_variable_can_name_a_file_instead(tmp_path: Path) -> None:
    secret = tmp_path / "dsn"
    secret.write_text("postgresql://app@127.0.0.1/app\n")
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"version: 1\ntargets:\n  - {{name: app, dsn_env: SM_APP_DSN, spec: {SPEC}}}\n"
    )
    environment = {**os.environ, "SM_APP_DSN_FILE": str(secret)}
    done = run_monitor("run", "--config", str(config), "--validate-config", env=environment)
    assert done.returncode == 0, done.stderr


def test_the_daemon_serves_the_runbooks_with_an_anchor_per_alert(
    tmp_path: Path, phase3_dsn: str
) -> None:
    with running(write_config(tmp_path, phase3_dsn)) as run:
        status, page = fetch(f"{run.url}/runbooks")
        text_status, text = fetch(f"{run.url}/runbooks.md")
    assert status == 200 and text_status == 200
    anchors = set(re.findall(r' id="([^"]+)"', page))
    alerts = re.findall(r"^## (\w+)$", text, flags=re.MULTILINE)
    assert alerts and {alert.lower() for alert in alerts} <= anchors


def test_the_heap_is_frozen_every_minute_and_thawed_for_a_full_pass_every_hour() -> None:
    gc.unfreeze()  # a daemon run earlier in this process may have frozen it
    heap = Heap(now=0.0)
    try:
        heap.tick(Heap.FREEZE_SECONDS - 1)
        assert gc.get_freeze_count() == 0
        heap.tick(Heap.FREEZE_SECONDS)
        assert gc.get_freeze_count() > 0  # a full pass no longer walks these
        heap.tick(Heap.THAW_SECONDS)
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
