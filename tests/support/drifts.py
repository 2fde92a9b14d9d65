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
     (Kind.POLICY, Change.CHANGED, Severity.CRITICAL, VIEW.strip('"'))),
    ("policy roles changed", f"ALTER POLICY {VIEW} ON integrations TO authenticated, anon",
     (Kind.POLICY, Change.CHANGED, Severity.CRITICAL, VIEW.strip('"'))),
    ("policy made restrictive",
     f"DROP POLICY {VIEW} ON integrations; CREATE POLICY {VIEW} ON integrations AS RESTRICTIVE"
     " FOR SELECT TO authenticated USING (organization_id IN (SELECT om.organization_id"
     " FROM public.organization_members AS om WHERE om.user_id = (SELECT auth.uid())))",
     (Kind.POLICY, Change.CHANGED, Severity.WARNING, VIEW.strip('"'))),
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
     (Kind.CONSTRAINT, Change.MISSING, Severity.WARNING,
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
