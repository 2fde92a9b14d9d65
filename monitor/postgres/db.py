"""Connecting to a watched database without ever hurting it or leaking its password.

Every session this module opens is read-only by default, gives up quickly on
locks and long statements, cannot sit idle inside a transaction, and pins
``search_path`` so that the server deparses expressions the same way each time.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any
from urllib.parse import unquote

import psycopg
from psycopg import IsolationLevel
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from monitor.errors import ConnectionFailed, MonitorError

APPLICATION_NAME = "schema-monitor"
SEARCH_PATH = "pg_catalog,public"  # no space: it would split the -c switch
REDACTED = "***"

_URI_PREFIXES = ("postgresql://", "postgres://")
# libpq variables that name a database on their own, so an empty DSN is meaningful.
_LIBPQ_TARGET_VARIABLES = ("PGHOST", "PGHOSTADDR", "PGDATABASE", "PGSERVICE")


def resolve_dsn(explicit: str | None) -> str:
    """``--dsn``, else ``DATABASE_URL``, else "" so that libpq reads its ``PG*`` variables."""
    if explicit:
        return explicit
    from_environment = os.environ.get("DATABASE_URL")
    if from_environment:
        return from_environment
    if any(os.environ.get(name) for name in _LIBPQ_TARGET_VARIABLES):
        return ""
    raise MonitorError("no database given: pass --dsn or set DATABASE_URL or PGHOST/PGDATABASE")


def redact(dsn: str) -> str:
    """The DSN with any password replaced by ``***``, keeping the form it was written in."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        # An unparsable string may still hold a password somewhere; show none of it.
        return "<unparsable connection string>"
    if dsn.startswith(_URI_PREFIXES):
        return _redact_uri(dsn)
    if "password" not in params:
        return dsn
    params["password"] = REDACTED
    return make_conninfo("", **params)


def _redact_uri(uri: str) -> str:
    """Mask the password of a URI's user info and of its ``password`` query parameter.

    libpq ends the user info at an ``@`` ahead of the first ``/``; taking the
    last such ``@`` masks a password holding ``@``, ``#`` or ``?`` whole.
    """
    scheme, _, rest = uri.partition("://")
    slash = rest.find("/")
    at = (rest if slash < 0 else rest[:slash]).rfind("@")
    if at >= 0:
        user, has_password, _ = rest[:at].partition(":")
        userinfo = f"{user}:{REDACTED}" if has_password else user
        rest = f"{userinfo}@{rest[at + 1 :]}"
    base, has_query, query = rest.partition("?")
    if not has_query:
        return f"{scheme}://{base}"
    params = [_redact_query_parameter(item) for item in query.split("&")]
    return f"{scheme}://{base}?{'&'.join(params)}"


def _redact_query_parameter(item: str) -> str:
    key, has_value, _ = item.partition("=")
    return f"{key}={REDACTED}" if has_value and unquote(key) == "password" else item


def session_options(
    *, lock_timeout_ms: int, statement_timeout_ms: int, idle_in_transaction_timeout_ms: int
) -> str:
    """The ``options`` startup parameter that makes every session of ours harmless."""
    settings = {
        "lock_timeout": f"{lock_timeout_ms}ms",
        "statement_timeout": f"{statement_timeout_ms}ms",
        "idle_in_transaction_session_timeout": f"{idle_in_transaction_timeout_ms}ms",
        "default_transaction_read_only": "on",
        "search_path": SEARCH_PATH,
        # Catalog reads over thousands of tables look costly to the planner:
        # compiling them with JIT took longer than running them, and parallel
        # workers would take slots the application may need.
        "jit": "off",
        "max_parallel_workers_per_gather": "0",
    }
    return " ".join(f"-c {name}={value}" for name, value in settings.items())


def connect(
    dsn: str,
    *,
    lock_timeout_ms: int = 200,
    statement_timeout_ms: int = 10_000,
    connect_timeout_s: int = 5,
) -> psycopg.Connection[Any]:
    """One autocommit, read-only session; its transactions are REPEATABLE READ READ ONLY."""
    ours = session_options(
        lock_timeout_ms=lock_timeout_ms,
        statement_timeout_ms=statement_timeout_ms,
        # Our transactions last milliseconds; one left open by a bug must not hold
        # back vacuum or locks for long.
        idle_in_transaction_timeout_ms=statement_timeout_ms,
    )
    try:
        # An options keyword replaces PGOPTIONS rather than adding to it: keep both.
        theirs = conninfo_to_dict(dsn).get("options") or os.environ.get("PGOPTIONS")
    except psycopg.ProgrammingError:
        # libpq's message may quote a piece of the string, which may be the password.
        raise ConnectionFailed("cannot connect: the connection string cannot be parsed") from None
    # The user's own options come first so that ours, later on the line, win.
    options = f"{theirs} {ours}" if theirs else ours
    try:
        conn = psycopg.connect(
            dsn,
            autocommit=True,
            application_name=APPLICATION_NAME,
            options=options,
            connect_timeout=connect_timeout_s,
        )
    except psycopg.Error as exc:
        raise ConnectionFailed(
            f"cannot connect to {redact(dsn) or '<libpq defaults>'}: {_reason(exc, dsn)}"
        ) from None
    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    return conn


def _reason(exc: psycopg.Error, dsn: str) -> str:
    """The server's or libpq's own words on one line, e.g. ``connection refused``."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # libpq puts the cause after the last "failed:" of the last attempt it made;
    # the hint lines that follow ("Is the server running...") add nothing.
    attempts = [line for line in lines if "failed:" in line] or lines or [type(exc).__name__]
    reason = attempts[-1].rpartition("failed:")[2].strip()
    reason = reason.removeprefix("FATAL:").strip() or attempts[-1]
    reason = reason[:1].lower() + reason[1:]
    return _without_password(reason, dsn)


def _without_password(text: str, dsn: str) -> str:
    """Belt and braces: libpq does not echo passwords, but make sure of it."""
    secrets = [os.environ.get("PGPASSWORD", "")]
    with contextlib.suppress(psycopg.ProgrammingError):
        secrets.append(str(conninfo_to_dict(dsn).get("password") or ""))
    for secret in filter(None, secrets):
        text = text.replace(secret, REDACTED)
    return text
