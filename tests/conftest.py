"""Suite-wide rules and the shared fixtures (tests/support/), on real PostgreSQL.

Fixtures for databases, processes and a TCP proxy come from ``tests/support``;
helpers are imported from there. No test module imports another test module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

pytest_plugins = [
    "tests.support.postgres",
    "tests.support.processes",
    "tests.support.proxy",
]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI a skipped test is a failure: whatever it needed must be installed there."""
    outcome: Any = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true): {report.longrepr}"
