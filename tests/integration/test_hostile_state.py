"""Valid JSON, hostile values in the state files: the daemon sets them aside and keeps watching,
`report` says which file and why (exit 2), never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import structlog

from monitor import cli
from monitor.daemon import runner as daemon
from monitor.errors import ExitCode
from tests.support import hostile_state
from tests.support.daemon import events_named, write_config

FILES = hostile_state.FILES


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("case", hostile_state.CASES)
def test_the_daemon_sets_a_hostile_state_file_aside_and_runs(
    phase3_dsn: str, tmp_path: Path, case: str, name: str
) -> None:
    state = tmp_path / "state" / "app"
    state.mkdir(parents=True)
    (state / name).write_bytes(FILES[name](case))
    config_path = write_config(tmp_path, phase3_dsn)
    with structlog.testing.capture_logs() as logs:
        config, specs = daemon.load(config_path)
        runner = daemon.Daemon(config, specs).runners["app"]
        runner.run_drift()
        runner.run_stats()
        runner.close()
    (aside,) = state.glob(f"{name}.corrupt-*")
    assert aside.read_bytes() == FILES[name](case)  # kept for a person to look at
    assert [e["kept_as"] for e in events_named(logs, "state_file_corrupt")] == [str(aside)]
    found = runner._store.latest().target("app")
    assert found is not None
    assert found.state_files_corrupt == 1
    assert found.drift_check.ok and found.stats_check.ok
    assert json.loads((state / "watch.json").read_text())["samples"] == 1  # a window that runs


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("case", hostile_state.CASES)
def test_report_names_a_hostile_state_file_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, name: str
) -> None:
    state = tmp_path / "state" / "app"
    state.mkdir(parents=True)
    (state / name).write_bytes(FILES[name](case))
    config_path = write_config(tmp_path, "host=/nonexistent")
    assert cli.main(["report", "--config", str(config_path)]) == ExitCode.ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith(f"schema-monitor: error: corrupt state file {state / name}: ")
    assert "sets such a file aside" in line
