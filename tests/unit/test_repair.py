"""Fix SQL from the spec alone: each kind of drift, quoting, and the script's safe order."""

from __future__ import annotations

import dataclasses

import pytest
from pglast import parser

from monitor.schema import quote, repair
from monitor.schema.compare.describing import describe
from monitor.schema.compare.diff import diff
from monitor.schema.model import (
    Change,
    Column,
    Constraint,
    ConstraintType,
    Finding,
    ForeignKey,
    Function,
    Grant,
    Index,
    Kind,
    Policy,
    Rls,
    Schema,
    Sequence,
    Severity,
    State,
    Table,
    Trigger,
    Type,
)
from monitor.schema.repair import Phase, fix, script
from tests.support.psql_script import on_plain_tables

MEMBERS = "organization_id IN (SELECT om.organization_id FROM organization_members om)"
TABLE = Table(
    name="Integrations",
    rls=Rls(enabled=True, forced=True),
    columns=(
        Column("id", "uuid", nullable=False, default="gen_random_uuid()"),
        Column("organization_id", "uuid", nullable=False),
        Column("status", "text", default="'pending'::text"),
    ),
    constraints=(
        Constraint("integrations_pkey", ConstraintType.PRIMARY_KEY, ("id",)),
        Constraint(
            "integrations_org_fkey",
            ConstraintType.FOREIGN_KEY,
            ("organization_id",),
            ForeignKey("public.organizations", ("id",), on_delete="CASCADE"),
        ),
        Constraint("status_known", ConstraintType.CHECK, check="status <> ''"),
    ),
    indexes=(
        Index("integrations_pkey", ("id",), unique=True, constraint="integrations_pkey"),
        Index("idx_active", ("organization_id", "status DESC"), where="status = 'on'"),
        Index("idx_gin", ("status gin_trgm_ops",), method="gin", include=()),
    ),
    policies=(
        Policy(
            "Users can view", "SELECT", roles=frozenset({"authenticated", "anon"}), using=MEMBERS
        ),
        Policy("everyone inserts", "INSERT", permissive=False, with_check="true"),
    ),
    triggers=(
        Trigger("touch", "BEFORE", ("UPDATE",), "ROW", "update_updated_at_column()"),
        Trigger(
            "audit",
            "AFTER",
            ("INSERT", "UPDATE"),
            "ROW",
            "audit.log('integrations')",
            enabled="always",
            when="new.status IS DISTINCT FROM old.status",
            columns=("status",),
        ),
    ),
)
SPEC = State(schemas=(Schema("public", (TABLE,)),))


def finding(kind: Kind, change: Change, name: str, actual: object = None) -> Finding:
    return Finding(
        kind, change, Severity.WARNING, "public", "Integrations", name, "m", None, actual
    )


def sql_of(item: Finding) -> list[str]:
    return [s.sql for s in fix(item, SPEC).statements]


def parses(statement: str) -> None:
    # Raises on anything PostgreSQL's parser would refuse.
    parser.parse_sql(on_plain_tables(statement))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("integrations", "integrations"),
        ("Integrations", '"Integrations"'),
        ("user", '"user"'),
        ("select", '"select"'),
        ("name", "name"),
        ('we"ird', '"we""ird"'),
        ("Users can view", '"Users can view"'),
        ("1st", '"1st"'),
    ],
)
def test_identifiers_are_quoted_only_when_postgresql_needs_it(name: str, expected: str) -> None:
    assert quote.ident(name) == expected


def test_a_missing_index_is_rebuilt_concurrently_with_its_predicate() -> None:
    (statement,) = fix(finding(Kind.INDEX, Change.MISSING, "idx_active"), SPEC).statements
    assert statement.phase is Phase.CONCURRENT
    assert statement.sql == (
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_active ON public."Integrations" '
        "(organization_id, status DESC) WHERE status = 'on';"
    )


def test_an_index_method_and_operator_class_are_kept() -> None:
    (sql,) = sql_of(finding(Kind.INDEX, Change.MISSING, "idx_gin"))
    assert 'ON public."Integrations" USING gin (status gin_trgm_ops);' in sql


