"""The example Supabase migrations, applied to real PostgreSQL after the bootstrap.

The catalog checks follow the "Verification Steps" of the deployment the
monitor is built for (the integrations table, idx_active_integrations, the four
policies); the behaviour checks prove the policies and functions do their job.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import psycopg
import pytest
from psycopg import sql as pgsql

from monitor.postgres import migrations
from tests.support import migrations as support_migrations
from tests.support.postgres import psql_binary

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_MIGRATIONS = ROOT / "examples" / "supabase" / "migrations"
BOOTSTRAP = ROOT / "monitor" / "postgres" / "sql" / "supabase_bootstrap.sql"
SEED_MIGRATIONS = [
    "20250122000000_create_integrations_table",
    "20250122235959_add_organization_id_to_workflow_execution_logs",
    "20250123000000_phase3_performance_indexes",
    "20250123000001_phase3_system_health_monitoring",
    "20250123000002_phase3_security_hardening",
]
CATALOG_SCHEMAS = ["public", "auth", "supabase_migrations"]
# The seed's partial index, as pg_indexes spells it.
ACTIVE_INTEGRATIONS = (
    "CREATE INDEX idx_active_integrations ON public.integrations USING btree"
    " (organization_id, integration_type)"
    " WHERE ((is_active = true) AND (organization_id IS NOT NULL))"
)

# What a catalog is made of, for comparing two databases built the same way.
CATALOG_QUERIES = {
    "columns": """
        SELECT table_schema, table_name, ordinal_position, column_name, data_type,
               is_nullable, column_default, is_identity, identity_generation
        FROM information_schema.columns
        WHERE table_schema = ANY(%(schemas)s)
        ORDER BY 1, 2, 3""",
    "indexes": """
        SELECT schemaname, tablename, indexname, indexdef
        FROM pg_indexes
        WHERE schemaname = ANY(%(schemas)s)
        ORDER BY 1, 2, 3""",
    "policies": """
        SELECT schemaname, tablename, policyname, permissive, roles::text, cmd, qual, with_check
        FROM pg_policies
        WHERE schemaname = ANY(%(schemas)s)
        ORDER BY 1, 2, 3""",
    "constraints": """
        SELECT n.nspname, c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint AS c
        JOIN pg_namespace AS n ON n.oid = c.connamespace
        WHERE n.nspname = ANY(%(schemas)s)
        ORDER BY 1, 2, 3""",
    "triggers": """
        SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger AS t
        JOIN pg_class AS c ON c.oid = t.tgrelid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY(%(schemas)s) AND NOT t.tgisinternal
        ORDER BY 1, 2""",
    "relations": """
        SELECT n.nspname, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
               c.relacl::text
        FROM pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY(%(schemas)s)
        ORDER BY 1, 2""",
    "functions": """
        SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid), p.proacl::text
        FROM pg_proc AS p
        JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname = ANY(%(schemas)s)
        ORDER BY 1""",
    "views": """
        SELECT schemaname, viewname, definition
        FROM pg_views
        WHERE schemaname = ANY(%(schemas)s)
        ORDER BY 1, 2""",
    "default_privileges": """
        SELECT defaclnamespace::regnamespace::text, defaclobjtype, defaclacl::text
        FROM pg_default_acl
        ORDER BY 1, 2""",
}


def rows(dsn: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def catalog(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    params = {"schemas": CATALOG_SCHEMAS}
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {
            name: conn.execute(query, params).fetchall() for name, query in CATALOG_QUERIES.items()
        }


def apply_bootstrap(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrations.apply_sql(conn, migrations.supabase_bootstrap(), BOOTSTRAP.name)


def apply_migrations(dsn: str, names: list[str]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in names:
            support_migrations.apply_file(conn, EXAMPLE_MIGRATIONS / f"{name}.sql")


# --- files --------------------------------------------------------------------------------


def test_the_seed_migrations_follow_one_base_migration_in_the_seed_order() -> None:
    names = [m.name for m in support_migrations.discover(EXAMPLE_MIGRATIONS)]
    assert names == ["20250101000000_base_schema", *SEED_MIGRATIONS]


def test_no_migration_writes_the_ledger_that_belongs_to_the_deploy_tool(
    make_database: Callable[..., str],
) -> None:
    dsn = make_database()
    apply_bootstrap(dsn)
    apply_migrations(dsn, [m.name for m in support_migrations.discover(EXAMPLE_MIGRATIONS)])
    assert rows(dsn, "SELECT count(*) FROM supabase_migrations.schema_migrations") == [(0,)]


# --- the seed's verification steps ---------------------------------------------------------


def test_integrations_has_the_seed_columns_in_order(phase3_dsn: str) -> None:
    columns = rows(
        phase3_dsn,
        """SELECT column_name, data_type, is_nullable, column_default
           FROM information_schema.columns
           WHERE table_schema = 'public' AND table_name = 'integrations'
           ORDER BY ordinal_position""",
    )
    assert columns == [
        ("id", "uuid", "NO", "gen_random_uuid()"),
        ("organization_id", "uuid", "NO", None),
        ("integration_type", "text", "NO", None),
        ("is_active", "boolean", "NO", "true"),
        ("configuration", "jsonb", "YES", "'{}'::jsonb"),
        ("credentials", "jsonb", "YES", None),
        ("status", "text", "YES", "'pending'::text"),
        ("last_sync_at", "timestamp with time zone", "YES", None),
        ("last_error", "text", "YES", None),
        ("created_at", "timestamp with time zone", "NO", "now()"),
        ("updated_at", "timestamp with time zone", "NO", "now()"),
    ]


def test_integrations_constraints_key_reference_and_restrict_the_columns(phase3_dsn: str) -> None:
    constraints = dict(
        rows(
            phase3_dsn,
            """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
               WHERE conrelid = 'public.integrations'::regclass""",
        )
    )
    assert constraints == {
        "integrations_pkey": "PRIMARY KEY (id)",
        "integrations_organization_id_fkey": (
            "FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE"
        ),
        "integrations_organization_id_integration_type_key": (
            "UNIQUE (organization_id, integration_type)"
        ),
        "integrations_status_check": (
            "CHECK ((status = ANY (ARRAY['pending'::text, 'connected'::text, 'syncing'::text, "
            "'error'::text, 'disconnected'::text])))"
        ),
    }


def test_idx_active_integrations_is_the_seed_partial_index(phase3_dsn: str) -> None:
    found = rows(
        phase3_dsn,
        """SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes
           WHERE tablename = 'integrations' AND indexname = 'idx_active_integrations'""",
    )
    assert found == [("public", "integrations", "idx_active_integrations", ACTIVE_INTEGRATIONS)]


def test_integrations_has_its_own_indexes_and_the_phase3_ones(phase3_dsn: str) -> None:
    indexes = dict(
        rows(
            phase3_dsn,
            """SELECT indexname, indexdef FROM pg_indexes
               WHERE schemaname = 'public' AND tablename = 'integrations'""",
        )
    )
    on_table = "ON public.integrations USING btree"
    assert indexes == {
        "integrations_pkey": f"CREATE UNIQUE INDEX integrations_pkey {on_table} (id)",
        "integrations_organization_id_integration_type_key": (
            "CREATE UNIQUE INDEX integrations_organization_id_integration_type_key "
            f"{on_table} (organization_id, integration_type)"
        ),
        "idx_integrations_organization_id": (
            f"CREATE INDEX idx_integrations_organization_id {on_table} (organization_id)"
        ),
        "idx_integrations_type": (
            f"CREATE INDEX idx_integrations_type {on_table} (integration_type)"
        ),
        "idx_integrations_is_active": (
            f"CREATE INDEX idx_integrations_is_active {on_table} (is_active)"
        ),
        "idx_active_integrations": ACTIVE_INTEGRATIONS,
        "idx_integrations_sync_due": (
            f"CREATE INDEX idx_integrations_sync_due {on_table} (last_sync_at NULLS FIRST) "
            "WHERE ((is_active = true) AND "
            "(status = ANY (ARRAY['connected'::text, 'error'::text])))"
        ),
    }


def test_phase3_indexes_exist_on_the_other_tables(phase3_dsn: str) -> None:
    indexes = dict(
        rows(
            phase3_dsn,
            """SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
               AND indexname IN ('idx_workflow_execution_logs_org_created',
                                 'idx_workflow_execution_logs_failed',
                                 'idx_organization_members_user_id',
                                 'idx_organization_members_admins',
                                 'idx_api_integrations_enabled_category')""",
        )
    )
    assert indexes == {
        "idx_workflow_execution_logs_org_created": (
            "CREATE INDEX idx_workflow_execution_logs_org_created ON public.workflow_execution_logs"
            " USING btree (organization_id, created_at DESC)"
        ),
        "idx_workflow_execution_logs_failed": (
            "CREATE INDEX idx_workflow_execution_logs_failed ON public.workflow_execution_logs"
            " USING btree (organization_id, created_at DESC) WHERE (status = 'failed'::text)"
        ),
        "idx_organization_members_user_id": (
            "CREATE INDEX idx_organization_members_user_id ON public.organization_members"
            " USING btree (user_id)"
        ),
        "idx_organization_members_admins": (
            "CREATE INDEX idx_organization_members_admins ON public.organization_members"
            " USING btree (user_id, organization_id)"
            " WHERE (role = ANY (ARRAY['owner'::text, 'admin'::text]))"
        ),
        "idx_api_integrations_enabled_category": (
            "CREATE INDEX idx_api_integrations_enabled_category ON public.api_integrations"
            " USING btree (category, display_name) WHERE (is_enabled = true)"
        ),
    }


def test_integrations_has_the_four_seed_policies_for_authenticated(phase3_dsn: str) -> None:
    policies = rows(
        phase3_dsn,
        """SELECT policyname, permissive, roles::text[], cmd,
                  qual IS NOT NULL, with_check IS NOT NULL
           FROM pg_policies WHERE schemaname = 'public' AND tablename = 'integrations'
           ORDER BY policyname""",
    )
    assert policies == [
        ("Admins can delete integrations", "PERMISSIVE", ["authenticated"], "DELETE", True, False),
        ("Admins can insert integrations", "PERMISSIVE", ["authenticated"], "INSERT", False, True),
        ("Admins can update integrations", "PERMISSIVE", ["authenticated"], "UPDATE", True, True),
        (
            "Users can view organization integrations",
            "PERMISSIVE",
            ["authenticated"],
            "SELECT",
            True,
            False,
        ),
    ]


def test_integrations_policies_check_membership_of_the_requesting_user(phase3_dsn: str) -> None:
    expressions = rows(
        phase3_dsn,
        """SELECT policyname, coalesce(qual, '') || ' ' || coalesce(with_check, '')
           FROM pg_policies WHERE schemaname = 'public' AND tablename = 'integrations'""",
    )
    assert len(expressions) == 4
    for name, text in expressions:
        assert "organization_members" in text and "auth.uid()" in text, name
        admins_only = name.startswith("Admins")
        assert ("'owner'::text" in text and "'admin'::text" in text) == admins_only, name


def test_every_public_table_has_row_level_security_and_none_is_forced(phase3_dsn: str) -> None:
    tables = rows(
        phase3_dsn,
        """SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class AS c
           WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' ORDER BY 1""",
    )
    assert [name for name, _, _ in tables] == [
        "api_integrations",
        "audit_log",
        "integrations",
        "organization_members",
        "organizations",
        "system_health_checks",
        "workflow_execution_logs",
        "workflows",
    ]
    assert all(enabled and not forced for _, enabled, forced in tables)


