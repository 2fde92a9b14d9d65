"""Bounded waits and loopback HTTP: every wait ends, and says what it waited for."""

from __future__ import annotations

import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Protocol, TypeVar

import pytest

T = TypeVar("T")


class HasLogs(Protocol):
    def logs(self, lines: int = 25) -> str: ...


def wait_until(
    condition: Callable[[], T | None],
    timeout: float = 10.0,
    what: str = "the condition",
    *,
    interval: float = 0.05,
    processes: HasLogs | None = None,
) -> T:
    """The first truthy value of `condition()`; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            logs = f"\n{processes.logs()}" if processes else ""
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}{logs}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def http_get(url: str, timeout: float = 3.0) -> tuple[int, bytes] | None:
    """Status and body, or None while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def fetch(url: str, context: ssl.SSLContext | None = None) -> tuple[int, str]:
    """Status and text of a page that must answer."""
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def answers_200(url: str) -> Callable[[], bool]:
    def check() -> bool:
        answer = http_get(url)
        return answer is not None and answer[0] == 200

    return check
