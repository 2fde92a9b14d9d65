"""The diff of schemas, persistence, collations, partitioning, inheritance, owner privileges
and publication membership, and how the spec writes and reads them. Pure."""

from __future__ import annotations

import dataclasses

import pytest

from monitor.errors import InputError
from monitor.schema import spec
from monitor.schema.compare.diff import diff
from monitor.schema.compare.layout import with_schema_policy
from monitor.schema.model import (
    DRIFT_COMBINATIONS,
    Collation,
    Column,
    Extra,
    ExtraPolicy,
    Partition,
    Publication,
    Schema,
    State,
    Table,
)
from tests.support.paths import SPEC

Found = set[tuple[str, str, str, str | None, str]]

EVENTS = Table(
    "events",
    columns=(Column("at", "date", nullable=False),),
    partitioned_by="RANGE (at)",
    partitions=(
        Partition("archive.events_2023", "FOR VALUES FROM ('2023-01-01') TO ('2024-01-01')"),
        Partition("events_2024", "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"),
    ),
    grants=frozenset(),
)


def state(*tables: Table, **fields: object) -> State:
    return State(schemas=(Schema("public", tables),), **fields)  # type: ignore[arg-type]


def found(expected: State, actual: State, skipped: tuple[str, ...] = ()) -> Found:
    findings = diff(expected, actual, skipped=skipped)
    for f in findings:  # the metrics show only what the registry holds
        assert (f.kind, f.change, f.severity) in DRIFT_COMBINATIONS, f
    return {(str(f.kind), str(f.change), str(f.severity), f.table, f.name) for f in findings}


def test_a_missing_schema_is_critical_when_it_holds_tables() -> None:
    expected = State(schemas=(Schema("app", (Table("accounts"),)), Schema("empty")))
    assert found(expected, State(schemas=())) == {
        ("schema", "missing", "critical", None, "app"),
        ("table", "missing", "critical", "accounts", "accounts"),
        ("schema", "missing", "warning", None, "empty"),
    }


def test_other_schemas_are_reported_only_when_the_spec_says_so() -> None:
    live = state(database_schemas=("auth", "pgsodium_masks", "public", "stray"))
    assert found(state(), live) == set()
    assert found(state(extra_schemas=Extra.REPORT), live) == {
        ("schema", "unexpected", "warning", None, "stray")
    }
    assert found(state(absent_schemas=("stray",)), live) == {
        ("schema", "unexpected", "warning", None, "stray")
    }


def test_a_snapshot_of_every_schema_reports_new_ones_and_one_of_some_does_not() -> None:
    every = state(database_schemas=("auth", "public"))
    assert with_schema_policy(every).extra_schemas is Extra.REPORT
    some = state(database_schemas=("private", "public"))
    assert with_schema_policy(some).extra_schemas is Extra.IGNORE


def test_persistence_partitioning_and_parents_are_one_table_finding() -> None:
    plain = Table("t", unlogged=False)
    assert found(state(plain), state(dataclasses.replace(plain, unlogged=True))) == {
        ("table", "changed", "critical", "t", "t")
    }
    changed = dataclasses.replace(plain, unlogged=True, inherits=("public.base",))
    (finding,) = diff(state(changed), state(plain))
    assert finding.severity == "warning"
    assert finding.message == (
        "table public.t changed: LOGGED, expected UNLOGGED; inherits nothing,"
        " expected inherits public.base"
    )
    partitioned = dataclasses.replace(plain, partitioned_by="LIST (region)")
    assert found(state(partitioned), state(plain)) == {("table", "changed", "warning", "t", "t")}


def test_partitions_detached_rebound_and_unexpected() -> None:
    bound_2024 = "FOR VALUES FROM ('2024-01-01') TO ('2024-07-01')"
    live = dataclasses.replace(
        EVENTS,
        partitions=(Partition("events_2024", bound_2024), Partition("events_2025", "DEFAULT")),
    )
    assert found(state(EVENTS), state(live)) == {
        ("partition", "missing", "critical", "events", "archive.events_2023"),
        ("partition", "changed", "warning", "events", "events_2024"),
        ("partition", "unexpected", "warning", "events", "events_2025"),
    }
    # Behind a lock, a partition is unknown this time, not detached.
    locked = found(state(EVENTS), state(live), skipped=("archive.events_2023",))
    assert ("partition", "missing", "critical", "events", "archive.events_2023") not in locked


def test_a_spec_silent_about_partitions_reports_none() -> None:
    hand = dataclasses.replace(EVENTS, partitions=None)
    live = dataclasses.replace(EVENTS, partitions=(Partition("events_2099", "DEFAULT"),))
    assert found(state(hand), state(live)) == set()
    # One that lists them but ignores unlisted tables ignores unlisted partitions too.
    quiet = State(schemas=(Schema("public", (EVENTS,), extra=ExtraPolicy(tables=Extra.IGNORE)),))
    extra = Partition("events_2099", "DEFAULT")
    added = dataclasses.replace(EVENTS, partitions=(*(EVENTS.partitions or ()), extra))
    assert found(quiet, state(added)) == set()