def test_integrations_updated_at_trigger_is_the_seed_trigger(phase3_dsn: str) -> None:
    triggers = rows(
        phase3_dsn,
        """SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger
           WHERE tgrelid = 'public.integrations'::regclass AND NOT tgisinternal ORDER BY 1""",
    )
    assert triggers == [
        (
            "audit_integrations_changes",
            "CREATE TRIGGER audit_integrations_changes AFTER INSERT OR DELETE OR UPDATE"
            " ON public.integrations FOR EACH ROW EXECUTE FUNCTION log_audit_event()",
        ),
        (
            "update_integrations_updated_at",
            "CREATE TRIGGER update_integrations_updated_at BEFORE UPDATE ON public.integrations"
            " FOR EACH ROW EXECUTE FUNCTION update_updated_at_column()",
        ),
    ]


def test_workflow_logs_gained_a_validated_organization_reference(phase3_dsn: str) -> None:
    found = rows(
        phase3_dsn,
        """SELECT a.attnotnull, c.convalidated, pg_get_constraintdef(c.oid)
           FROM pg_attribute AS a
           JOIN pg_constraint AS c ON c.conrelid = a.attrelid
           WHERE c.conname = 'workflow_execution_logs_organization_id_fkey'
           AND a.attrelid = 'public.workflow_execution_logs'::regclass
           AND a.attname = 'organization_id'""",
    )
    assert found == [
        (
            False,
            True,
            "FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE",
        )
    ]


