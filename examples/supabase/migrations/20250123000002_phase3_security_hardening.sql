-- Phase 3 security hardening.
--
-- 1. api_integrations was exposed: no row level security while the default
--    grants give every table of schema public to anon and authenticated.
-- 2. Any other table of schema public still without row level security gets it
--    (no policy means no rows for the API roles until one is written).
-- 3. anon, the role of unauthenticated requests, loses every privilege on
--    organization data.
-- 4. An append-only audit log of changes to integrations, API integrations and
--    memberships, with credentials stripped.
-- 5. Functions get a fixed search_path (Supabase linter: function_search_path_mutable).
-- 6. Members read their co-members' e-mail addresses through a checked
--    function instead of a grant on auth.users.

-- 1. API integrations: super admins only ---------------------------------------------

ALTER TABLE public.api_integrations ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Super admins can manage API integrations" ON public.api_integrations;
CREATE POLICY "Super admins can manage API integrations"
  ON public.api_integrations
  FOR ALL
  TO authenticated
  USING ((SELECT public.is_super_admin()))
  WITH CHECK ((SELECT public.is_super_admin()));

-- Signed-in users may list the enabled providers, to connect one of them.
DROP POLICY IF EXISTS "Members can view enabled API integrations" ON public.api_integrations;
CREATE POLICY "Members can view enabled API integrations"
  ON public.api_integrations
  FOR SELECT
  TO authenticated
  USING (is_enabled);

-- 2. Row level security everywhere in schema public --------------------------------

DO $$
DECLARE
  unprotected regclass;
BEGIN
  FOR unprotected IN
    SELECT c.oid::regclass
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public'
    AND c.relkind IN ('r', 'p')
    AND NOT c.relrowsecurity
  LOOP
    RAISE NOTICE 'enabling row level security on %', unprotected;
    EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', unprotected);
  END LOOP;
END $$;

-- 3. Nothing for anon ----------------------------------------------------------------------

REVOKE ALL ON TABLE
  public.organizations,
  public.organization_members,
  public.workflows,
  public.workflow_execution_logs,
  public.api_integrations,
  public.system_health_checks
FROM anon;

-- integrations comes from its own migration; like the Phase 3 indexes, only
-- touch it where it exists.
DO $$
BEGIN
  IF to_regclass('public.integrations') IS NOT NULL THEN
    REVOKE ALL ON TABLE public.integrations FROM anon;
  END IF;
END $$;

-- 4. Audit log ----------------------------------------------------------------------------

-- No foreign keys: an audit entry must outlive the organization or row it
-- describes (and a cascading delete must still be able to log itself).
CREATE TABLE IF NOT EXISTS public.audit_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  actor_id uuid,
  actor_role text,
  organization_id uuid,
  table_name text NOT NULL,
  record_id uuid,
  action text NOT NULL CHECK (action IN ('INSERT', 'UPDATE', 'DELETE')),
  old_data jsonb,
  new_data jsonb
);

COMMENT ON TABLE public.audit_log IS
  'Append-only record of changes to integrations, api_integrations and organization_members; credentials are never stored.';

CREATE INDEX IF NOT EXISTS idx_audit_log_organization_occurred_at
  ON public.audit_log (organization_id, occurred_at DESC);
CREATE INDEX IF NOT EXISTS idx_audit_log_record
  ON public.audit_log (table_name, record_id);

ALTER TABLE public.audit_log ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Admins can view organization audit log" ON public.audit_log;
CREATE POLICY "Admins can view organization audit log"
  ON public.audit_log
  FOR SELECT
  TO authenticated
  USING (
    organization_id IN (
      SELECT om.organization_id
      FROM public.organization_members AS om
      WHERE om.user_id = (SELECT auth.uid()) AND om.role IN ('owner', 'admin')
    )
  );

DROP POLICY IF EXISTS "Super admins can view the audit log" ON public.audit_log;
CREATE POLICY "Super admins can view the audit log"
  ON public.audit_log
  FOR SELECT
  TO authenticated
  USING ((SELECT public.is_super_admin()));

-- Entries are written by the trigger function alone.
REVOKE ALL ON TABLE public.audit_log FROM anon;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON TABLE public.audit_log FROM authenticated;

CREATE OR REPLACE FUNCTION public.log_audit_event()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
  -- Secrets never reach the log, whatever the audited table.
  old_row jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) - 'credentials' END;
  new_row jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) - 'credentials' END;
BEGIN
  INSERT INTO public.audit_log
    (actor_id, actor_role, organization_id, table_name, record_id, action, old_data, new_data)
  VALUES (
    auth.uid(),
    coalesce(auth.role(), session_user),
    (coalesce(new_row, old_row) ->> 'organization_id')::uuid,
    TG_TABLE_NAME,
    (coalesce(new_row, old_row) ->> 'id')::uuid,
    TG_OP,
    old_row,
    new_row
  );
  RETURN NULL;
END;
$$;

REVOKE ALL ON FUNCTION public.log_audit_event() FROM PUBLIC, anon, authenticated;

DO $$
BEGIN
  IF to_regclass('public.integrations') IS NOT NULL THEN
    DROP TRIGGER IF EXISTS audit_integrations_changes ON public.integrations;
    CREATE TRIGGER audit_integrations_changes
      AFTER INSERT OR UPDATE OR DELETE ON public.integrations
      FOR EACH ROW EXECUTE FUNCTION public.log_audit_event();
  END IF;
END $$;

DROP TRIGGER IF EXISTS audit_api_integrations_changes ON public.api_integrations;
CREATE TRIGGER audit_api_integrations_changes
  AFTER INSERT OR UPDATE OR DELETE ON public.api_integrations
  FOR EACH ROW EXECUTE FUNCTION public.log_audit_event();

DROP TRIGGER IF EXISTS audit_organization_members_changes ON public.organization_members;
CREATE TRIGGER audit_organization_members_changes
  AFTER INSERT OR UPDATE OR DELETE ON public.organization_members
  FOR EACH ROW EXECUTE FUNCTION public.log_audit_event();

-- 5. Fixed search_path on the functions policies and triggers call ---------------------

ALTER FUNCTION public.update_updated_at_column() SET search_path = '';
ALTER FUNCTION public.is_super_admin() SET search_path = '';

-- 6. Co-member directory -----------------------------------------------------------------

-- auth.users stays private; a member of an organization may list its members'
-- e-mail addresses, and nobody else gets a row.
CREATE OR REPLACE FUNCTION public.get_organization_members(target_organization_id uuid)
RETURNS TABLE (user_id uuid, email text, role text, joined_at timestamptz)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
  SELECT m.user_id, u.email::text, m.role, m.created_at
  FROM public.organization_members AS m
  JOIN auth.users AS u ON u.id = m.user_id
  WHERE m.organization_id = target_organization_id
  AND EXISTS (
    SELECT FROM public.organization_members AS me
    WHERE me.organization_id = target_organization_id
    AND me.user_id = auth.uid()
  )
  ORDER BY m.created_at, u.email
$$;

REVOKE ALL ON FUNCTION public.get_organization_members(uuid) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.get_organization_members(uuid) TO authenticated, service_role;
