"""The pure diff: every kind of drift with its change and severity, and what is not drift."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from hypothesis import given

from monitor.schema.compare.diff import diff
from monitor.schema.model import (
    Absent,
    Change,
    Column,
    Constraint,
    ConstraintType,
    Extra,
    ExtraPolicy,
    Finding,
    ForeignKey,
    Index,
    Kind,
    Ledger,
    Policy,
    Rls,
    Schema,
    Severity,
    State,
    Table,
    Trigger,
)
from tests.support.strategies import states

CREATE = "20250122000000_create_integrations_table"
INDEXES = "20250123000000_phase3_performance_indexes"
MEMBERS = (
    "(organization_id IN ( SELECT organization_members.organization_id"
    " FROM organization_members WHERE (organization_members.user_id = auth.uid())))"
)

INTEGRATIONS = Table(
    name="integrations",
    migration=CREATE,
    rls=Rls(enabled=True),
    columns=(
        Column("id", "uuid", nullable=False, default="gen_random_uuid()"),
        Column("organization_id", "uuid", nullable=False),
        Column("integration_type", "text", nullable=False),
        Column("is_active", "boolean", nullable=False, default="true"),
        Column("configuration", "jsonb", default="'{}'::jsonb"),
        Column("created_at", "timestamp with time zone", nullable=False, default="now()"),
    ),
    constraints=(
        Constraint(
            "integrations_organization_id_fkey",
            ConstraintType.FOREIGN_KEY,
            ("organization_id",),
            ForeignKey("public.organizations", ("id",), on_delete="CASCADE"),
        ),
        Constraint(
            "integrations_organization_id_integration_type_key",
            ConstraintType.UNIQUE,
            ("organization_id", "integration_type"),
        ),
        Constraint("integrations_pkey", ConstraintType.PRIMARY_KEY, ("id",)),
    ),
    indexes=(
        Index(
            "idx_active_integrations",
            ("organization_id", "integration_type"),
            where="((is_active = true) AND (organization_id IS NOT NULL))",
            migration=INDEXES,
        ),
        Index("idx_integrations_type", ("integration_type",)),
        Index(
            "integrations_organization_id_integration_type_key",
            ("organization_id", "integration_type"),
            unique=True,
            constraint="integrations_organization_id_integration_type_key",
        ),
        Index("integrations_pkey", ("id",), unique=True, constraint="integrations_pkey"),
    ),
    policies=(
        Policy(
            "Users can view organization integrations",
            command="SELECT",
            roles=frozenset({"authenticated"}),
            using=MEMBERS,
        ),
    ),
    triggers=(
        Trigger(
            "update_integrations_updated_at",
            timing="BEFORE",
            events=("UPDATE",),
            level="ROW",
            function="update_updated_at_column()",
        ),
    ),
)
UNIQUE = "integrations_organization_id_integration_type_key"
LEDGER = Ledger(applied=("20250122000000", "20250123000000"))
SPEC = State(schemas=(Schema("public", tables=(INTEGRATIONS,)),), ledger=LEDGER)


def live(edit: Callable[[Table], Table], ledger: Ledger | None = LEDGER) -> State:
    return State(schemas=(Schema("public", tables=(edit(INTEGRATIONS),)),), ledger=ledger)


def replace_in(table: Table, collection: str, name: str, **changes: object) -> Table:
    items = tuple(
        dataclasses.replace(item, **changes) if item.name == name else item
        for item in getattr(table, collection)
    )
    return dataclasses.replace(table, **{collection: items})  # type: ignore[arg-type]


def without(table: Table, collection: str, name: str) -> Table:
    items = tuple(item for item in getattr(table, collection) if item.name != name)
    return dataclasses.replace(table, **{collection: items})  # type: ignore[arg-type]


def only(findings: tuple[Finding, ...]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


DRIFT = [
    ("index dropped", lambda t: without(t, "indexes", "idx_active_integrations"),
     Kind.INDEX, Change.MISSING, Severity.CRITICAL),
    ("partial predicate changed",
     lambda t: replace_in(t, "indexes", "idx_active_integrations", where="(is_active = true)"),
     Kind.INDEX, Change.CHANGED, Severity.WARNING),
    ("index made invalid",
     lambda t: replace_in(t, "indexes", "idx_integrations_type", valid=False),
     Kind.INDEX, Change.INVALID, Severity.CRITICAL),
    ("RLS disabled", lambda t: dataclasses.replace(t, rls=Rls(enabled=False)),
     Kind.RLS, Change.DISABLED, Severity.CRITICAL),
    ("RLS forced", lambda t: dataclasses.replace(t, rls=Rls(enabled=True, forced=True)),
     Kind.RLS, Change.CHANGED, Severity.WARNING),
    ("policy dropped",
     lambda t: without(t, "policies", "Users can view organization integrations"),
     Kind.POLICY, Change.MISSING, Severity.CRITICAL),
    ("policy USING changed",
     lambda t: replace_in(t, "policies", "Users can view organization integrations",
                          using="true"),
     Kind.POLICY, Change.WIDENED, Severity.CRITICAL),
    ("policy roles widened",
     lambda t: replace_in(t, "policies", "Users can view organization integrations",
                          roles=frozenset({"authenticated", "anon"})),
     Kind.POLICY, Change.WIDENED, Severity.CRITICAL),
    ("policy roles swapped",
     lambda t: replace_in(t, "policies", "Users can view organization integrations",
                          roles=frozenset({"service_role"})),
     Kind.POLICY, Change.WIDENED, Severity.CRITICAL),
    ("policy made restrictive",
     lambda t: replace_in(t, "policies", "Users can view organization integrations",
                          permissive=False),
     Kind.POLICY, Change.NARROWED, Severity.WARNING),
    ("policy command changed",
     lambda t: replace_in(t, "policies", "Users can view organization integrations",
                          command="INSERT"),
     Kind.POLICY, Change.CHANGED, Severity.WARNING),
    ("column dropped", lambda t: without(t, "columns", "is_active"),
     Kind.COLUMN, Change.MISSING, Severity.CRITICAL),
    ("column type changed", lambda t: replace_in(t, "columns", "integration_type",
                                                 type="character varying(50)"),
     Kind.COLUMN, Change.CHANGED, Severity.WARNING),
    ("NOT NULL dropped", lambda t: replace_in(t, "columns", "organization_id", nullable=True),
     Kind.COLUMN, Change.CHANGED, Severity.WARNING),
    ("default changed", lambda t: replace_in(t, "columns", "is_active", default="false"),
     Kind.COLUMN, Change.CHANGED, Severity.WARNING),
    ("unique constraint dropped",
     lambda t: without(without(t, "constraints", UNIQUE), "indexes", UNIQUE),
     Kind.CONSTRAINT, Change.MISSING, Severity.CRITICAL),
    ("FK ON DELETE changed",
     lambda t: replace_in(t, "constraints", "integrations_organization_id_fkey",
                          references=ForeignKey("public.organizations", ("id",))),
     Kind.CONSTRAINT, Change.CHANGED, Severity.WARNING),
    ("trigger dropped", lambda t: without(t, "triggers", "update_integrations_updated_at"),
     Kind.TRIGGER, Change.MISSING, Severity.WARNING),
    ("trigger disabled", lambda t: replace_in(t, "triggers", "update_integrations_updated_at",
                                              enabled="disabled"),
     Kind.TRIGGER, Change.DISABLED, Severity.WARNING),
    ("extra index", lambda t: dataclasses.replace(
        t, indexes=(*t.indexes, Index("idx_hand_made", ("status",)))),
     Kind.INDEX, Change.UNEXPECTED, Severity.WARNING),
    ("extra policy", lambda t: dataclasses.replace(
        t, policies=(*t.policies, Policy("Anyone", roles=frozenset({"anon"}), using="true"))),
     Kind.POLICY, Change.UNEXPECTED, Severity.WARNING),
    ("extra column", lambda t: dataclasses.replace(
        t, columns=(*t.columns, Column("notes", "text"))),
     Kind.COLUMN, Change.UNEXPECTED, Severity.WARNING),
]  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "kind", "change", "severity"),
    [case[1:] for case in DRIFT],
    ids=[case[0] for case in DRIFT],
)
def test_each_drift_is_one_finding_with_its_kind_change_and_severity(
    edit: Callable[[Table], Table], kind: Kind, change: Change, severity: Severity
) -> None:
    finding = only(diff(SPEC, live(edit)))
    assert (finding.kind, finding.change, finding.severity) == (kind, change, severity)


def test_missing_index_finding_matches_the_json_contract() -> None:
    finding = only(diff(SPEC, live(lambda t: without(t, "indexes", "idx_active_integrations"))))
    assert finding.as_json() == {
        "kind": "index",
        "schema": "public",
        "table": "integrations",
        "name": "idx_active_integrations",
        "change": "missing",
        "severity": "critical",
        "expected": {
            "name": "idx_active_integrations",
            "columns": ["organization_id", "integration_type"],
            "include": [],
            "where": "((is_active = true) AND (organization_id IS NOT NULL))",
            "unique": False,
            "method": "btree",
            "valid": True,
            "constraint": None,
        },
        "actual": None,
        "message": "index public.integrations.idx_active_integrations is missing",
    }


def test_missing_table_is_one_critical_finding() -> None:
    actual = State(schemas=(Schema("public"),), ledger=LEDGER)
    finding = only(diff(SPEC, actual))
    assert (finding.kind, finding.change, finding.severity) == (
        Kind.TABLE,
        Change.MISSING,
        Severity.CRITICAL,
    )


@pytest.mark.parametrize(
    ("field", "spelling"),
    [
        ("where", "is_active = TRUE and organization_id is not null"),
        ("where", "organization_id IS NOT NULL AND integrations.is_active = true"),
        ("columns", ("organization_id", "integration_type ASC")),
        ("method", "BTREE"),
    ],
)
def test_index_spelled_differently_is_not_drift(field: str, spelling: object) -> None:
    spec_table = replace_in(INTEGRATIONS, "indexes", "idx_active_integrations", **{field: spelling})
    spec = State(schemas=(Schema("public", tables=(spec_table,)),), ledger=LEDGER)
    assert diff(spec, live(lambda t: t)) == ()


@pytest.mark.parametrize(
    ("column", "spelling"),
    [("integration_type", "TEXT"), ("created_at", "timestamptz"), ("id", "UUID")],
)
def test_type_aliases_are_not_drift(column: str, spelling: str) -> None:
    spec_table = replace_in(INTEGRATIONS, "columns", column, type=spelling)
    spec = State(schemas=(Schema("public", tables=(spec_table,)),), ledger=LEDGER)
    assert diff(spec, live(lambda t: t)) == ()


def test_hand_written_policy_with_in_list_and_unqualified_columns_is_not_drift() -> None:
    spec_table = replace_in(
        INTEGRATIONS,
        "policies",
        "Users can view organization integrations",
        using="organization_id in (select organization_id from organization_members"
        " where user_id = auth.uid())",
        roles=frozenset({"AUTHENTICATED"}),
    )
    spec = State(schemas=(Schema("public", tables=(spec_table,)),), ledger=LEDGER)
    assert diff(spec, live(lambda t: t)) == ()


def test_jsonb_default_written_without_its_cast_is_not_drift() -> None:
    spec_table = replace_in(INTEGRATIONS, "columns", "configuration", default="'{}'")
    spec = State(schemas=(Schema("public", tables=(spec_table,)),), ledger=LEDGER)
    assert diff(spec, live(lambda t: t)) == ()


def test_partial_spec_checks_only_what_it_lists() -> None:
    partial = Table("integrations", indexes=(INTEGRATIONS.indexes or ())[:1])
    quiet = ExtraPolicy(indexes=Extra.IGNORE)
    spec = State(schemas=(Schema("public", tables=(partial,), extra=quiet),))
    edited = live(lambda t: without(dataclasses.replace(t, rls=Rls(False)), "triggers",
                                    "update_integrations_updated_at"))  # fmt: skip
    assert diff(spec, edited) == ()


def test_extra_ignore_for_a_kind_hides_only_that_kind() -> None:
    spec = State(
        schemas=(
            Schema("public", tables=(INTEGRATIONS,), extra=ExtraPolicy(indexes=Extra.IGNORE)),
        ),
        ledger=LEDGER,
    )
    extra = Index("idx_hand_made", ("status",))
    extra_policy = Policy("Anyone", using="true")
    edited = live(
        lambda t: dataclasses.replace(
            t, indexes=(*(t.indexes or ()), extra), policies=(*(t.policies or ()), extra_policy)
        )
    )
    assert [(f.kind, f.name) for f in diff(spec, edited)] == [(Kind.POLICY, "Anyone")]


def test_a_tables_own_extra_choice_wins_over_its_schemas() -> None:
    own = dataclasses.replace(INTEGRATIONS, extra=ExtraPolicy())
    quiet = ExtraPolicy(columns=Extra.IGNORE, indexes=Extra.IGNORE)
    spec = State(schemas=(Schema("public", tables=(own,), extra=quiet),), ledger=LEDGER)
    edited = live(
        lambda t: dataclasses.replace(
            t,
            columns=(*(t.columns or ()), Column("reviewer", "text")),
            indexes=(*(t.indexes or ()), Index("idx_hand_made", ("status",))),
        )
    )
    assert {(f.kind, f.name) for f in diff(spec, edited)} == {
        (Kind.COLUMN, "reviewer"),
        (Kind.INDEX, "idx_hand_made"),
    }
    as_schema_says = State(schemas=(Schema("public", tables=(INTEGRATIONS,), extra=quiet),))
    assert diff(as_schema_says, edited) == ()


def test_ignore_globs_hide_matching_names() -> None:
    spec = State(
        schemas=(Schema("public", tables=(INTEGRATIONS,), ignore=("idx_tmp_*",)),), ledger=LEDGER
    )
    edited = live(
        lambda t: dataclasses.replace(
            t, indexes=(*(t.indexes or ()), Index("idx_tmp_1", ("status",)))
        )
    )
    assert diff(spec, edited) == ()


def test_unexpected_table_is_reported() -> None:
    actual = State(
        schemas=(Schema("public", tables=(INTEGRATIONS, Table("scratch", columns=()))),),
        ledger=LEDGER,
    )
    finding = only(diff(SPEC, actual))
    assert (finding.kind, finding.change, finding.name) == (
        Kind.TABLE,
        Change.UNEXPECTED,
        "scratch",
    )


def test_locked_table_is_not_compared() -> None:
    actual = State(schemas=(Schema("public"),), ledger=LEDGER)
    assert diff(SPEC, actual, skipped={"public.integrations"}) == ()


def test_absent_index_that_reappears_is_reported() -> None:
    spec = State(
        schemas=(
            Schema(
                "public",
                tables=(INTEGRATIONS,),
                absent=(Absent(Kind.INDEX, "idx_integrations_type", migration=INDEXES),),
            ),
        ),
        ledger=LEDGER,
    )
    finding = only(diff(spec, live(lambda t: t)))
    assert (finding.kind, finding.change, finding.name) == (
        Kind.INDEX,
        Change.UNEXPECTED,
        "idx_integrations_type",
    )
    assert INDEXES in finding.message


def test_absent_object_that_stays_gone_is_quiet() -> None:
    spec = State(
        schemas=(
            Schema("public", tables=(INTEGRATIONS,), absent=(Absent(Kind.INDEX, "old_index"),)),
        ),
        ledger=LEDGER,
    )
    assert diff(spec, live(lambda t: t)) == ()


def test_pending_migration_is_info_and_its_objects_are_pending_not_missing() -> None:
    applied_first_only = Ledger(applied=("20250122000000",))
    actual = live(lambda t: without(t, "indexes", "idx_active_integrations"), applied_first_only)
    findings = diff(SPEC, actual)
    assert {(f.kind, f.change, f.severity, f.name) for f in findings} == {
        (Kind.MIGRATION, Change.PENDING, Severity.INFO, "20250123000000"),
        (Kind.INDEX, Change.PENDING, Severity.INFO, "idx_active_integrations"),
    }


def test_out_of_order_and_unknown_migrations_are_warnings() -> None:
    spec = dataclasses.replace(SPEC, ledger=Ledger(applied=("1", "2", "3")))
    actual = live(lambda t: t, Ledger(applied=("1", "3", "9")))
    findings = {(f.change, f.name) for f in diff(spec, actual) if f.kind is Kind.MIGRATION}
    assert findings == {(Change.CHANGED, "2"), (Change.UNEXPECTED, "9")}


def test_missing_ledger_table_is_a_warning() -> None:
    finding = only(diff(SPEC, live(lambda t: t, ledger=None)))
    assert (finding.kind, finding.change, finding.severity) == (
        Kind.MIGRATION,
        Change.MISSING,
        Severity.WARNING,
    )


@given(states())
def test_a_state_has_no_drift_against_itself(state: State) -> None:
    assert diff(state, state) == ()


def test_absent_index_that_reappears_unlisted_is_reported_once() -> None:
    spec_table = without(INTEGRATIONS, "indexes", "idx_integrations_type")
    spec = State(
        schemas=(
            Schema(
                "public",
                tables=(spec_table,),
                absent=(Absent(Kind.INDEX, "idx_integrations_type", migration=INDEXES),),
            ),
        ),
        ledger=LEDGER,
    )
    finding = only(diff(spec, live(lambda t: t)))
    assert (finding.change, finding.name) == (Change.UNEXPECTED, "idx_integrations_type")
    assert "should not exist" in finding.message


def test_check_constraint_without_columns_in_the_spec_compares_its_expression_only() -> None:
    check = Constraint("status_check", ConstraintType.CHECK, ("status",), check="(status <> '')")
    live_table = dataclasses.replace(INTEGRATIONS, constraints=(check,))
    spec_table = dataclasses.replace(
        INTEGRATIONS,
        constraints=(dataclasses.replace(check, columns=(), check="status <> ''"),),
    )
    spec = State(schemas=(Schema("public", tables=(spec_table,)),), ledger=LEDGER)
    assert diff(spec, live(lambda t: live_table)) == ()


def test_a_locked_ledger_table_leaves_migrations_uncompared() -> None:
    findings = diff(SPEC, live(lambda t: t, ledger=None), skipped={LEDGER.table})
    assert findings == ()


def test_items_listed_in_another_order_are_no_drift_but_columns_in_another_order_are() -> None:
    def reordered(table: Table) -> Table:
        return dataclasses.replace(
            table,
            indexes=tuple(reversed(table.indexes or ())),
            columns=tuple(reversed(table.columns or ())),
        )

    (finding,) = diff(SPEC, live(reordered))
    assert (finding.kind, finding.name) == (Kind.COLUMN, "(column order)")


def test_a_live_table_without_the_specs_provenance_has_no_drift() -> None:
    def unattributed(table: Table) -> Table:
        indexes = tuple(dataclasses.replace(i, migration=None) for i in table.indexes or ())
        return dataclasses.replace(table, migration=None, indexes=indexes)

    assert diff(SPEC, live(unattributed)) == ()