def test_a_changed_index_is_built_beside_the_old_one_then_swapped() -> None:
    statements = fix(finding(Kind.INDEX, Change.CHANGED, "idx_active"), SPEC).statements
    assert [(s.phase, s.sql.split(" (")[0]) for s in statements] == [
        (
            Phase.CONCURRENT,
            'CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_active_repair ON public."Integrations"',
        ),
        (Phase.CONCURRENT, "DROP INDEX CONCURRENTLY IF EXISTS public.idx_active;"),
        (Phase.AFTER, "ALTER INDEX public.idx_active_repair RENAME TO idx_active;"),
    ]


def test_an_invalid_index_is_reindexed_concurrently() -> None:
    assert sql_of(finding(Kind.INDEX, Change.INVALID, "idx_active")) == [
        "REINDEX INDEX CONCURRENTLY public.idx_active;"
    ]


def test_a_changed_policy_is_dropped_and_created_in_the_same_transaction() -> None:
    statements = fix(finding(Kind.POLICY, Change.CHANGED, "Users can view"), SPEC).statements
    assert {s.phase for s in statements} == {Phase.BEFORE}
    drop, create = (s.sql for s in statements)
    assert drop == 'DROP POLICY IF EXISTS "Users can view" ON public."Integrations";'
    assert create.startswith(
        'CREATE POLICY "Users can view" ON public."Integrations" AS PERMISSIVE FOR SELECT'
        " TO anon, authenticated\n    USING (organization_id IN"
    )
    parses(create)


def test_a_restrictive_policy_to_public_is_written_as_such() -> None:
    (sql,) = sql_of(finding(Kind.POLICY, Change.MISSING, "everyone inserts"))
    assert "AS RESTRICTIVE FOR INSERT TO PUBLIC\n    WITH CHECK (true);" in sql


def test_rls_is_switched_back_as_the_spec_says() -> None:
    live = describe(Rls(enabled=False, forced=True))
    assert sql_of(finding(Kind.RLS, Change.DISABLED, "Integrations", live)) == [
        'ALTER TABLE public."Integrations" ENABLE ROW LEVEL SECURITY;'
    ]
    live = describe(Rls(enabled=True, forced=False))
    assert sql_of(finding(Kind.RLS, Change.CHANGED, "Integrations", live)) == [
        'ALTER TABLE public."Integrations" FORCE ROW LEVEL SECURITY;'
    ]


def test_a_missing_column_is_added_back_with_its_default_and_nullability() -> None:
    repair = fix(finding(Kind.COLUMN, Change.MISSING, "organization_id"), SPEC)
    (statement,) = repair.statements
    add = (
        'ALTER TABLE public."Integrations" ADD COLUMN IF NOT EXISTS organization_id uuid NOT NULL;'
    )
    # In a block that skips a partition: the column comes with its parent's.
    assert f"BEGIN\n  {add}\nEXCEPTION WHEN wrong_object_type THEN" in statement.sql
    parses(statement.sql)
    assert repair.note is not None and "end of the table" in repair.note


def test_a_changed_column_gets_only_the_alterations_it_needs() -> None:
    live = describe(Column("status", "character varying(20)", nullable=False, default="'x'"))
    alter = 'ALTER TABLE public."Integrations" ALTER COLUMN status'
    assert sql_of(finding(Kind.COLUMN, Change.CHANGED, "status", live)) == [
        f"{alter} DROP DEFAULT;",  # the old default may not cast to the new type
        f"{alter} TYPE text;",  # a widening: no USING, nothing to lose
        f"{alter} SET DEFAULT 'pending'::text;",
        f"{alter} DROP NOT NULL;",
    ]
    same_but_default = describe(Column("status", "text", default=None))
    assert sql_of(finding(Kind.COLUMN, Change.CHANGED, "status", same_but_default)) == [
        f"{alter} SET DEFAULT 'pending'::text;"
    ]


