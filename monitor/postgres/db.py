"""Connecting to a watched database without ever hurting it or leaking its password.

Every session this module opens is read-only by default, gives up quickly on
locks and long statements, cannot sit idle inside a transaction, and pins
``search_path`` so that the server deparses expressions the same way each time.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

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
    from_environment = secret_from_environment("DATABASE_URL", os.environ)
    if from_environment:
        return from_environment
    if any(os.environ.get(name) for name in _LIBPQ_TARGET_VARIABLES):
        return ""
    raise MonitorError("no database given: pass --dsn or set DATABASE_URL or PGHOST/PGDATABASE")


def secret_from_environment(name: str, environ: Mapping[str, str]) -> str | None:
    """`name`'s value, else the contents of the file `name`_FILE names (Docker and Kubernetes
    secrets, as postgres_exporter's DATA_SOURCE_NAME_FILE); None when neither is set."""
    if environ.get(name):
        return environ[name]
    file = environ.get(f"{name}_FILE")
    if not file:
        return None
    try:
        return Path(file).read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise MonitorError(f"{name}_FILE: cannot read {file}: {reason}") from None


def parse_dsn(dsn: str) -> dict[str, Any]:
    """libpq's reading of `dsn`; psycopg.ProgrammingError when it is not one.

    A percent-escape that decodes to bytes that are not UTF-8 (``%80``) makes
    psycopg raise UnicodeDecodeError: that is a malformed string too, not a bug.
    """
    try:
        return conninfo_to_dict(dsn)
    except UnicodeDecodeError:
        raise psycopg.ProgrammingError("a percent-escape is not UTF-8") from None


def redact(dsn: str) -> str:
    """The DSN with any password replaced by ``***``, keeping the form it was written in."""
    try:
        params = parse_dsn(dsn)
    except psycopg.ProgrammingError:
        # An unparsable string may still hold a password somewhere; show none of it.
        return "<unparsable connection string>"
    if dsn.startswith(_URI_PREFIXES):
        # Split as the writer meant it, not as libpq does: a password holding a raw
        # "/" or "@" must not come out because libpq took it for a host or a path.
        return _redact_uri(dsn)
    if "password" not in params:
        return dsn
    params["password"] = REDACTED
    return make_conninfo("", **params)


def _split_uri(uri: str) -> tuple[str, str, str | None, str, str]:
    """(scheme, user, password or None, host and path, query), as the writer meant them.

    The user info ends at the last ``@`` (a password may hold ``@``, ``/``, ``:``,
    ``?`` or ``#`` unencoded); libpq ends it at the first ``@`` before the first
    ``/``, which :func:`connect` refuses when that reads a password as a host.
    An ``@`` in the query string makes this mask too much, never too little.
    """
    scheme, _, rest = uri.partition("://")
    at = rest.rfind("@")
    userinfo, rest = (rest[:at], rest[at + 1 :]) if at >= 0 else ("", rest)
    location, _, query = rest.partition("?")
    if at < 0:
        return scheme, "", None, location, query
    user, has_password, password = userinfo.partition(":")
    return scheme, user, password if has_password else None, location, query


def _redact_uri(uri: str) -> str:
    """Mask the password of a URI's user info and of its ``password`` query parameter."""
    scheme, user, password, location, query = _split_uri(uri)
    userinfo = "" if not user and password is None else user
    if password is not None:
        userinfo = f"{user}:{REDACTED}"
    base = f"{userinfo}@{location}" if userinfo else location
    if not query:
        return f"{scheme}://{base}"
    params = [_redact_query_parameter(item) for item in query.split("&")]
    return f"{scheme}://{base}?{'&'.join(params)}"


def _redact_query_parameter(item: str) -> str:
    key, has_value, _ = item.partition("=")
    return f"{key}={REDACTED}" if has_value and unquote(key) == "password" else item


def _misread_uri(dsn: str) -> bool:
    """Whether libpq reads part of the URI's user info as its host, port or database.

    A raw "@" or "/" in a password does that, and libpq then quotes the piece it
    took for a host in its error messages ("failed to resolve host 'Zebra77@db'").
    """
    if not dsn.startswith(_URI_PREFIXES):
        return False
    try:
        params = parse_dsn(dsn)
    except psycopg.ProgrammingError:
        return False  # connect() refuses it without quoting it
    return any("@" in str(params.get(key) or "") for key in ("host", "hostaddr", "port", "dbname"))


