"""The one session a target gets: opened on demand, retried with backoff, broken when stuck.

A :class:`Session` never opens a second connection while the first lives. It
re-reads a ``dsn_file`` at every (re)connect, so a rotated secret is picked up
without a reload. A connection that died while idle (``idle_session_timeout``,
a pooler, NAT or load balancer dropping it) is noticed only when the next
statement fails; :meth:`Session.run` then reconnects and runs the check once
more, so an idle killer shorter than the interval is not an outage.

:class:`Backoff` holds the reconnect delays; it is pure arithmetic on a clock
reading and a random draw, tested without a database.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from monitor.daemon import config as config_module
from monitor.daemon import events as log_module
from monitor.errors import ConnectionFailed
from monitor.postgres import db

T = TypeVar("T")
# How long a cancel request may take: it travels to the same server, maybe the same dead path.
CANCEL_TIMEOUT_SECONDS = 2.0
# A run still going this long after its budget (and the cancel request it sent) is
# overdue: stuck on a silent peer, or on our own processing.
WATCHDOG_GRACE_SECONDS = CANCEL_TIMEOUT_SECONDS + 1.0
# CPU time the run's thread must have used since the watchdog's last look for an overdue
# run to be our own processing (a thread waiting on a socket uses none), even under a
# CPU limit of a fifth of a core.
_BUSY_CPU_SECONDS = 0.01


class NotYet(Exception):
    """The session is down and the backoff delay has not passed: no attempt this run."""


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with jitter, so a fleet of monitors does not reconnect in step."""

    initial_delay: float
    max_delay: float
    draw: Callable[[float, float], float] = random.uniform
    failures: int = 0
    retry_at: float = 0.0  # a monotonic time; 0: no wait

    def failed(self, now: float) -> float:
        """Count a failure at `now`; returns the delay before the next attempt."""
        self.failures += 1
        ceiling = min(self.max_delay, self.initial_delay * 2 ** min(self.failures - 1, 62))
        delay = self.draw(ceiling / 2, ceiling)
        self.retry_at = now + delay
        return delay

    def succeeded(self) -> None:
        self.failures, self.retry_at = 0, 0.0

    def wait(self, now: float) -> float:
        """Seconds before the next attempt is due (0 or less: go ahead)."""
        return self.retry_at - now


def keepalive_settings(budget_seconds: float) -> dict[str, int]:
    """libpq TCP settings that make a silent peer an error within about one run budget.

    Keepalives find a dead peer while we wait for an answer; ``tcp_user_timeout``
    bounds how long data we sent may stay unacknowledged (a peer gone without RST).
    """
    budget = max(1.0, budget_seconds)
    return {
        "keepalives": 1,
        "keepalives_idle": max(1, int(budget / 3)),
        "keepalives_interval": max(1, int(budget / 9)),
        "keepalives_count": 3,
        "tcp_user_timeout": int(budget * 1000),
    }


