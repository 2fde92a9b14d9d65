"""Quoting names and strings for SQL we print, the way PostgreSQL's quote_ident does.

Pure: psycopg's ``sql.Identifier`` needs a connection to render, and the
repair script and advisor remediations are written without one.
"""

from __future__ import annotations

import re

from pglast.keywords import COL_NAME_KEYWORDS, RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS

_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")
# Every keyword but the unreserved ones must be quoted to be read as a name.
_NEEDS_QUOTES = frozenset(RESERVED_KEYWORDS) | COL_NAME_KEYWORDS | TYPE_FUNC_NAME_KEYWORDS


def ident(name: str) -> str:
    """``name`` as an identifier: bare when PostgreSQL would read it back unchanged."""
    if _PLAIN.fullmatch(name) and name not in _NEEDS_QUOTES:
        return name
    return '"' + name.replace('"', '""') + '"'


def qualified(*parts: str | None) -> str:
    """``schema.table`` (or any dotted name), each part quoted; empty parts left out."""
    return ".".join(ident(part) for part in parts if part)


def literal(text: str) -> str:
    """A standard-conforming string literal."""
    return "'" + text.replace("'", "''") + "'"


def table_name(qualified_name: str) -> str:
    """A catalog-spelled ``schema.table`` (as a foreign key's target is kept), quoted."""
    schema, _, table = qualified_name.rpartition(".")
    return qualified(schema or None, table)
