"""`spec build` on a hostile folder: it reads only regular files inside it, bounded, and
says what it refused; a superuser shadow server draws a warning.

Each build runs as a real process under a time limit and a memory limit, so a
FIFO that were read would hang only until the limit, and /dev/zero that were
read would fail inside the limit instead of taking the machine's memory.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from monitor.postgres import migrations, scratch, shadow
from tests.support.paths import ROOT

SECRET = "sk_live_5f0c2a9e77d1"
# A build's own needs stay far below this; an unbounded read does not.
MEMORY_LIMIT_BYTES = 2 * 1024**3
TIME_LIMIT_SECONDS = 60


def build(*args: str) -> subprocess.CompletedProcess[str]:
    """`spec build` as a process, bounded in time and memory; a hang fails the test."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))

    return subprocess.run(
        [sys.executable, "-m", "monitor", "spec", "build", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT_SECONDS,
        preexec_fn=limit_memory,
        check=False,
    )


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The problems of a build that must have stopped on its inputs: exit 2, no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    return result.stderr


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A migrations folder with one good file, beside a secret that lies outside it."""
    (tmp_path / "secret.txt").write_text(f"{SECRET} is the payment key\n")
    migrations_dir = tmp_path / "migrations"
    migrations_dir.mkdir()
    (migrations_dir / "1_init.sql").write_text("CREATE TABLE accounts (id bigint PRIMARY KEY);\n")
    return migrations_dir


def sparse(path: Path, size: int) -> Path:
    """A file of `size` bytes that takes no room on disk."""
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


HOSTILE: dict[str, tuple[Callable[[Path], object], str]] = {
    "a symlink to a secret outside": (
        lambda d: (d / "2_secret.sql").symlink_to(d.parent / "secret.txt"),
        "outside the folder",
    ),
    "a relative symlink out of the folder": (
        lambda d: (d / "2_secret.sql").symlink_to(Path("..") / "secret.txt"),
        "outside the folder",
    ),
    "a symlink to /dev/zero": (
        lambda d: (d / "2_secret.sql").symlink_to("/dev/zero"),
        "outside the folder",
    ),
    "a FIFO": (lambda d: os.mkfifo(d / "2_secret.sql"), "not a regular file (a FIFO"),
    "a file over the cap": (
        lambda d: sparse(d / "2_secret.sql", migrations.MAX_FILE_BYTES + 1),
        f"too large: {migrations.MAX_FILE_BYTES + 1} bytes (at most {migrations.MAX_FILE_BYTES})",
    ),
}


@pytest.mark.parametrize("make", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_file_is_refused_by_name_before_any_read(
    folder: Path, pg_server: str, make: tuple[Callable[[Path], object], str]
) -> None:
    create, reason = make
    create(folder)
    stderr = refused(build(str(folder), "--shadow-dsn", pg_server))
    assert f"{folder / '2_secret.sql'}: " in stderr
    assert reason in stderr
    assert SECRET not in stderr


def test_every_refusal_is_listed_at_once(folder: Path, tmp_path: Path) -> None:
    (folder / "2_secret.sql").symlink_to(tmp_path / "secret.txt")
    (folder / "3_zero.sql").symlink_to("/dev/zero")
    os.mkfifo(folder / "4_pipe.sql")
    sparse(folder / "5_huge.sql", migrations.MAX_FILE_BYTES + 1)
    fifo_bootstrap = tmp_path / "bootstrap.sql"
    os.mkfifo(fifo_bootstrap)
    # No --shadow-dsn: the inputs are refused before any server is started.
    stderr = refused(build(str(folder), "--bootstrap", str(fifo_bootstrap)))
    assert "5 problems" in stderr
    for name in ("2_secret.sql", "3_zero.sql", "4_pipe.sql", "5_huge.sql"):
        assert f"{folder / name}: " in stderr
    assert f"{fifo_bootstrap}: " in stderr
    assert SECRET not in stderr


def test_a_folder_over_its_cap_is_refused_before_a_byte_is_read(folder: Path) -> None:
    count = migrations.MAX_FOLDER_BYTES // migrations.MAX_FILE_BYTES + 1
    for number in range(2, 2 + count):
        sparse(folder / f"{number}_big.sql", migrations.MAX_FILE_BYTES)
    stderr = refused(build(str(folder)))
    assert f"{folder}: " in stderr
    assert f"at most {migrations.MAX_FOLDER_BYTES}" in stderr


def test_a_symlink_inside_the_folder_is_read(folder: Path, pg_server: str) -> None:
    shared = folder / "shared"
    shared.mkdir()
    (shared / "ledger.sql").write_text("CREATE TABLE ledger (id bigint);\n")
    (folder / "2_ledger.sql").symlink_to(Path("shared") / "ledger.sql")
    result = build(str(folder), "--shadow-dsn", pg_server)
    assert result.returncode == 0, result.stderr
    assert "ledger:" in result.stdout


def test_supabase_config_that_is_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    project = tmp_path / "supabase"
    (project / "migrations").mkdir(parents=True)
    (project / "migrations" / "20250101000000_init.sql").write_text("CREATE TABLE a (id int);\n")
    os.mkfifo(project / "config.toml")
    stderr = refused(build(str(project / "migrations")))
    assert f"{project / 'config.toml'}: " in stderr
    assert "not a regular file" in stderr


def test_a_flyway_config_linked_out_of_the_folder_is_refused(folder: Path, pg_server: str) -> None:
    (folder / "1_init.sql").rename(folder / "V1__init.sql")
    (folder / "V1__init.sql.conf").symlink_to(folder.parent / "secret.txt")
    stderr = refused(build(str(folder), "--shadow-dsn", pg_server))
    assert f"{folder / 'V1__init.sql.conf'}: " in stderr
    assert "outside the folder" in stderr


# --- the shadow server ---------------------------------------------------------------------

SUPERUSER_WARNING = re.compile(
    r"^schema-monitor: warning: --shadow-dsn connects as superuser .* (\d+) other databases?\b.*$",
    re.MULTILINE,
)


def test_a_superuser_shadow_dsn_on_a_server_with_other_databases_is_warned_about(
    folder: Path, pg_server: str, make_database: Callable[..., str]
) -> None:
    make_database()  # at least one database that a migration could drop
    result = build(str(folder), "--shadow-dsn", pg_server)
    assert result.returncode == 0, result.stderr
    warning = SUPERUSER_WARNING.search(result.stderr)
    assert warning is not None, result.stderr
    assert int(warning.group(1)) >= 1


def test_a_fresh_server_warns_only_once_its_postgres_database_holds_something() -> None:
    # A dedicated shadow server (a CI service container) holds an empty `postgres`;
    # a Supabase database keeps the whole project in it.
    with scratch.scratch_server() as server:
        assert shadow.warning(server.dsn) is None
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA auth")
        assert "holds 1 other database:" in (shadow.warning(server.dsn) or "")


@pytest.fixture
def createdb_role(pg_server: str) -> Iterator[str]:
    """A DSN on the test server as a role that may create databases, and no more."""
    name = f"sm_shadow_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(sql.Identifier(name)))
    try:
        yield psycopg.conninfo.make_conninfo(pg_server, user=name)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def test_a_shadow_role_that_may_only_create_databases_draws_no_warning(
    folder: Path, createdb_role: str, make_database: Callable[..., str]
) -> None:
    make_database()
    result = build(str(folder), "--shadow-dsn", createdb_role)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
