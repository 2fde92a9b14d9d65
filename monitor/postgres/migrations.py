"""Finding and applying migration files: shared by `spec build`, `demo` and the tests.

A file is applied the way its deploy tool applies it (see :mod:`layouts`):
inside one transaction of its own where the tool makes one, else statement by
statement in autocommit as ``psql -f`` does. Statements that cannot run in a
transaction block (CREATE INDEX CONCURRENTLY, VACUUM, a COMMIT inside a DO
block, an enum value added and then used ...) make the file run as psql runs
it: the tools either run such files outside a transaction or leave the user
to, and a replay must never refuse what the real deploy applies.

Statements are sent one at a time, so that the server's error can be traced
to its line: for a syntax error the server's cursor position, for an error
inside a DO block or a PL/pgSQL function defined in the file the line that
the server's context names, counted from where the body starts.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import pglast
import psycopg
from pglast import ast
from pglast.parser import ParseError, Token, scan

from monitor.documents import files
from monitor.errors import InputError, MigrationFailed, MonitorError, Problem
from monitor.postgres import layouts, platform
from monitor.postgres.layouts import Layout, Migration

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

# Far above any real migration (a schema dump of thousands of tables is a few
# MB), far below what would hurt the machine; the folder's cap bounds the memory.
MAX_FILE_BYTES: Final = 16 * 1024 * 1024
MAX_FOLDER_BYTES: Final = 128 * 1024 * 1024
_WHAT = "SQL"


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of a file as it is sent to the server, and the line it starts on."""

    text: str
    line: int


def plan(directory: Path, layout: Layout | None = None) -> layouts.Plan:
    """The folder read with its layout's rules (detected unless given)."""
    texts, problems = read_all(layouts.sql_files(directory), inside=directory)
    if problems:
        raise InputError(problems)
    return layouts.plan(directory, texts, layout)


def read_all(
    paths: Sequence[Path], *, inside: Path | None = None
) -> tuple[dict[Path, str], list[Problem]]:
    """Every file's text; the refused or unreadable ones as problems, all together.

    Files of the folder ``inside`` may lead only to files inside it (see
    :mod:`monitor.documents.files`), and hold at most MAX_FOLDER_BYTES together. Every
    file is checked before any is read, so a refusal costs no read at all.
    """
    problems: list[Problem] = []
    total = 0
    for path in paths:
        try:
            total += files.check(path, _WHAT, MAX_FILE_BYTES, inside=inside).info.st_size
        except InputError as refused:
            problems.extend(refused.problems)
    if inside is not None and total > MAX_FOLDER_BYTES:
        problems.append(_folder_too_large(inside, total))
    if problems:
        return {}, problems
    texts: dict[Path, str] = {}
    total = 0
    for path in paths:
        try:
            data = files.read_bytes(path, _WHAT, MAX_FILE_BYTES, inside=inside)
            texts[path] = _decode(data)
        except InputError as refused:
            problems.extend(refused.problems)
            continue
        except UnicodeDecodeError as exc:
            problems.append(Problem(str(path), None, f"not UTF-8 text: {exc.reason}"))
            continue
        total += len(data)
        if inside is not None and total > MAX_FOLDER_BYTES:  # grown since the check
            return {}, [_folder_too_large(inside, total)]
    return texts, problems


def _folder_too_large(folder: Path, total: int) -> Problem:
    return Problem(
        str(folder),
        None,
        f"the migration files hold {total} bytes together (at most {MAX_FOLDER_BYTES})",
    )


def script(layout: Layout, text: str) -> str:
    """The SQL its tool runs from a migration file (dbmate: the up section only)."""
    return layouts.dbmate_up_section(text) if layout is Layout.DBMATE else text


def read(path: Path, *, inside: Path | None = None) -> str:
    """One migration file's text, read as :func:`read_all` reads it."""
    texts, problems = read_all([path], inside=inside)
    if problems:
        raise InputError(problems)
    return texts[path]


def _decode(data: bytes) -> str:
    # A byte-order mark, which the server would reject, is dropped.
    return data.decode("utf-8-sig")


def supabase_bootstrap() -> str:
    """SQL that gives plain PostgreSQL what Supabase migrations assume (roles, auth.*)."""
    return platform.bootstrap()


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


# SQLSTATEs of statements that refuse a transaction block: the file is run again
# as psql runs it. 25001: CONCURRENTLY, VACUUM ...; 2D000: COMMIT in a procedure
# or DO block; 55P04: an enum value added and used in one transaction.
_OUTSIDE_A_TRANSACTION = frozenset({"25001", "2D000", "55P04"})
_TRANSACTION_CONTROL = frozenset({"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT"})


