-- Every index of the watched schemas: scans, size, validity, and whether it is
-- being built right now (CREATE INDEX CONCURRENTLY leaves it invalid until the
-- build ends: that is building, not broken).
--
-- pg_relation_size() takes an AccessShareLock. For a relation whose
-- AccessExclusiveLock is held or queued, that would put us in the lock queue
-- (and everyone after us behind us), so its size comes from relpages instead:
-- as of the last VACUUM or ANALYZE, but lock-free.
WITH locked AS (
    -- A lock on an index (DROP INDEX, REINDEX) also makes its table off limits.
    SELECT l.relation AS oid
    FROM pg_locks AS l
    WHERE l.locktype = 'relation'
      AND l.mode = 'AccessExclusiveLock'
      AND l.database = (SELECT d.oid FROM pg_database AS d WHERE d.datname = current_database())
),
building AS (
    SELECT p.index_relid AS oid
    FROM pg_stat_progress_create_index AS p
    WHERE p.datname = current_database()
)
SELECT
    s.schemaname,
    s.relname,
    s.indexrelname,
    s.idx_scan,
    CASE
        WHEN s.indexrelid IN (SELECT oid FROM locked) OR s.relid IN (SELECT oid FROM locked)
        THEN c.relpages::bigint * current_setting('block_size')::bigint
        ELSE pg_relation_size(s.indexrelid)
    END AS size_bytes,
    (s.indexrelid IN (SELECT oid FROM locked) OR s.relid IN (SELECT oid FROM locked))
        AS size_lock_free,
    i.indisvalid AND i.indisready AS valid,
    s.indexrelid IN (SELECT oid FROM building) AS building
FROM pg_stat_user_indexes AS s
JOIN pg_index AS i ON i.indexrelid = s.indexrelid
JOIN pg_class AS c ON c.oid = s.indexrelid
WHERE s.schemaname = ANY(%(schemas)s::text[])
ORDER BY s.schemaname COLLATE "C", s.indexrelname COLLATE "C"
