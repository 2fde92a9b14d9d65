-- What the snapshot must know before it reads anything else, in one round trip:
-- which of the asked schemas do not exist, where the migration ledger is, and
-- which relations (tables, views) sit behind an AccessExclusiveLock, granted or queued. Those
-- are left out of every later query: the server's deparse functions
-- (pg_get_expr and the like) open a table for an instant to read its column
-- names, and on such a table that instant would last until lock_timeout.
WITH locked AS (
    -- A lock on an index (DROP INDEX, REINDEX) stands for a lock on its table.
    SELECT DISTINCT coalesce(i.indrelid, l.relation) AS oid
    FROM pg_locks AS l
    LEFT JOIN pg_index AS i ON i.indexrelid = l.relation
    WHERE l.locktype = 'relation'
      AND l.mode = 'AccessExclusiveLock'
      AND l.database = (SELECT d.oid FROM pg_database AS d WHERE d.datname = current_database())
),
ledger AS (
    SELECT to_regclass(%(ledger)s::text) AS oid
),
skipped AS (
    SELECT c.oid, n.nspname, c.relname
    FROM locked
    JOIN pg_class AS c ON c.oid = locked.oid
    JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE (n.nspname = ANY(%(schemas)s::text[]) AND c.relkind IN ('r', 'p', 'v', 'm'))
       OR c.oid = (SELECT ledger.oid FROM ledger)
)
SELECT
    ARRAY(
        SELECT asked.name
        FROM unnest(%(schemas)s::text[]) WITH ORDINALITY AS asked (name, position)
        WHERE NOT EXISTS (SELECT FROM pg_namespace AS n WHERE n.nspname = asked.name)
        ORDER BY asked.position
    ) AS missing_schemas,
    ARRAY(SELECT skipped.oid FROM skipped) AS skipped_oids,
    ARRAY(SELECT skipped.nspname || '.' || skipped.relname FROM skipped) AS skipped_names,
    ln.nspname AS ledger_schema,
    lc.relname AS ledger_name
FROM ledger
LEFT JOIN pg_class AS lc ON lc.oid = ledger.oid
LEFT JOIN pg_namespace AS ln ON ln.oid = lc.relnamespace