class Rewrite(Protocol):
    """What the server cannot run as written (an extension it lacks) is replaced."""

    def rewrite(self, conn: psycopg.Connection[Any], statement: Statement) -> str | None:
        """The statement's replacement, or None to send it as written."""

    def executed(self, conn: psycopg.Connection[Any]) -> None:
        """Called once a replacement has run, in the same session."""


def apply_sql(
    conn: psycopg.Connection[Any],
    sql: str,
    file: str,
    *,
    transaction: bool = True,
    rewrite: Rewrite | None = None,
) -> None:
    """Run one file's SQL, in one transaction when `transaction`; a failure names file and line.

    ``conn`` must be in autocommit mode. The transaction is opened here with a
    plain BEGIN, so a file's own BEGIN only draws a warning and its own COMMIT
    ends the transaction early, as with the deploy tools. A file holding a
    statement that cannot run in a transaction block runs statement by
    statement in autocommit, as psql runs it.
    """
    problems = meta_commands(sql, file)
    if problems:
        first = problems[0]
        raise MigrationFailed(file, first.line, first.message)
    statements = split(sql)
    if transaction and not needs_autocommit(statements):
        retry = _in_one_transaction(conn, statements, file, rewrite)
        if not retry:
            return
    _statement_by_statement(conn, statements, file, rewrite)


def _in_one_transaction(
    conn: psycopg.Connection[Any],
    statements: Sequence[Statement],
    file: str,
    rewrite: Rewrite | None,
) -> bool:
    """Run the file in one transaction; True when it must run as psql would instead."""
    conn.execute(b"BEGIN")
    controlled = False
    for index, statement in enumerate(statements):
        controlled = controlled or _first_keyword(statement.text) in _TRANSACTION_CONTROL
        try:
            _execute(conn, statement, rewrite, file)
        except psycopg.Error as exc:
            with contextlib.suppress(psycopg.Error):
                conn.execute(b"ROLLBACK")
            if exc.sqlstate in _OUTSIDE_A_TRANSACTION and not controlled:
                return True  # nothing of the file was committed: start it again
            line, message = failure_location(statements, index, exc.diag)
            raise MigrationFailed(file, line, message) from None
    try:
        conn.execute(b"COMMIT")
    except psycopg.Error as exc:  # a deferred constraint, checked at commit
        raise MigrationFailed(file, None, server_message(exc.diag)) from None
    return False


def _statement_by_statement(
    conn: psycopg.Connection[Any],
    statements: Sequence[Statement],
    file: str,
    rewrite: Rewrite | None,
) -> None:
    for index, statement in enumerate(statements):
        try:
            _execute(conn, statement, rewrite, file)
        except psycopg.Error as exc:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                with contextlib.suppress(psycopg.Error):
                    conn.execute(b"ROLLBACK")  # the file's own transaction, as psql leaves it
            line, message = failure_location(statements, index, exc.diag)
            raise MigrationFailed(file, line, message) from None
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        # A BEGIN without COMMIT: psql would end the session, rolling it back.
        conn.execute(b"ROLLBACK")


def _execute(
    conn: psycopg.Connection[Any], statement: Statement, rewrite: Rewrite | None, file: str
) -> None:
    try:
        replacement = rewrite.rewrite(conn, statement) if rewrite is not None else None
    except MonitorError as refused:  # e.g. an extension with no stand-in
        with contextlib.suppress(psycopg.Error):
            conn.execute(b"ROLLBACK")
        raise MigrationFailed(file, statement.line, str(refused)) from None
    # bytes, no parameters: sent as a simple query, exactly as written.
    conn.execute((statement.text if replacement is None else replacement).encode())
    if replacement is not None and rewrite is not None:
        rewrite.executed(conn)


def _first_keyword(text: str) -> str:
    tokens = _tokens(text)
    return tokens[0].name if tokens else ""


# Words without which no statement refuses a transaction block.
_MAYBE_OUTSIDE = re.compile(
    r"\b(CONCURRENTLY|VACUUM|SYSTEM|DATABASE|TABLESPACE|SUBSCRIPTION|VALUE|COMMIT|ROLLBACK)\b",
    re.IGNORECASE,
)