def test_a_foreign_key_is_added_not_valid_then_validated_on_its_own() -> None:
    statements = fix(
        finding(Kind.CONSTRAINT, Change.CHANGED, "integrations_org_fkey"), SPEC
    ).statements
    assert [(s.phase, s.sql) for s in statements] == [
        (
            Phase.BEFORE,  # before any column change or key drop that it would stop
            'ALTER TABLE public."Integrations" DROP CONSTRAINT IF EXISTS integrations_org_fkey;',
        ),
        (
            Phase.AFTER,
            'ALTER TABLE public."Integrations" ADD CONSTRAINT integrations_org_fkey FOREIGN KEY'
            " (organization_id) REFERENCES public.organizations (id) ON DELETE CASCADE NOT VALID;",
        ),
        (
            Phase.VALIDATE,
            'ALTER TABLE public."Integrations" VALIDATE CONSTRAINT integrations_org_fkey;',
        ),
    ]


def test_a_missing_primary_key_adopts_an_index_built_concurrently() -> None:
    build, adopt = fix(
        finding(Kind.CONSTRAINT, Change.MISSING, "integrations_pkey"), SPEC
    ).statements
    assert build.phase is Phase.CONCURRENT and "CREATE UNIQUE INDEX CONCURRENTLY" in build.sql
    assert adopt.sql == (
        'ALTER TABLE public."Integrations" ADD CONSTRAINT integrations_pkey PRIMARY KEY'
        " USING INDEX integrations_pkey_repair;"
    )


def test_triggers_are_recreated_with_columns_condition_and_enabled_state() -> None:
    create, enable = sql_of(finding(Kind.TRIGGER, Change.MISSING, "audit"))
    assert create == (
        'CREATE TRIGGER audit AFTER INSERT OR UPDATE OF status ON public."Integrations"'
        " FOR EACH ROW WHEN (new.status IS DISTINCT FROM old.status)"
        " EXECUTE FUNCTION audit.log('integrations');"
    )
    assert enable == 'ALTER TABLE public."Integrations" ENABLE ALWAYS TRIGGER audit;'
    parses(create)
    (touch,) = sql_of(finding(Kind.TRIGGER, Change.MISSING, "touch"))
    assert touch.endswith("EXECUTE FUNCTION public.update_updated_at_column();")


def test_a_disabled_trigger_is_only_enabled_again() -> None:
    live = describe(Trigger("touch", "BEFORE", ("UPDATE",), "ROW", "update_updated_at_column()",
                            enabled="disabled"))  # fmt: skip
    assert sql_of(finding(Kind.TRIGGER, Change.DISABLED, "touch", live)) == [
        'ALTER TABLE public."Integrations" ENABLE TRIGGER touch;'
    ]


@pytest.mark.parametrize(
    ("kind", "name", "sql", "data_loss"),
    [
        (Kind.INDEX, "idx_x", "DROP INDEX CONCURRENTLY IF EXISTS public.idx_x;", False),
        (Kind.POLICY, "p", 'DROP POLICY IF EXISTS p ON public."Integrations";', False),
        (Kind.TRIGGER, "t", 'DROP TRIGGER IF EXISTS t ON public."Integrations";', False),
        (Kind.CONSTRAINT, "c", 'ALTER TABLE public."Integrations" DROP CONSTRAINT IF EXISTS c;',
         False),
        (Kind.COLUMN, "secret", 'ALTER TABLE public."Integrations" DROP COLUMN IF EXISTS secret;',
         True),
    ],
)  # fmt: skip
def test_unexpected_objects_are_dropped_and_data_loss_is_marked(
    kind: Kind, name: str, sql: str, data_loss: bool
) -> None:
    (statement,) = fix(finding(kind, Change.UNEXPECTED, name), SPEC).statements
    assert sql in statement.sql and statement.data_loss == data_loss
    parses(statement.sql)


def test_a_missing_table_is_created_whole_and_its_script_parses() -> None:
    live = State(schemas=(Schema("public", ()),))
    findings = diff(SPEC, live)
    assert [(f.kind, f.change) for f in findings] == [(Kind.TABLE, Change.MISSING)]
    text = script(findings, SPEC)
    assert (
        'CREATE TABLE public."Integrations" (\n    id uuid DEFAULT gen_random_uuid() NOT NULL,'
        in text
    )
    # A new, empty table needs no CONCURRENTLY: everything runs in the two transactions.
    assert "CONCURRENTLY" not in text
    parses(text)


