-- Organization-level integrations: one row per organization and integration
-- type, holding that organization's configuration and credentials. Separate
-- from public.api_integrations, the platform-wide catalogue super admins manage.
-- Must run before 20250123000000_phase3_performance_indexes, which indexes it.

CREATE TABLE IF NOT EXISTS public.integrations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES public.organizations (id) ON DELETE CASCADE,
  integration_type text NOT NULL,
  is_active boolean NOT NULL DEFAULT true,
  configuration jsonb DEFAULT '{}'::jsonb,
  credentials jsonb,
  status text DEFAULT 'pending'
    CHECK (status IN ('pending', 'connected', 'syncing', 'error', 'disconnected')),
  last_sync_at timestamptz,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, integration_type)
);

COMMENT ON TABLE public.integrations IS
  'Integration instances of an organization (one per integration_type).';
COMMENT ON COLUMN public.integrations.integration_type IS
  'Provider key, e.g. slack, github, salesforce; matches api_integrations.provider.';
COMMENT ON COLUMN public.integrations.configuration IS
  'Non-secret settings shown in the UI.';
COMMENT ON COLUMN public.integrations.credentials IS
  'Secrets (tokens, keys). Never logged, never returned to anon.';
COMMENT ON COLUMN public.integrations.status IS
  'Connection state: pending, connected, syncing, error or disconnected.';

CREATE INDEX IF NOT EXISTS idx_integrations_organization_id
  ON public.integrations (organization_id);
CREATE INDEX IF NOT EXISTS idx_integrations_type
  ON public.integrations (integration_type);
CREATE INDEX IF NOT EXISTS idx_integrations_is_active
  ON public.integrations (is_active);

-- Row level security ------------------------------------------------------------

ALTER TABLE public.integrations ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS "Users can view organization integrations" ON public.integrations;
CREATE POLICY "Users can view organization integrations"
  ON public.integrations
  FOR SELECT
  TO authenticated
  USING (
    organization_id IN (
      SELECT om.organization_id
      FROM public.organization_members AS om
      WHERE om.user_id = (SELECT auth.uid())
    )
  );

DROP POLICY IF EXISTS "Admins can insert integrations" ON public.integrations;
CREATE POLICY "Admins can insert integrations"
  ON public.integrations
  FOR INSERT
  TO authenticated
  WITH CHECK (
    organization_id IN (
      SELECT om.organization_id
      FROM public.organization_members AS om
      WHERE om.user_id = (SELECT auth.uid()) AND om.role IN ('owner', 'admin')
    )
  );

-- USING picks the rows an admin may touch, WITH CHECK stops them from moving
-- a row into an organization they do not administer.
DROP POLICY IF EXISTS "Admins can update integrations" ON public.integrations;
CREATE POLICY "Admins can update integrations"
  ON public.integrations
  FOR UPDATE
  TO authenticated
  USING (
    organization_id IN (
      SELECT om.organization_id
      FROM public.organization_members AS om
      WHERE om.user_id = (SELECT auth.uid()) AND om.role IN ('owner', 'admin')
    )
  )
  WITH CHECK (
    organization_id IN (
      SELECT om.organization_id
      FROM public.organization_members AS om
      WHERE om.user_id = (SELECT auth.uid()) AND om.role IN ('owner', 'admin')
    )
  );

DROP POLICY IF EXISTS "Admins can delete integrations" ON public.integrations;
CREATE POLICY "Admins can delete integrations"
  ON public.integrations
  FOR DELETE
  TO authenticated
  USING (
    organization_id IN (
      SELECT om.organization_id
      FROM public.organization_members AS om
      WHERE om.user_id = (SELECT auth.uid()) AND om.role IN ('owner', 'admin')
    )
  );

-- updated_at ------------------------------------------------------------------

DROP TRIGGER IF EXISTS update_integrations_updated_at ON public.integrations;
CREATE TRIGGER update_integrations_updated_at
  BEFORE UPDATE ON public.integrations
  FOR EACH ROW
  EXECUTE FUNCTION update_updated_at_column();
