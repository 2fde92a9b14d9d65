"""`spec build`: the expected state, from replaying the migrations into a scratch database.

Like Supabase's shadow database, the migrations run on a real server, so DO
blocks, conditional DDL and functions behave exactly as they will in
production. Each file runs as its deploy tool runs it (see :mod:`layouts` and
:func:`migrations.apply_sql`), in a session of its own as with psql, so
settings that a bootstrap or an earlier file made with ``ALTER DATABASE ...
SET`` apply. The scratch database lives on the ``--shadow-dsn`` server or on a
private server (:mod:`scratch`), and is dropped afterwards whatever happens:
error, Ctrl-C, SIGTERM or SIGHUP.

Trust: the migrations run with the rights of the scratch server's user (a
superuser on a private server). Replaying someone else's migrations on your
shadow server is running their code there.

The catalog is read whole after the bootstrap and at the end; after every
migration file one statement reads the versions of its objects (their keys and
the catalog rows they are made of: a whole read costs six times as much, and
would be most of a build's time). The pure
:func:`monitor.schema.spec.provenance.provenance` turns them into the spec.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from monitor.errors import ConnectionFailed, InputError, MonitorError
from monitor.postgres import catalog, db, extensions, migrations, platform, scratch, shadow
from monitor.postgres.layouts import Layout, Plan
from monitor.schema import model
from monitor.schema.spec.provenance import Step, provenance

SCRATCH_PREFIX = "schema_monitor_scratch_"
BOOTSTRAP_NAME = "supabase_bootstrap.sql"

Progress = Callable[[int, int, str], None]
Versions = dict[tuple[str, ...], str]
Notice = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Source:
    """One SQL file to apply: its name (for error messages), its text, and how its tool runs it."""

    name: str
    text: str
    transaction: bool = True


def build(
    migrations_dir: Path,
    *,
    shadow_dsn: str | None = None,
    bootstrap_files: Sequence[Path] = (),
    supabase_bootstrap: bool | None = None,
    schemas: Sequence[str] = (),
    layout: Layout | None = None,
    ledger_table: str | None = None,
    postgres_version: int | None = None,
    progress: Progress | None = None,
    notice: Notice | None = None,
) -> model.State:
    """Replay the migrations into a scratch database and return the spec they produce.

    `schemas` narrows what is watched; by default every schema the migrations
    create, plus public. `supabase_bootstrap` None means: as
    :func:`platform.decide` finds from the folder's structure (said through `notice`).

    Raises InputError (unreadable files, psql meta-commands, repeated versions;
    all of them at once) before any database is touched, and MigrationFailed
    (file, line, server message) when a file does not apply.
    """
    say = notice or (lambda _message: None)
    extra_texts, problems = migrations.read_all(bootstrap_files)
    try:
        found = migrations.plan(migrations_dir, layout)
    except InputError as exc:
        raise InputError(problems + exc.problems) from None
    if problems:
        raise InputError(problems)
    if not found.migrations:
        raise MonitorError(
            f"no migrations to replay in {migrations_dir} ({found.layout} layout"
            + (f"; ignored: {', '.join(found.ignored)}" if found.ignored else "")
            + ")"
        )
    if found.ignored:
        say(f"{found.layout} layout: not applied by the tool, ignored: {', '.join(found.ignored)}")
    files = _sources(found, migrations_dir)
    extra = [Source(str(path), extra_texts[path]) for path in bootstrap_files]
    if supabase_bootstrap is None:
        decision = platform.decide(migrations_dir, [(s.name, s.text) for s in files])
    else:
        decision = platform.Decision(supabase_bootstrap, "as asked")
    say(decision.describe())
    supabase_bootstrap = decision.supabase
    builtin = [Source(BOOTSTRAP_NAME, platform.bootstrap())] if supabase_bootstrap else []
    bootstraps = builtin + extra
    _check_inputs(bootstraps + files)
    ledger = _ledger(found, ledger_table)
    if postgres_version is None and found.layout is Layout.SUPABASE:
        postgres_version = platform.configured_major_version(migrations_dir)
    needed = extensions.requested(s.text for s in files)
    with (
        scratch.signals_unwind(),
        _scratch_database(shadow_dsn, postgres_version, needed, say) as dsn,
    ):
        replayed = _replay(dsn, bootstraps, files, schemas, progress)
    if replayed.standins:
        say(
            "stand-ins used for extensions the scratch server lacks (same schemas, types and"
            f" function signatures; no behaviour): {', '.join(replayed.standins)}"
        )
    say(f"building the spec from {len(replayed.steps)} migrations")
    steps = [
        Step(migration.name, versions)
        for migration, versions in zip(found.migrations, replayed.steps, strict=True)
    ]
    return provenance(
        replayed.baseline,
        steps,
        start=replayed.start,
        final=replayed.final,
        schemas=replayed.watched,
        ledger=ledger,
        platform=platform.PLATFORM_TABLES if supabase_bootstrap else None,
    )


def _ledger(found: Plan, table: str | None) -> model.Ledger | None:
    chosen = table or (found.ledger.table if found.ledger else None)
    if chosen is None:
        return None
    return model.Ledger(applied=found.versions, table=chosen)


# --- inputs ----------------------------------------------------------------


def _sources(found: Plan, folder: Path) -> list[Source]:
    texts, problems = migrations.read_all([m.path for m in found.migrations], inside=folder)
    if problems:
        raise InputError(problems)
    return [
        Source(m.path.name, migrations.script(found.layout, texts[m.path]), m.transaction)
        for m in found.migrations
    ]


def _check_inputs(sources: Sequence[Source]) -> None:
    """What can be found wrong without a server: psql meta-commands."""
    problems = [p for source in sources for p in migrations.meta_commands(source.text, source.name)]
    if problems:
        raise InputError(problems)


# --- the replay ------------------------------------------------------------

# Every schema but the server's own.
_SCHEMAS_QUERY = (
    b"SELECT nspname FROM pg_namespace"
    b" WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%' ORDER BY nspname"
)


@dataclass(frozen=True, slots=True)
class _Replayed:
    baseline: model.State
    start: Versions  # the bootstrap's objects' versions
    steps: list[Versions]  # after each file
    final: model.State
    watched: tuple[str, ...]  # the schemas the spec must hold
    standins: tuple[str, ...]


def _replay(
    dsn: str,
    bootstraps: Sequence[Source],
    files: Sequence[Source],
    asked: Sequence[str],
    progress: Progress | None,
) -> _Replayed:
    """Apply everything, reading the catalog after the bootstrap and at the end, and the
    versions of its objects after each file."""
    with db.connect(dsn) as reader, _Writer(dsn) as writer, _VersionReader(dsn) as versions:
        available = extensions.available(reader)
        standins = extensions.Standins(available)
        for source in bootstraps:
            writer.apply(source, standins)
        before = _schemas(reader)
        baseline = _snapshot(reader, before, standins)
        versions.read(standins)
        for number, source in enumerate(files, start=1):
            if progress is not None:
                progress(number, len(files), source.name)
            writer.apply(source, standins)
            versions.read(standins)
        after = _schemas(reader)
        final = _snapshot(reader, after, standins)
        start, *steps = versions.results()
    if asked:
        watched = tuple(dict.fromkeys(asked))
    else:
        created = [name for name in after if name not in before]
        watched = tuple(
            dict.fromkeys(["public", *(n for n in created if n not in standins.schemas)])
        )
    used = tuple(
        f"{name} (the server's own failed: {standins.refused[name]})"
        if name in standins.refused
        else name
        for name in standins.used
    )
    return _Replayed(baseline, start, steps, final, watched, used)


# A file that sets what new sessions start with: the next file gets a new session.
_SESSION_DEFAULTS = re.compile(r"\balter\s+(?:database|role|user|system)\b", re.IGNORECASE)


class _Writer:
    """The session files run in: each file starts as a new session would (DISCARD ALL),
    and in a new one after a file that changed what new sessions start with (ALTER
    DATABASE ... SET), as psql's session of its own per file sees it."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn: psycopg.Connection[Any] | None = None

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *_: object) -> None:
        self._close()

    def apply(self, source: Source, standins: extensions.Standins) -> None:
        try:
            migrations.apply_sql(
                self._session(),
                source.text,
                source.name,
                transaction=source.transaction,
                rewrite=standins,
            )
        except BaseException:
            self._close()
            raise
        if _SESSION_DEFAULTS.search(source.text):
            self._close()

    def _session(self) -> psycopg.Connection[Any]:
        if self.conn is not None and not self.conn.closed:
            try:
                self.conn.execute(b"DISCARD ALL")
            except psycopg.Error:
                self._close()  # a session the file left unusable: a new one
        if self.conn is None or self.conn.closed:
            self.conn = _connect(self.dsn)
        # The scratch database is thrown away: its commits need not wait for the disk.
        self.conn.execute(b"SET synchronous_commit = off")
        return self.conn

    def _close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _schemas(reader: psycopg.Connection[Any]) -> list[str]:
    return [name for (name,) in reader.execute(_SCHEMAS_QUERY).fetchall()]


