-- Columns in table order, with the default or generation expression and the
-- column's own privileges (NULL when it has none beyond the table's).
SELECT
    a.attrelid,
    a.attname,
    format_type(a.atttypid, a.atttypmod) AS type,
    a.attnotnull,
    pg_get_expr(d.adbin, d.adrelid, true) AS default_expression,
    a.attidentity,
    a.attgenerated,
    a.attacl::text[] AS acl
FROM pg_attribute AS a
LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = ANY(%(tables)s::oid[])
  AND a.attnum > 0
  AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
