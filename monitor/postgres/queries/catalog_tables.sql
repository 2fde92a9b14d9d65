-- Ordinary and partitioned tables of the asked schemas, with their row level
-- security switches; relations behind an AccessExclusiveLock are left out.
SELECT c.oid, n.nspname, c.relname, c.relrowsecurity, c.relforcerowsecurity
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s::text[])
  AND c.relkind IN ('r', 'p')
  AND c.oid <> ALL(%(skipped)s::oid[])
ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"
