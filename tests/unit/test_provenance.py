"""Provenance: which migration made each object, which were dropped, what the bootstrap owns."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given

from monitor.errors import MonitorError
from monitor.schema.model import (
    Absent,
    Column,
    Constraint,
    ConstraintType,
    Extra,
    ExtraPolicy,
    Index,
    Kind,
    Ledger,
    Policy,
    Rls,
    Schema,
    State,
    Table,
    Trigger,
)
from monitor.schema.spec import dumps, loads
from monitor.schema.spec.provenance import Step, provenance, versions_of
from monitor.schema.spec.provenance_platform import live_boundary
from tests.support.strategies import states

BASE = "20250101000000_base_schema"
CREATE = "20250122000000_create_integrations_table"
INDEXES = "20250123000000_phase3_performance_indexes"
HARDEN = "20250123000002_phase3_security_hardening"

ID = Column("id", "uuid", nullable=False, default="gen_random_uuid()")
ORG = Column("organization_id", "uuid", nullable=False)
ACTIVE = Column("is_active", "boolean", nullable=False, default="true")
PKEY = Constraint("integrations_pkey", ConstraintType.PRIMARY_KEY, ("id",))
PKEY_INDEX = Index("integrations_pkey", ("id",), unique=True, constraint="integrations_pkey")
ACTIVE_INDEX = Index(
    "idx_active_integrations",
    ("organization_id",),
    where="is_active = true AND organization_id IS NOT NULL",
)
VIEW = Policy("Users can view", command="SELECT", roles=frozenset({"authenticated"}))
PROFILE_TRIGGER = Trigger("on_auth_user_created", "AFTER", ("INSERT",), "ROW", "handle_new_user()")


Item = Column | Constraint | Index | Policy | Trigger
NO_RLS = Rls(enabled=False)


def table(name: str, *items: Item, rls: Rls = NO_RLS) -> Table:
    """A table as a snapshot reads it: every collection filled, no provenance."""

    def of(kind: type[Item]) -> tuple[Any, ...]:
        return tuple(sorted((i for i in items if isinstance(i, kind)), key=lambda i: i.name))

    return Table(
        name=name,
        columns=tuple(i for i in items if isinstance(i, Column)),  # in table order
        constraints=of(Constraint),
        indexes=of(Index),
        policies=of(Policy),
        triggers=of(Trigger),
        rls=rls,
    )


def state(*tables: Table, **other_schemas: tuple[Table, ...]) -> State:
    schemas = [Schema("public", tuple(sorted(tables, key=lambda t: t.name)))]
    schemas += [Schema(name, found) for name, found in other_schemas.items()]
    return State(schemas=tuple(sorted(schemas, key=lambda s: s.name)))


EMPTY = state()
INTEGRATIONS = table("integrations", ID, ORG, ACTIVE, PKEY, PKEY_INDEX, rls=Rls(enabled=True))
USERS = table("users", ID, Index("users_pkey", ("id",), unique=True))


def replayed(
    baseline: State,
    steps: list[tuple[str, State]],
    *,
    schemas: tuple[str, ...] = ("public",),
    ledger: Ledger | None = None,
    platform: dict[str, tuple[str, ...]] | None = None,
) -> State:
    """The spec of a replay that left these states, each object's definition its version."""
    return provenance(
        baseline,
        [Step(m, versions_of(s)) for m, s in steps],
        start=versions_of(baseline),
        final=steps[-1][1] if steps else baseline,
        schemas=schemas,
        ledger=ledger,
        platform=platform,
    )


def build(
    *steps: tuple[str, State], baseline: State = EMPTY, schemas: tuple[str, ...] = ("public",)
) -> State:
    return replayed(baseline, list(steps), schemas=schemas)


def bare(found: State) -> State:
    """`found` as a snapshot would read it: no provenance, every collection filled."""

    def stripped(items: tuple[Any, ...] | None) -> tuple[Any, ...]:
        return tuple(dataclasses.replace(i, migration=None) for i in items or ())

    return dataclasses.replace(
        found,
        ledger=None,
        schemas=tuple(
            dataclasses.replace(
                schema,
                tables=tuple(
                    Table(
                        name=t.name,
                        columns=stripped(t.columns),
                        constraints=stripped(t.constraints),
                        indexes=stripped(t.indexes),
                        policies=stripped(t.policies),
                        triggers=stripped(t.triggers),
                        rls=t.rls or Rls(enabled=False),
                    )
                    for t in schema.tables
                ),
            )
            for schema in found.schemas
        ),
    )


