-- Row level security policies; role 0 is PUBLIC. An expression over the byte
-- cap (text_cap) comes as its MD5 and length (monitor.schema.hashed).
SELECT
    p.polrelid,
    p.polname,
    p.polcmd,
    p.polpermissive,
    ARRAY(
        SELECT CASE WHEN r.oid = 0 THEN 'public' ELSE pg_get_userbyid(r.oid)::text END
        FROM unnest(p.polroles) AS r (oid)
    ) AS roles,
    CASE
        WHEN octet_length(e.using_expression) > %(text_cap)s
        THEN 'hashed:md5:' || md5(e.using_expression) || ':' || octet_length(e.using_expression)
        ELSE e.using_expression
    END AS using_expression,
    CASE
        WHEN octet_length(e.with_check) > %(text_cap)s
        THEN 'hashed:md5:' || md5(e.with_check) || ':' || octet_length(e.with_check)
        ELSE e.with_check
    END AS with_check_expression
FROM pg_policy AS p
CROSS JOIN LATERAL (
    SELECT
        pg_get_expr(p.polqual, p.polrelid, true) AS using_expression,
        pg_get_expr(p.polwithcheck, p.polrelid, true) AS with_check
) AS e
WHERE p.polrelid = ANY(%(tables)s::oid[])
ORDER BY p.polrelid, p.polname COLLATE "C"
