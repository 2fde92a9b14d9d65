-- Sequential against index scans per table of the watched schemas.
SELECT s.schemaname, s.relname, s.seq_scan, coalesce(s.idx_scan, 0) AS idx_scan
FROM pg_stat_user_tables AS s
WHERE s.schemaname = ANY(%(schemas)s::text[])
ORDER BY s.schemaname COLLATE "C", s.relname COLLATE "C"
