"""Extensions during a replay: the server's real ones, else stand-ins, else one clear error.

A scratch server rarely ships every extension a project uses (pg_net,
pg_cron, vector ...). A stand-in gives the same callable surface (schemas,
types, function and operator signatures, index access methods) without the
behaviour, which is all a replay needs: tables, defaults, indexes, policies
and function bodies that name them then create as they do in production.
Stand-ins live in ``sql/standins/<name>.sql``, written like an extension's
script (``@extschema@`` is the schema it is created in).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import pglast
import psycopg
from pglast import ast
from pglast.enums import ObjectType
from pglast.parser import ParseError
from pglast.stream import RawStream
from psycopg import sql

from monitor.errors import MonitorError
from monitor.postgres import platform, standin_postgis
from monitor.postgres.scratch import Installation
from monitor.schema import model, quote

_STANDINS = "monitor.postgres.sql.standins"
# Schemas a stand-in makes for itself (a real extension would own them): never watched.
_OWN_SCHEMAS = re.compile(r"^--\s*schemas:\s*(?P<names>.*)$", re.MULTILINE)
# Index access methods a stand-in provides without their storage options.
_STANDIN_ACCESS_METHODS = frozenset({"hnsw", "ivfflat"})
_CREATE_EXTENSION = re.compile(
    r"create\s+extension\s+(?:if\s+not\s+exists\s+)?(?:\"(?P<quoted>[^\"]+)\"|(?P<bare>[\w-]+))",
    re.IGNORECASE,
)


def standin_names() -> frozenset[str]:
    folder = resources.files(_STANDINS)
    files = {entry.name.removesuffix(".sql") for entry in folder.iterdir()}
    return frozenset(name for name in files if not name.startswith("_")) | frozenset(
        platform.standin_sections()
    )


def standin_script(name: str) -> str:
    """A stand-in's SQL: its file, or the platform bootstrap's section (vault, graphql)."""
    sections = platform.standin_sections()
    if name in sections:
        return sections[name]
    return resources.files(_STANDINS).joinpath(f"{name}.sql").read_text()


def requested(texts: Iterable[str]) -> list[str]:
    """The extensions the files create, by name, in order of first mention."""
    names: dict[str, None] = {}
    for text in texts:
        for match in _CREATE_EXTENSION.finditer(text):
            names.setdefault((match["quoted"] or match["bare"]).lower(), None)
    return list(names)


def available(conn: psycopg.Connection[Any]) -> frozenset[str]:
    rows = conn.execute(b"SELECT name FROM pg_available_extensions").fetchall()
    return frozenset(name for (name,) in rows)


def shipped(install: Installation) -> frozenset[str]:
    """The extensions an installation ships (its ``*.control`` files)."""
    for folder in _extension_folders(install.bindir):
        if folder.is_dir():
            return frozenset(p.stem for p in folder.glob("*.control"))
    return frozenset()


def _extension_folders(bindir: Path) -> list[Path]:
    folders = [bindir.parent / "share" / "postgresql" / "extension"]
    pg_config = bindir / "pg_config"
    if pg_config.exists():
        try:
            sharedir = subprocess.run(
                [str(pg_config), "--sharedir"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            sharedir = ""
        if sharedir:
            folders.insert(0, Path(sharedir) / "extension")
    return folders


def best_installation(
    candidates: Sequence[Installation], target_major: int | None, needed: Sequence[str]
) -> Installation:
    """The installation that ships most of the needed extensions for real; then the
    machine's own over an embedded one; then the major version nearest the target's."""
    from monitor.postgres import scratch

    if not candidates:
        raise MonitorError(scratch.NO_SERVER_HELP)

    def preference(install: Installation) -> tuple[int, int, int, int]:
        missing = len(set(needed) - shipped(install)) if needed else 0
        distance = 0 if target_major is None else abs(install.major - target_major)
        return (missing, install.source != "system", distance, -install.major)

    return min(candidates, key=preference)


class Standins:
    """Rewrites, statement by statement, what the scratch server cannot run as written."""

    def __init__(self, available: frozenset[str]) -> None:
        self.available = available
        self.names = standin_names()
        self.used: list[str] = []
        # Extensions the server has but could not create (pg_cron outside
        # shared_preload_libraries ...): the stand-in ran instead, and why.
        self.refused: dict[str, str] = {}
        self.created: dict[str, str] = {}  # stand-in -> the schema it was created in
        # What the stand-ins made, by (kind, schema, name): a real extension's members,
        # which a live snapshot leaves out, so the replayed states leave them out too.
        self.members: set[tuple[str, str, str]] = set()
        self._before: set[tuple[str, str, str]] | None = None
        self.schemas: set[str] = set()
        for name in self.names:
            declared = _OWN_SCHEMAS.search(standin_script(name))
            if declared:
                self.schemas.update(declared["names"].split())

    def rewrite(self, conn: psycopg.Connection[Any], statement: Any) -> str | None:
        text: str = statement.text
        if not re.search(r"\b(extension|using)\b", text, re.IGNORECASE):
            return None  # the common case, without a parse
        try:
            nodes = [raw.stmt for raw in pglast.parse_sql(text)]
        except ParseError:
            return None
        if len(nodes) != 1:
            return None
        node = nodes[0]
        match node:
            case ast.CreateExtensionStmt(extname=str() as name):
                if name in self.available and name not in self.used:
                    if _exists(conn, name):
                        return None  # the server's own, created already: as written
                    refusal = _create_for_real(conn, text)
                    if refusal is None:
                        return "SELECT NULL"  # created as written
                    if name not in self.names:
                        return None  # the server's own error, at its file and line
                    self.refused[name] = refusal
                return self._create(conn, name, node)
            case ast.DropStmt(removeType=ObjectType.OBJECT_EXTENSION, objects=objects):
                names = {getattr(o, "sval", "") for o in objects or ()}
                if names & set(self.used):
                    return "SELECT NULL"  # a stand-in's objects stay; nothing depends on that
            case (
                ast.AlterExtensionStmt(extname=name) | ast.AlterExtensionContentsStmt(extname=name)
            ):
                if name in self.used:
                    return "SELECT NULL"
            case ast.CommentStmt(objtype=ObjectType.OBJECT_EXTENSION, object=target):
                if getattr(target, "sval", None) in self.used:
                    return "SELECT NULL"
            case ast.IndexStmt(accessMethod="gist") if "postgis" in self.used:
                return standin_postgis.gist_index(conn, node, self.created["postgis"])
            case ast.IndexStmt(accessMethod=method, options=options):
                if method in _STANDIN_ACCESS_METHODS and options and self._provides(method):
                    # A stand-in method has no storage options of its own (lists, m ...).
                    return RawStream()(_without_options(node))
        return None

    def executed(self, conn: psycopg.Connection[Any]) -> None:
        if self._before is not None:
            self.members |= _objects(conn) - self._before
            self._before = None

    def _provides(self, method: str) -> bool:
        return any(method in _METHODS_OF.get(name, ()) for name in self.used)

    def _create(self, conn: psycopg.Connection[Any], name: str, node: Any) -> str | None:
        if name not in self.names:
            raise MonitorError(
                f'extension "{name}" is not available on the scratch server, and schema-monitor'
                " has no stand-in for it: install it for that PostgreSQL (e.g. apt-get install"
                f" postgresql-<major>-{name}), or name a server that has it with --shadow-dsn,"
                " or give a --bootstrap file that creates what the migrations use of it"
            )
        schema = next(
            (o.arg.sval for o in node.options or () if o.defname == "schema"),
            None,
        )
        if schema is None:
            row = conn.execute(b"SELECT current_schema()").fetchone()
            schema = row[0] if row and row[0] else "public"
        if name in self.used:
            # Created already: IF NOT EXISTS is a no-op, else the server's own error.
            return "SELECT NULL" if node.if_not_exists else f"CREATE EXTENSION {quote.ident(name)}"
        self.used.append(name)
        self.created[name] = schema
        self._before = _objects(conn)
        script = standin_script(name).replace("@extschema@", sql.Identifier(schema).as_string(conn))
        return script


_PROBE = b"schema_monitor_real_extension"


def _exists(conn: psycopg.Connection[Any], name: str) -> bool:
    return conn.execute(b"SELECT FROM pg_extension WHERE extname = %s", (name,)).rowcount > 0


def _create_for_real(conn: psycopg.Connection[Any], statement: str) -> str | None:
    """Run a CREATE EXTENSION the server has; None when it did, else the server's reason
    (nothing of it left behind: a savepoint inside the file's transaction)."""
    in_transaction = conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
    if in_transaction:
        conn.execute(b"SAVEPOINT " + _PROBE)
    try:
        conn.execute(statement.encode())
    except psycopg.Error as exc:
        if in_transaction:
            conn.execute(b"ROLLBACK TO SAVEPOINT " + _PROBE)
        return " ".join(str(exc.diag.message_primary or exc).split())
    if in_transaction:
        conn.execute(b"RELEASE SAVEPOINT " + _PROBE)
    return None


# Index access methods each stand-in provides.
_METHODS_OF = {"vector": ("hnsw", "ivfflat")}


_OBJECTS_QUERY = b"""
SELECT 'function', n.nspname, p.proname FROM pg_proc AS p
JOIN pg_namespace AS n ON n.oid = p.pronamespace
UNION SELECT 'type', n.nspname, t.typname FROM pg_type AS t
JOIN pg_namespace AS n ON n.oid = t.typnamespace
UNION SELECT 'relation', n.nspname, c.relname FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
"""


def _objects(conn: psycopg.Connection[Any]) -> set[tuple[str, str, str]]:
    return {(kind, schema, name) for kind, schema, name in conn.execute(_OBJECTS_QUERY)}


def with_standins(state: model.State, standins: Standins) -> model.State:
    """The state as if the stand-ins were real extensions: each among the extensions
    (by name and schema, any version), and none of their objects among the user's."""
    if not standins.created:
        return state
    real = tuple(e for e in state.extensions or () if e.name not in standins.created)
    added = tuple(model.Extension(name, schema) for name, schema in standins.created.items())
    members = standins.members
    schemas = tuple(_without_members(schema, members) for schema in state.schemas)
    extensions = tuple(sorted(real + added, key=lambda e: e.name))
    replayed = replace(state, schemas=schemas, extensions=extensions)
    return standin_postgis.as_real(replayed) if "postgis" in standins.created else replayed


def _without_members(schema: model.Schema, members: set[tuple[str, str, str]]) -> model.Schema:
    def kept(kind: str, items: tuple[Any, ...] | None, name: Any) -> tuple[Any, ...] | None:
        if items is None:
            return None
        return tuple(i for i in items if (kind, schema.name, name(i)) not in members)

    def bare(item: Any) -> str:
        return str(item.name).split("(", 1)[0].strip('"')

    return replace(
        schema,
        tables=kept("relation", schema.tables, bare) or (),
        functions=kept("function", schema.functions, bare),
        types=kept("type", schema.types, bare),
        views=kept("relation", schema.views, bare),
        sequences=kept("relation", schema.sequences, bare),
    )


def _without_options(node: Any) -> Any:
    return ast.IndexStmt(
        **{slot: getattr(node, slot) for slot in node.__slots__ if slot != "options"},
        options=None,
    )
