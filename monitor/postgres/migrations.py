"""Finding and applying migration files: shared by `spec build`, `demo` and the tests.

A file is applied the way psql applies it (one statement at a time, so that
the server's error can be traced to its line), inside one transaction of its
own, as the Supabase CLI does. When a statement fails, the line reported is
the line in the file: for a syntax error the server's cursor position, for an
error inside a DO block or a PL/pgSQL function defined in the file the line
that the server's context names, counted from where the body starts.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pglast
import psycopg
from pglast.parser import ParseError, Token, scan

from monitor.errors import MigrationFailed, MonitorError, Problem

# Token names of pglast's scanner (PostgreSQL's own lexer).
_BACKSLASH = "ASCII_92"
_SEMICOLON = "ASCII_59"
_OPEN_PAREN = "ASCII_40"
_STRING = "SCONST"
_COMMENTS = frozenset({"SQL_COMMENT", "C_COMMENT"})

# One frame of a PL/pgSQL error context, innermost first:
#   PL/pgSQL function inline_code_block line 4 at SQL statement
#   PL/pgSQL function public.audit_changes() line 12 at RAISE
#   compilation of PL/pgSQL function "audit_changes" near line 3
_PLPGSQL_FRAME = re.compile(
    r'PL/pgSQL function (?:"(?P<quoted>[^"]+)"|(?P<signature>.+?)) (?:near )?line (?P<line>\d+)'
    r"(?: at (?P<at>.+))?$"
)
_DO_BLOCK = "inline_code_block"


@dataclass(frozen=True, slots=True)
class Migration:
    version: str  # the leading digits of the file name: "20250122000000"
    name: str  # the file name without ".sql": "20250122000000_create_integrations_table"
    path: Path


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of a file as it is sent to the server, and the line it starts on."""

    text: str
    line: int


def discover(directory: Path) -> list[Migration]:
    """The `*.sql` files of a migrations directory in byte order of file name."""
    if not directory.is_dir():
        raise MonitorError(f"migrations directory not found: {directory}")
    files = sorted(directory.glob("*.sql"), key=lambda p: p.name.encode())
    return [Migration(_version_of(p.stem), p.stem, p) for p in files]


def _version_of(stem: str) -> str:
    head = stem.split("_", 1)[0]
    return head if head.isdigit() else stem


def read(path: Path) -> str:
    """A migration file's text; a byte-order mark, which the server would reject, is dropped."""
    return path.read_text(encoding="utf-8-sig")


def supabase_bootstrap() -> str:
    """SQL that gives plain PostgreSQL what Supabase migrations assume (roles, auth.*)."""
    return resources.files("monitor.postgres.sql").joinpath("supabase_bootstrap.sql").read_text()


def meta_commands(sql: str, file: str) -> list[Problem]:
    """Every psql meta-command (``\\i``, ``\\set`` ...) of a file: the server cannot run them."""
    try:
        starts = [token.start for token in scan(sql) if token.name == _BACKSLASH]
    except ParseError:
        # Unbalanced quotes (perhaps in the meta-command itself): judge by line starts.
        starts = [match.start(1) for match in re.finditer(r"^[ \t]*(\\)", sql, re.MULTILINE)]
    problems = []
    for start in starts:
        command = sql[start:].split("\n", 1)[0].strip()
        problems.append(
            Problem(
                file,
                _line_at(sql, start),
                f"psql meta-command '{command}' cannot be replayed: the server runs SQL only",
            )
        )
    return problems


def split(sql: str) -> list[Statement]:
    """The statements of a file, split where psql would split them."""
    try:
        # The parser knows where a BEGIN ATOMIC function body ends; the scanner does not.
        slices = list(pglast.split(sql, with_parser=True, only_slices=True))
    except ParseError:
        # A syntax error somewhere: split on semicolons and let the server say where.
        slices = _scanner_slices(sql)
    return [Statement(sql[part], _line_at(sql, part.start or 0)) for part in slices]


def _scanner_slices(sql: str) -> list[slice]:
    try:
        tokens = scan(sql)
    except ParseError:
        # Unterminated quote or comment: send it all, the server points at the culprit.
        return [slice(0, len(sql))] if sql.strip() else []
    slices: list[slice] = []
    start: int | None = None
    for token in tokens:
        if token.name == _SEMICOLON:
            if start is not None:
                slices.append(slice(start, token.start))
            start = None
        elif start is None and token.name not in _COMMENTS:
            start = token.start
    if start is not None:
        slices.append(slice(start, len(sql)))
    return slices


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def apply_sql(conn: psycopg.Connection[Any], sql: str, file: str) -> None:
    """Run one file's SQL in its own transaction; a failure names the file and line.

    ``conn`` should be in autocommit mode: the transaction is opened here, with
    plain BEGIN and COMMIT, so a file's own BEGIN or COMMIT only draws a warning.
    """
    problems = meta_commands(sql, file)
    if problems:
        first = problems[0]
        raise MigrationFailed(file, first.line, first.message)
    statements = split(sql)
    conn.execute(b"BEGIN")
    for index, statement in enumerate(statements):
        try:
            # bytes, no parameters: sent as a simple query, exactly as written.
            conn.execute(statement.text.encode())
        except psycopg.Error as exc:
            with contextlib.suppress(psycopg.Error):
                conn.execute(b"ROLLBACK")
            line, message = failure_location(statements, index, exc.diag)
            raise MigrationFailed(file, line, message) from None
    try:
        conn.execute(b"COMMIT")
    except psycopg.Error as exc:  # a deferred constraint, checked at commit
        raise MigrationFailed(file, None, server_message(exc.diag)) from None


