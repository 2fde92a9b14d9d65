"""The package installs and builds specs without the embedded extra (no pgserver wheel for
Python 3.13 or linux/arm64): with a PostgreSQL on the machine, nothing else is needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.postgres import scratch
from tests.support.paths import ROOT


def run(*command: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
def test_a_plain_install_imports_and_builds_a_spec_on_the_machines_postgresql(
    tmp_path: Path,
) -> None:
    if not scratch.installations(embedded=False):
        pytest.skip("no PostgreSQL installed on this machine")
    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", venv).returncode == 0
    python = venv / "bin" / "python"
    installed = run(python, "-m", "pip", "install", "--quiet", ROOT)
    assert installed.returncode == 0, installed.stderr[-2000:]
    probe = run(
        python,
        "-c",
        "import importlib.util, monitor, monitor.cli;"
        " print(importlib.util.find_spec('pgserver') is None)",
    )
    assert probe.stdout.strip() == "True", probe.stderr
    output = tmp_path / "spec.yaml"
    built = run(
        venv / "bin" / "schema-monitor",
        "spec",
        "build",
        ROOT / "tests" / "fixtures" / "migrations" / "plain",
        "-o",
        output,
    )
    assert built.returncode == 0, built.stderr
    assert "notes:" in output.read_text()
