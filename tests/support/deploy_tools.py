"""Apply a migration folder with psql the way its deploy tool applies it, ledger rows included.

Written from each tool's documented behaviour, apart from the code under test:

- Supabase CLI: files in byte order, each in one transaction, except a statement
  that cannot run in one (CONCURRENTLY, VACUUM ...), which it runs on its own;
  a row in ``supabase_migrations.schema_migrations``.
- golang-migrate: ``N_x.up.sql`` in numeric order, each sent as one query (one
  implicit transaction); ``schema_migrations`` holds the latest version.
- Flyway: versioned scripts in version order then repeatables by description, each
  in a transaction unless it holds a non-transactional statement; a row per
  script in ``flyway_schema_history``.
- dbmate: the ``-- migrate:up`` section, in a transaction unless marked
  ``transaction:false``; a row in ``schema_migrations``.
- Flyway with baselines: on an empty database the latest ``B<version>__x.sql``, then
  the versioned scripts above its version.
- Sqitch: ``sqitch.plan``'s changes in order, ``deploy/<change>.sql`` by ``psql -f``
  (a change reworked after a tag: ``deploy/<change>@<tag>.sql`` the first time); a
  row per change in its registry, ``sqitch.changes``.
- postgres-migrations: its ``migrations`` table first (row 0), then ``<id>_x.sql`` in
  id order, each in a transaction unless its first line disables it.
- plain: ``psql -f`` per file in numeric order, autocommit.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.support.paths import BOOTSTRAP
from tests.support.postgres import psql_binary

_NON_TRANSACTIONAL = re.compile(r"\b(CONCURRENTLY|VACUUM)\b", re.IGNORECASE)


def psql(dsn: str, *args: str) -> None:
    done = subprocess.run(
        [psql_binary(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"psql {' '.join(args)[:200]}: {done.stderr}"


def deploy(dsn: str, folder: Path, layout: str, scratch: Path) -> None:
    """Apply `folder` to the database `dsn` as `layout`'s tool would."""
    {
        "supabase": _supabase,
        "golang-migrate": _golang_migrate,
        "flyway": _flyway,
        "dbmate": _dbmate,
        "sqitch": _sqitch,
        "postgres-migrations": _postgres_migrations,
        "plain": _plain,
    }[layout](dsn, folder, scratch)


def _supabase(dsn: str, folder: Path, scratch: Path) -> None:
    psql(dsn, "-1", "-f", str(BOOTSTRAP))
    for path in sorted(folder.glob("*.sql"), key=lambda p: p.name.encode()):
        if _NON_TRANSACTIONAL.search(path.read_text()):
            psql(dsn, "-f", str(path))
        else:
            psql(dsn, "-1", "-f", str(path))
        version, _, name = path.stem.partition("_")
        psql(
            dsn,
            "-c",
            "INSERT INTO supabase_migrations.schema_migrations (version, name)"
            f" VALUES ('{version}', '{name}')",
        )


def _golang_migrate(dsn: str, folder: Path, scratch: Path) -> None:
    psql(
        dsn,
        "-c",
        "CREATE TABLE IF NOT EXISTS public.schema_migrations"
        " (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)",
    )
    ups = sorted(folder.glob("*.up.sql"), key=lambda p: int(p.name.split("_", 1)[0]))
    for path in ups:
        version = int(path.name.split("_", 1)[0])
        psql(dsn, "-c", path.read_text())  # the whole file as one query
        psql(
            dsn,
            "-c",
            "BEGIN; TRUNCATE public.schema_migrations;"
            f" INSERT INTO public.schema_migrations VALUES ({version}, false); COMMIT;",
        )


def _flyway_key(path: Path) -> tuple[int, ...]:
    parts = [int(p) for p in re.split(r"[._]", path.name[1:].split("__", 1)[0])]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _flyway(dsn: str, folder: Path, scratch: Path) -> None:
    psql(
        dsn,
        "-c",
        "CREATE TABLE public.flyway_schema_history (installed_rank integer NOT NULL"
        " PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL,"
        " type varchar(20) NOT NULL, script varchar(1000) NOT NULL, checksum integer,"
        " installed_by varchar(100) NOT NULL, installed_on timestamp NOT NULL DEFAULT now(),"
        " execution_time integer NOT NULL, success boolean NOT NULL);"
        " CREATE INDEX flyway_schema_history_s_idx ON public.flyway_schema_history (success)",
    )
    versioned = sorted(folder.glob("V*__*.sql"), key=_flyway_key)
    baselines = sorted(folder.glob("B*__*.sql"), key=_flyway_key)
    if baselines:
        versioned = baselines[-1:] + [
            v for v in versioned if _flyway_key(v) > _flyway_key(baselines[-1])
        ]
    repeatable = sorted(folder.glob("R__*.sql"), key=lambda p: p.name[3:])
    for rank, path in enumerate(versioned + repeatable, start=1):
        if _NON_TRANSACTIONAL.search(path.read_text()):
            psql(dsn, "-f", str(path))
        else:
            psql(dsn, "-1", "-f", str(path))
        head, _, description = path.stem.partition("__")
        version = "NULL" if head == "R" else f"'{head[1:].replace('_', '.')}'"
        psql(
            dsn,
            "-c",
            "INSERT INTO public.flyway_schema_history (installed_rank, version, description,"
            f" type, script, installed_by, execution_time, success) VALUES ({rank}, {version},"
            f" '{description.replace('_', ' ')}', 'SQL', '{path.name}', current_user, 1, true)",
        )


