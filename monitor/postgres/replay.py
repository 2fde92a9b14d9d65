"""`spec build`: the expected state, from replaying the migrations into a scratch database.

Like Supabase's shadow database, the migrations run on a real server, so DO
blocks, conditional DDL and functions behave exactly as they will in
production. The scratch database lives on the ``--shadow-dsn`` server or on
an embedded PostgreSQL, and is dropped afterwards whatever happens: error,
Ctrl-C or SIGTERM.

The catalog is read after the bootstrap and after every migration file; the
pure :func:`provenance` turns that sequence of states into the spec: who
created or last changed each object, what was dropped for good, and which
objects belong to the bootstrap (left out, unless a migration touched them).
"""

from __future__ import annotations

import secrets
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from monitor.errors import ConnectionFailed, InputError, MonitorError, Problem
from monitor.postgres import catalog, db, migrations
from monitor.postgres.embedded import embedded_server
from monitor.schema import model

SCRATCH_PREFIX = "schema_monitor_scratch_"
BOOTSTRAP_NAME = "supabase_bootstrap.sql"

Progress = Callable[[int, int, str], None]
Value = TypeVar("Value")


@dataclass(frozen=True, slots=True)
class Source:
    """One SQL file to apply: its name (for error messages) and its text."""

    name: str
    text: str


@dataclass(frozen=True, slots=True)
class Step:
    """The catalog as one migration left it."""

    migration: str  # the file name without ".sql"
    state: model.State


def build(
    migrations_dir: Path,
    *,
    shadow_dsn: str | None = None,
    bootstrap_files: Sequence[Path] = (),
    supabase_bootstrap: bool = True,
    schemas: Sequence[str] = ("public",),
    progress: Progress | None = None,
) -> model.State:
    """Replay the migrations into a scratch database and return the spec they produce.

    Raises InputError (unreadable files, psql meta-commands, duplicate
    versions; all of them at once) before any database is touched, and
    MigrationFailed (file, line, server message) when a file does not apply.
    """
    found = migrations.discover(migrations_dir)
    if not found:
        raise MonitorError(f"no *.sql migration files in {migrations_dir}")
    sources = _read(
        [*((str(p), p) for p in bootstrap_files), *((m.path.name, m.path) for m in found)]
    )
    builtin = (
        [Source(BOOTSTRAP_NAME, migrations.supabase_bootstrap())] if supabase_bootstrap else []
    )
    bootstraps = builtin + sources[: len(bootstrap_files)]
    files = sources[len(bootstrap_files) :]
    _check_inputs(found, bootstraps + files)
    ledger = model.Ledger(applied=tuple(m.version for m in found))
    asked = tuple(dict.fromkeys(schemas))
    names = [m.name for m in found]
    with _sigterm_unwinds(), _scratch_database(shadow_dsn) as dsn:
        baseline, states = _replay(dsn, bootstraps, files, asked, progress)
    steps = [Step(name, state) for name, state in zip(names, states, strict=True)]
    return provenance(baseline, steps, schemas=asked, ledger=ledger)


# --- inputs ----------------------------------------------------------------


def _read(files: Sequence[tuple[str, Path]]) -> list[Source]:
    """Every file's text; all unreadable files are reported together."""
    sources, problems = [], []
    for name, path in files:
        try:
            sources.append(Source(name, migrations.read(path)))
        except UnicodeDecodeError as exc:
            problems.append(Problem(str(path), None, f"not UTF-8 text: {exc.reason}"))
        except OSError as exc:
            problems.append(Problem(str(path), None, f"cannot read: {exc.strerror or exc}"))
    if problems:
        raise InputError(problems)
    return sources


def _check_inputs(found: Sequence[migrations.Migration], sources: Sequence[Source]) -> None:
    """What can be found wrong without a server: psql meta-commands, repeated versions."""
    problems = [p for source in sources for p in migrations.meta_commands(source.text, source.name)]
    first_of: dict[str, str] = {}
    for migration in found:
        earlier = first_of.setdefault(migration.version, migration.path.name)
        if earlier != migration.path.name:
            problems.append(
                Problem(migration.path.name, None, f"version {migration.version} repeats {earlier}")
            )
    if problems:
        raise InputError(problems)


