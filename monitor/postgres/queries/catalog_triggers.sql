-- User triggers (not the ones the server makes for foreign keys). The WHEN
-- condition uses OLD and NEW, which pg_get_expr cannot deparse, so only for a
-- trigger that has one is the whole definition fetched, to be parsed client side.
SELECT
    t.tgrelid,
    t.tgname,
    t.tgtype,
    t.tgenabled,
    fn.nspname AS function_schema,
    f.proname AS function_name,
    t.tgnargs,
    t.tgargs,
    ARRAY(
        SELECT (
            SELECT a.attname FROM pg_attribute AS a
            WHERE a.attrelid = t.tgrelid AND a.attnum = k.attnum
        )
        FROM unnest(t.tgattr::int2[]) WITH ORDINALITY AS k (attnum, position)
        ORDER BY k.position
    ) AS columns,
    CASE WHEN t.tgqual IS NOT NULL THEN pg_get_triggerdef(t.oid, true) END AS definition
FROM pg_trigger AS t
JOIN pg_proc AS f ON f.oid = t.tgfoid
JOIN pg_namespace AS fn ON fn.oid = f.pronamespace
WHERE t.tgrelid = ANY(%(tables)s::oid[])
  AND NOT t.tgisinternal
ORDER BY t.tgrelid, t.tgname COLLATE "C"
