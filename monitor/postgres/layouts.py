"""Migration folder layouts: which files a deploy tool applies, in which order, how, and
where it records them.

Each layout follows its tool's own rules:

- ``supabase`` (Supabase CLI): ``<digits>_<name>.sql``, in byte order of file name; each
  file one transaction; ledger ``supabase_migrations.schema_migrations``.
- ``golang-migrate``: ``<N>_<title>.up.sql`` in numeric order of N (``.down.sql``
  ignored); a file is sent as one multi-statement query, so one implicit transaction;
  ledger ``schema_migrations(version bigint, dirty boolean)`` holding the latest version.
- ``flyway``: ``V<version>__<description>.sql`` in version order (parts split on ``.`` or
  ``_``, compared as numbers: ``V1_1`` < ``V1_10`` < ``V2`` < ``V10``), then the
  repeatable ``R__<description>.sql`` in description order; undo (``U``) scripts
  ignored; on an empty database the latest baseline ``B<version>__<description>.sql``
  runs first and replaces the versions up to its own; a migration is one transaction
  unless it holds a statement that cannot run in one, or its ``.sql.conf`` says
  ``executeInTransaction=false``; ledger ``flyway_schema_history``.
- ``dbmate``: ``<digits>_<name>.sql`` in byte order; only the ``-- migrate:up`` section
  runs, in one transaction unless marked ``transaction:false``; ledger
  ``schema_migrations(version varchar)``.
- ``sqitch``: the changes of ``sqitch.plan`` in plan order (``%`` pragmas, ``@tag``
  lines and ``[dependencies]`` read, a change reworked after a tag deployed from
  ``deploy/<change>@<tag>.sql`` before its latest ``deploy/<change>.sql``), each
  script run by psql as written; ledger: its registry, ``sqitch.changes``.
- ``postgres-migrations`` (npm): ``<id>_<name>.sql`` or ``<id>-<name>.sql`` in id
  order, each in a transaction unless its first line is
  ``-- postgres-migrations disable-transaction``; ledger ``migrations(id, name, hash,
  executed_at)``, which the tool creates first. Told by a ``package.json`` that
  depends on it, or that marker.
- ``plain``: numbered files applied with ``psql -f`` in numeric order (``0002-`` before
  ``00010-``), statement by statement in autocommit; no ledger.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from monitor.documents import files
from monitor.errors import InputError, MonitorError, Problem
from monitor.postgres import sqitch
from monitor.postgres.sqitch import SQITCH_PLAN


class Layout(StrEnum):
    SUPABASE = "supabase"
    GOLANG_MIGRATE = "golang-migrate"
    FLYWAY = "flyway"
    DBMATE = "dbmate"
    SQITCH = "sqitch"
    POSTGRES_MIGRATIONS = "postgres-migrations"
    PLAIN = "plain"


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file as its tool sees it."""

    version: str  # as the tool's ledger stores it: "20250122000000", "1" (golang), "1.1" (flyway)
    name: str  # the provenance stamp: "<version>_<description>", or the file stem
    path: Path
    transaction: bool = True  # whether the tool wraps the file in a transaction
    repeatable: bool = False  # flyway R__: re-run on change, never in the ledger's versions
    description: str = ""


@dataclass(frozen=True, slots=True)
class Ledger:
    """Where a layout's tool records what it applied, and how to make that table."""

    table: str
    create: str  # DDL, for appliers that play the tool (tests, demo)