def _users(present: Sequence[str], standins: extensions.Standins) -> list[str]:
    """Every schema that exists now but the stand-ins' own (a migration may create or drop one)."""
    return [name for name in present if name not in standins.schemas]


_READ_WAIT_MS = 600_000


class _VersionReader:
    """Reads the versions of the objects each file left while the next file applies.

    Right after a file, a REPEATABLE READ transaction on one of two sessions lists
    the schemas, which fixes its snapshot: the catalog as that file left it,
    whatever the next one does meanwhile. The versions statement runs in that
    snapshot on a worker thread, beside the next file, so a build costs about its
    files' apply time, not that plus a read per file. (Names of argument types and
    roles come from the server's caches, as of the read: a type renamed by the next
    file could stamp a function taking it with the file before the rename.)
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.sessions: list[psycopg.Connection[Any]] = []
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="versions")
        self.reads: list[Future[Versions]] = []

    def __enter__(self) -> _VersionReader:
        # They read while the next file runs: a VACUUM FULL or REINDEX of the catalogs
        # there may hold a lock on them for a while, which a read must wait out.
        self.sessions = [
            db.connect(self.dsn, lock_timeout_ms=_READ_WAIT_MS, statement_timeout_ms=_READ_WAIT_MS)
            for _ in range(2)
        ]
        return self

    def __exit__(self, *_: object) -> None:
        self.worker.shutdown(wait=True, cancel_futures=True)
        for session in self.sessions:
            session.close()

    def read(self, standins: extensions.Standins) -> None:
        """Fix a snapshot of the catalog now; read its versions in the background."""
        session = self.sessions[len(self.reads) % 2]
        if len(self.reads) >= 2:
            self.reads[-2].result()  # that session's last read is over
        session.execute(b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        present = _users(_schemas(session), standins)
        # The stand-ins made so far, among the extensions as with_standins puts them.
        made: Versions = {
            ("extensions", "", name): f"stand-in in {schema}"
            for name, schema in standins.created.items()
        }
        self.reads.append(self.worker.submit(self._versions, session, present, made))

    def results(self) -> list[Versions]:
        return [read.result() for read in self.reads]

    @staticmethod
    def _versions(session: psycopg.Connection[Any], present: list[str], made: Versions) -> Versions:
        try:
            return {**catalog.versions(session, present), **made}
        finally:
            session.execute(b"COMMIT")


def _snapshot(
    reader: psycopg.Connection[Any], present: Sequence[str], standins: extensions.Standins
) -> model.State:
    state = catalog.snapshot(reader, _users(present, standins), ledger_table=None).state
    return extensions.with_standins(state, standins)


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
def _scratch_database(
    shadow_dsn: str | None, postgres_version: int | None, needed: Sequence[str], say: Notice
) -> Iterator[str]:
    """A DSN of a new, empty database; the database (and any private server) goes afterwards."""
    with ExitStack() as stack:
        server = shadow_dsn
        if server is None:
            install = extensions.best_installation(
                scratch.installations(), postgres_version, needed
            )
            say(f"replaying on a private PostgreSQL {install.major} ({install.bindir})")
            server = stack.enter_context(scratch.scratch_server(installation=install)).dsn
        elif (warning := shadow.warning(server)) is not None:
            say(warning)
        yield stack.enter_context(scratch.shielded(_database(server)))


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
