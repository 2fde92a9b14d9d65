-- Functions and procedures of the asked schemas, those of extensions left out
-- (pg_depend deptype 'e': the extension's own, not the user's). The signature
-- lists the argument types that identify the function; a BEGIN ATOMIC body is
-- kept parsed by the server (prosqlbody) and deparsed here. A NULL ACL means
-- the defaults (EXECUTE to PUBLIC): acldefault() spells them out. Functions whose
-- BEGIN ATOMIC body reads a relation behind an AccessExclusiveLock are left out.
-- A body over the byte cap (text_cap) comes as its MD5 and length (monitor.schema.hashed).
-- The name comes apart from the argument types: the reader quotes it
-- (quote.signature), so that any name reads back as one name.
SELECT
    n.nspname,
    p.proname,
    oidvectortypes(p.proargtypes) AS argument_types,
    p.prokind,
    CASE WHEN p.prokind <> 'p' THEN pg_get_function_result(p.oid) END AS returns,
    pg_get_function_arguments(p.oid) AS arguments,
    l.lanname,
    CASE
        WHEN octet_length(body.text) > %(text_cap)s
        THEN 'hashed:md5:' || md5(body.text) || ':' || octet_length(body.text)
        ELSE body.text
    END AS body,
    p.provolatile,
    p.proisstrict,
    p.prosecdef,
    p.proleakproof,
    p.proconfig,
    pg_get_userbyid(p.proowner) AS owner,
    coalesce(p.proacl, acldefault('f', p.proowner))::text[] AS acl
FROM pg_proc AS p
JOIN pg_namespace AS n ON n.oid = p.pronamespace
JOIN pg_language AS l ON l.oid = p.prolang
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN p.prosqlbody IS NOT NULL THEN pg_get_function_sqlbody(p.oid)
        WHEN p.prokind <> 'a' THEN p.prosrc
    END AS text
) AS body
WHERE n.nspname = ANY(%(schemas)s::text[])
  AND p.oid <> ALL(%(skipped)s::oid[])
  AND NOT EXISTS (
      SELECT FROM pg_depend AS d
      WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  )
ORDER BY n.nspname COLLATE "C", p.proname COLLATE "C", oidvectortypes(p.proargtypes) COLLATE "C"
