-- Columns in table order, with the default or generation expression, the
-- collation when it is not the type's, and the
-- column's own privileges (NULL when it has none beyond the table's). An expression
-- over the byte cap (text_cap) comes as its MD5 and length (monitor.schema.hashed).
SELECT
    a.attrelid,
    a.attname,
    format_type(a.atttypid, a.atttypmod) AS type,
    a.attnotnull,
    CASE
        WHEN octet_length(expression.text) > %(text_cap)s
        THEN 'hashed:md5:' || md5(expression.text) || ':' || octet_length(expression.text)
        ELSE expression.text
    END AS default_expression,
    a.attidentity,
    a.attgenerated,
    -- The column's collation when it is not its type's: bare in pg_catalog, else qualified.
    CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0 THEN
        CASE WHEN co.collnamespace = 'pg_catalog'::regnamespace THEN co.collname::text
             ELSE cn.nspname || '.' || co.collname END
    END AS collation,
    a.attacl::text[] AS acl
FROM pg_attribute AS a
LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
CROSS JOIN LATERAL (SELECT pg_get_expr(d.adbin, d.adrelid, true) AS text) AS expression
JOIN pg_type AS t ON t.oid = a.atttypid
LEFT JOIN pg_collation AS co ON co.oid = a.attcollation
LEFT JOIN pg_namespace AS cn ON cn.oid = co.collnamespace
WHERE a.attrelid = ANY(%(tables)s::oid[])
  AND a.attnum > 0
  AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
