-- The current database's top-level statements: counters only, and the query text of
-- those the monitor has not classified yet (%(known)s: their queryids, an array literal). One more row,
-- its queryid NULL, carries pg_stat_statements_info.stats_reset. {schema} is the
-- extension's schema, quoted; {info} the reset row (a NULL on versions before 1.9).
-- Statistics views only: no relation is locked and no table row is read.
SELECT NULL::bigint, NULL::text, NULL::bigint, NULL::float8, NULL::bigint, NULL::bigint,
       ({info})::timestamptz
UNION ALL
SELECT
    s.queryid,
    CASE WHEN k.queryid IS NULL THEN s.query END,
    s.calls,
    s.total_exec_time,
    s.rows,
    s.shared_blks_hit + s.shared_blks_read,
    NULL
FROM {schema}.pg_stat_statements(true) AS s
LEFT JOIN unnest(%(known)s::bigint[]) AS k (queryid) ON k.queryid = s.queryid
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND s.queryid IS NOT NULL
  AND {toplevel}
