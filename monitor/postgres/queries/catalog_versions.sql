-- Every object a snapshot reads, by the key provenance knows it by, with a version:
-- the catalog rows it is made of, as their OIDs and xmins, so a version moves when a
-- statement rewrote one of them. `spec build` runs this after each migration file,
-- where a whole snapshot would cost six times as much (see monitor.postgres.replay);
-- the objects themselves are read once, at the end. Kinds and filters follow the
-- catalog_*.sql statements; a table's own version is its OID alone (a table is
-- tracked by existence, its parts by their own rows). Where no row holds the whole
-- object (a publication's tables), the version is the value itself.
WITH asked AS (
    SELECT n.oid, n.nspname FROM pg_namespace AS n WHERE n.nspname = ANY(%(schemas)s::text[])
),
tables AS (
    SELECT c.oid, c.relname, a.nspname
    FROM pg_class AS c JOIN asked AS a ON a.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')
),
members AS (
    SELECT d.classid, d.objid FROM pg_depend AS d WHERE d.deptype = 'e'
)
SELECT 'tables', t.nspname, t.relname, t.relname, NULL, t.oid::text FROM tables AS t
UNION ALL
SELECT 'columns', t.nspname, t.relname, at.attname, NULL,
       concat_ws(':', at.xmin, d.oid, d.xmin)
FROM tables AS t
JOIN pg_attribute AS at ON at.attrelid = t.oid AND at.attnum > 0 AND NOT at.attisdropped
LEFT JOIN pg_attrdef AS d ON d.adrelid = at.attrelid AND d.adnum = at.attnum
UNION ALL
SELECT 'constraints', t.nspname, t.relname, con.conname, NULL, concat_ws(':', con.oid, con.xmin)
FROM tables AS t
JOIN pg_constraint AS con ON con.conrelid = t.oid AND con.contype IN ('p', 'u', 'f', 'c', 'x')
UNION ALL
SELECT 'indexes', t.nspname, t.relname, ic.relname, NULL, concat_ws(':', i.indexrelid, i.xmin)
FROM tables AS t
JOIN pg_index AS i ON i.indrelid = t.oid
JOIN pg_class AS ic ON ic.oid = i.indexrelid
UNION ALL
SELECT 'policies', t.nspname, t.relname, p.polname, NULL, concat_ws(':', p.oid, p.xmin)
FROM tables AS t JOIN pg_policy AS p ON p.polrelid = t.oid
UNION ALL
SELECT 'triggers', t.nspname, t.relname, tg.tgname, NULL, concat_ws(':', tg.oid, tg.xmin)
FROM tables AS t JOIN pg_trigger AS tg ON tg.tgrelid = t.oid AND NOT tg.tgisinternal
UNION ALL
SELECT 'table', t.nspname, NULL, t.relname, NULL, c.xmin::text
FROM tables AS t JOIN pg_class AS c ON c.oid = t.oid
UNION ALL
SELECT 'schema', a.nspname, NULL, a.nspname, NULL, n.xmin::text
FROM asked AS a JOIN pg_namespace AS n ON n.oid = a.oid
UNION ALL
SELECT 'functions', a.nspname, NULL, p.proname, oidvectortypes(p.proargtypes),
       concat_ws(':', p.oid, p.xmin)
FROM pg_proc AS p JOIN asked AS a ON a.oid = p.pronamespace
WHERE NOT EXISTS (
    SELECT FROM members AS x WHERE x.classid = 'pg_proc'::regclass AND x.objid = p.oid
)
UNION ALL
SELECT 'views', a.nspname, NULL, c.relname, NULL,
       concat_ws(':', c.oid, c.xmin, (
           SELECT string_agg(concat_ws(':', r.xmin, at.xmin), ',' ORDER BY at.attnum)
           FROM pg_rewrite AS r
           JOIN pg_attribute AS at ON at.attrelid = c.oid AND at.attnum > 0
           WHERE r.ev_class = c.oid
       ), (
           SELECT string_agg(concat_ws('/', i.indexrelid, i.xmin), ',' ORDER BY i.indexrelid)
           FROM pg_index AS i WHERE i.indrelid = c.oid
       ))
FROM pg_class AS c JOIN asked AS a ON a.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm')
  AND NOT EXISTS (
      SELECT FROM members AS x WHERE x.classid = 'pg_class'::regclass AND x.objid = c.oid
  )
UNION ALL
SELECT 'types', a.nspname, NULL, t.typname, NULL,
       concat_ws(':', t.oid, t.xmin, (
           SELECT string_agg(e.xmin::text, ',' ORDER BY e.oid) FROM pg_enum AS e
           WHERE e.enumtypid = t.oid
       ), (
           SELECT string_agg(concat_ws('/', con.oid, con.xmin), ',' ORDER BY con.oid)
           FROM pg_constraint AS con WHERE con.contypid = t.oid
       ), (
           SELECT string_agg(at.xmin::text, ',' ORDER BY at.attnum) FROM pg_attribute AS at
           WHERE at.attrelid = t.typrelid AND at.attnum > 0
       ))
FROM pg_type AS t JOIN asked AS a ON a.oid = t.typnamespace
LEFT JOIN pg_class AS tc ON tc.oid = t.typrelid
WHERE (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND tc.relkind = 'c'))
  AND NOT EXISTS (
      SELECT FROM members AS x WHERE x.classid = 'pg_type'::regclass AND x.objid = t.oid
  )
UNION ALL
SELECT 'sequences', a.nspname, NULL, c.relname, NULL,
       concat_ws(':', c.oid, c.xmin, s.xmin, (
           SELECT string_agg(d.xmin::text, ',') FROM pg_depend AS d
           WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'a'
       ))
FROM pg_sequence AS s
JOIN pg_class AS c ON c.oid = s.seqrelid
JOIN asked AS a ON a.oid = c.relnamespace
WHERE NOT EXISTS (
    SELECT FROM pg_depend AS d
    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('i', 'e')
)
UNION ALL
SELECT 'default_privileges', a.nspname, NULL, pg_get_userbyid(da.defaclrole), da.defaclobjtype::text,
       da.xmin::text
FROM pg_default_acl AS da JOIN asked AS a ON a.oid = da.defaclnamespace
UNION ALL
SELECT 'extensions', '', NULL, x.extname, NULL, concat_ws(':', x.oid, x.xmin) FROM pg_extension AS x
UNION ALL
SELECT 'publications', '', NULL, p.pubname, NULL,
       concat_ws(':', p.oid, p.xmin, (
           SELECT string_agg(pt.schemaname || '.' || pt.tablename, ',' ORDER BY pt.schemaname, pt.tablename)
           FROM pg_publication_tables AS pt WHERE pt.pubname = p.pubname
       ))
FROM pg_publication AS p
UNION ALL
SELECT 'event_triggers', '', NULL, e.evtname, NULL, concat_ws(':', e.oid, e.xmin)
FROM pg_event_trigger AS e
WHERE NOT EXISTS (
    SELECT FROM members AS x WHERE x.classid = 'pg_event_trigger'::regclass AND x.objid = e.oid
)