def secrets(dsn: str) -> list[str]:
    """Every string that is, or may be, a password of `dsn`, in every spelling libpq reads.

    The URI's user info as meant and as libpq reads it, the ``password`` keyword,
    ``PGPASSWORD``, and the passwords of the service file and password file libpq
    would consult: none of them may appear in anything we print.
    """
    found: list[str] = [os.environ.get("PGPASSWORD", "")]
    params: dict[str, Any] = {}
    with contextlib.suppress(psycopg.ProgrammingError):
        params = parse_dsn(dsn)
    found.append(str(params.get("password") or ""))
    if dsn.startswith(_URI_PREFIXES):
        _, _, password, _, query = _split_uri(dsn)
        found.append(password or "")
        for item in query.split("&"):
            key, _, value = item.partition("=")
            if unquote(key) == "password":
                found.append(value)
    found += _service_passwords(params.get("service") or os.environ.get("PGSERVICE"))
    found += _passfile_passwords(params.get("passfile") or os.environ.get("PGPASSFILE"))
    variants = {
        v for secret in found if secret for v in (secret, unquote(secret), quote(secret, safe=""))
    }
    return sorted((v for v in variants if v), key=len, reverse=True)


def _service_passwords(service: str | None) -> list[str]:
    if not service:
        return []
    files = [os.environ.get("PGSERVICEFILE") or os.path.expanduser("~/.pg_service.conf")]
    files.append(
        os.path.join(os.environ.get("PGSYSCONFDIR", "/etc/postgresql-common"), "pg_service.conf")
    )
    passwords = []
    for name in files:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            for line in Path(name).read_text().splitlines():
                key, has_value, value = line.strip().partition("=")
                if has_value and key.strip() == "password":
                    passwords.append(value.strip())
    return passwords


def _passfile_passwords(passfile: str | None) -> list[str]:
    """The password field of each line (host:port:database:user:password; ``\\`` escapes)."""
    path = passfile or os.path.expanduser("~/.pgpass")
    passwords = []
    with contextlib.suppress(OSError, UnicodeDecodeError):
        for line in Path(path).read_text().splitlines():
            if line.startswith("#"):
                continue
            fields: list[str] = []
            field, escaped = "", False
            for char in line:
                if escaped:
                    field, escaped = field + char, False
                elif char == "\\":
                    escaped = True
                elif char == ":" and len(fields) < 4:
                    fields.append(field)
                    field = ""
                else:
                    field += char
            if len(fields) == 4 and field:
                passwords.append(field)
    return passwords


def without_secrets(text: str, dsn: str) -> str:
    """`text` with every password `dsn` may carry (see :func:`secrets`) masked."""
    for secret in secrets(dsn):
        text = text.replace(secret, REDACTED)
    return text


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
    tcp: Mapping[str, int] | None = None,
) -> psycopg.Connection[Any]:
    """One autocommit, read-only session; its transactions are REPEATABLE READ READ ONLY.

    `tcp` adds libpq keepalive and ``tcp_user_timeout`` settings the DSN does not set itself.
    """
    if _misread_uri(dsn):
        raise ConnectionFailed(
            f"cannot connect to {redact(dsn)}: libpq would read part of the user info as the"
            " host or database; percent-encode '@' as %40 and '/' as %2F in the password"
        )
    ours = session_options(
        lock_timeout_ms=lock_timeout_ms,
        statement_timeout_ms=statement_timeout_ms,
        # Our transactions last milliseconds; one left open by a bug must not hold
        # back vacuum or locks for long.
        idle_in_transaction_timeout_ms=statement_timeout_ms,
    )
    try:
        # An options keyword replaces PGOPTIONS rather than adding to it: keep both.
        given = parse_dsn(dsn)
        theirs = given.get("options") or os.environ.get("PGOPTIONS")
    except psycopg.ProgrammingError:
        # libpq's message may quote a piece of the string, which may be the password.
        raise ConnectionFailed("cannot connect: the connection string cannot be parsed") from None
    # The user's own options come first so that ours, later on the line, win.
    options = f"{theirs} {ours}" if theirs else ours
    extra: dict[str, str | int] = {k: v for k, v in (tcp or {}).items() if k not in given}
    # Text in UTF-8 unless the DSN names another encoding: with SQL_ASCII (the server's
    # default on a SQL_ASCII database) psycopg hands out bytes; asked for UTF-8, such a
    # server checks each name it sends, and one that is not UTF-8 is a clear error.
    if given.get("client_encoding", "SQL_ASCII").upper().replace("_", "") == "SQLASCII":
        extra["client_encoding"] = "UTF8"
    try:
        conn = psycopg.connect(
            make_conninfo(dsn, **extra) if extra else dsn,
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
    return without_secrets(reason, dsn)
