-- Phase 3 system health monitoring.
--
-- * public.check_system_health(): one row per health check, computed from the
--   statistics views (no table is read);
-- * public.system_health_checks: history of those rows, written by
--   public.record_system_health() (scheduled by pg_cron or an edge function);
-- * public.index_usage_stats and public.table_activity_stats: the statistics
--   behind the Phase 3 index work, for the service role and the SQL editor.

-- History -------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS public.system_health_checks (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  check_name text NOT NULL,
  status text NOT NULL CHECK (status IN ('ok', 'warning', 'critical')),
  observed numeric,
  warning_threshold numeric,
  critical_threshold numeric,
  details jsonb NOT NULL DEFAULT '{}'::jsonb,
  checked_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE public.system_health_checks IS
  'One row per health check per run of public.record_system_health(); kept 30 days.';

CREATE INDEX IF NOT EXISTS idx_system_health_checks_name_checked_at
  ON public.system_health_checks (check_name, checked_at DESC);
CREATE INDEX IF NOT EXISTS idx_system_health_checks_problems
  ON public.system_health_checks (checked_at DESC)
  WHERE status <> 'ok';

ALTER TABLE public.system_health_checks ENABLE ROW LEVEL SECURITY;

-- Written only by the SECURITY DEFINER function below; read by super admins.
DROP POLICY IF EXISTS "Super admins can view system health checks" ON public.system_health_checks;
CREATE POLICY "Super admins can view system health checks"
  ON public.system_health_checks
  FOR SELECT
  TO authenticated
  USING ((SELECT public.is_super_admin()));

REVOKE ALL ON TABLE public.system_health_checks FROM anon;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON TABLE public.system_health_checks FROM authenticated;

-- Checks --------------------------------------------------------------------------

-- SECURITY DEFINER so that every caller sees the same server-wide statistics;
-- an empty search_path so that no caller can shadow a catalog object.
CREATE OR REPLACE FUNCTION public.check_system_health()
RETURNS TABLE (
  check_name text,
  status text,
  observed numeric,
  warning_threshold numeric,
  critical_threshold numeric,
  details jsonb
)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
  WITH measured (check_name, observed, warning_threshold, critical_threshold, higher_is_worse, details) AS (
    SELECT
      'connection_usage_percent',
      round(100.0 * count(*) / current_setting('max_connections')::numeric, 1),
      75.0, 90.0, true,
      jsonb_build_object(
        'connections', count(*),
        'max_connections', current_setting('max_connections')::integer
      )
    FROM pg_catalog.pg_stat_activity
    WHERE backend_type = 'client backend'
    UNION ALL
    SELECT
      'longest_transaction_seconds',
      coalesce(round(max(extract(epoch FROM now() - xact_start))::numeric, 1), 0),
      300, 1800, true,
      jsonb_build_object('transactions', count(xact_start))
    FROM pg_catalog.pg_stat_activity
    WHERE backend_type = 'client backend'
    AND state <> 'idle'
    AND pid <> pg_backend_pid()
    UNION ALL
    SELECT
      'lock_waiting_sessions',
      count(*),
      1, 10, true,
      '{}'::jsonb
    FROM pg_catalog.pg_stat_activity
    WHERE wait_event_type = 'Lock'
    UNION ALL
    SELECT
      'invalid_indexes',
      count(*),
      1, 1, true,
      jsonb_build_object('indexes', coalesce(jsonb_agg(i.indexrelid::regclass::text), '[]'::jsonb))
    FROM pg_catalog.pg_index AS i
    WHERE NOT (i.indisvalid AND i.indisready)
    UNION ALL
    SELECT
      'cache_hit_percent',
      coalesce(round(100.0 * blks_hit / nullif(blks_hit + blks_read, 0), 2), 100),
      99.0, 95.0, false,
      jsonb_build_object('blocks_hit', blks_hit, 'blocks_read', blks_read)
    FROM pg_catalog.pg_stat_database
    WHERE datname = current_database()
    UNION ALL
    SELECT
      'dead_tuple_percent',
      coalesce(round(max(100.0 * n_dead_tup / (n_live_tup + n_dead_tup)), 1), 0),
      20.0, 50.0, true,
      jsonb_build_object('tables_over_1000_rows', count(*))
    FROM pg_catalog.pg_stat_user_tables
    WHERE n_live_tup + n_dead_tup > 1000
  )
  SELECT
    m.check_name,
    CASE
      WHEN m.higher_is_worse AND m.observed >= m.critical_threshold THEN 'critical'
      WHEN m.higher_is_worse AND m.observed >= m.warning_threshold THEN 'warning'
      WHEN NOT m.higher_is_worse AND m.observed < m.critical_threshold THEN 'critical'
      WHEN NOT m.higher_is_worse AND m.observed < m.warning_threshold THEN 'warning'
      ELSE 'ok'
    END,
    m.observed,
    m.warning_threshold,
    m.critical_threshold,
    m.details
  FROM measured AS m
$$;

COMMENT ON FUNCTION public.check_system_health() IS
  'Current health checks: connection usage, long transactions, lock waits, invalid indexes, cache hits, dead tuples.';

CREATE OR REPLACE FUNCTION public.record_system_health()
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
  recorded integer;
BEGIN
  INSERT INTO public.system_health_checks
    (check_name, status, observed, warning_threshold, critical_threshold, details)
  SELECT h.check_name, h.status, h.observed, h.warning_threshold, h.critical_threshold, h.details
  FROM public.check_system_health() AS h;
  GET DIAGNOSTICS recorded = ROW_COUNT;

  DELETE FROM public.system_health_checks
  WHERE checked_at < now() - interval '30 days';

  RETURN recorded;
END;
$$;

-- Statistics views ------------------------------------------------------------------

-- security_invoker: the caller's own privileges apply, not the view owner's.
CREATE OR REPLACE VIEW public.index_usage_stats
WITH (security_invoker = true)
AS
SELECT
  s.schemaname,
  s.relname,
  s.indexrelname,
  s.idx_scan,
  s.idx_tup_read,
  s.idx_tup_fetch,
  pg_relation_size(s.indexrelid) AS index_size_bytes,
  i.indisunique AS is_unique,
  i.indisvalid AND i.indisready AS is_valid,
  s.idx_scan = 0 AND NOT i.indisunique AS is_unused
FROM pg_catalog.pg_stat_user_indexes AS s
JOIN pg_catalog.pg_index AS i ON i.indexrelid = s.indexrelid;

CREATE OR REPLACE VIEW public.table_activity_stats
WITH (security_invoker = true)
AS
SELECT
  schemaname,
  relname,
  seq_scan,
  seq_tup_read,
  idx_scan,
  n_live_tup,
  n_dead_tup,
  last_vacuum,
  last_autovacuum,
  last_analyze,
  last_autoanalyze
FROM pg_catalog.pg_stat_user_tables;

-- Privileges ---------------------------------------------------------------------------

-- Health data describes the whole server: service role only.
REVOKE ALL ON FUNCTION public.check_system_health() FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION public.record_system_health() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.check_system_health() TO service_role;
GRANT EXECUTE ON FUNCTION public.record_system_health() TO service_role;

REVOKE ALL ON TABLE public.index_usage_stats, public.table_activity_stats FROM anon, authenticated;
GRANT SELECT ON TABLE public.index_usage_stats, public.table_activity_stats TO service_role;
