"""What a client sent on a connection: libpq's own protocol trace, for counting statements."""

from __future__ import annotations

import tempfile
from typing import Any

import psycopg
from psycopg import pq


class Trace:
    """What the client sent: libpq's own protocol trace, independent of our counters."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.lines: list[str] = []

    def __enter__(self) -> Trace:
        self.file = tempfile.TemporaryFile("w+")
        self.conn.pgconn.trace(self.file.fileno())
        self.conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.pgconn.untrace()
        self.file.seek(0)
        self.lines = [line for line in self.file.read().splitlines() if line.startswith("F\t")]
        self.file.close()

    @property
    def statements(self) -> list[str]:
        """Simple queries and extended-protocol Parse messages, one per statement."""
        return [line for line in self.lines if line.split("\t")[2] in ("Query", "Parse")]