# --- the replay ------------------------------------------------------------

# Every schema but the server's own.
_SCHEMAS_QUERY = (
    b"SELECT nspname FROM pg_namespace"
    b" WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%' ORDER BY nspname"
)


def _replay(
    dsn: str,
    bootstraps: Sequence[Source],
    files: Sequence[Source],
    asked: Sequence[str],
    progress: Progress | None,
) -> tuple[model.State, list[model.State]]:
    """Apply everything, reading the catalog after the bootstrap and after each file."""
    with _connect(dsn) as writer, db.connect(dsn) as reader:
        _fresh_session(writer)
        for source in bootstraps:
            _apply(writer, source)
        # Schemas the bootstrap made (auth ...) are watched too: migrations may
        # put policies and triggers on their tables.
        bootstrap_schemas = [s for s in _schemas(reader) if s not in asked]
        watched = [*asked, *bootstrap_schemas]
        baseline = _snapshot(reader, watched)
        states = []
        for number, source in enumerate(files, start=1):
            if progress is not None:
                progress(number, len(files), source.name)
            _apply(writer, source)
            states.append(_snapshot(reader, watched))
    return baseline, states


def _apply(writer: psycopg.Connection[Any], source: Source) -> None:
    migrations.apply_sql(writer, source.text, source.name)
    _fresh_session(writer)


def _fresh_session(writer: psycopg.Connection[Any]) -> None:
    """Each file starts from a fresh session, as with `psql -f`: a SET search_path
    or a temporary table does not leak into the next one."""
    # The scratch database is thrown away: its commits need not wait for the disk.
    writer.execute(b"DISCARD ALL")
    writer.execute(b"SET synchronous_commit = off")


def _schemas(reader: psycopg.Connection[Any]) -> list[str]:
    return [name for (name,) in reader.execute(_SCHEMAS_QUERY).fetchall()]


def _snapshot(reader: psycopg.Connection[Any], watched: Sequence[str]) -> model.State:
    """The watched schemas that exist now (a migration may create or drop one)."""
    present = set(_schemas(reader))
    existing = [name for name in watched if name in present]
    return catalog.snapshot(reader, existing, ledger_table=None).state


def _connect(dsn: str) -> psycopg.Connection[Any]:
    """A plain read-write session, the kind psql opens; only for our own scratch databases."""
    try:
        return psycopg.connect(
            dsn,
            autocommit=True,
            application_name=db.APPLICATION_NAME,
            connect_timeout=10,
            prepare_threshold=None,
        )
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConnectionFailed(f"cannot connect to {db.redact(dsn)}: {reason}") from None


# --- the scratch database ----------------------------------------------------


@contextmanager
def _scratch_database(shadow_dsn: str | None) -> Iterator[str]:
    """A DSN of a new, empty database; the database (and any embedded server) goes afterwards."""
    with ExitStack() as stack:
        server = shadow_dsn
        if server is None:
            server = stack.enter_context(_shielded(embedded_server()))
        yield stack.enter_context(_shielded(_database(server)))


@contextmanager
def _database(server_dsn: str) -> Iterator[str]:
    name = f"{SCRATCH_PREFIX}{secrets.token_hex(6)}"
    with _connect(server_dsn) as admin:
        try:
            # template0: nothing that template1 may hold on this server leaks into the spec.
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
            )
        except psycopg.Error as exc:
            raise MonitorError(
                f"cannot create a scratch database on {db.redact(server_dsn)}: "
                + migrations.server_message(exc.diag)
            ) from None
    try:
        yield make_conninfo(server_dsn, dbname=name)
    except BaseException as exc:
        leftover = _drop(server_dsn, name)
        if leftover is not None:
            exc.add_note(leftover)
        raise
    leftover = _drop(server_dsn, name)
    if leftover is not None:
        raise MonitorError(leftover)