# --- behaviour -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tenants:
    """Two organizations: acme (alice owner, bob member) and globex (carol owner)."""

    alice: UUID
    bob: UUID
    carol: UUID
    acme: UUID
    globex: UUID
    acme_slack: UUID


@pytest.fixture
def tenants(phase3_dsn: str) -> Tenants:
    with psycopg.connect(phase3_dsn) as conn:

        def one(query: str, *params: object) -> Any:
            row = conn.execute(query, params).fetchone()
            assert row is not None
            return row[0]

        def user(email: str) -> UUID:
            return cast(UUID, one("INSERT INTO auth.users (email) VALUES (%s) RETURNING id", email))

        def organization(name: str) -> UUID:
            return cast(
                UUID,
                one(
                    "INSERT INTO organizations (name, slug) VALUES (%s, lower(%s)) RETURNING id",
                    name,
                    name,
                ),
            )

        alice, bob, carol = (
            user("alice@acme.test"),
            user("bob@acme.test"),
            user("carol@globex.test"),
        )
        acme, globex = organization("Acme"), organization("Globex")
        for organization_id, user_id, role in (
            (acme, alice, "owner"),
            (acme, bob, "member"),
            (globex, carol, "owner"),
        ):
            conn.execute(
                "INSERT INTO organization_members (organization_id, user_id, role)"
                " VALUES (%s, %s, %s)",
                (organization_id, user_id, role),
            )
        acme_slack = one(
            "INSERT INTO integrations (organization_id, integration_type, credentials)"
            " VALUES (%s, 'slack', '{\"token\": \"xoxb-secret\"}') RETURNING id",
            acme,
        )
        conn.execute(
            "INSERT INTO integrations (organization_id, integration_type) VALUES (%s, 'github')",
            (globex,),
        )
    return Tenants(alice, bob, carol, acme, globex, acme_slack)


