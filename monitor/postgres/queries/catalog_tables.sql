-- Ordinary and partitioned tables of the asked schemas, with their row level
-- security switches, owner and ACL; relations behind an AccessExclusiveLock are
-- left out. A NULL ACL means the defaults: acldefault() spells them out, so that
-- NULL and an ACL written out to the same privileges read the same.
SELECT
    c.oid,
    n.nspname,
    c.relname,
    c.relrowsecurity,
    c.relforcerowsecurity,
    pg_get_userbyid(c.relowner) AS owner,
    coalesce(c.relacl, acldefault('r', c.relowner))::text[] AS acl
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s::text[])
  AND c.relkind IN ('r', 'p')
  AND c.oid <> ALL(%(skipped)s::oid[])
ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"