def public(spec: State) -> Schema:
    found = spec.schema("public")
    assert found is not None
    return found


def only_table(spec: State, name: str = "integrations", schema: str = "public") -> Table:
    found = spec.schema(schema)
    assert found is not None
    result = found.table(name)
    assert result is not None, f"{schema}.{name} missing from {found.tables}"
    return result


def provenance_of(found: Table) -> dict[str, str | None]:
    """Name -> migration of every object of a table, the table itself under ''."""
    stamps: dict[str, str | None] = {"": found.migration}
    for collection in ("columns", "constraints", "indexes", "policies", "triggers"):
        for item in getattr(found, collection) or ():
            stamps[f"{collection}:{item.name}"] = item.migration
    return stamps


def test_objects_created_by_a_migration_carry_its_name() -> None:
    spec = build((CREATE, state(INTEGRATIONS)))
    assert set(provenance_of(only_table(spec)).values()) == {CREATE}


def test_definitions_are_kept_as_the_catalog_gave_them() -> None:
    assert bare(build((CREATE, state(INTEGRATIONS)))) == state(INTEGRATIONS)


def test_a_later_change_restamps_only_the_changed_object() -> None:
    changed_default = dataclasses.replace(ACTIVE, default="false")
    later = table("integrations", ID, ORG, changed_default, PKEY, PKEY_INDEX, rls=Rls(enabled=True))
    stamps = provenance_of(only_table(build((CREATE, state(INTEGRATIONS)), (HARDEN, state(later)))))
    assert stamps["columns:is_active"] == HARDEN
    assert stamps["columns:id"] == CREATE
    assert stamps[""] == CREATE  # a table is made by the migration that created it


def test_an_object_added_later_carries_the_adding_migration() -> None:
    with_index = dataclasses.replace(INTEGRATIONS, indexes=(ACTIVE_INDEX, PKEY_INDEX))
    spec = build((CREATE, state(INTEGRATIONS)), (INDEXES, state(with_index)))
    assert provenance_of(only_table(spec))["indexes:idx_active_integrations"] == INDEXES


def test_a_dropped_index_is_absent_with_the_dropping_migration() -> None:
    with_index = dataclasses.replace(INTEGRATIONS, indexes=(ACTIVE_INDEX, PKEY_INDEX))
    spec = build((CREATE, state(with_index)), (HARDEN, state(INTEGRATIONS)))
    assert public(spec).absent == (Absent(Kind.INDEX, "idx_active_integrations", None, HARDEN),)
    assert [i.name for i in only_table(spec).indexes or ()] == ["integrations_pkey"]


def test_a_dropped_column_and_policy_are_absent_with_their_table_named() -> None:
    with_policy = dataclasses.replace(INTEGRATIONS, policies=(VIEW,))
    without = dataclasses.replace(INTEGRATIONS, columns=(ID, ORG))
    spec = build((CREATE, state(with_policy)), (HARDEN, state(without)))
    assert set(public(spec).absent) == {
        Absent(Kind.COLUMN, "is_active", "integrations", HARDEN),
        Absent(Kind.POLICY, "Users can view", "integrations", HARDEN),
    }


def test_a_dropped_table_is_absent_alone_not_its_contents() -> None:
    spec = build((CREATE, state(INTEGRATIONS)), (HARDEN, EMPTY))
    assert public(spec).tables == ()
    assert public(spec).absent == (Absent(Kind.TABLE, "integrations", None, HARDEN),)


def test_an_object_dropped_alone_and_then_with_its_table_leaves_only_the_table() -> None:
    with_index = dataclasses.replace(INTEGRATIONS, indexes=(ACTIVE_INDEX, PKEY_INDEX))
    spec = build((CREATE, state(with_index)), (INDEXES, state(INTEGRATIONS)), (HARDEN, EMPTY))
    assert public(spec).absent == (Absent(Kind.TABLE, "integrations", None, HARDEN),)


def test_an_object_dropped_and_created_again_is_present_not_absent() -> None:
    with_index = dataclasses.replace(INTEGRATIONS, indexes=(ACTIVE_INDEX, PKEY_INDEX))
    spec = build(
        (CREATE, state(with_index)), (INDEXES, state(INTEGRATIONS)), (HARDEN, state(with_index))
    )
    assert public(spec).absent == ()
    assert provenance_of(only_table(spec))["indexes:idx_active_integrations"] == HARDEN