@contextmanager
def acting_as(
    dsn: str, role: str, user: UUID | None = None
) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """A session that looks like an API request: role and JWT claims set as PostgREST sets them."""
    claims: dict[str, str] = {"role": role}
    if user is not None:
        claims["sub"] = str(user)
    with psycopg.connect(dsn) as conn:
        conn.execute(pgsql.SQL("SET ROLE {}").format(pgsql.Identifier(role)))
        conn.execute("SELECT set_config('request.jwt.claims', %s, false)", [json.dumps(claims)])
        yield conn


def visible_integrations(dsn: str, user: UUID) -> list[tuple[Any, ...]]:
    with acting_as(dsn, "authenticated", user) as conn:
        return conn.execute(
            "SELECT organization_id, integration_type FROM integrations ORDER BY 2"
        ).fetchall()


def test_members_see_only_their_own_organizations_integrations(
    phase3_dsn: str, tenants: Tenants
) -> None:
    assert visible_integrations(phase3_dsn, tenants.bob) == [(tenants.acme, "slack")]
    assert visible_integrations(phase3_dsn, tenants.carol) == [(tenants.globex, "github")]


def test_only_owners_and_admins_of_the_organization_may_add_integrations(
    phase3_dsn: str, tenants: Tenants
) -> None:
    insert = "INSERT INTO integrations (organization_id, integration_type) VALUES (%s, 'jira')"
    with (
        acting_as(phase3_dsn, "authenticated", tenants.bob) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"),
    ):
        conn.execute(insert, (tenants.acme,))
    with (
        acting_as(phase3_dsn, "authenticated", tenants.alice) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"),
    ):
        conn.execute(insert, (tenants.globex,))
    with acting_as(phase3_dsn, "authenticated", tenants.alice) as conn:
        conn.execute(insert, (tenants.acme,))
    assert (tenants.acme, "jira") in visible_integrations(phase3_dsn, tenants.bob)


