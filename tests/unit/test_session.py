"""Reconnect backoff and TCP settings: arithmetic, no database."""

from __future__ import annotations

from monitor.daemon.session import Backoff, keepalive_settings


def upper(low: float, high: float) -> float:
    return high


def test_delays_double_up_to_the_maximum_and_reset_on_success() -> None:
    backoff = Backoff(initial_delay=1.0, max_delay=10.0, draw=upper)
    assert [backoff.failed(now=100.0) for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.wait(now=105.0) == 5.0
    backoff.succeeded()
    assert backoff.wait(now=105.0) <= 0
    assert backoff.failed(now=200.0) == 1.0


def test_jitter_stays_between_half_the_delay_and_the_delay() -> None:
    draws: list[tuple[float, float]] = []

    def record(low: float, high: float) -> float:
        draws.append((low, high))
        return low

    backoff = Backoff(initial_delay=2.0, max_delay=60.0, draw=record)
    backoff.failed(now=0.0)
    backoff.failed(now=0.0)
    assert draws == [(1.0, 2.0), (2.0, 4.0)]


def test_a_very_long_outage_does_not_overflow() -> None:
    backoff = Backoff(initial_delay=1.0, max_delay=60.0, draw=upper)
    for _ in range(5000):
        delay = backoff.failed(now=0.0)
    assert delay == 60.0


def test_a_silent_peer_is_an_error_within_about_one_run_budget() -> None:
    settings = keepalive_settings(54.0)
    assert settings["keepalives"] == 1
    assert settings["tcp_user_timeout"] == 54_000
    idle, interval, count = (
        settings["keepalives_idle"],
        settings["keepalives_interval"],
        settings["keepalives_count"],
    )
    assert idle + interval * count <= 54.0
    assert keepalive_settings(0.9)["keepalives_idle"] >= 1  # libpq takes whole seconds