def test_a_table_dropped_and_created_again_is_stamped_by_the_recreating_migration() -> None:
    spec = build((CREATE, state(INTEGRATIONS)), (INDEXES, EMPTY), (HARDEN, state(INTEGRATIONS)))
    assert public(spec).absent == ()
    assert set(provenance_of(only_table(spec)).values()) == {HARDEN}


def test_the_latest_drop_names_the_absent_object() -> None:
    with_index = dataclasses.replace(INTEGRATIONS, indexes=(ACTIVE_INDEX, PKEY_INDEX))
    spec = build(
        (BASE, state(with_index)),
        (CREATE, state(INTEGRATIONS)),
        (INDEXES, state(with_index)),
        (HARDEN, state(INTEGRATIONS)),
    )
    assert public(spec).absent == (Absent(Kind.INDEX, "idx_active_integrations", None, HARDEN),)


def test_an_index_moved_to_another_table_is_not_absent() -> None:
    logs = table("logs", ID)
    spec = build(
        (CREATE, state(dataclasses.replace(INTEGRATIONS, indexes=(ACTIVE_INDEX,)), logs)),
        (HARDEN, state(INTEGRATIONS, dataclasses.replace(logs, indexes=(ACTIVE_INDEX,)))),
    )
    assert public(spec).absent == ()


def test_a_renamed_table_leaves_the_old_name_absent() -> None:
    renamed = dataclasses.replace(INTEGRATIONS, name="connections")
    spec = build((CREATE, state(INTEGRATIONS)), (HARDEN, state(renamed)))
    assert public(spec).absent == (Absent(Kind.TABLE, "integrations", None, HARDEN),)
    assert only_table(spec, "connections").migration == HARDEN


BOOTSTRAP = state(auth=(USERS,))


def test_untouched_bootstrap_tables_and_schemas_are_left_out() -> None:
    spec = build((CREATE, state(INTEGRATIONS, auth=(USERS,))), baseline=BOOTSTRAP)
    assert [s.name for s in spec.schemas] == ["public"]
    assert [t.name for t in public(spec).tables] == ["integrations"]


def test_a_policy_on_a_bootstrap_table_is_kept_without_the_rest_of_the_table() -> None:
    users = dataclasses.replace(USERS, policies=(VIEW,))
    spec = build((CREATE, state(INTEGRATIONS, auth=(users,))), baseline=BOOTSTRAP)
    assert only_table(spec, "users", "auth") == Table(
        name="users", policies=(dataclasses.replace(VIEW, migration=CREATE),)
    )


def test_a_trigger_and_rls_on_a_bootstrap_table_are_kept() -> None:
    users = dataclasses.replace(USERS, triggers=(PROFILE_TRIGGER,), rls=Rls(enabled=True))
    spec = build((CREATE, state(auth=(users,))), baseline=BOOTSTRAP)
    found = only_table(spec, "users", "auth")
    assert found.triggers == (dataclasses.replace(PROFILE_TRIGGER, migration=CREATE),)
    assert found.rls == Rls(enabled=True)
    assert (found.columns, found.indexes, found.constraints, found.policies) == (None,) * 4


def test_a_schema_holding_bootstrap_tables_ignores_them_by_name_and_reports_the_rest() -> None:
    sessions = table("sessions", ID)
    users = dataclasses.replace(USERS, policies=(VIEW,))
    spec = build((CREATE, state(auth=(users, sessions))), baseline=state(auth=(USERS, sessions)))
    auth = spec.schema("auth")
    assert auth is not None
    # A table or policy the user adds to auth by hand is still reported; the platform's
    # tables are not, nor their columns, indexes and triggers (they vary with its version).
    assert (auth.extra.tables, auth.extra.policies) == (Extra.REPORT, Extra.REPORT)
    assert {auth.extra.for_kind(k) for k in ("columns", "indexes", "constraints", "triggers")} == {
        Extra.IGNORE
    }
    assert auth.ignore == ("sessions",)
    assert public(spec).extra == ExtraPolicy()


def test_platform_tables_beyond_the_bootstrap_are_ignored_too() -> None:
    users = dataclasses.replace(USERS, policies=(VIEW,))
    spec = replayed(
        BOOTSTRAP, [(CREATE, state(auth=(users,)))], platform={"auth": ("users", "mfa_factors")}
    )
    auth = spec.schema("auth")
    assert auth is not None
    assert auth.ignore == ("mfa_factors",)  # users is listed: compared, not ignored


