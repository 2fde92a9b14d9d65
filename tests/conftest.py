"""Suite-wide rules and the shared fixtures (tests/support/), on real PostgreSQL.

Fixtures for databases, processes and a TCP proxy come from ``tests/support``;
helpers are imported from there. No test module imports another test module.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = [
    "tests.support.postgres",
    "tests.support.processes",
    "tests.support.proxy",
    "tests.support.statements",
]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Property tests: Hypothesis's 100 examples each in CI and in `make test-all`, a
# quarter of that in the fast suite (`make test`, run again and again while
# working). No deadline: a loaded machine is slow, not wrong.
settings.register_profile("full", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fast", settings.get_profile("full"), max_examples=25)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "full" if IN_CI else "fast"))

# A shell starts a background job (`make test &`) with SIGINT ignored, and the
# commands the tests start would inherit that: the tests that stop a command
# with Ctrl-C need the signal delivered as from a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI a skipped test is a failure: whatever it needed must be installed there."""
    outcome: Any = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true): {report.longrepr}"
