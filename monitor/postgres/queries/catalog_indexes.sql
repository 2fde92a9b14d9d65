-- Indexes. A key or INCLUDE column that is a plain column is named from
-- pg_attribute, quoted as pg_get_indexdef would; only an expression column is
-- deparsed with pg_get_indexdef. An operator class is named only when it is
-- not the default one (the common case is settled against a list of default
-- classes built once), schema-qualified when not on the pinned search_path.
WITH default_opclasses AS (
    SELECT array_agg(opc.oid) AS oids FROM pg_opclass AS opc WHERE opc.opcdefault
)
SELECT
    i.indrelid,
    ic.relname,
    am.amname,
    i.indisunique,
    i.indisvalid AND i.indisready AS valid,
    i.indnkeyatts,
    ARRAY(
        SELECT CASE
            WHEN k.attnum = 0 THEN pg_get_indexdef(i.indexrelid, k.position::integer, true)
            ELSE (
                SELECT quote_ident(a.attname)
                FROM pg_attribute AS a
                WHERE a.attrelid = i.indrelid AND a.attnum = k.attnum
            )
        END
        FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k (attnum, position)
        ORDER BY k.position
    ) AS definitions,
    i.indoption::int2[] AS options,
    ARRAY(
        SELECT CASE
            WHEN k.opclass = ANY(default_opclasses.oids) THEN NULL
            ELSE (
                SELECT CASE
                    WHEN pg_opclass_is_visible(opc.oid) THEN quote_ident(opc.opcname)
                    ELSE quote_ident(opcn.nspname) || '.' || quote_ident(opc.opcname)
                END
                FROM pg_opclass AS opc
                JOIN pg_namespace AS opcn ON opcn.oid = opc.opcnamespace
                WHERE opc.oid = k.opclass
            )
        END
        FROM unnest(i.indclass::oid[]) WITH ORDINALITY AS k (opclass, position)
        ORDER BY k.position
    ) AS opclasses,
    pg_get_expr(i.indpred, i.indrelid, true) AS predicate,
    con.conname AS constraint_name
FROM default_opclasses, pg_index AS i
JOIN pg_class AS ic ON ic.oid = i.indexrelid
JOIN pg_am AS am ON am.oid = ic.relam
LEFT JOIN pg_constraint AS con
    ON con.conindid = i.indexrelid
   AND con.conrelid = i.indrelid
   AND con.contype IN ('p', 'u', 'x')
WHERE i.indrelid = ANY(%(tables)s::oid[])
ORDER BY i.indrelid, ic.relname COLLATE "C"
