-- Row level security policies; role 0 is PUBLIC.
SELECT
    p.polrelid,
    p.polname,
    p.polcmd,
    p.polpermissive,
    ARRAY(
        SELECT CASE WHEN r.oid = 0 THEN 'public' ELSE pg_get_userbyid(r.oid)::text END
        FROM unnest(p.polroles) AS r (oid)
    ) AS roles,
    pg_get_expr(p.polqual, p.polrelid, true) AS using_expression,
    pg_get_expr(p.polwithcheck, p.polrelid, true) AS with_check_expression
FROM pg_policy AS p
WHERE p.polrelid = ANY(%(tables)s::oid[])
ORDER BY p.polrelid, p.polname COLLATE "C"