def _drop(server_dsn: str, name: str) -> str | None:
    """Drop the scratch database, ending any session still in it; say why if that fails."""
    try:
        with _connect(server_dsn) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    except (psycopg.Error, ConnectionFailed) as exc:
        return f"could not drop scratch database {name} on {db.redact(server_dsn)}: {exc}"
    return None


# --- signals -----------------------------------------------------------------

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Terminated(SystemExit):
    """SIGTERM during a build; a SystemExit, so psycopg cancels the running statement."""


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so cleanup runs; then it is delivered as if we were not here."""
    previous = signal.getsignal(signal.SIGTERM)
    if not _in_main_thread() or previous is None or previous == signal.SIG_IGN:
        yield
        return

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise _Terminated(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, previous)
        signal.raise_signal(signal.SIGTERM)
        raise  # only reached when the previous handler returns
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _held_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM during a step that must not be cut in half, then deliver them."""
    if not _in_main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {number: signal.getsignal(number) for number in _STOP_SIGNALS}
    restorable = {number: handler for number, handler in previous.items() if handler is not None}
    for number in restorable:
        signal.signal(number, hold)
    try:
        yield
    finally:
        for number, handler in restorable.items():
            signal.signal(number, handler)
        for signum in dict.fromkeys(received):
            signal.raise_signal(signum)


@contextmanager
def _shielded(manager: AbstractContextManager[Value]) -> Iterator[Value]:
    """Enter and leave `manager` with signals held: a Ctrl-C then can neither leave a
    database created but unrecorded, nor stop its DROP halfway."""
    entered = False
    try:
        with _held_signals():
            value = manager.__enter__()
            entered = True
        yield value
    except BaseException as exc:
        if entered:
            with _held_signals():
                manager.__exit__(type(exc), exc, exc.__traceback__)
        raise
    with _held_signals():
        manager.__exit__(None, None, None)


def _in_main_thread() -> bool:
    # Only the main thread may set signal handlers.
    return threading.current_thread() is threading.main_thread()


# --- provenance: a pure function of the states -------------------------------

# Where a table's objects live, in the order of the model.
_COLLECTIONS = ("columns", "constraints", "indexes", "policies", "triggers")
_KIND_OF = {
    "tables": model.Kind.TABLE,
    "columns": model.Kind.COLUMN,
    "constraints": model.Kind.CONSTRAINT,
    "indexes": model.Kind.INDEX,
    "policies": model.Kind.POLICY,
    "triggers": model.Kind.TRIGGER,
}

# (collection, schema, table, name); a table's own key is ("tables", schema, table, table).
Key = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class _Drop:
    step: int  # position of the dropping migration, to find the latest drop
    migration: str
    with_table: bool  # the object went because its whole table did


def provenance(
    baseline: model.State,
    steps: Sequence[Step],
    *,
    schemas: Sequence[str],
    ledger: model.Ledger | None,
) -> model.State:
    """The spec that a sequence of catalog states describes.

    `baseline` is the catalog after the bootstrap, `steps` the catalog after
    each migration. Each object is stamped with the migration that created or
    last changed it. Objects that existed at some point but not at the end are
    listed as absent, stamped with the migration that dropped them, unless
    they went with their whole table (then only the table is absent).
    Bootstrap tables appear only with the collections migrations changed.
    The `schemas` asked for are always present; the others (those of the
    bootstrap) only when a migration touched them.
    """
    objects = _objects(baseline)
    changed_by: dict[Key, str | None] = dict.fromkeys(objects)
    dropped: dict[Key, _Drop] = {}
    for number, step in enumerate(steps):
        now = _objects(step.state)
        for key, value in now.items():
            if key not in objects or objects[key] != value:
                changed_by[key] = step.migration
        for key in objects.keys() - now.keys():
            dropped[key] = _Drop(number, step.migration, _table_key(key) not in now)
        objects = now

    final = steps[-1].state if steps else baseline
    missing = [name for name in schemas if final.schema(name) is None]
    if missing:
        raise MonitorError(
            ", ".join(f'schema "{name}" does not exist after the migrations' for name in missing)
        )
    bootstrap_tables = {(s.name, t.name): t for s in baseline.schemas for t in s.tables}
    result = []
    for schema in sorted(final.schemas, key=lambda s: s.name):
        tables = []
        for table in schema.tables:
            bootstrap = bootstrap_tables.get((schema.name, table.name))
            stamped = _stamped(schema.name, table, bootstrap, changed_by)
            if stamped is not None:
                tables.append(stamped)
        absent = _absent(schema.name, objects, dropped)
        if schema.name not in schemas and not tables and not absent:
            continue
        owns_tables = any(name == schema.name for name, _ in bootstrap_tables)
        result.append(
            model.Schema(
                name=schema.name,
                tables=tuple(tables),
                absent=absent,
                # The bootstrap's own tables are left out of the spec: not a surprise when live.
                extra=model.ExtraPolicy(tables=model.Extra.IGNORE)
                if owns_tables
                else model.ExtraPolicy(),
            )
        )
    return model.State(schemas=tuple(result), ledger=ledger)