class Session:
    """Connects to one target with the monitor's session rules; one connection at most."""

    def __init__(
        self,
        target: config_module.Target,
        config: config_module.Config,
        clock: Callable[[], float],
    ) -> None:
        self._target = target
        self._timeouts = config.timeouts
        self._tcp = keepalive_settings(min(config.run_budget("drift"), config.run_budget("stats")))
        self._backoff = Backoff(config.reconnect.initial_delay, config.reconnect.max_delay)
        self._clock = clock
        self._dsn = target.dsn
        self._conn: psycopg.Connection[Any] | None = None
        self._conn_lock = threading.Lock()  # guards the reference, not the connection's use
        self.cancelled = False

    @property
    def connection(self) -> psycopg.Connection[Any] | None:
        return self._conn

    def dsn(self) -> str:
        """The target's DSN; a ``dsn_file`` is read again so that a rotated secret works."""
        source = self._target.dsn_source
        if source.startswith("file:"):
            path = Path(source.removeprefix("file:"))
            try:
                fresh = path.read_text().strip()
            except (OSError, UnicodeDecodeError) as exc:
                log_module.get_logger().warning(
                    "dsn_file_unreadable", target=self._target.name, path=str(path), error=str(exc)
                )
            else:
                if fresh:
                    log_module.register_dsn(fresh)
                    self._dsn = fresh
        return self._dsn

    def run(self, body: Callable[[psycopg.Connection[Any]], T]) -> T:
        """`body` on the session; a connection found dead after idling is replaced once.

        Raises NotYet while backing off, ConnectionFailed when the database cannot
        be reached, and whatever `body` raises otherwise.
        """
        reused = self._alive()
        conn = self._open()
        try:
            return body(conn)
        except (psycopg.OperationalError, ConnectionFailed):
            if not (reused and (conn.broken or conn.closed)) or self.cancelled:
                raise
        # The server (or something on the way) closed the idle connection: not an outage.
        self.drop()
        return body(self._open(now=True))

    def _alive(self) -> bool:
        conn = self._conn
        return conn is not None and not conn.closed and not conn.broken

    def _open(self, *, now: bool = False) -> psycopg.Connection[Any]:
        if self._alive():
            assert self._conn is not None
            return self._conn
        self.drop()
        wait = self._backoff.wait(self._clock())
        if wait > 0 and not now:
            raise NotYet(f"database unreachable; next attempt in {wait:.1f}s")
        timeouts = self._timeouts
        try:
            conn = db.connect(
                self.dsn(),
                lock_timeout_ms=int(timeouts.lock * 1000),
                statement_timeout_ms=int(timeouts.statement * 1000),
                connect_timeout_s=max(1, round(timeouts.connect)),
                tcp=self._tcp,
            )
        except ConnectionFailed:
            self._backoff.failed(self._clock())
            raise
        self._backoff.succeeded()
        with self._conn_lock:
            self._conn = conn
        return conn

    def failed(self) -> None:
        """The connection broke during a run: drop it and wait before the next attempt."""
        self.drop()
        self._backoff.failed(self._clock())

    def drop(self) -> None:
        with self._conn_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                conn.close()

    def cancel(self) -> None:
        """Cancel the statement in flight (a cancel request, not a second session)."""
        conn = self._conn
        if conn is None or conn.closed:
            return
        self.cancelled = True
        with contextlib.suppress(psycopg.Error, OSError):
            conn.cancel_safe(timeout=CANCEL_TIMEOUT_SECONDS)

    def sever(self) -> None:
        """Break a connection stuck on a silent peer, from another thread.

        Shutting the socket down wakes the thread waiting on it with an error at
        once; closing the descriptor under it could hand its number to another file.
        """
        conn = self._conn
        if conn is None or conn.closed:
            return
        self.cancelled = True
        with contextlib.suppress(OSError, psycopg.Error):
            duplicate = os.dup(conn.fileno())
            with socket.socket(fileno=duplicate) as stuck:
                stuck.shutdown(socket.SHUT_RDWR)


@dataclass(frozen=True, slots=True)
class Overrun:
    check: str
    seconds: float  # since the run started
    budget: float
    busy: bool  # its thread was using CPU: our processing, not a silent database

    @property
    def error(self) -> str:
        if self.busy:
            return (
                f"run over its budget of {self.budget:g}s after {self.seconds:.1f}s: the"
                " monitor's own processing is slow (CPU-bound), not the database"
            )
        return f"no answer from the database for {self.seconds:.1f}s (run budget {self.budget:g}s)"


class RunWatch:
    """The run in progress as the watchdog sees it, on the monotonic clock and the run
    thread's CPU clock: in time, overdue waiting on the database, or overdue working."""

    def __init__(self) -> None:
        self.running: tuple[str, float, int] | None = None  # check, start, thread
        self.overdue = False  # reported already
        self._cpu_seen: float | None = None

    def start(self, check: str) -> None:
        self.running = (check, time.monotonic(), threading.get_ident())
        self.overdue, self._cpu_seen = False, None

    def end(self) -> None:
        self.running = None

    def overrun(self, budget_of: Callable[[str], float]) -> Overrun | None:
        """The run, once, when it has outlived its budget and the grace; else None."""
        running = self.running
        if running is None or self.overdue:
            return None
        check, started, thread = running
        cpu, seen = _thread_cpu(thread), self._cpu_seen
        self._cpu_seen = cpu
        busy = cpu is not None and seen is not None and cpu - seen >= _BUSY_CPU_SECONDS
        budget, seconds = budget_of(check), time.monotonic() - started
        if seconds < budget + WATCHDOG_GRACE_SECONDS or self.running is not running:
            return None  # in time, or that run has just ended
        self.overdue = True
        return Overrun(check, seconds, budget, busy)


def _thread_cpu(thread: int) -> float | None:
    """CPU seconds a thread has used; None where the platform cannot tell."""
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(thread))
    except (AttributeError, OSError):
        return None
