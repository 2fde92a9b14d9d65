-- Base schema: organizations and their members, workflows and their execution
-- logs, and the platform-wide catalogue of API integrations that super admins
-- manage. Later migrations build on these tables.

-- Shared helpers ------------------------------------------------------------

CREATE OR REPLACE FUNCTION public.update_updated_at_column()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  NEW.updated_at = now();
  RETURN NEW;
END;
$$;

COMMENT ON FUNCTION public.update_updated_at_column() IS
  'BEFORE UPDATE trigger: stamps updated_at with the transaction time.';

-- Super admins are marked in the app_metadata of their JWT, which only the
-- service role can write; users cannot promote themselves.
CREATE OR REPLACE FUNCTION public.is_super_admin()
RETURNS boolean
LANGUAGE sql
STABLE
AS $$
  SELECT coalesce(auth.jwt() -> 'app_metadata' ->> 'role' = 'super_admin', false)
$$;

-- Organizations -------------------------------------------------------------

CREATE TABLE public.organizations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]*$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.organization_members (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES public.organizations (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  role text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, user_id)
);

COMMENT ON COLUMN public.organization_members.role IS
  'owner and admin manage the organization''s integrations; member reads.';

-- Workflows -----------------------------------------------------------------

CREATE TABLE public.workflows (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES public.organizations (id) ON DELETE CASCADE,
  name text NOT NULL,
  definition jsonb NOT NULL DEFAULT '{}'::jsonb,
  is_enabled boolean NOT NULL DEFAULT true,
  created_by uuid REFERENCES auth.users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_workflows_organization_id ON public.workflows (organization_id);

CREATE TABLE public.workflow_execution_logs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  workflow_id uuid REFERENCES public.workflows (id) ON DELETE SET NULL,
  status text NOT NULL
    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  started_at timestamptz,
  finished_at timestamptz,
  duration_ms integer CHECK (duration_ms >= 0),
  input jsonb,
  output jsonb,
  error_message text,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_workflow_execution_logs_workflow_id
  ON public.workflow_execution_logs (workflow_id, created_at DESC);

-- Platform-wide API integrations (super-admin level) ------------------------

CREATE TABLE public.api_integrations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  provider text NOT NULL UNIQUE,
  display_name text NOT NULL,
  category text NOT NULL,
  base_url text,
  is_enabled boolean NOT NULL DEFAULT true,
  settings jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE public.api_integrations IS
  'Integration providers the platform offers; organizations connect to them through public.integrations.';

-- updated_at triggers ---------------------------------------------------------

CREATE TRIGGER update_organizations_updated_at
  BEFORE UPDATE ON public.organizations
  FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TRIGGER update_organization_members_updated_at
  BEFORE UPDATE ON public.organization_members
  FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TRIGGER update_workflows_updated_at
  BEFORE UPDATE ON public.workflows
  FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TRIGGER update_api_integrations_updated_at
  BEFORE UPDATE ON public.api_integrations
  FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

-- Row level security ------------------------------------------------------------

ALTER TABLE public.organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.organization_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.workflows ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.workflow_execution_logs ENABLE ROW LEVEL SECURITY;

-- A member sees their own memberships; the other policies look organizations
-- up through this one, so it must not refer to organization_members itself
-- (that would recurse).
CREATE POLICY "Users can view their own memberships"
  ON public.organization_members
  FOR SELECT
  TO authenticated
  USING (user_id = (SELECT auth.uid()));

CREATE POLICY "Members can view their organizations"
  ON public.organizations
  FOR SELECT
  TO authenticated
  USING (
    id IN (
      SELECT om.organization_id
      FROM public.organization_members AS om
      WHERE om.user_id = (SELECT auth.uid())
    )
  );

CREATE POLICY "Owners can update their organizations"
  ON public.organizations
  FOR UPDATE
  TO authenticated
  USING (
    id IN (
      SELECT om.organization_id
      FROM public.organization_members AS om
      WHERE om.user_id = (SELECT auth.uid()) AND om.role = 'owner'
    )
  );

CREATE POLICY "Members can view organization workflows"
  ON public.workflows
  FOR SELECT
  TO authenticated
  USING (
    organization_id IN (
      SELECT om.organization_id
      FROM public.organization_members AS om
      WHERE om.user_id = (SELECT auth.uid())
    )
  );

-- Logs carry no organization yet: reach it through the workflow, whose own
-- policy already limits what the user sees.
CREATE POLICY "Members can view workflow logs"
  ON public.workflow_execution_logs
  FOR SELECT
  TO authenticated
  USING (workflow_id IN (SELECT w.id FROM public.workflows AS w));