def _objects(state: model.State) -> dict[Key, object]:
    """Every object of a state by key, without provenance, so values compare as definitions."""
    found: dict[Key, object] = {}
    for schema in state.schemas:
        for table in schema.tables:
            # A table itself is compared by existence: its contents have keys of their own.
            found[("tables", schema.name, table.name, table.name)] = None
            for collection in _COLLECTIONS:
                for item in getattr(table, collection) or ():
                    key = (collection, schema.name, table.name, item.name)
                    found[key] = replace(item, migration=None)
    return found


def _table_key(key: Key) -> Key:
    _, schema, table, _ = key
    return ("tables", schema, table, table)


def _stamped(
    schema: str,
    table: model.Table,
    bootstrap: model.Table | None,
    changed_by: dict[Key, str | None],
) -> model.Table | None:
    """`table` with provenance; for a bootstrap table only what migrations changed, or None."""

    def collection(name: str) -> tuple[Any, ...]:
        return tuple(
            replace(item, migration=changed_by[(name, schema, table.name, item.name)])
            for item in getattr(table, name) or ()
        )

    created_by = changed_by[("tables", schema, table.name, table.name)]
    whole = bootstrap is None or created_by is not None
    kept = {
        name: collection(name)
        for name in _COLLECTIONS
        if whole or _definitions(getattr(table, name)) != _definitions(getattr(bootstrap, name))
    }
    rls = table.rls if whole or bootstrap is None or table.rls != bootstrap.rls else None
    if not whole and not kept and rls is None:
        return None
    return model.Table(
        name=table.name,
        columns=kept.get("columns"),
        constraints=kept.get("constraints"),
        indexes=kept.get("indexes"),
        policies=kept.get("policies"),
        triggers=kept.get("triggers"),
        rls=rls,
        migration=created_by,
    )


def _definitions(items: tuple[Any, ...] | None) -> tuple[Any, ...]:
    return tuple(replace(item, migration=None) for item in items or ())


def _absent(
    schema: str, final: dict[Key, object], dropped: dict[Key, _Drop]
) -> tuple[model.Absent, ...]:
    """The objects of `schema` that were dropped and not created again."""
    # Index names are unique in a schema: one that moved to another table is not absent.
    indexes_now = {key[3] for key in final if key[0] == "indexes" and key[1] == schema}
    latest: dict[tuple[model.Kind, str | None, str], tuple[int, model.Absent]] = {}
    for key, drop in dropped.items():
        collection, key_schema, table, name = key
        if key_schema != schema or key in final:
            continue
        if collection != "tables":
            if drop.with_table or _table_key(key) not in final:
                continue
            if collection == "indexes" and name in indexes_now:
                continue
        owner = None if collection in ("tables", "indexes") else table
        entry = model.Absent(_KIND_OF[collection], name, owner, drop.migration)
        identity = (entry.kind, owner, name)
        if identity not in latest or latest[identity][0] < drop.step:
            latest[identity] = (drop.step, entry)
    entries = [entry for _, entry in latest.values()]
    return tuple(sorted(entries, key=lambda a: (a.kind, a.table or "", a.name)))