SUPABASE_LEDGER = Ledger(
    "supabase_migrations.schema_migrations",
    "CREATE SCHEMA IF NOT EXISTS supabase_migrations;"
    " CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations"
    " (version text PRIMARY KEY, statements text[], name text)",
)
GOLANG_MIGRATE_LEDGER = Ledger(
    "public.schema_migrations",
    "CREATE TABLE IF NOT EXISTS public.schema_migrations"
    " (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)",
)
FLYWAY_LEDGER = Ledger(
    "public.flyway_schema_history",
    "CREATE TABLE IF NOT EXISTS public.flyway_schema_history ("
    " installed_rank integer NOT NULL PRIMARY KEY, version varchar(50),"
    " description varchar(200) NOT NULL, type varchar(20) NOT NULL,"
    " script varchar(1000) NOT NULL, checksum integer, installed_by varchar(100) NOT NULL,"
    " installed_on timestamp NOT NULL DEFAULT now(), execution_time integer NOT NULL,"
    " success boolean NOT NULL);"
    " CREATE INDEX IF NOT EXISTS flyway_schema_history_s_idx"
    " ON public.flyway_schema_history (success)",
)
DBMATE_LEDGER = Ledger(
    "public.schema_migrations",
    "CREATE TABLE IF NOT EXISTS public.schema_migrations"
    " (version varchar(128) NOT NULL PRIMARY KEY)",
)
SQITCH_LEDGER = Ledger(
    "sqitch.changes",
    "CREATE SCHEMA IF NOT EXISTS sqitch;"
    " CREATE TABLE IF NOT EXISTS sqitch.projects (project text PRIMARY KEY, uri text UNIQUE,"
    " created_at timestamptz NOT NULL DEFAULT clock_timestamp(), creator_name text NOT NULL,"
    " creator_email text NOT NULL);"
    " CREATE TABLE IF NOT EXISTS sqitch.changes (change_id text PRIMARY KEY,"
    " script_hash text, change text NOT NULL,"
    " project text NOT NULL REFERENCES sqitch.projects (project) ON UPDATE CASCADE,"
    " note text NOT NULL DEFAULT '', committed_at timestamptz NOT NULL"
    " DEFAULT clock_timestamp(), committer_name text NOT NULL, committer_email text NOT NULL,"
    " planned_at timestamptz NOT NULL, planner_name text NOT NULL,"
    " planner_email text NOT NULL, UNIQUE (project, script_hash));"
    " CREATE TABLE IF NOT EXISTS sqitch.tags (tag_id text PRIMARY KEY, tag text NOT NULL,"
    " project text NOT NULL REFERENCES sqitch.projects (project) ON UPDATE CASCADE,"
    " change_id text NOT NULL REFERENCES sqitch.changes (change_id) ON UPDATE CASCADE,"
    " note text NOT NULL DEFAULT '', committed_at timestamptz NOT NULL"
    " DEFAULT clock_timestamp(), committer_name text NOT NULL, committer_email text NOT NULL,"
    " planned_at timestamptz NOT NULL, planner_name text NOT NULL,"
    " planner_email text NOT NULL, UNIQUE (project, tag))",
)
POSTGRES_MIGRATIONS_LEDGER = Ledger(
    "public.migrations",
    "CREATE TABLE IF NOT EXISTS public.migrations (id integer PRIMARY KEY,"
    " name varchar(100) UNIQUE NOT NULL, hash varchar(40) NOT NULL,"
    " executed_at timestamp DEFAULT current_timestamp)",
)
LEDGERS: dict[Layout, Ledger | None] = {
    Layout.SUPABASE: SUPABASE_LEDGER,
    Layout.GOLANG_MIGRATE: GOLANG_MIGRATE_LEDGER,
    Layout.FLYWAY: FLYWAY_LEDGER,
    Layout.DBMATE: DBMATE_LEDGER,
    Layout.SQITCH: SQITCH_LEDGER,
    Layout.POSTGRES_MIGRATIONS: POSTGRES_MIGRATIONS_LEDGER,
    Layout.PLAIN: None,
}


@dataclass(frozen=True, slots=True)
class Plan:
    """A folder read with its layout's rules: the files to apply, in order."""

    layout: Layout
    migrations: tuple[Migration, ...]
    ignored: tuple[str, ...]  # .sql files the tool would skip (down, undo, unmatched names)

    @property
    def ledger(self) -> Ledger | None:
        return LEDGERS[self.layout]

    @property
    def versions(self) -> tuple[str, ...]:
        """What the ledger holds once every migration is applied, in order."""
        own = ("0",) if self.layout is Layout.POSTGRES_MIGRATIONS else ()  # its ledger table's
        # A Sqitch change reworked after a tag is in its registry once per deploy.
        versions = own + tuple(m.version for m in self.migrations if not m.repeatable)
        return tuple(dict.fromkeys(versions))


