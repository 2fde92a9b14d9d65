"""Which statements are about the spec's tables: their normalised text parsed with pglast,
once per queryid. A text that does not parse is skipped and counted, never fatal."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from pglast import parser

from monitor.schema.normalize import tree_nodes

EXCERPT_CHARS = 120
# Statements whose top-level parse node is one of these are kept; EXPLAIN, PREPARE and
# the rest of the utility statements (our own probes among them) are not workload.
_WORKLOAD = frozenset({"SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"})


@dataclass(frozen=True, slots=True)
class Shape:
    """What the evidence needs of a statement's text."""

    tables: tuple[str, ...]  # "schema.table" of the spec's tables it touches
    fingerprint: str  # pglast's, 16 hex digits: short, and the same for the same shape
    excerpt: str  # the normalised text's start (constants are $n already)
    parameters: int  # the highest $n
    plannable: bool  # a SELECT: the plan probes ask only about reads
    text: str  # the whole normalised text, for the plan probes; kept in memory only


class Classifier:
    """Statement text to :class:`Shape` (None: it touches none of the spec's tables, or does
    not parse), memoised by queryid so each text is parsed once however often it is sampled."""

    def __init__(self, tables: Collection[tuple[str, str]]) -> None:
        self._tables = frozenset(f"{schema}.{name}" for schema, name in tables)
        self._by_name: dict[str, str] = {}
        for schema, name in sorted(tables, key=lambda t: (t[0] != "public", t)):
            self._by_name.setdefault(name, f"{schema}.{name}")  # unqualified: public first
        self._names = tuple({name.lower() for _, name in tables})
        self.shapes: dict[int, Shape | None] = {}
        self.unparseable = 0
        self._array: tuple[int, str] | None = None  # (entries, literal)

    @property
    def known(self) -> Collection[int]:
        return self.shapes.keys()

    @property
    def known_array(self) -> str:
        """The known queryids as a PostgreSQL array literal, rebuilt only when they change."""
        if self._array is None or self._array[0] != len(self.shapes):
            self._array = (len(self.shapes), "{" + ",".join(map(str, self.shapes)) + "}")
        return self._array[1]

    def shape(self, queryid: int, text: str | None) -> Shape | None:
        if queryid in self.shapes:
            return self.shapes[queryid]
        if text is None:
            return None  # not sent: known to an earlier classifier; asked again next time
        shape = self._classify(text)
        self.shapes[queryid] = shape
        return shape

    def keep_only(self, present: Collection[int]) -> None:
        """Forget queryids gone from the view: the cache stays as large as the view."""
        if len(self.shapes) > len(present):
            self.shapes = {q: s for q, s in self.shapes.items() if q in present}
            self._array = None

    def _classify(self, text: str) -> Shape | None:
        lowered = text.lower()
        if not any(name in lowered for name in self._names):
            return None  # cannot name a spec table: no need to parse
        try:
            tree = json.loads(parser.parse_sql_json(text))
            fingerprint = parser.fingerprint(text)
        except (parser.ParseError, ValueError):
            self.unparseable += 1
            return None
        statements = [next(iter(s["stmt"])) for s in tree.get("stmts", ()) if s.get("stmt")]
        if not statements or any(kind not in _WORKLOAD for kind in statements):
            return None
        walk = _Walk()
        walk.visit(tree)
        tables = sorted({t for t in (self._resolve(r, walk.ctes) for r in walk.ranges) if t})
        if not tables:
            return None
        return Shape(
            tables=tuple(tables),
            fingerprint=fingerprint,
            excerpt=" ".join(text.split())[:EXCERPT_CHARS],
            parameters=walk.parameters,
            plannable=statements == ["SelectStmt"],
            text=text,
        )

    def _resolve(self, relation: tuple[str | None, str], ctes: Collection[str]) -> str | None:
        schema, name = relation
        if schema is None:
            return None if name in ctes else self._by_name.get(name)
        qualified = f"{schema}.{name}"
        return qualified if qualified in self._tables else None


class _Walk:
    """The relations, CTE names and highest parameter number of a parse tree (pglast JSON)."""

    def __init__(self) -> None:
        self.ranges: list[tuple[str | None, str]] = []
        self.ctes: set[str] = set()
        self.parameters = 0

    def visit(self, node: Any) -> None:
        for item in tree_nodes(node):
            for key, value in item.items():
                # A RangeVar is wrapped where any node may stand (FROM), bare where only
                # a relation may (the target of INSERT, UPDATE, DELETE, MERGE).
                if key == "RangeVar" or (key == "relation" and "relname" in value):
                    self.ranges.append((value.get("schemaname"), value["relname"]))
                elif key == "CommonTableExpr":
                    self.ctes.add(value["ctename"])
                elif key == "ParamRef":
                    self.parameters = max(self.parameters, int(value.get("number", 0)))
