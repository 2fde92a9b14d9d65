"""Definitions over the catalog's byte cap: compared by hash, byte for byte."""

from __future__ import annotations

import hashlib

from monitor.schema import hashed, normalize, repair
from monitor.schema.model import Change, Finding, Function, Kind, Schema, Severity, State

BODY = "SELECT 1;  -- a comment\n"
MARKER = hashed.of(BODY)


def test_a_marker_holds_the_md5_and_length_of_the_utf8_bytes() -> None:
    text = "SELECT 'é'"
    digest = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
    assert hashed.of(text) == f"hashed:md5:{digest}:11"
    assert hashed.size(hashed.of(text)) == 11
    assert hashed.size(text) is None
    assert hashed.size("hashed:md5:not-hex:12") is None


def test_a_marker_equals_its_text_and_itself_and_nothing_else() -> None:
    assert hashed.same(BODY, MARKER) is True
    assert hashed.same(MARKER, MARKER) is True
    assert hashed.same(MARKER, BODY + " ") is False  # whitespace counts, by hash
    assert hashed.same(BODY, BODY + " ") is None  # neither hashed: compared as usual


def test_comparisons_by_kind_honour_markers() -> None:
    assert normalize.same_body("sql", BODY, MARKER)
    assert not normalize.same_body("sql", "SELECT 2;", MARKER)
    assert normalize.same_expression("id > 0", hashed.of("id > 0"))
    assert normalize.same_view("SELECT 1", hashed.of("SELECT 1"))
    assert normalize.expression_error(MARKER) is None  # a spec written from a capped read
    assert normalize.view_error(MARKER) is None


def test_a_repair_never_writes_a_hash_as_a_definition() -> None:
    function = Function("big()", returns="integer", language="sql", body=MARKER, kind="function")
    spec = State(schemas=(Schema("public", tables=(), functions=(function,)),))
    missing = Finding(
        Kind.FUNCTION, Change.MISSING, Severity.WARNING, "public", None, "big()", "missing"
    )
    made = repair.fix(missing, spec)
    assert made.statements == () and made.note is not None and "hash" in made.note