_SUPABASE_FILE = re.compile(r"^(?P<version>[0-9]+)_(?P<name>.*)\.sql$")
_GOLANG_FILE = re.compile(r"^(?P<version>[0-9]+)_(?P<name>.*)\.(?P<direction>up|down)\.sql$")
_FLYWAY_VERSIONED = re.compile(r"^V(?P<version>[0-9]+(?:[._][0-9]+)*)__(?P<name>.+)\.sql$")
_FLYWAY_REPEATABLE = re.compile(r"^R__(?P<name>.+)\.sql$")
_FLYWAY_BASELINE = re.compile(r"^B(?P<version>[0-9]+(?:[._][0-9]+)*)__(?P<name>.+)\.sql$")
_POSTGRES_MIGRATIONS_FILE = re.compile(r"^(?P<version>[0-9]+)[-_](?P<name>.+)\.sql$")
POSTGRES_MIGRATIONS_NO_TRANSACTION = re.compile(
    r"\A\s*--\s*postgres-migrations\s+disable-transaction\b"
)
_PLAIN_FILE = re.compile(r"^(?P<version>[0-9]+)(?:[-_.]?(?P<name>.*))?\.sql$")
DBMATE_UP = re.compile(r"^--\s*migrate:up\b(?P<options>.*)$", re.MULTILINE)
DBMATE_DOWN = re.compile(r"^--\s*migrate:down\b.*$", re.MULTILINE)


def sql_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise MonitorError(f"migrations directory not found: {directory}")
    if (directory / SQITCH_PLAN).is_file():
        return sqitch.scripts(directory)
    return sorted((p for p in directory.iterdir() if p.suffix == ".sql"), key=_byte_order)


def _byte_order(path: Path) -> bytes:
    return path.name.encode()


def detect(directory: Path, files: Sequence[Path], texts: dict[Path, str]) -> Layout:
    """The layout a folder is written in, from its file names (and dbmate's markers)."""
    names = [p.name for p in files]
    if (directory / SQITCH_PLAN).is_file():
        return Layout.SQITCH
    if any(_GOLANG_FILE.match(n) for n in names):
        return Layout.GOLANG_MIGRATE
    if any(_FLYWAY_VERSIONED.match(n) or _FLYWAY_REPEATABLE.match(n) for n in names):
        return Layout.FLYWAY
    if any(DBMATE_UP.search(texts.get(p, "")) for p in files):
        return Layout.DBMATE
    if _uses_postgres_migrations(directory) or any(
        POSTGRES_MIGRATIONS_NO_TRANSACTION.match(texts.get(p, "")) for p in files
    ):
        return Layout.POSTGRES_MIGRATIONS
    numbered = [m for n in names if (m := _SUPABASE_FILE.match(n))]
    folder = directory.resolve()
    in_supabase = "supabase" in (folder.name, folder.parent.name) or (
        (folder.parent / "config.toml").is_file()
    )
    if numbered and (in_supabase or all(len(m["version"]) == 14 for m in numbered)):
        return Layout.SUPABASE
    return Layout.PLAIN


def plan(directory: Path, texts: dict[Path, str], layout: Layout | None = None) -> Plan:
    """The migrations of `directory` in the order its tool applies them.

    `texts` holds each file's text (dbmate's markers are inside the files).
    Raises InputError listing every problem (repeated versions, unreadable names).
    """
    files = sql_files(directory)
    chosen = layout or detect(directory, files, texts)
    reader = {
        Layout.SUPABASE: _supabase,
        Layout.GOLANG_MIGRATE: _golang_migrate,
        Layout.FLYWAY: _flyway,
        Layout.DBMATE: _dbmate,
        Layout.SQITCH: lambda files, texts, problems: _sqitch(directory, problems),
        Layout.POSTGRES_MIGRATIONS: _postgres_migrations,
        Layout.PLAIN: _plain,
    }[chosen]
    problems: list[Problem] = []
    found, ignored = reader(files, texts, problems)
    if chosen not in (Layout.PLAIN, Layout.SQITCH):  # psql, and Sqitch's reworked changes
        problems.extend(_repeated_versions(found))
    if problems:
        raise InputError(problems)
    return Plan(chosen, tuple(found), tuple(ignored))