def apply_file(conn: psycopg.Connection[Any], path: Path) -> None:
    apply_sql(conn, read(path), path.name)


def record(conn: psycopg.Connection[Any], migration: Migration) -> None:
    """Note a migration as applied in the Supabase ledger, as `supabase db push` does."""
    conn.execute(
        "INSERT INTO supabase_migrations.schema_migrations (version, name) VALUES (%s, %s)",
        (migration.version, migration.name.partition("_")[2]),
    )


def deploy(dsn: str, directory: Path) -> list[Migration]:
    """Apply the bootstrap and the migrations, recording each one, as a deploy would."""
    applied = discover(directory)
    with psycopg.connect(dsn, autocommit=True) as conn:
        apply_sql(conn, supabase_bootstrap(), "supabase_bootstrap.sql")
        for migration in applied:
            apply_file(conn, migration.path)
            record(conn, migration)
    return applied


def failure_location(
    statements: Sequence[Statement], index: int, diag: psycopg.errors.Diagnostic
) -> tuple[int, str]:
    """The file line of a failed statement's error, and the server's message for it."""
    statement = statements[index]
    message = server_message(diag)
    if diag.statement_position is not None:
        # The server counts characters from 1 in the text we sent.
        return _line_at(
            statement.text, int(diag.statement_position) - 1
        ) + statement.line - 1, message
    frames = [
        match
        for line in (diag.context or "").splitlines()
        if (match := _PLPGSQL_FRAME.search(line))
    ]
    for depth, frame in enumerate(frames):
        body = _body_line(statements, index, _frame_function(frame))
        if body is None:
            continue
        line = body + int(frame["line"]) - 1
        if depth == 0 and frame["at"] == "SQL statement" and diag.internal_position:
            # The failing SQL is quoted verbatim from the body: its own line offset adds up.
            line += _line_at(diag.internal_query or "", int(diag.internal_position) - 1) - 1
        return line, message
    if frames:
        # Defined in an earlier file: name the function, point at the statement calling it.
        message += f" (in {frames[0].group(0)})"
    return statement.line, message


def _frame_function(frame: re.Match[str]) -> str:
    """The bare, unquoted name of the function in a context frame."""
    if frame["quoted"] is not None:
        return frame["quoted"]
    name = frame["signature"].split("(", 1)[0].rsplit(".", 1)[-1]
    return name[1:-1] if name.startswith('"') else name


def _body_line(statements: Sequence[Statement], index: int, function: str) -> int | None:
    """The line where the body of a DO block or function starts, if this file holds it."""
    if function == _DO_BLOCK:
        tokens = _tokens(statements[index].text)
        if tokens and tokens[0].name == "DO":
            return _string_line(statements[index], tokens[1:], after=None)
        return None
    # The latest definition before the failing statement is the one that ran.
    for statement in reversed(statements[: index + 1]):
        tokens = _tokens(statement.text)
        if _defines(statement.text, tokens, function):
            return _string_line(statement, tokens, after="AS")
    return None


def _tokens(text: str) -> list[Token]:
    try:
        return [token for token in scan(text) if token.name not in _COMMENTS]
    except ParseError:
        return []


def _defines(text: str, tokens: list[Token], function: str) -> bool:
    """Whether the statement is CREATE [OR REPLACE] FUNCTION|PROCEDURE `function`."""
    names = [token.name for token in tokens[:4]]
    if names[:1] != ["CREATE"]:
        return False
    at = 3 if names[1:3] == ["OR", "REPLACE"] else 1
    if at >= len(tokens) or tokens[at].name not in ("FUNCTION", "PROCEDURE"):
        return False
    end = next((i for i, t in enumerate(tokens) if i > at and t.name == _OPEN_PAREN), None)
    if end is None:
        return False
    qualified = text[tokens[at + 1].start : tokens[end].start].strip()
    name = qualified.rsplit(".", 1)[-1].strip()
    name = name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()
    return name == function


def _string_line(statement: Statement, tokens: list[Token], after: str | None) -> int | None:
    """The line of the first string constant (the body), after the keyword `after` if given."""
    previous = None
    for token in tokens:
        if (
            token.name == _STRING
            and previous != "LANGUAGE"
            and (after is None or previous == after)
        ):
            return statement.line + statement.text.count("\n", 0, token.start)
        previous = token.name
    return None


def server_message(diag: psycopg.errors.Diagnostic) -> str:
    """The server's words, as psql shows them: severity, message, detail and hint."""
    primary = " ".join((diag.message_primary or "unknown error").split())  # one line
    parts = [f"{diag.severity or 'ERROR'}: {primary}"]
    if diag.message_detail:
        parts.append(f"DETAIL: {diag.message_detail}")
    if diag.message_hint:
        parts.append(f"HINT: {diag.message_hint}")
    return " ".join(parts)