def needs_autocommit(statements: Sequence[Statement]) -> bool:
    """Whether a statement of the file cannot run inside a transaction block."""
    for index, statement in enumerate(statements):
        if not _MAYBE_OUTSIDE.search(statement.text):
            continue  # the common case, without a parse
        try:
            parsed = pglast.parse_sql(statement.text)
        except ParseError:
            continue  # the server will say what is wrong, wherever it runs
        for raw in parsed:
            if _outside_a_transaction(raw.stmt, last=index == len(statements) - 1):
                return True
    return False


def _outside_a_transaction(node: Any, *, last: bool) -> bool:
    match node:
        case ast.IndexStmt(concurrent=True) | ast.DropStmt(concurrent=True):
            return True
        case ast.ReindexStmt(params=params):
            return any(getattr(p, "defname", "") == "concurrently" for p in params or ())
        case (
            ast.VacuumStmt()
            | ast.AlterSystemStmt()
            | ast.CreatedbStmt()
            | ast.DropdbStmt()
            | ast.CreateTableSpaceStmt()
            | ast.DropTableSpaceStmt()
            | ast.CreateSubscriptionStmt()
            | ast.DropSubscriptionStmt()
        ):
            return True
        case ast.AlterEnumStmt(newVal=str()):
            return not last  # a later statement may use the new value
        case ast.DoStmt(args=args):
            body = next((a.arg.sval for a in args or () if a.defname == "as"), "")
            return bool(re.search(r"\b(COMMIT|ROLLBACK)\b", body, re.IGNORECASE))
    return False


def record(
    conn: psycopg.Connection[Any], migration: Migration, layout: Layout = Layout.SUPABASE
) -> None:
    """Note a migration as applied in its tool's ledger, as the tool does."""
    ledger = layouts.LEDGERS[layout]
    if ledger is None:
        return
    conn.execute(ledger.create.encode())
    if layout is Layout.SUPABASE:
        conn.execute(
            "INSERT INTO supabase_migrations.schema_migrations (version, name) VALUES (%s, %s)",
            (migration.version, migration.description),
        )
    elif layout is Layout.GOLANG_MIGRATE:
        # The tool keeps one row: the version the database is at.
        conn.execute("TRUNCATE public.schema_migrations")
        conn.execute(
            "INSERT INTO public.schema_migrations (version, dirty) VALUES (%s, false)",
            (int(migration.version),),
        )
    elif layout is Layout.DBMATE:
        conn.execute(
            "INSERT INTO public.schema_migrations (version) VALUES (%s)", (migration.version,)
        )
    elif layout is Layout.SQITCH:
        conn.execute(
            "INSERT INTO sqitch.projects (project, creator_name, creator_email)"
            " VALUES ('project', 'deployer', 'deployer@localhost') ON CONFLICT DO NOTHING"
        )
        conn.execute(_SQITCH_RECORD, {"change": migration.version, "stamp": migration.name})
    elif layout is Layout.POSTGRES_MIGRATIONS:
        conn.execute(
            "INSERT INTO public.migrations (id, name, hash) VALUES (%s, %s, md5(%s))",
            (int(migration.version), migration.path.name, migration.path.name),
        )
    else:
        conn.execute(
            "INSERT INTO public.flyway_schema_history (installed_rank, version, description,"
            " type, script, installed_by, execution_time, success)"
            " SELECT coalesce(max(installed_rank), 0) + 1, %s, %s, 'SQL', %s, current_user, 0,"
            " true FROM public.flyway_schema_history",
            (migration.version or None, migration.description, migration.path.name),
        )


_SQITCH_RECORD = (
    "INSERT INTO sqitch.changes (change_id, change, project, committer_name, committer_email,"
    " planned_at, planner_name, planner_email) VALUES (md5(%(stamp)s), %(change)s, 'project',"
    " 'deployer', 'deployer@localhost', now(), 'deployer', 'deployer@localhost')"
)


def deploy(dsn: str, directory: Path) -> list[Migration]:
    """Apply the bootstrap and the migrations, recording each one, as a deploy would."""
    found = plan(directory)
    with psycopg.connect(dsn, autocommit=True) as conn:
        apply_sql(conn, supabase_bootstrap(), "supabase_bootstrap.sql")
    for migration in found.migrations:
        # A session per file, as psql and the deploy tools open.
        with psycopg.connect(dsn, autocommit=True) as conn:
            text = script(found.layout, read(migration.path, inside=directory))
            apply_sql(conn, text, migration.path.name, transaction=migration.transaction)
            record(conn, migration, found.layout)
    return list(found.migrations)


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
