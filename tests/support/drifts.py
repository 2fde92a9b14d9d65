"""The catalogue of drifts the test suite injects with real DDL, and what `check` must find.

Shared by the drift tests and the repair round trip, so that every drift the
suite knows how to make is also one the repair script must undo.
"""

from __future__ import annotations

from monitor.schema.model import Change, Kind, Severity

VIEW = '"Users can view organization integrations"'
INSERT = '"Admins can insert integrations"'


DRIFT = [
    ("index dropped", "DROP INDEX idx_active_integrations",
     (Kind.INDEX, Change.MISSING, Severity.CRITICAL, "idx_active_integrations")),
    ("partial predicate changed",
     "DROP INDEX idx_active_integrations; CREATE INDEX idx_active_integrations"
     " ON integrations (organization_id, integration_type) WHERE is_active = true",
     (Kind.INDEX, Change.CHANGED, Severity.WARNING, "idx_active_integrations")),
    ("index made invalid",
     "UPDATE pg_index SET indisvalid = false"
     " WHERE indexrelid = 'idx_integrations_type'::regclass",
     (Kind.INDEX, Change.INVALID, Severity.CRITICAL, "idx_integrations_type")),
    ("RLS disabled", "ALTER TABLE integrations DISABLE ROW LEVEL SECURITY",
     (Kind.RLS, Change.DISABLED, Severity.CRITICAL, "integrations")),
    ("policy dropped", f"DROP POLICY {VIEW} ON integrations",
     (Kind.POLICY, Change.MISSING, Severity.CRITICAL, VIEW.strip('"'))),
    ("policy USING changed", f"ALTER POLICY {VIEW} ON integrations USING (true)",
     (Kind.POLICY, Change.WIDENED, Severity.CRITICAL, VIEW.strip('"'))),
    ("policy roles changed", f"ALTER POLICY {VIEW} ON integrations TO authenticated, anon",
     (Kind.POLICY, Change.WIDENED, Severity.CRITICAL, VIEW.strip('"'))),
    ("policy made restrictive",
     f"DROP POLICY {VIEW} ON integrations; CREATE POLICY {VIEW} ON integrations AS RESTRICTIVE"
     " FOR SELECT TO authenticated USING (organization_id IN (SELECT om.organization_id"
     " FROM public.organization_members AS om WHERE om.user_id = (SELECT auth.uid())))",
     (Kind.POLICY, Change.NARROWED, Severity.WARNING, VIEW.strip('"'))),
    ("column dropped", "ALTER TABLE integrations DROP COLUMN last_error",
     (Kind.COLUMN, Change.MISSING, Severity.CRITICAL, "last_error")),
    ("column type changed", "ALTER TABLE integrations ALTER COLUMN last_error TYPE varchar(500)",
     (Kind.COLUMN, Change.CHANGED, Severity.WARNING, "last_error")),
    ("NOT NULL dropped",
     "ALTER TABLE integrations ALTER COLUMN integration_type DROP NOT NULL",
     (Kind.COLUMN, Change.CHANGED, Severity.WARNING, "integration_type")),
    ("default changed", "ALTER TABLE integrations ALTER COLUMN is_active SET DEFAULT false",
     (Kind.COLUMN, Change.CHANGED, Severity.WARNING, "is_active")),
    ("unique constraint dropped",
     "ALTER TABLE integrations"
     " DROP CONSTRAINT integrations_organization_id_integration_type_key",
     (Kind.CONSTRAINT, Change.MISSING, Severity.CRITICAL,
      "integrations_organization_id_integration_type_key")),
    ("FK ON DELETE changed",
     "ALTER TABLE integrations DROP CONSTRAINT integrations_organization_id_fkey;"
     " ALTER TABLE integrations ADD CONSTRAINT integrations_organization_id_fkey"
     " FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE RESTRICT",
     (Kind.CONSTRAINT, Change.CHANGED, Severity.WARNING, "integrations_organization_id_fkey")),
    ("trigger dropped", "DROP TRIGGER update_integrations_updated_at ON integrations",
     (Kind.TRIGGER, Change.MISSING, Severity.WARNING, "update_integrations_updated_at")),
    ("trigger disabled",
     "ALTER TABLE integrations DISABLE TRIGGER update_integrations_updated_at",
     (Kind.TRIGGER, Change.DISABLED, Severity.WARNING, "update_integrations_updated_at")),
    ("extra table", "CREATE TABLE public.scratch (id int)",
     (Kind.TABLE, Change.UNEXPECTED, Severity.WARNING, "scratch")),
    ("extra index", "CREATE INDEX idx_hand_made ON integrations (status)",
     (Kind.INDEX, Change.UNEXPECTED, Severity.WARNING, "idx_hand_made")),
    ("extra policy",
     "CREATE POLICY anyone_reads ON integrations FOR SELECT TO anon USING (true)",
     (Kind.POLICY, Change.UNEXPECTED, Severity.WARNING, "anyone_reads")),
]  # fmt: skip


# --- the security surface (tests/integration/test_security_surface.py) --------------------

Found = set[tuple[str, str | None, str, str, str]]

