"""What a repair may do to data: never truncate, round or lose a value it was not allowed to.

The spec asks for narrower column types than the table holds; the values are
read before and after the script: by default the changes are held back and
listed, and with ``--allow-data-loss`` a change that would alter a value stops
the script (ON_ERROR_STOP) with the table untouched. Then random drifts of
the examples, and random type changes over random values, as properties.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.schema import repair, spec
from monitor.schema.compare.diff import diff
from monitor.schema.model import Schema, State
from tests.support.drifts import DRIFT, SECURITY_DRIFTS
from tests.support.repair_corpus import (
    DEFAULT,
    EVERYTHING,
    Databases,
    databases,
    listed,
    name_of,
    psql,
    snapshot,
    spec_of,
)

WIDE = (
    "CREATE TABLE public.accounts (id int PRIMARY KEY, name varchar(200), amount numeric(12,3),"
    " big bigint, code text, at timestamptz);"
)
NARROW = (
    "CREATE TABLE public.accounts (id int PRIMARY KEY, name varchar(120), amount numeric(12,2),"
    " big integer, code integer, at date);"
)
ROWS = (
    "INSERT INTO public.accounts VALUES"
    f" (1, '{'x' * 150}', 1.235, 3000000000, '007', '2025-01-01 10:30:00+00'),"
    " (2, 'short', 2.5, 7, '42', '2025-01-02 00:00:00+00')"
)


def rows(dsn: str, table: str = "public.accounts") -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(f"SELECT * FROM {table} ORDER BY 1::text"))


@pytest.fixture
def dbs(pg_server: str) -> Iterator[Databases]:
    with databases(pg_server) as made:
        yield made


def test_no_narrowing_ever_truncates_or_rounds_a_value(dbs: Databases) -> None:
    wide = dbs.create(setup=WIDE + ROWS)
    expected = spec_of(dbs.dsn(dbs.create(setup=NARROW)))
    before = rows(dbs.dsn(wide))
    findings = diff(expected, snapshot(dbs.dsn(wide)))
    assert {f.name for f in findings} == {"name", "amount", "big", "code", "at"}
    # By default: held back, listed, the script runs, nothing changes.
    default = repair.script(findings, expected, options=DEFAULT)
    assert "5 statement(s) written commented out" in default
    assert psql(dbs.dsn(wide), default).returncode == 0
    assert rows(dbs.dsn(wide)) == before
    assert {name_of(f) for f in diff(expected, snapshot(dbs.dsn(wide)))} <= listed(
        findings, expected, DEFAULT
    )
    # Allowed: the first value that would change stops the script; the table is as it was.
    allowed = repair.script(findings, expected, options=EVERYTHING)
    done = psql(dbs.dsn(wide), allowed)
    assert done.returncode != 0 and "would change in the conversion" in done.stderr, allowed
    assert rows(dbs.dsn(wide)) == before


def test_a_narrowing_whose_values_fit_is_applied_and_keeps_them(dbs: Databases) -> None:
    fitting = "INSERT INTO public.accounts VALUES (1, 'short', 2.5, 7, '42', '2025-01-02')"
    wide = dbs.create(setup=WIDE + fitting)
    expected = spec_of(dbs.dsn(dbs.create(setup=NARROW)))
    before = [tuple(str(v) for v in row) for row in rows(dbs.dsn(wide))]
    findings = diff(expected, snapshot(dbs.dsn(wide)))
    done = psql(dbs.dsn(wide), repair.script(findings, expected, options=EVERYTHING))
    assert done.returncode == 0, done.stderr
    assert diff(expected, snapshot(dbs.dsn(wide))) == ()
    after = [tuple(str(v) for v in row) for row in rows(dbs.dsn(wide))]
    # The same values in the narrower types (2.5 stays 2.50 as numeric(12,2) writes it).
    assert after == [("1", "short", "2.50", "7", "42", "2025-01-02")] and before


def test_set_not_null_on_a_column_with_nulls_warns_and_the_script_goes_on(dbs: Databases) -> None:
    source = dbs.create(setup=WIDE + "INSERT INTO public.accounts (id) VALUES (1)")
    target = dbs.create(setup=WIDE.replace("name varchar(200)", "name varchar(200) NOT NULL"))
    expected = spec_of(dbs.dsn(target))
    findings = diff(expected, snapshot(dbs.dsn(source)))
    done = psql(dbs.dsn(source), repair.script(findings, expected, options=EVERYTHING))
    assert done.returncode == 0 and "holds nulls: NOT NULL is left unset" in done.stderr
    assert rows(dbs.dsn(source)) == [(1, None, None, None, None, None)]


def test_an_enum_label_in_use_is_never_removed_from_under_its_rows(dbs: Databases) -> None:
    setup = (
        "CREATE TYPE public.level AS ENUM ('low', 'mid', 'high');"
        " CREATE TABLE public.jobs (id int, level public.level DEFAULT 'low');"
    )
    source = dbs.create(setup=setup + "INSERT INTO public.jobs VALUES (1, 'mid'), (2, 'high')")
    spare = dbs.create(template=source)
    expected = spec_of(dbs.dsn(dbs.create(setup=setup.replace("'mid', ", ""))))
    findings = diff(expected, snapshot(dbs.dsn(source)))
    before = rows(dbs.dsn(source), "public.jobs")
    done = psql(dbs.dsn(source), repair.script(findings, expected, options=EVERYTHING))
    assert done.returncode != 0 and "invalid input value for enum" in done.stderr
    assert rows(dbs.dsn(source), "public.jobs") == before
    # Once no row holds the label, the same script removes it.
    with psycopg.connect(dbs.dsn(spare), autocommit=True) as conn:
        conn.execute("DELETE FROM public.jobs WHERE level = 'mid'")
    done = psql(dbs.dsn(spare), repair.script(findings, expected, options=EVERYTHING))
    assert done.returncode == 0, done.stderr
    assert diff(expected, snapshot(dbs.dsn(spare))) == ()
    assert rows(dbs.dsn(spare), "public.jobs") == [(2, "high")]


# --- properties --------------------------------------------------------------------------------

# (type, values that fit it): what a column may hold before a repair retypes it.
TYPES = {
    "varchar(5)": st.text("ab'é", max_size=5),
    "varchar(12)": st.text("ab'é", max_size=12),
    "text": st.text("ab0' ", max_size=14),
    "smallint": st.integers(-(2**15), 2**15 - 1),
    "integer": st.integers(-(2**31), 2**31 - 1),
    "bigint": st.integers(-(2**63), 2**63 - 1),
    "numeric(6,2)": st.decimals("-9999.99", "9999.99", places=2),
    "numeric(9,3)": st.decimals("-999999.999", "999999.999", places=3),
    "date": st.dates(),
}


@st.composite
def retypings(draw: st.DrawFn) -> tuple[str, str, list[object]]:
    old, new = draw(st.lists(st.sampled_from(sorted(TYPES)), min_size=2, max_size=2, unique=True))
    values = draw(st.lists(TYPES[old], min_size=1, max_size=4))
    return old, new, values


@pytest.mark.slow
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(retyping=retypings())
def test_no_type_change_ever_alters_a_value_it_was_allowed_to_touch(
    dbs: Databases, retyping: tuple[str, str, list[object]]
) -> None:
    """With --allow-data-loss: either the values come back unchanged, read as the old type, or
    the script stops and the table is as it was."""
    old, new, values = retyping
    dsn = dbs.dsn(dbs.create())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE public.t (id int, v {old})".encode())
        for position, value in enumerate(values):
            conn.execute("INSERT INTO public.t VALUES (%s, %s)", (position, value))
    live = snapshot(dsn)
    table = live.schemas[0].tables[0]
    assert table.columns is not None
    retyped = dataclasses.replace(table.columns[1], type=new)
    wanted = dataclasses.replace(table, columns=(table.columns[0], retyped))
    expected = State((Schema("public", (wanted,)),))
    read_back = f"SELECT id, v::{old}::text FROM public.t ORDER BY id"
    with psycopg.connect(dsn) as conn:
        before = list(conn.execute(read_back.encode()))
    findings = diff(expected, live)
    done = psql(dsn, repair.script(findings, expected, options=EVERYTHING))
    with psycopg.connect(dsn) as conn:
        after = list(conn.execute(read_back.encode()))
    assert after == before, done.stdout + done.stderr
    if done.returncode == 0:
        assert diff(expected, snapshot(dsn)) == ()


# Drifts of the examples with no setup of their own, as a person would make them by hand.
EDITS = [statement for _, statement, _ in DRIFT] + [
    edit for edit, setup, _ in SECURITY_DRIFTS.values() if not setup
]


@pytest.mark.slow
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits=st.lists(st.sampled_from(EDITS), min_size=1, max_size=5, unique=True))
def test_random_drifts_of_the_examples_are_repaired_to_a_clean_check(
    dbs: Databases, phase3_template: str, public_spec_state: State, edits: list[str]
) -> None:
    dsn = dbs.dsn(dbs.create(template=phase3_template))
    with psycopg.connect(dsn, autocommit=True) as conn:
        for edit in edits:
            # An earlier edit may have removed what this one changes.
            with contextlib.suppress(psycopg.Error):
                conn.execute(edit.encode())
    findings = diff(public_spec_state, snapshot(dsn))
    done = psql(dsn, repair.script(findings, public_spec_state, options=EVERYTHING))
    assert done.returncode == 0, done.stderr
    left = {name_of(f) for f in diff(public_spec_state, snapshot(dsn))}
    assert left <= listed(findings, public_spec_state, EVERYTHING), (edits, left)


@pytest.fixture(scope="module")
def public_spec_state(public_spec: Path) -> State:
    return spec.load(public_spec)
