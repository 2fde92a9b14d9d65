-- Views and materialized views of the asked schemas (not those of extensions),
-- with their query, options (security_invoker, security_barrier, check_option),
-- owner, ACL and column privileges. pg_get_viewdef opens the view for an
-- instant, so views behind an AccessExclusiveLock are left out like tables. A query
-- over the byte cap (text_cap) comes as its MD5 and length (monitor.schema.hashed).
SELECT
    c.oid,
    n.nspname,
    c.relname,
    c.relkind = 'm' AS materialized,
    CASE
        WHEN octet_length(view.definition) > %(text_cap)s
        THEN 'hashed:md5:' || md5(view.definition) || ':' || octet_length(view.definition)
        ELSE view.definition
    END AS definition,
    c.reloptions::text[] AS options,
    pg_get_userbyid(c.relowner) AS owner,
    coalesce(c.relacl, acldefault('r', c.relowner))::text[] AS acl,
    ARRAY(
        SELECT a.attname || ' ' || item
        FROM pg_attribute AS a, unnest(a.attacl::text[]) AS item
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND a.attacl IS NOT NULL
        ORDER BY a.attnum
    ) AS column_acl,
    ARRAY(
        -- The relations the query reads, for a view over a table with row level security.
        SELECT DISTINCT rn.nspname || '.' || rc.relname
        FROM pg_rewrite AS r
        JOIN pg_depend AS d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
        JOIN pg_class AS rc ON rc.oid = d.refobjid AND d.refclassid = 'pg_class'::regclass
        JOIN pg_namespace AS rn ON rn.oid = rc.relnamespace
        WHERE r.ev_class = c.oid AND rc.oid <> c.oid AND rc.relrowsecurity
    ) AS rls_tables
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (SELECT pg_get_viewdef(c.oid) AS definition) AS view
WHERE n.nspname = ANY(%(schemas)s::text[])
  AND c.relkind IN ('v', 'm')
  AND c.oid <> ALL(%(skipped)s::oid[])
  AND NOT EXISTS (
      SELECT FROM pg_depend AS d
      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  )
ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"
