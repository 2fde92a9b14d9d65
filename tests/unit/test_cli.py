"""The CLI's own options: --version and --help, through cli.main."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest

import monitor
from monitor import cli


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"schema-monitor {version('schema-monitor')}\n"


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "--version" in out
    assert "exit codes (every command):" in out
    assert "130  interrupted (Ctrl-C)" in out


def test_demo_is_offered_only_where_its_examples_are(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "demo" in capsys.readouterr().out  # a source checkout
    # A pip install: the package without the repository's examples beside it.
    monkeypatch.setattr(monitor, "EXAMPLE_MIGRATIONS", tmp_path / "examples" / "migrations")
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "demo" not in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        cli.main(["demo"])
    assert refused.value.code == 2