Found = tuple[list[Migration], list[str]]


def _supabase(files: Sequence[Path], texts: dict[Path, str], problems: list[Problem]) -> Found:
    found, ignored = [], []
    for path in files:
        match = _SUPABASE_FILE.match(path.name)
        if match is None:
            ignored.append(path.name)  # the CLI skips it with a warning
            continue
        found.append(Migration(match["version"], path.stem, path, description=match["name"]))
    return found, ignored


def _golang_migrate(
    files: Sequence[Path], texts: dict[Path, str], problems: list[Problem]
) -> Found:
    found, ignored = [], []
    for path in files:
        match = _GOLANG_FILE.match(path.name)
        if match is None or match["direction"] == "down":
            ignored.append(path.name)
            continue
        version = str(int(match["version"]))  # the ledger's bigint
        found.append(
            Migration(version, f"{version}_{match['name']}", path, description=match["name"])
        )
    found.sort(key=lambda m: int(m.version))
    return found, ignored


def flyway_version_key(version: str) -> tuple[int, ...]:
    """Flyway compares versions part by part as numbers; trailing zeros do not count."""
    parts = [int(part) for part in re.split(r"[._]", version)]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _flyway(files: Sequence[Path], texts: dict[Path, str], problems: list[Problem]) -> Found:
    versioned: list[Migration] = []
    repeatable: list[Migration] = []
    baselines: list[Migration] = []
    ignored: list[str] = []
    for path in files:
        transaction = _flyway_in_transaction(path, problems)
        if match := _FLYWAY_VERSIONED.match(path.name) or _FLYWAY_BASELINE.match(path.name):
            version = match["version"].replace("_", ".")
            description = match["name"].replace("_", " ")
            found = Migration(
                version, f"{version}_{match['name']}", path, transaction, False, description
            )
            (baselines if path.name.startswith("B") else versioned).append(found)
        elif match := _FLYWAY_REPEATABLE.match(path.name):
            description = match["name"].replace("_", " ")
            repeatable.append(Migration("", path.stem, path, transaction, True, description))
        else:
            ignored.append(path.name)
    versioned.sort(key=lambda m: flyway_version_key(m.version))
    repeatable.sort(key=lambda m: m.description)
    if baselines:
        # On an empty database Flyway runs the latest baseline instead of the versions
        # up to it, then the versions above it.
        baseline = max(baselines, key=lambda m: flyway_version_key(m.version))
        floor = flyway_version_key(baseline.version)
        replaced = [m for m in versioned if flyway_version_key(m.version) <= floor]
        ignored += [m.path.name for m in replaced + baselines if m is not baseline]
        versioned = [baseline] + [m for m in versioned if m not in replaced]
    return versioned + repeatable, ignored


def _flyway_in_transaction(path: Path, problems: list[Problem]) -> bool:
    """A script's ``<file>.sql.conf`` may say ``executeInTransaction=false``."""
    conf = path.with_name(path.name + ".conf")
    if not os.path.lexists(conf):
        return True
    try:
        text = files.read_bytes(conf, "flyway config", 64 * 1024, inside=path.parent).decode()
    except InputError as refused:
        problems.extend(refused.problems)
        return True
    except UnicodeDecodeError as exc:
        problems.append(Problem(str(conf), None, f"not UTF-8 text: {exc.reason}"))
        return True
    for number, line in enumerate(text.splitlines(), start=1):
        key, _, value = line.partition("=")
        if key.strip() == "executeInTransaction":
            if value.strip().lower() not in ("true", "false"):
                problems.append(Problem(conf.name, number, "executeInTransaction: true or false"))
                return True
            return value.strip().lower() == "true"
    return True


