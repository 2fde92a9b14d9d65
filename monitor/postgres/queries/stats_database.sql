-- The current database in one row: counters since its last statistics reset,
-- and its sessions right now. Statistics views only: no relation is locked.
SELECT
    d.datname,
    d.stats_reset,
    d.deadlocks,
    d.xact_rollback,
    (
        SELECT coalesce(json_object_agg(s.state, s.sessions), '{}'::json)
        FROM (
            SELECT coalesce(a.state, 'unknown') AS state, count(*) AS sessions
            FROM pg_stat_activity AS a
            WHERE a.datname = current_database() AND a.backend_type = 'client backend'
            GROUP BY 1
        ) AS s
    ) AS connections,
    (
        SELECT count(*)
        FROM pg_stat_activity AS a
        WHERE a.datname = current_database() AND a.wait_event_type = 'Lock'
    ) AS lock_waiting_sessions,
    (
        -- Our own statement is never the long transaction worth reporting.
        SELECT coalesce(max(extract(epoch FROM clock_timestamp() - a.xact_start)), 0)
        FROM pg_stat_activity AS a
        WHERE a.datname = current_database()
          AND a.backend_type = 'client backend'
          AND a.pid <> pg_backend_pid()
    )::float8 AS longest_transaction_seconds
FROM pg_stat_database AS d
WHERE d.datname = current_database()