def test_anon_has_no_privilege_on_integrations(phase3_dsn: str, tenants: Tenants) -> None:
    with (
        acting_as(phase3_dsn, "anon") as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"),
    ):
        conn.execute("SELECT count(*) FROM integrations")


def test_audit_log_records_who_changed_an_integration_but_never_its_credentials(
    phase3_dsn: str, tenants: Tenants
) -> None:
    with acting_as(phase3_dsn, "authenticated", tenants.alice) as conn:
        conn.execute(
            "UPDATE integrations SET status = 'connected' WHERE id = %s", (tenants.acme_slack,)
        )
    with acting_as(phase3_dsn, "authenticated", tenants.alice) as conn:
        entries = conn.execute(
            """SELECT actor_id, actor_role, organization_id, old_data, new_data FROM audit_log
               WHERE table_name = 'integrations' AND action = 'UPDATE' AND record_id = %s""",
            (tenants.acme_slack,),
        ).fetchall()
    assert len(entries) == 1
    actor, actor_role, organization, old, new = entries[0]
    assert (actor, actor_role, organization) == (tenants.alice, "authenticated", tenants.acme)
    assert (old["status"], new["status"]) == ("pending", "connected")
    assert "credentials" not in old and "credentials" not in new
    with acting_as(phase3_dsn, "authenticated", tenants.bob) as conn:
        assert conn.execute("SELECT count(*) FROM audit_log").fetchall() == [(0,)]


def test_members_list_co_members_emails_only_through_the_checked_function(
    phase3_dsn: str, tenants: Tenants
) -> None:
    directory = "SELECT email, role FROM get_organization_members(%s)"
    with acting_as(phase3_dsn, "authenticated", tenants.bob) as conn:
        assert conn.execute(directory, (tenants.acme,)).fetchall() == [
            ("alice@acme.test", "owner"),
            ("bob@acme.test", "member"),
        ]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT email FROM auth.users")
    with acting_as(phase3_dsn, "authenticated", tenants.carol) as conn:
        assert conn.execute(directory, (tenants.acme,)).fetchall() == []


def test_updated_at_trigger_stamps_each_update(phase3_dsn: str, tenants: Tenants) -> None:
    with psycopg.connect(phase3_dsn) as conn:
        conn.execute(
            "UPDATE integrations SET last_error = 'timeout' WHERE id = %s", (tenants.acme_slack,)
        )
    [(created, updated)] = rows(
        phase3_dsn,
        "SELECT created_at, updated_at FROM integrations WHERE id = %s",
        (tenants.acme_slack,),
    )
    assert updated > created


