"""A SQL_ASCII database: the server stores any bytes as names and never checks them. The
monitor reads UTF-8 names as text, and anything else ends the read with one clear message
(exit 2), never a hang on the connection nor a traceback."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from monitor.errors import CatalogError
from monitor.postgres import catalog, db
from tests.support.postgres import with_database
from tests.support.processes import run_monitor

# A hang is what this file guards against: each command gets far less than it could take.
TIMEOUT = 60


@pytest.fixture
def sql_ascii(pg_server: str) -> Iterator[str]:
    name = f"sm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(
            f"CREATE DATABASE \"{name}\" ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'"
            " TEMPLATE template0".encode()
        )
    try:
        yield with_database(pg_server, name)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def run(dsn: str, *statements: bytes) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def no_traceback(done: object) -> None:
    assert "Traceback" not in getattr(done, "stderr", ""), done


def test_utf8_names_in_a_sql_ascii_database_are_read_as_text(
    sql_ascii: str, tmp_path: Path
) -> None:
    run(
        sql_ascii,
        'CREATE TABLE "café" (id int PRIMARY KEY, "naïve" text)'.encode(),
        'CREATE INDEX "índice" ON "café" ("naïve")'.encode(),
    )
    spec = tmp_path / "spec.yaml"
    written = run_monitor("spec", "snapshot", "--dsn", sql_ascii, "-o", str(spec), timeout=TIMEOUT)
    assert written.returncode == 0, written.stderr
    assert "café" in spec.read_text() and "índice" in spec.read_text()
    checked = run_monitor("check", "--spec", str(spec), "--dsn", sql_ascii, timeout=TIMEOUT)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_name_that_is_not_utf8_fails_with_one_clear_message(sql_ascii: str) -> None:
    run(sql_ascii, b'CREATE TABLE "caf\xe9" (id int PRIMARY KEY)')
    done = run_monitor("spec", "snapshot", "--dsn", sql_ascii, timeout=TIMEOUT)
    assert done.returncode == 2
    no_traceback(done)
    (line,) = done.stderr.strip().splitlines()
    assert "not valid in UTF-8" in line and "SQL_ASCII" in line and "client_encoding" in line


def test_a_row_that_fails_to_convert_ends_the_read_and_frees_the_connection(
    sql_ascii: str, tmp_path: Path
) -> None:
    """A trigger's arguments are bytea, which the server sends without a check: one that is
    not UTF-8 fails in the reader's conversion, halfway through a streamed statement."""
    run(
        sql_ascii,
        b"CREATE TABLE t (id int)",
        b"CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$",
        b"CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f('\xe9')",
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\nschemas:\n  public:\n    tables: {}\n")
    done = run_monitor("check", "--spec", str(spec), "--dsn", sql_ascii, timeout=TIMEOUT)
    assert done.returncode == 2, done.stdout + done.stderr
    no_traceback(done)
    assert "argument of trigger function f is not valid UTF-8" in done.stderr
    # In one session: the error comes out, and the connection answers the next statement.
    outcome: list[object] = []

    def read() -> None:
        with db.connect(sql_ascii) as conn:
            try:
                catalog.snapshot(conn, ["public"])
            except CatalogError as exc:
                outcome.append(exc)
            outcome.append(conn.execute("SELECT 1").fetchone())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(TIMEOUT)
    assert not reader.is_alive(), "the snapshot hung on the connection"
    assert [type(o) for o in outcome] == [CatalogError, tuple] and outcome[1] == (1,)
