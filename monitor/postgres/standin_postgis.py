"""The PostGIS stand-in as the real extension shows: type modifiers spelled as PostGIS
prints them, and GiST indexes on its types named gist.

The stand-in keeps a modifier as one number (``sql/standins/postgis.sql``:
srid * 64 + dimensions * 16 + shape), which ``format_type`` prints as
``geometry(1107457)``; a GiST index on its types is built with a stand-in method
(``postgis_standin_gist``, hash underneath). The replayed states name both the
way a database with PostGIS does: ``geometry(Point,4326)``, ``gist``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import psycopg
from pglast import ast
from pglast.stream import RawStream
from psycopg import sql

from monitor.schema import model

GIST = "postgis_standin_gist"
_SHAPES = (
    "Geometry",
    "Point",
    "LineString",
    "Polygon",
    "MultiPoint",
    "MultiLineString",
    "MultiPolygon",
    "GeometryCollection",
    "CircularString",
    "CompoundCurve",
    "CurvePolygon",
    "MultiCurve",
    "MultiSurface",
    "PolyhedralSurface",
    "Triangle",
    "Tin",
)
_DIMENSIONS = ("", "Z", "M", "ZM")
_MODIFIED = re.compile(r"\b(?P<type>geometry|geography)\((?P<number>[0-9]+)\)")
_GEOGRAPHY_SRID = 4326  # PostGIS gives geography(Point) this SRID


def spelled(type_text: str) -> str:
    """``geometry(1107457)`` as PostGIS prints it: ``geometry(Point,4326)``."""

    def spell(match: re.Match[str]) -> str:
        number = int(match["number"])
        srid, dimensions, shape = number // 64, number // 16 % 4, number % 16
        if match["type"] == "geography" and srid == 0:
            srid = _GEOGRAPHY_SRID
        modifier = _SHAPES[shape] + _DIMENSIONS[dimensions] + (f",{srid}" if srid else "")
        return f"{match['type']}({modifier})"

    return _MODIFIED.sub(spell, type_text)


def as_real(state: model.State) -> model.State:
    """The replayed state as a database with the real PostGIS reads."""
    return replace(state, schemas=tuple(_schema(schema) for schema in state.schemas))


def _schema(schema: model.Schema) -> model.Schema:
    return replace(schema, tables=tuple(_table(table) for table in schema.tables))


def _table(table: model.Table) -> model.Table:
    columns = tuple(replace(c, type=spelled(c.type)) for c in table.columns or ())
    indexes = tuple(
        replace(i, method="gist") if i.method == GIST else i for i in table.indexes or ()
    )
    return replace(
        table,
        columns=None if table.columns is None else columns,
        indexes=None if table.indexes is None else indexes,
    )


_TYPED_COLUMNS = b"""
SELECT a.attname FROM pg_attribute AS a
JOIN pg_type AS t ON t.oid = a.atttypid
JOIN pg_namespace AS n ON n.oid = t.typnamespace
WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0
  AND t.typname IN ('geometry', 'geography') AND n.nspname = %s
"""


def gist_index(conn: psycopg.Connection[Any], node: Any, schema: str) -> str | None:
    """A GiST index on the stand-in's types, built with the stand-in method; else None."""
    relation = node.relation
    parts = [p for p in (relation.schemaname, relation.relname) if p]
    name = sql.Identifier(*parts).as_string(conn)
    typed = {row[0] for row in conn.execute(_TYPED_COLUMNS, (name, schema))}
    if not any(getattr(param, "name", None) in typed for param in node.indexParams or ()):
        return None
    fields = {slot: getattr(node, slot) for slot in node.__slots__ if slot != "accessMethod"}
    return str(RawStream()(ast.IndexStmt(**fields, accessMethod=GIST)))
