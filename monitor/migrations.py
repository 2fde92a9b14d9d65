"""Finding and applying migration files: shared by `spec build`, `demo` and the tests."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import psycopg

from monitor.errors import MigrationFailed, MonitorError

# psql meta-commands have no meaning to the server; say so instead of letting
# it answer with a puzzling syntax error.
_META_COMMANDS = ("\\i", "\\ir", "\\set", "\\connect", "\\c ", "\\gexec", "\\if", "\\echo")


@dataclass(frozen=True, slots=True)
class Migration:
    version: str  # the leading digits of the file name: "20250122000000"
    name: str  # the file name without ".sql": "20250122000000_create_integrations_table"
    path: Path


def discover(directory: Path) -> list[Migration]:
    """The `*.sql` files of a migrations directory in byte order of file name."""
    if not directory.is_dir():
        raise MonitorError(f"migrations directory not found: {directory}")
    files = sorted(directory.glob("*.sql"), key=lambda p: p.name.encode())
    return [Migration(_version_of(p.stem), p.stem, p) for p in files]


def _version_of(stem: str) -> str:
    head = stem.split("_", 1)[0]
    return head if head.isdigit() else stem


def supabase_bootstrap() -> str:
    """SQL that gives plain PostgreSQL what Supabase migrations assume (roles, auth.*)."""
    return resources.files("monitor.sql").joinpath("supabase_bootstrap.sql").read_text()


def apply_sql(conn: psycopg.Connection[object], sql: str, file: str) -> None:
    """Run one file's SQL in its own transaction; a failure names the file and line."""
    for number, line in enumerate(sql.splitlines(), start=1):
        if line.lstrip().startswith(_META_COMMANDS):
            raise MigrationFailed(
                file, number, f"psql meta-command {line.strip()!r} cannot be replayed"
            )
    try:
        with conn.transaction():
            conn.execute(sql.encode())  # no parameters: simple protocol, many statements
    except psycopg.Error as exc:
        raise MigrationFailed(file, _error_line(sql, exc), _server_message(exc)) from None


def apply_file(conn: psycopg.Connection[object], path: Path) -> None:
    apply_sql(conn, path.read_text(), path.name)


def _error_line(sql: str, exc: psycopg.Error) -> int | None:
    position = exc.diag.statement_position
    if position is None:
        return _context_line(sql, exc)
    # The server counts characters from 1 in the text we sent.
    return sql[: int(position) - 1].count("\n") + 1


def _context_line(sql: str, exc: psycopg.Error) -> int | None:
    """Errors raised inside a DO block carry no position; fall back to its first line."""
    context = exc.diag.context or ""
    if "PL/pgSQL" in context or "SQL statement" in context:
        index = sql.find("DO ")
        return sql[:index].count("\n") + 1 if index >= 0 else None
    return None


def _server_message(exc: psycopg.Error) -> str:
    primary = exc.diag.message_primary or str(exc).splitlines()[0]
    return f"{exc.diag.severity or 'ERROR'}: {primary}"