def _dbmate(files: Sequence[Path], texts: dict[Path, str], problems: list[Problem]) -> Found:
    found, ignored = [], []
    for path in files:
        match = _SUPABASE_FILE.match(path.name)
        marker = DBMATE_UP.search(texts.get(path, ""))
        if match is None:
            ignored.append(path.name)
            continue
        if marker is None:
            problems.append(Problem(path.name, None, "dbmate migration without '-- migrate:up'"))
            continue
        transaction = "transaction:false" not in marker["options"].replace(" ", "")
        found.append(
            Migration(match["version"], path.stem, path, transaction, description=match["name"])
        )
    return found, ignored


def dbmate_up_section(text: str) -> str:
    """The ``-- migrate:up`` section; every other line blanked so line numbers still hold."""
    up = DBMATE_UP.search(text)
    if up is None:
        return text
    down = DBMATE_DOWN.search(text, up.end())
    end = down.start() if down else len(text)
    return _blank(text[: up.end()]) + text[up.end() : end] + _blank(text[end:])


def _blank(text: str) -> str:
    return "\n" * text.count("\n")


def _sqitch(directory: Path, problems: list[Problem]) -> Found:
    """The plan's changes; each script as psql runs it (Sqitch adds no transaction)."""
    found = [
        Migration(c.name, c.stamp, c.script, transaction=False, description=c.name)
        for c in sqitch.changes(directory, problems)
    ]
    listed = {m.path for m in found}
    return found, [p.name for p in sqitch.scripts(directory) if p not in listed]


def _uses_postgres_migrations(directory: Path) -> bool:
    """A ``package.json`` beside the folder (or up to two levels above) depending on it."""
    folder = directory.resolve()
    for parent in (folder, *list(folder.parents)[:2]):
        path = parent / "package.json"
        if not os.path.lexists(path):
            continue
        try:
            package = json.loads(files.read_bytes(path, "package.json", 1024 * 1024, inside=parent))
        except (InputError, ValueError):
            continue  # only a hint of the layout: unreadable is as good as absent
        if not isinstance(package, dict):
            continue
        for key in ("dependencies", "devDependencies"):
            if isinstance(package.get(key), dict) and "postgres-migrations" in package[key]:
                return True
    return False


def _postgres_migrations(
    files: Sequence[Path], texts: dict[Path, str], problems: list[Problem]
) -> Found:
    found, ignored = [], []
    for path in files:
        match = _POSTGRES_MIGRATIONS_FILE.match(path.name)
        if match is None:
            ignored.append(path.name)
            continue
        transaction = not POSTGRES_MIGRATIONS_NO_TRANSACTION.match(texts.get(path, ""))
        version = str(int(match["version"]))  # the ledger's integer id
        found.append(Migration(version, path.stem, path, transaction, description=match["name"]))
    found.sort(key=lambda m: int(m.version))
    return found, ignored


def _plain(files: Sequence[Path], texts: dict[Path, str], problems: list[Problem]) -> Found:
    found = []
    for path in files:
        match = _PLAIN_FILE.match(path.name)
        if match is None:
            problems.append(
                Problem(
                    path.name,
                    None,
                    "file name does not start with a number, so its place in the order is"
                    " unknown: no deploy tool's layout reads it",
                )
            )
            continue
        found.append(
            Migration(match["version"], path.stem, path, False, description=match["name"] or "")
        )
    found.sort(key=lambda m: (int(m.version), m.path.name.encode()))
    return found, []


def _repeated_versions(found: Sequence[Migration]) -> list[Problem]:
    problems = []
    first_of: dict[str, str] = {}
    for migration in found:
        if migration.repeatable:
            continue
        earlier = first_of.setdefault(migration.version, migration.path.name)
        if earlier != migration.path.name:
            problems.append(
                Problem(migration.path.name, None, f"version {migration.version} repeats {earlier}")
            )
    return problems