def test_the_script_runs_transactional_work_then_concurrent_then_constraints() -> None:
    findings = [
        finding(Kind.CONSTRAINT, Change.MISSING, "integrations_org_fkey"),
        finding(Kind.INDEX, Change.MISSING, "idx_active"),
        finding(Kind.POLICY, Change.MISSING, "Users can view"),
        finding(Kind.COLUMN, Change.MISSING, "status"),
        finding(Kind.TABLE, Change.UNEXPECTED, "scratch"),
    ]
    text = script(findings, SPEC, lock_timeout="3s")
    order = [
        "SET lock_timeout = '3s';",
        "BEGIN;",
        "ADD COLUMN IF NOT EXISTS status",
        "CREATE POLICY",
        "COMMIT;",
        "SET lock_timeout = 0;",
        "CREATE INDEX CONCURRENTLY",
        "SET lock_timeout = '3s';",
        "BEGIN;",
        "ADD CONSTRAINT integrations_org_fkey",
        "-- DROP TABLE IF EXISTS public.scratch;",
        "COMMIT;",
        "VALIDATE CONSTRAINT",
    ]
    positions = []
    start = 0
    for needle in order:
        start = text.index(needle, start)
        positions.append(start)
    assert positions == sorted(positions)
    assert "DROP TABLE IF EXISTS public.scratch;" in script(
        findings, SPEC, allow_data_loss=True
    ).replace("-- DROP TABLE IF EXISTS", "commented")
    parses(text)


def test_a_message_with_line_breaks_stays_a_comment() -> None:
    item = Finding(Kind.INDEX, Change.MISSING, Severity.CRITICAL, "public", "Integrations",
                   "idx_active", "index is missing:\nUSING changed")  # fmt: skip
    text = script([item], SPEC)
    assert "-- index is missing:\n-- USING changed\n" in text
    parses(text)


def test_pending_migrations_and_column_order_are_explained_not_repaired() -> None:
    pending = Finding(Kind.INDEX, Change.PENDING, Severity.INFO, "public", "Integrations",
                      "idx_active", "pending")  # fmt: skip
    order = finding(Kind.COLUMN, Change.CHANGED, "(column order)")
    for item in (pending, order):
        repair = fix(item, SPEC)
        assert repair.statements == () and repair.note
    assert "-- Not repaired by this script:" in script([pending, order], SPEC)


# --- the security surface ------------------------------------------------------------------

HEALTH = Function(
    "check_system_health()",
    "TABLE(metric text, value numeric)",
    "plpgsql",
    "BEGIN RETURN QUERY SELECT 'x', 1::numeric; END",
    volatility="stable",
    security_definer=True,
    settings=(("search_path", '""'),),
    owner="postgres",
    grants=frozenset({Grant("service_role", "EXECUTE")}),
)
SECURE = State(schemas=(Schema("public", (TABLE,), functions=(HEALTH,)),))


def privilege(expected: list[str], actual: list[str], **where: object) -> Finding:
    target = {"object_type": "table", "object": "public.Integrations", "column": None}
    target.update(where)  # type: ignore[arg-type]
    return Finding(
        Kind.PRIVILEGE, Change.WIDENED, Severity.CRITICAL, "public", "Integrations", "anon", "m",
        {**target, "grantee": "anon", "privileges": expected},
        {**target, "grantee": "anon", "privileges": actual},
    )  # fmt: skip


def test_a_widened_privilege_is_revoked_and_a_lost_one_granted_back() -> None:
    item = privilege(["SELECT WITH GRANT OPTION"], ["INSERT", "SELECT"])
    assert [s.sql for s in fix(item, SECURE).statements] == [
        'REVOKE INSERT ON TABLE public."Integrations" FROM anon;',
        'GRANT SELECT ON TABLE public."Integrations" TO anon WITH GRANT OPTION;',
    ]
    option = privilege(["SELECT"], ["SELECT WITH GRANT OPTION"])
    assert [s.sql for s in fix(option, SECURE).statements] == [
        'REVOKE GRANT OPTION FOR SELECT ON TABLE public."Integrations" FROM anon;'
    ]


