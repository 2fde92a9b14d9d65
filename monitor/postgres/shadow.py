"""The `--shadow-dsn` server of `spec build`: what a replay there could put at risk.

The migrations run there with the rights of the DSN's role. A role that may
only create databases can touch nothing but the scratch database; a superuser
can drop every other database on the server, and a migration folder may do
exactly that (``DROP DATABASE`` in a cleanup script, a ``dblink`` call). So a
superuser on a server that holds other databases, or on a host that is not
this machine, is worth one loud line before anything runs.

The ``postgres`` database that every server starts with counts as another
database only when it holds objects: a dedicated shadow server (a CI service
container) has it empty; a Supabase database keeps everything in it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from monitor.errors import ConnectionFailed
from monitor.postgres import db

_MAINTENANCE_DATABASE = "postgres"
_SUPERUSER = (
    b"SELECT current_user, rolsuper, current_database() FROM pg_roles WHERE rolname = current_user"
)
# Every database a migration could reach but the templates and our own scratch ones.
_DATABASES = (
    b"SELECT datname FROM pg_database WHERE datname NOT IN ('template0', 'template1')"
    b" AND datname NOT LIKE 'schema\\_monitor\\_scratch\\_%' ORDER BY datname"
)
# A schema, relation or function of its own (an empty database holds none).
_HOLDS_OBJECTS = b"""
SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname NOT IN ('public', 'information_schema')
                                          AND nspname NOT LIKE 'pg\\_%')
    OR EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public')
    OR EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname = 'public')
"""


def warning(server_dsn: str) -> str | None:
    """One line when the shadow role is a superuser on a server holding other databases, or
    on a host that is not local; None otherwise, or when the server cannot say (the scratch
    database's creation then says what is wrong)."""
    host = str(db.parse_dsn(server_dsn).get("host") or "")
    try:
        with db.connect(server_dsn) as conn:
            user, superuser, current = _one(conn, _SUPERUSER) or ("", False, "")
            if not superuser:
                return None
            names = [name for (name,) in conn.execute(_DATABASES).fetchall()]
            others = [
                name
                for name in names
                if name != _MAINTENANCE_DATABASE or _holds_objects(conn, server_dsn, current)
            ]
    except (psycopg.Error, ConnectionFailed):
        return None
    local = _is_local(host)
    if not others and local:
        return None
    where = "this machine's server" if local else f"the server on {host}"
    holding = f", which holds {len(others)} other database{'s' if len(others) != 1 else ''}"
    return (
        f"warning: --shadow-dsn connects as superuser {user} to {where}"
        + (holding if others else "")
        + ": the migrations run there with superuser rights"
        + (" and could drop or change them" if others else "")
        + "; omit --shadow-dsn to replay on a private server, or use a role that may only"
        " create databases"
    )


def _holds_objects(conn: psycopg.Connection[Any], server_dsn: str, current: str) -> bool:
    if current == _MAINTENANCE_DATABASE:
        return bool((_one(conn, _HOLDS_OBJECTS) or (True,))[0])
    try:
        with db.connect(make_conninfo(server_dsn, dbname=_MAINTENANCE_DATABASE)) as other:
            return bool((_one(other, _HOLDS_OBJECTS) or (True,))[0])
    except (psycopg.Error, ConnectionFailed):
        return True  # it cannot be looked into: assume the worst


def _one(conn: psycopg.Connection[Any], query: bytes) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = conn.execute(query).fetchone()
    return row


def _is_local(host: str) -> bool:
    if not host or host.startswith("/") or host == "localhost":
        return True
    try:
        return all(ipaddress.ip_address(h).is_loopback for h in host.split(","))
    except ValueError:
        return False