def test_a_column_added_then_dropped_on_a_bootstrap_table_is_absent_and_dumps() -> None:
    widened = table("users", ID, Column("nickname", "text"), *(USERS.indexes or ()))
    spec = build(
        (CREATE, state(auth=(widened,))),
        (INDEXES, state(auth=(USERS,))),
        baseline=BOOTSTRAP,
    )
    auth = spec.schema("auth")
    assert auth is not None
    assert auth.table("users") == Table(name="users")
    assert auth.absent == (Absent(Kind.COLUMN, "nickname", "users", INDEXES),)
    assert loads(dumps(spec)) == spec


def test_bootstrap_objects_in_a_touched_collection_have_no_migration() -> None:
    bootstrap_policy = Policy("Service role reads all", roles=frozenset({"service_role"}))
    baseline = state(auth=(dataclasses.replace(USERS, policies=(bootstrap_policy,)),))
    users = dataclasses.replace(USERS, policies=(bootstrap_policy, VIEW))
    found = only_table(build((CREATE, state(auth=(users,))), baseline=baseline), "users", "auth")
    assert {p.name: p.migration for p in found.policies or ()} == {
        "Service role reads all": None,
        "Users can view": CREATE,
    }


def test_a_bootstrap_table_dropped_by_a_migration_is_absent() -> None:
    spec = build((HARDEN, state(auth=())), baseline=BOOTSTRAP)
    auth = spec.schema("auth")
    assert auth is not None
    assert auth.absent == (Absent(Kind.TABLE, "users", None, HARDEN),)


def test_a_bootstrap_table_created_again_by_a_migration_is_the_migrations() -> None:
    spec = build((CREATE, state(auth=())), (HARDEN, state(auth=(USERS,))), baseline=BOOTSTRAP)
    assert only_table(spec, "users", "auth").migration == HARDEN
    assert only_table(spec, "users", "auth").columns == (dataclasses.replace(ID, migration=HARDEN),)


def test_a_table_a_migration_creates_in_a_bootstrap_schema_is_kept_whole() -> None:
    sessions = table("sessions", ID)
    spec = build((CREATE, state(auth=(USERS, sessions))), baseline=BOOTSTRAP)
    auth = spec.schema("auth")
    assert auth is not None
    assert [t.name for t in auth.tables] == ["sessions"]
    assert auth.table("sessions") == dataclasses.replace(
        sessions,
        migration=CREATE,
        columns=(dataclasses.replace(ID, migration=CREATE),),
        extra=ExtraPolicy(),  # its unlisted parts are reported, the platform tables' are not
    )
    assert auth.extra.columns is Extra.IGNORE


def test_an_asked_schema_is_present_even_when_empty() -> None:
    spec = build((CREATE, state()), baseline=EMPTY)
    assert spec.schemas == (Schema("public"),)


def test_an_asked_schema_that_never_appears_is_an_error() -> None:
    with pytest.raises(MonitorError, match='schema "private" does not exist'):
        build((CREATE, state()), schemas=("public", "private"))


def test_the_ledger_is_the_one_given() -> None:
    ledger = Ledger(applied=("20250101000000", "20250122000000"))
    spec = replayed(EMPTY, [(CREATE, state(INTEGRATIONS))], ledger=ledger)
    assert spec.ledger == ledger


@given(states())
def test_one_migration_from_nothing_gives_back_its_state_stamped_by_it(found: State) -> None:
    snapshot = bare(found)
    spec = replayed(EMPTY, [(CREATE, snapshot)])
    assert bare(spec) == snapshot
    assert all(set(provenance_of(t).values()) == {CREATE} for t in public(spec).tables)


@given(states())
def test_a_migration_that_changes_nothing_yields_no_tables_of_the_bootstrap(found: State) -> None:
    snapshot = bare(found)
    spec = replayed(snapshot, [(CREATE, snapshot)])
    assert public(spec).tables == ()
    assert public(spec).absent == ()


def test_a_snapshot_keeps_the_projects_own_table_in_a_platform_schema_whole_and_reported() -> None:
    objects = table("objects", ID, VIEW)
    reviews = table("avatar_reviews", ID)
    live = state(storage=(objects, reviews))
    storage = live_boundary(live, {"storage": ("objects", "buckets")}).schema("storage")
    assert storage is not None
    kept = {t.name: t for t in storage.tables}
    assert kept["avatar_reviews"] == dataclasses.replace(reviews, extra=ExtraPolicy())
    assert kept["objects"].extra is None and kept["objects"].columns is None
    assert storage.extra.columns is Extra.IGNORE
    assert storage.ignore == ("buckets",)