def test_column_function_and_default_privileges_name_their_target() -> None:
    column = privilege([], ["SELECT"], column="credentials")
    assert [s.sql for s in fix(column, SECURE).statements] == [
        'REVOKE SELECT (credentials) ON TABLE public."Integrations" FROM anon;'
    ]
    function = privilege([], ["EXECUTE"], object_type="function",
                         object="public.check_system_health()")  # fmt: skip
    assert [s.sql for s in fix(function, SECURE).statements] == [
        "REVOKE EXECUTE ON FUNCTION public.check_system_health() FROM anon;"
    ]
    defaults = dataclasses.replace(
        privilege([], ["SELECT"], object_type="default privileges", object="tables"),
        table="(default privileges on tables of postgres)",
    )
    assert [s.sql for s in fix(defaults, SECURE).statements] == [
        "ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public REVOKE SELECT ON TABLES"
        " FROM anon;"
    ]


def test_a_changed_function_is_recreated_whole_from_the_spec() -> None:
    item = Finding(Kind.FUNCTION, Change.WIDENED, Severity.CRITICAL, "public",
                   HEALTH.name, HEALTH.name, "m")  # fmt: skip
    (statement,) = fix(item, SECURE).statements
    assert statement.sql == (
        "CREATE OR REPLACE FUNCTION public.check_system_health()\n"
        "RETURNS TABLE(metric text, value numeric)\n"
        "LANGUAGE plpgsql\nSTABLE\nSECURITY DEFINER\nSET search_path = ''\n"
        "AS $fn$BEGIN RETURN QUERY SELECT 'x', 1::numeric; END$fn$;"
    )
    parses(statement.sql)


def test_a_restored_owner_gets_back_the_grants_the_new_owner_absorbed() -> None:
    item = Finding(
        Kind.OWNER, Change.CHANGED, Severity.CRITICAL, "public", HEALTH.name, HEALTH.name, "m",
        {"object_type": "function", "object": "public.check_system_health()", "owner": "postgres"},
    )  # fmt: skip
    owner, regrant = fix(item, SECURE).statements
    assert owner.sql == "ALTER FUNCTION public.check_system_health() OWNER TO postgres;"
    assert regrant.sql == "GRANT EXECUTE ON FUNCTION public.check_system_health() TO service_role;"
    text = script([item], SECURE)
    assert text.index("OWNER TO postgres") < text.index("GRANT EXECUTE")


def test_unexpected_security_objects_are_destructive_drops() -> None:
    for kind, name, sql in (
        (Kind.VIEW, "secrets", "DROP VIEW IF EXISTS public.secrets;"),
        (Kind.EXTENSION, "pg_trgm", "DROP EXTENSION IF EXISTS pg_trgm;"),
        (Kind.SEQUENCE, "numbers", "DROP SEQUENCE IF EXISTS public.numbers;"),
    ):
        item = Finding(kind, Change.UNEXPECTED, Severity.WARNING, "public", name, name, "m")
        (statement,) = fix(item, SECURE).statements
        assert (statement.sql, statement.data_loss) == (sql, True)


# --- the planner -----------------------------------------------------------------------------


def planned(findings: list[Finding], expected: State, **options: object) -> list[str]:
    plan = repair.plan(findings, expected, repair.Options(**options))  # type: ignore[arg-type]
    return [step.statement.sql for step in plan.steps if not step.held]


def test_a_sequence_comes_before_the_table_whose_default_uses_it() -> None:
    table = Table(
        "tags", columns=(Column("id", "integer", False, "nextval('tags_id_seq'::regclass)"),)
    )
    sequence = Sequence("tags_id_seq", "integer", owned_by="tags.id")
    state = State((Schema("public", (table,), sequences=(sequence,)),))
    findings = diff(state, State((Schema("public", (), sequences=()),)))
    order = planned(list(findings), state)
    assert [s.split(" ")[0:2] for s in order] == [["CREATE", "SEQUENCE"], ["CREATE", "TABLE"],
                                                  ["ALTER", "SEQUENCE"]]  # fmt: skip
    assert order[-1] == "ALTER SEQUENCE public.tags_id_seq OWNED BY public.tags.id;"


