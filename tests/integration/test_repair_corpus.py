"""The repair script against a corpus of schema pairs (tests/support/schema_pairs.py).

Each pair both ways: the spec taken from one database, the other checked
against it; the script applied with ``psql -v ON_ERROR_STOP=1``; then `check`
again. A script never aborts; by default only what it lists as not repaired
(or holds back because it may lose data, or because it is a narrowing) is
left; with ``--allow-data-loss --restore-narrowed`` only what it lists as
not repaired. The whole corpus is slow (about 75 pairs); the pairs marked
``fast`` stand for it in the fast suite. Its figures: ``python -m
tests.support.repair_corpus``.
"""

from __future__ import annotations

import pytest

from tests.support.repair_corpus import Applied, ensure_roles, run_pair
from tests.support.schema_pairs import PAIRS, ROLES, Pair

CASES = [
    pytest.param(pair, id=pair.name, marks=() if pair.fast else (pytest.mark.slow,))
    for pair in PAIRS
]


@pytest.fixture(scope="module")
def server(pg_server: str) -> str:
    ensure_roles(pg_server, ROLES)
    return pg_server


def explain(applied: Applied) -> str:
    return f"{applied.stderr}\nleft: {sorted(applied.left)}\n--- script:\n{applied.script}"


@pytest.mark.parametrize("pair", CASES)
def test_a_pair_is_seen_and_repaired_both_ways(server: str, pair: Pair) -> None:
    for way in run_pair(server, pair.a, pair.b):
        assert way.findings, "a difference went unseen"
        for applied in (way.default, way.everything):
            assert not applied.aborted, explain(applied)
            assert applied.left <= applied.listed, explain(applied)
        assert "-- held:" not in way.everything.script


def test_the_corpus_covers_every_ordering_hazard_and_enough_pairs() -> None:
    names = {pair.name for pair in PAIRS}
    assert len(PAIRS) >= 60
    for hazard in (
        "serial table",  # a sequence before the table whose default uses it
        "view relying on a primary key",  # a key before the view
        "views over views",  # dependents dropped first
        "unique constraint and its index",  # a constraint with its index
        "table replaced by a view",  # and back, the other way
        "view columns change",  # drop and create
        "enum column to another enum",  # through text
        "column added to a partitioned table",  # not again on each partition
        "sequence owned by a column",
        "inherited column",
        "enum labels appended",
        "identity on a plain column",
    ):
        assert hazard in names