def test_health_checks_run_and_are_recorded_for_the_service_role_only(phase3_dsn: str) -> None:
    with acting_as(phase3_dsn, "service_role") as conn:
        checks = conn.execute("SELECT check_name, status FROM check_system_health()").fetchall()
        recorded = conn.execute("SELECT record_system_health()").fetchall()
    assert sorted(name for name, _ in checks) == [
        "cache_hit_percent",
        "connection_usage_percent",
        "dead_tuple_percent",
        "invalid_indexes",
        "lock_waiting_sessions",
        "longest_transaction_seconds",
    ]
    assert {status for _, status in checks} <= {"ok", "warning", "critical"}
    assert recorded == [(len(checks),)]
    assert rows(phase3_dsn, "SELECT count(*) FROM system_health_checks") == [(len(checks),)]
    with (
        acting_as(phase3_dsn, "authenticated") as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("SELECT * FROM check_system_health()")


def test_health_check_reports_an_invalid_index_as_critical(
    phase3_dsn: str, sql: Callable[[str], None]
) -> None:
    # A failed CREATE INDEX CONCURRENTLY leaves its index behind, invalid.
    sql("INSERT INTO organizations (name, slug) VALUES ('Acme', 'acme')")
    sql(
        "INSERT INTO workflows (organization_id, name)"
        " SELECT id, 'sync' FROM organizations CROSS JOIN generate_series(1, 2)"
    )
    with pytest.raises(psycopg.errors.UniqueViolation):
        sql("CREATE UNIQUE INDEX CONCURRENTLY idx_workflows_name ON workflows (name)")
    [(status, details)] = rows(
        phase3_dsn,
        "SELECT status, details FROM check_system_health() WHERE check_name = 'invalid_indexes'",
    )
    assert status == "critical"
    assert details == {"indexes": ["public.idx_workflows_name"]}


def test_index_usage_view_lists_the_phase3_indexes(phase3_dsn: str) -> None:
    found = rows(
        phase3_dsn,
        """SELECT relname, is_unique, is_valid, index_size_bytes > 0 FROM index_usage_stats
           WHERE indexrelname = 'idx_active_integrations'""",
    )
    assert found == [("integrations", False, True, True)]


# --- order and tooling ---------------------------------------------------------------------


def test_phase3_index_migration_skips_the_integrations_index_when_the_table_is_missing(
    make_database: Callable[..., str],
) -> None:
    dsn = make_database()
    apply_bootstrap(dsn)
    apply_migrations(
        dsn,
        [
            "20250101000000_base_schema",
            "20250122235959_add_organization_id_to_workflow_execution_logs",
            "20250123000000_phase3_performance_indexes",
        ],
    )
    created = {name for (name,) in rows(dsn, "SELECT indexname FROM pg_indexes")}
    assert "idx_active_integrations" not in created
    assert {
        "idx_workflow_execution_logs_org_created",
        "idx_organization_members_user_id",
    } <= created


def test_bootstrap_applied_twice_changes_nothing_the_second_time(
    make_database: Callable[..., str],
) -> None:
    ledger_table = ("supabase_migrations", "schema_migrations")
    dsn = make_database()
    apply_bootstrap(dsn)
    once = catalog(dsn)
    apply_bootstrap(dsn)
    assert catalog(dsn) == once
    ledger = [row[3:6] for row in once["columns"] if row[:2] == ledger_table]
    assert ledger == [
        ("version", "text", "NO"),
        ("statements", "ARRAY", "YES"),
        ("name", "text", "YES"),
    ]
    roles = rows(
        dsn,
        """SELECT rolname, rolcanlogin, rolinherit FROM pg_roles
           WHERE rolname IN ('anon', 'authenticated', 'service_role') ORDER BY 1""",
    )
    assert roles == [
        ("anon", False, False),
        ("authenticated", False, False),
        ("service_role", False, False),
    ]


def test_bootstrap_auth_functions_read_both_claim_settings(
    make_database: Callable[..., str],
) -> None:
    dsn = make_database()
    apply_bootstrap(dsn)
    user = "5f0c3a8e-2b4d-4c1e-9a7f-0d2e6b1c3f45"
    claims = json.dumps({"sub": user, "role": "authenticated", "email": "a@b.test"})
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT auth.uid(), auth.role(), auth.jwt()").fetchone() == (
            None,
            None,
            None,
        )
        conn.execute("SELECT set_config('request.jwt.claims', %s, false)", [claims])
        assert conn.execute("SELECT auth.uid()::text, auth.role(), auth.email()").fetchone() == (
            user,
            "authenticated",
            "a@b.test",
        )
        assert conn.execute("SELECT auth.jwt() ->> 'email'").fetchone() == ("a@b.test",)
        # The per-claim setting of older PostgREST versions wins, as on Supabase.
        conn.execute("SELECT set_config('request.jwt.claim.sub', %s, false)", [str(UUID(int=1))])
        assert conn.execute("SELECT auth.uid()").fetchone() == (UUID(int=1),)


def test_psql_builds_the_same_catalog_as_the_fixture(
    make_database: Callable[..., str], phase3_dsn: str
) -> None:
    psql = psql_binary()
    dsn = make_database()
    files = [BOOTSTRAP, *(m.path for m in support_migrations.discover(EXAMPLE_MIGRATIONS))]
    for path in files:
        done = subprocess.run(
            [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f", str(path), "-d", dsn],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{path.name}: {done.stderr}"
    by_psql, by_fixture = catalog(dsn), catalog(phase3_dsn)
    assert by_psql["indexes"], "the catalog query found nothing to compare"
    for part, expected in by_fixture.items():
        assert by_psql[part] == expected, part
