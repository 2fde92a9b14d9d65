-- Primary key, unique, foreign key, check and exclusion constraints (not the
-- NOT NULL rows newer servers keep here: nullability is a column property). A CHECK or
-- EXCLUDE definition over the byte cap (text_cap) comes as its MD5 and length.
SELECT
    con.conrelid,
    con.conname,
    con.contype,
    ARRAY(
        SELECT (
            SELECT a.attname FROM pg_attribute AS a
            WHERE a.attrelid = con.conrelid AND a.attnum = k.attnum
        )
        FROM unnest(con.conkey) WITH ORDINALITY AS k (attnum, position)
        ORDER BY k.position
    ) AS columns,
    rn.nspname || '.' || rc.relname AS referenced_table,
    ARRAY(
        SELECT (
            SELECT a.attname FROM pg_attribute AS a
            WHERE a.attrelid = con.confrelid AND a.attnum = k.attnum
        )
        FROM unnest(con.confkey) WITH ORDINALITY AS k (attnum, position)
        ORDER BY k.position
    ) AS referenced_columns,
    con.confdeltype,
    con.confupdtype,
    con.confmatchtype,
    CASE
        WHEN octet_length(expression.text) > %(text_cap)s
        THEN 'hashed:md5:' || md5(expression.text) || ':' || octet_length(expression.text)
        ELSE expression.text
    END AS check_expression,
    con.condeferrable,
    con.condeferred,
    con.convalidated,
    -- A foreign key to a UNIQUE key rather than the primary key (for the advisors).
    con.contype = 'f' AND EXISTS (
        SELECT FROM pg_index AS i
        WHERE i.indexrelid = con.conindid AND i.indisunique AND NOT i.indisprimary
    ) AS references_unique
FROM pg_constraint AS con
CROSS JOIN LATERAL (
    SELECT CASE con.contype
        WHEN 'c' THEN pg_get_expr(con.conbin, con.conrelid, true)
        WHEN 'x' THEN pg_get_constraintdef(con.oid, true)
    END AS text
) AS expression
LEFT JOIN pg_class AS rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace AS rn ON rn.oid = rc.relnamespace
WHERE con.conrelid = ANY(%(tables)s::oid[])
  AND con.contype IN ('p', 'u', 'f', 'c', 'x')
ORDER BY con.conrelid, con.conname COLLATE "C"