def test_privileges_revoked_from_the_owner_are_narrowed() -> None:
    table = Table("t", owner="postgres", grants=frozenset())
    revoked = dataclasses.replace(table, owner_privileges=("SELECT", "INSERT"))
    assert found(state(table), state(revoked)) == {
        ("privilege", "narrowed", "warning", "t", "postgres (owner)")
    }
    (finding,) = diff(state(table), state(revoked))
    assert finding.actual["privileges"] == ["SELECT", "INSERT"]
    # A spec that does not check grants does not check the owner's either.
    unchecked = dataclasses.replace(table, grants=None)
    assert found(state(unchecked), state(revoked)) == set()


def test_a_table_in_a_publication_the_spec_lacks_is_critical() -> None:
    realtime = Publication("supabase_realtime", tables=("public.integrations", "other.t"))
    live = state(Table("integrations"), publications=(realtime,))
    assert found(state(Table("integrations"), publications=()), live) == {
        ("publication", "unexpected", "critical", "integrations", "supabase_realtime")
    }
    # A spec that lists no publications at all does not check them.
    assert found(state(Table("integrations")), live) == set()
    listed = Publication("supabase_realtime")
    assert found(state(Table("integrations"), publications=(listed,)), live) == {
        ("publication", "widened", "critical", None, "supabase_realtime")
    }


def test_a_published_table_in_a_schema_with_a_dot_in_its_name_is_found_there() -> None:
    realtime = Publication("supabase_realtime", tables=("my.app.accounts",))
    expected = State(schemas=(Schema("my.app", (Table("accounts"),)),), publications=())
    live = State(schemas=(Schema("my.app", (Table("accounts"),)),), publications=(realtime,))
    assert found(expected, live) == {
        ("publication", "unexpected", "critical", "accounts", "supabase_realtime")
    }


def test_collations_of_columns_and_collations_themselves() -> None:
    column = Table("t", columns=(Column("email", "text", collation="C"),))
    default = Table("t", columns=(Column("email", "text"),))
    assert found(state(column), state(default)) == {("column", "changed", "warning", "t", "email")}
    nocase = Collation("nocase", "icu", "und-u-ks-level2", deterministic=False)
    expected = State(schemas=(Schema("public", collations=(nocase,)),))
    live = State(
        schemas=(
            Schema(
                "public",
                collations=(dataclasses.replace(nocase, deterministic=True), Collation("c2")),
            ),
        )
    )
    assert found(expected, live) == {
        ("collation", "changed", "warning", "nocase", "nocase"),
        ("collation", "unexpected", "warning", "c2", "c2"),
    }


def test_the_spec_writes_and_reads_every_new_field() -> None:
    table = dataclasses.replace(
        EVENTS,
        unlogged=False,
        owner="postgres",
        owner_privileges=("SELECT",),
        inherits=("public.base",),
        columns=(Column("at", "date", nullable=False, collation="public.nocase"),),
    )
    nocase = Collation("nocase", "icu", "und-u-ks-level2", deterministic=False)
    written = State(
        schemas=(Schema("public", (table,), collations=(nocase,)),),
        absent_schemas=("legacy",),
        extra_schemas=Extra.REPORT,
    )
    text = spec.dumps(written)
    assert "partitioned_by: RANGE (at)" in text
    assert "extra_schemas: report" in text
    assert spec.loads(text) == written


def test_a_hand_spec_names_parents_bare_and_partitions_with_their_migration() -> None:
    loaded = spec.loads(
        """
version: 1
schemas:
  public:
    tables:
      child:
        inherits: [base]
        owner_privileges: [select, Insert]
        partitions:
          p1: {bound: DEFAULT, migration: 20250101000000_p1}
"""
    )
    (table,) = loaded.schemas[0].tables
    assert table.inherits == ("public.base",)
    assert table.owner_privileges == ("SELECT", "INSERT")
    assert table.partitions == (Partition("p1", "DEFAULT", "20250101000000_p1"),)


def test_bad_values_are_errors_with_their_line() -> None:
    text = """version: 1
extra_schemas: sometimes
schemas:
  public:
    tables:
      t:
        owner_privileges: [SELEKT]
"""
    with pytest.raises(InputError) as caught:
        spec.loads(text, "spec.yaml")
    message = str(caught.value)
    assert "spec.yaml:2" in message and "sometimes" in message
    assert "spec.yaml:7" in message and "SELEKT" in message


def test_the_example_spec_loads_with_every_default() -> None:
    loaded = spec.load(SPEC)
    assert loaded.extra_schemas is Extra.IGNORE and loaded.absent_schemas == ()
    for table in loaded.schemas[0].tables:
        assert (table.unlogged, table.partitioned_by, table.inherits) == (False, None, ())
        assert table.partitions is None and table.owner_privileges is None