def test_enum_labels_are_appended_in_place_before_anything_uses_them() -> None:
    level = Type("level", "enum", labels=("low", "mid", "high", "max"))
    state = State((Schema("public", (), types=(level,)),))
    live = State((Schema("public", (), types=(Type("level", "enum", labels=("low", "high")),)),))
    (finding,) = diff(state, live)
    statements = fix(finding, state).statements
    assert [(s.phase, s.sql) for s in statements] == [
        (Phase.LABELS, "ALTER TYPE public.level ADD VALUE IF NOT EXISTS 'mid' BEFORE 'high';"),
        (Phase.LABELS, "ALTER TYPE public.level ADD VALUE IF NOT EXISTS 'max';"),
    ]
    # A label removed: the type made again, the old one dropped, all of it data loss.
    posts = Table("posts", columns=(Column("level", "level", default="'low'::level"),))
    with_column = State((Schema("public", (posts,), types=live.schemas[0].types),))
    removed = fix(diff(with_column, state)[0], with_column).statements
    assert {s.safety for s in removed} == {repair.Safety.DATA_LOSS}
    text = script(diff(with_column, state), with_column, allow_data_loss=True)
    order = [
        "ALTER TYPE public.level RENAME TO level_repair;",
        "CREATE TYPE public.level AS ENUM ('low', 'high');",
        "ALTER TABLE public.posts ALTER COLUMN level DROP DEFAULT;",
        "ALTER COLUMN level TYPE level USING (level::text)::level;",
        "ALTER COLUMN level SET DEFAULT 'low'::level;",
        "DROP TYPE public.level_repair;",
    ]
    assert [text.index(step) for step in order] == sorted(text.index(step) for step in order)
    parses(text)


def test_a_narrowing_is_held_and_written_to_fail_rather_than_truncate() -> None:
    live = describe(Column("status", "character varying(200)"))
    item = finding(Kind.COLUMN, Change.CHANGED, "status", live)
    narrow = State((Schema("public", (dataclasses.replace(
        TABLE, columns=(Column("status", "varchar(120)"),)),)),))  # fmt: skip
    (retype,) = [s for s in fix(item, narrow).statements if "TYPE" in s.sql]
    assert retype.safety is repair.Safety.DATA_LOSS
    assert "USING CASE WHEN status IS NULL OR" in retype.sql
    assert "ELSE pg_temp.schema_monitor_refuse(" in retype.sql
    text = script([item], narrow)
    assert "-- Statements: 0 safe, 0 locking, 1 data loss." in text
    assert "-- ALTER TABLE" in text and "schema_monitor_refuse(message" not in text
    allowed = script([item], narrow, allow_data_loss=True)
    assert "CREATE FUNCTION pg_temp.schema_monitor_refuse" in allowed
    parses(allowed)


def test_a_widening_needs_no_using_and_loses_nothing() -> None:
    live = describe(Column("status", "character varying(20)"))
    retype, default = fix(finding(Kind.COLUMN, Change.CHANGED, "status", live), SPEC).statements
    assert retype.sql.endswith("TYPE text;") and retype.safety is repair.Safety.LOCKING
    assert default.sql.endswith("SET DEFAULT 'pending'::text;")


def test_narrowed_findings_and_those_below_fail_on_are_left_and_listed() -> None:
    narrowed = dataclasses.replace(privilege(["SELECT"], []), change=Change.NARROWED)
    info = dataclasses.replace(finding(Kind.INDEX, Change.MISSING, "idx_active"),
                               severity=Severity.INFO)  # fmt: skip
    plan = repair.plan([narrowed, info], SECURE, repair.Options(fail_on=Severity.WARNING))
    assert plan.steps == ()
    assert [why for _, why in plan.not_repaired] == [
        repair.NARROWED_NOTE,
        "below --fail-on warning: left out",
    ]
    restored = repair.plan([narrowed], SECURE, repair.Options(restore_narrowed=True))
    assert [s.statement.sql for s in restored.steps] == [
        'GRANT SELECT ON TABLE public."Integrations" TO anon;'
    ]
