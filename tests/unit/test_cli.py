"""The CLI's own options: --version and --help, through cli.main."""

from __future__ import annotations

from importlib.metadata import version

import pytest

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
