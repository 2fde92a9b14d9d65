-- Ordinary and partitioned tables of the asked schemas, with their row level
-- security switches, owner and ACL, persistence, partitioning and parents; relations behind an AccessExclusiveLock are
-- left out. A NULL ACL means the defaults: acldefault() spells them out, so that
-- NULL and an ACL written out to the same privileges read the same.
SELECT
    c.oid,
    n.nspname,
    c.relname,
    c.relrowsecurity,
    c.relforcerowsecurity,
    pg_get_userbyid(c.relowner) AS owner,
    coalesce(c.relacl, acldefault('r', c.relowner))::text[] AS acl,
    c.relpersistence = 'u' AS unlogged,
    CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partitioned_by,
    -- INHERITS parents in their order (a partition's parent is told by the parent).
    ARRAY(
        SELECT pn.nspname || '.' || pc.relname
        FROM pg_inherits AS i
        JOIN pg_class AS pc ON pc.oid = i.inhparent
        JOIN pg_namespace AS pn ON pn.oid = pc.relnamespace
        WHERE i.inhrelid = c.oid AND NOT c.relispartition
        ORDER BY i.inhseqno
    ) AS parents,
    -- A partitioned table's partitions with their bounds. A bound holds constants
    -- only: deparsed without its relation (relid 0), no partition is opened.
    CASE WHEN c.relkind = 'p' THEN ARRAY(
        SELECT ARRAY[pn.nspname, pc.relname, pg_get_expr(pc.relpartbound, 0)]
        FROM pg_inherits AS i
        JOIN pg_class AS pc ON pc.oid = i.inhrelid
        JOIN pg_namespace AS pn ON pn.oid = pc.relnamespace
        WHERE i.inhparent = c.oid AND pc.relispartition
        ORDER BY pn.nspname COLLATE "C", pc.relname COLLATE "C"
    ) END AS partitions
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s::text[])
  AND c.relkind IN ('r', 'p')
  AND c.oid <> ALL(%(skipped)s::oid[])
ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"
