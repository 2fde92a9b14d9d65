"""Where a first `run` keeps its state when the config does not say: somewhere it may write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.daemon import config


def test_a_user_without_var_lib_gets_the_xdg_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config, "SYSTEM_STATE_DIR", tmp_path / "absent")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert config.default_state_dir({"XDG_STATE_HOME": "/home/u/.state"}) == Path(
        "/home/u/.state/schema-monitor"
    )
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config.default_state_dir({}) == tmp_path / "home" / ".local/state/schema-monitor"


def test_a_writable_var_lib_directory_is_used_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config, "SYSTEM_STATE_DIR", tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: 10001)  # the image user owns it
    assert config.default_state_dir({"XDG_STATE_HOME": "/elsewhere"}) == tmp_path
