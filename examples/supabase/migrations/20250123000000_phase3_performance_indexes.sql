-- Phase 3 performance indexes.
--
-- Each index is created only when its table (or column) exists, so this
-- migration applies to every environment whatever optional tables it has.
-- The partial indexes cover the hot paths: active integrations, failed
-- workflow runs, and the owner/admin checks of the RLS policies.

-- Workflow execution logs by organization, newest first (dashboard timeline)
DO $$
BEGIN
  IF EXISTS (
    SELECT FROM information_schema.columns
    WHERE table_schema = 'public'
    AND table_name = 'workflow_execution_logs'
    AND column_name = 'organization_id'
  ) THEN
    CREATE INDEX IF NOT EXISTS idx_workflow_execution_logs_org_created
      ON workflow_execution_logs(organization_id, created_at DESC);
  END IF;
END $$;

-- Failed workflow runs (alerting and retry queue)
DO $$
BEGIN
  IF EXISTS (
    SELECT FROM information_schema.columns
    WHERE table_schema = 'public'
    AND table_name = 'workflow_execution_logs'
    AND column_name = 'organization_id'
  ) THEN
    CREATE INDEX IF NOT EXISTS idx_workflow_execution_logs_failed
      ON workflow_execution_logs(organization_id, created_at DESC)
      WHERE status = 'failed';
  END IF;
END $$;

-- Memberships of a user (every RLS policy looks these up by auth.uid())
DO $$
BEGIN
  IF EXISTS (
    SELECT FROM information_schema.tables
    WHERE table_schema = 'public'
    AND table_name = 'organization_members'
  ) THEN
    CREATE INDEX IF NOT EXISTS idx_organization_members_user_id
      ON organization_members(user_id);
  END IF;
END $$;

-- Owners and admins of an organization (the "Admins can ..." policies)
DO $$
BEGIN
  IF EXISTS (
    SELECT FROM information_schema.tables
    WHERE table_schema = 'public'
    AND table_name = 'organization_members'
  ) THEN
    CREATE INDEX IF NOT EXISTS idx_organization_members_admins
      ON organization_members(user_id, organization_id)
      WHERE role IN ('owner', 'admin');
  END IF;
END $$;

-- Enabled API integrations by category (integration catalogue)
DO $$
BEGIN
  IF EXISTS (
    SELECT FROM information_schema.tables
    WHERE table_schema = 'public'
    AND table_name = 'api_integrations'
  ) THEN
    CREATE INDEX IF NOT EXISTS idx_api_integrations_enabled_category
      ON api_integrations(category, display_name)
      WHERE is_enabled = true;
  END IF;
END $$;

-- Active integrations (if table exists)
DO $$
BEGIN
  IF EXISTS (
    SELECT FROM information_schema.tables 
    WHERE table_schema = 'public' 
    AND table_name = 'integrations'
  ) THEN
    CREATE INDEX IF NOT EXISTS idx_active_integrations
      ON integrations(organization_id, integration_type)
      WHERE is_active = true AND organization_id IS NOT NULL;
  END IF;
END $$;

-- Integrations due for a sync (scheduler picks the oldest first)
DO $$
BEGIN
  IF EXISTS (
    SELECT FROM information_schema.tables
    WHERE table_schema = 'public'
    AND table_name = 'integrations'
  ) THEN
    CREATE INDEX IF NOT EXISTS idx_integrations_sync_due
      ON integrations(last_sync_at NULLS FIRST)
      WHERE is_active = true AND status IN ('connected', 'error');
  END IF;
END $$;
