-- Give each workflow execution log its organization, so that logs can be
-- filtered and secured per organization without a join through workflows
-- (and survive their workflow being deleted).
--
-- Safe to run on a populated table: the column is nullable, the foreign key
-- is added NOT VALID and validated only after the backfill, and every step
-- checks whether it already happened.

ALTER TABLE public.workflow_execution_logs
  ADD COLUMN IF NOT EXISTS organization_id uuid;

COMMENT ON COLUMN public.workflow_execution_logs.organization_id IS
  'Organization that owns the workflow run; NULL only for runs of workflows deleted before this column existed.';

DO $$
BEGIN
  IF NOT EXISTS (
    SELECT FROM pg_catalog.pg_constraint
    WHERE conrelid = 'public.workflow_execution_logs'::regclass
    AND conname = 'workflow_execution_logs_organization_id_fkey'
  ) THEN
    ALTER TABLE public.workflow_execution_logs
      ADD CONSTRAINT workflow_execution_logs_organization_id_fkey
      FOREIGN KEY (organization_id) REFERENCES public.organizations (id)
      ON DELETE CASCADE
      NOT VALID;
  END IF;
END $$;

-- Backfill from the workflow that produced each log.
UPDATE public.workflow_execution_logs AS l
SET organization_id = w.organization_id
FROM public.workflows AS w
WHERE w.id = l.workflow_id
AND l.organization_id IS NULL;

ALTER TABLE public.workflow_execution_logs
  VALIDATE CONSTRAINT workflow_execution_logs_organization_id_fkey;

CREATE INDEX IF NOT EXISTS idx_workflow_execution_logs_organization_id
  ON public.workflow_execution_logs (organization_id);

-- Logs are now secured by their own organization rather than via workflows.
DROP POLICY IF EXISTS "Members can view workflow logs" ON public.workflow_execution_logs;
DROP POLICY IF EXISTS "Members can view organization workflow logs" ON public.workflow_execution_logs;
CREATE POLICY "Members can view organization workflow logs"
  ON public.workflow_execution_logs
  FOR SELECT
  TO authenticated
  USING (
    organization_id IN (
      SELECT om.organization_id
      FROM public.organization_members AS om
      WHERE om.user_id = (SELECT auth.uid())
    )
  );