# (edit, setup, the findings expected: (kind, table, name, change, severity)).
SECURITY_DRIFTS: dict[str, tuple[str, str, Found]] = {
    "table granted to anon": (
        "GRANT ALL ON public.integrations TO anon",
        "",
        {("privilege", "integrations", "anon", "widened", "critical")},
    ),
    "secret column granted to anon": (
        "GRANT SELECT (credentials) ON public.integrations TO anon",
        "",
        {("privilege", "integrations", "anon on credentials", "widened", "critical")},
    ),
    "default privileges widened to anon": (
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM anon",
        {
            (
                "privilege",
                "(default privileges on tables of postgres)",
                "anon",
                "widened",
                "critical",
            )
        },
    ),
    "function called by policies replaced": (
        """CREATE OR REPLACE FUNCTION public.is_super_admin() RETURNS boolean
           LANGUAGE sql STABLE SET search_path = '' AS $$ SELECT true $$""",
        "",
        {("function", "is_super_admin()", "is_super_admin()", "changed", "critical")},
    ),
    "SECURITY DEFINER function lost its search_path": (
        "ALTER FUNCTION public.log_audit_event() RESET search_path",
        "",
        {("function", "log_audit_event()", "log_audit_event()", "widened", "critical")},
    ),
    "SECURITY DEFINER function made SECURITY INVOKER": (
        "ALTER FUNCTION public.record_system_health() SECURITY INVOKER",
        "",
        {("function", "record_system_health()", "record_system_health()", "narrowed", "warning")},
    ),
    "function made SECURITY DEFINER": (
        "ALTER FUNCTION public.update_updated_at_column() SECURITY DEFINER",
        "",
        {
            (
                "function",
                "update_updated_at_column()",
                "update_updated_at_column()",
                "widened",
                "critical",
            )
        },
    ),
    "health function executable by anon": (
        "GRANT EXECUTE ON FUNCTION public.check_system_health() TO anon",
        "",
        {("privilege", "check_system_health()", "anon", "widened", "critical")},
    ),
    "audit trigger function body replaced": (
        """CREATE OR REPLACE FUNCTION public.log_audit_event() RETURNS trigger
           LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
           BEGIN RETURN NULL; END; $$""",
        "",
        {("function", "log_audit_event()", "log_audit_event()", "changed", "critical")},
    ),
    "updated_at trigger function body replaced": (
        """CREATE OR REPLACE FUNCTION public.update_updated_at_column() RETURNS trigger
           LANGUAGE plpgsql SET search_path = '' AS $$
           BEGIN NEW.updated_at = clock_timestamp(); RETURN NEW; END; $$""",
        "",
        {
            (
                "function",
                "update_updated_at_column()",
                "update_updated_at_column()",
                "changed",
                "warning",
            )
        },
    ),
    "new view exposing credentials": (
        "CREATE VIEW public.integration_secrets AS SELECT id, credentials FROM public.integrations",
        "",
        {("view", "integration_secrets", "integration_secrets", "unexpected", "critical")},
    ),
    "view lost security_invoker": (
        "ALTER VIEW public.index_usage_stats SET (security_invoker = false)",
        "",
        {("view", "index_usage_stats", "index_usage_stats", "widened", "warning")},
    ),
    "new extension in public": (
        "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public",
        "",
        {("extension", None, "pg_trgm", "unexpected", "warning")},
    ),
    "table owner changed": (
        "ALTER TABLE public.audit_log OWNER TO service_role",
        "",
        {("owner", "audit_log", "audit_log", "changed", "warning")},
    ),
    "table owned by an API role": (
        "ALTER TABLE public.audit_log OWNER TO anon",
        "",
        {("owner", "audit_log", "audit_log", "changed", "critical")},
    ),
    "SECURITY DEFINER function owner changed": (
        "ALTER FUNCTION public.check_system_health() OWNER TO service_role",
        "",
        {("owner", "check_system_health()", "check_system_health()", "changed", "critical")},
    ),
    "new enum type": (
        "CREATE TYPE public.mood AS ENUM ('happy', 'sad')",
        "",
        {("type", "mood", "mood", "unexpected", "warning")},
    ),
    "enum label added": (
        "ALTER TYPE public.mood ADD VALUE 'meh'",
        "CREATE TYPE public.mood AS ENUM ('happy', 'sad')",
        {("type", "mood", "mood", "changed", "warning")},
    ),
    "domain constraint changed": (
        "ALTER DOMAIN public.positive DROP CONSTRAINT positive_check;"
        " ALTER DOMAIN public.positive ADD CONSTRAINT positive_check CHECK (VALUE >= 0)",
        "CREATE DOMAIN public.positive AS integer CHECK (VALUE > 0)",
        {("type", "positive", "positive", "changed", "warning")},
    ),
    "new sequence": (
        "CREATE SEQUENCE public.invoice_numbers",
        "",
        {("sequence", "invoice_numbers", "invoice_numbers", "unexpected", "warning")},
    ),
    "sequence made to cycle": (
        "ALTER SEQUENCE public.invoice_numbers CYCLE",
        "CREATE SEQUENCE public.invoice_numbers",
        {("sequence", "invoice_numbers", "invoice_numbers", "changed", "warning")},
    ),
    "schema usage revoked from authenticated": (
        "REVOKE USAGE ON SCHEMA public FROM authenticated",
        "",
        {("privilege", None, "authenticated", "narrowed", "warning")},
    ),
    "grant revoked": (
        "REVOKE SELECT ON public.index_usage_stats FROM service_role",
        "",
        {("privilege", "index_usage_stats", "service_role", "narrowed", "warning")},
    ),
    "grant option added": (
        "GRANT SELECT ON public.audit_log TO authenticated WITH GRANT OPTION",
        "",
        {("privilege", "audit_log", "authenticated", "widened", "critical")},
    ),
}