def _dbmate(dsn: str, folder: Path, scratch: Path) -> None:
    psql(
        dsn,
        "-c",
        "CREATE TABLE IF NOT EXISTS public.schema_migrations (version varchar(128) PRIMARY KEY)",
    )
    for path in sorted(folder.glob("*.sql"), key=lambda p: p.name.encode()):
        text = path.read_text()
        up = re.search(r"^-- migrate:up(.*)$", text, re.MULTILINE)
        assert up is not None, path
        down = re.search(r"^-- migrate:down.*$", text, re.MULTILINE)
        section = scratch / path.name
        section.write_text(text[up.end() : down.start() if down else len(text)])
        if "transaction:false" in up.group(1):
            psql(dsn, "-f", str(section))
        else:
            psql(dsn, "-1", "-f", str(section))
        version = path.name.split("_", 1)[0]
        psql(dsn, "-c", f"INSERT INTO public.schema_migrations VALUES ('{version}')")


def _number(path: Path) -> int:
    return int(re.sub(r"\D.*", "", path.name))


def _plain(dsn: str, folder: Path, scratch: Path) -> None:
    for path in sorted(folder.glob("*.sql"), key=_number):
        psql(dsn, "-f", str(path))


def _sqitch(dsn: str, folder: Path, scratch: Path) -> None:
    psql(
        dsn,
        "-c",
        "CREATE SCHEMA sqitch; CREATE TABLE sqitch.changes (change_id text PRIMARY KEY,"
        " script_hash text, change text NOT NULL, project text NOT NULL,"
        " note text NOT NULL DEFAULT '', committed_at timestamptz NOT NULL"
        " DEFAULT clock_timestamp(), committer_name text NOT NULL,"
        " committer_email text NOT NULL, planned_at timestamptz NOT NULL,"
        " planner_name text NOT NULL, planner_email text NOT NULL)",
    )
    lines = [
        line.split()[0]
        for line in (folder / "sqitch.plan").read_text().splitlines()
        if line.strip() and not line.startswith(("%", "#"))
    ]
    changes = [word for word in lines if not word.startswith("@")]
    for index, change in enumerate(changes):
        script = f"{change}.sql"
        if change in changes[index + 1 :]:  # reworked later: the tag that follows it
            tag = next(w for w in lines[lines.index(change, index) :] if w.startswith("@"))
            script = f"{change}{tag}.sql"
        psql(dsn, "-f", str(folder / "deploy" / script))
        psql(
            dsn,
            "-c",
            "INSERT INTO sqitch.changes (change_id, change, project, committer_name,"
            " committer_email, planned_at, planner_name, planner_email)"
            f" VALUES (md5('{script}'), '{change}', 'p', 'ci', 'ci@x', now(), 'ci', 'ci@x')",
        )


def _postgres_migrations(dsn: str, folder: Path, scratch: Path) -> None:
    psql(
        dsn,
        "-c",
        "CREATE TABLE migrations (id integer PRIMARY KEY, name varchar(100) UNIQUE NOT NULL,"
        " hash varchar(40) NOT NULL, executed_at timestamp DEFAULT current_timestamp);"
        " INSERT INTO migrations (id, name, hash) VALUES (0, 'create-migrations-table', 'x')",
    )
    for path in sorted(folder.glob("*.sql"), key=_number):
        text = path.read_text()
        if text.startswith("-- postgres-migrations disable-transaction"):
            psql(dsn, "-f", str(path))
        else:
            psql(dsn, "-1", "-f", str(path))
        number = _number(path)
        psql(
            dsn,
            "-c",
            f"INSERT INTO migrations (id, name, hash) VALUES ({number}, '{path.stem}', 'x')",
        )
