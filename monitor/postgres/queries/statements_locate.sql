-- Where pg_stat_statements is installed (any schema: Supabase puts it in
-- `extensions`), its version, the server's version, and whether our role sees
-- every role's statements (pg_read_all_stats) rather than only its own.
SELECT
    n.nspname,
    e.extversion,
    current_setting('server_version_num')::int AS server_version_num,
    pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS reads_all_stats
FROM pg_extension AS e
JOIN pg_namespace AS n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_stat_statements'
