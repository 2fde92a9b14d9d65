-- Everything else of the security surface in one round trip, one JSON list per
-- kind: the asked schemas themselves (owner, ACL), their default privileges,
-- types, sequences, collations, foreign tables and autovacuum switches (for the advisors), and
-- the database-wide
-- extensions, publications, event triggers and pgmq queues. Objects that belong
-- to an extension (pg_depend deptype 'e') are left out. A NULL ACL means the defaults: acldefault() spells them out. No relation
-- is opened: sequences are read from pg_sequence, never their current value.
WITH asked AS (
    SELECT n.oid, n.nspname, n.nspowner, n.nspacl
    FROM pg_namespace AS n
    WHERE n.nspname = ANY(%(schemas)s::text[])
),
extension_members AS (
    SELECT d.classid, d.objid FROM pg_depend AS d WHERE d.deptype = 'e'
)
SELECT
    (
        SELECT coalesce(json_agg(json_build_array(
            a.nspname,
            pg_get_userbyid(a.nspowner),
            coalesce(a.nspacl, acldefault('n', a.nspowner))::text[]
        ) ORDER BY a.nspname COLLATE "C"), '[]')
        FROM asked AS a
    ) AS schemas,
    (
        SELECT coalesce(json_agg(json_build_array(
            a.nspname,
            pg_get_userbyid(da.defaclrole),
            da.defaclobjtype,
            da.defaclacl::text[]
        ) ORDER BY a.nspname COLLATE "C", pg_get_userbyid(da.defaclrole) COLLATE "C", da.defaclobjtype), '[]')
        FROM pg_default_acl AS da
        JOIN asked AS a ON a.oid = da.defaclnamespace
    ) AS default_privileges,
    (
        SELECT coalesce(json_agg(json_build_array(
            a.nspname,
            t.typname,
            t.typtype,
            CASE t.typtype WHEN 'e' THEN ARRAY(
                SELECT e.enumlabel::text FROM pg_enum AS e
                WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder
            ) END,
            CASE t.typtype
                WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod)
                WHEN 'r' THEN (
                    SELECT format_type(r.rngsubtype, NULL) FROM pg_range AS r
                    WHERE r.rngtypid = t.oid
                )
            END,
            t.typnotnull,
            t.typdefault,
            CASE t.typtype WHEN 'd' THEN (
                SELECT coalesce(json_agg(json_build_array(
                    con.conname, pg_get_expr(con.conbin, 0, true), con.convalidated
                ) ORDER BY con.conname COLLATE "C"), '[]')
                FROM pg_constraint AS con
                WHERE con.contypid = t.oid AND con.contype = 'c'
            ) END,
            CASE t.typtype WHEN 'c' THEN (
                SELECT coalesce(json_agg(json_build_array(
                    at.attname, format_type(at.atttypid, at.atttypmod)
                ) ORDER BY at.attnum), '[]')
                FROM pg_attribute AS at
                WHERE at.attrelid = t.typrelid AND at.attnum > 0 AND NOT at.attisdropped
            ) END,
            pg_get_userbyid(t.typowner),
            coalesce(t.typacl, acldefault('T', t.typowner))::text[]
        ) ORDER BY a.nspname COLLATE "C", t.typname COLLATE "C"), '[]')
        FROM pg_type AS t
        JOIN asked AS a ON a.oid = t.typnamespace
        LEFT JOIN pg_class AS tc ON tc.oid = t.typrelid
        WHERE (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND tc.relkind = 'c'))
          AND NOT EXISTS (
              SELECT FROM extension_members AS x
              WHERE x.classid = 'pg_type'::regclass AND x.objid = t.oid
          )
    ) AS types,
    (
        SELECT coalesce(json_agg(json_build_array(
            a.nspname,
            c.relname,
            format_type(s.seqtypid, NULL),
            s.seqincrement,
            s.seqmin,
            s.seqmax,
            s.seqstart,
            s.seqcache,
            s.seqcycle,
            (
                SELECT oc.relname || '.' || oa.attname
                FROM pg_depend AS d
                JOIN pg_class AS oc ON oc.oid = d.refobjid
                JOIN pg_attribute AS oa ON oa.attrelid = d.refobjid AND oa.attnum = d.refobjsubid
                WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a'
                  AND d.refobjsubid > 0
            ),
            pg_get_userbyid(c.relowner),
            coalesce(c.relacl, acldefault('s', c.relowner))::text[]
        ) ORDER BY a.nspname COLLATE "C", c.relname COLLATE "C"), '[]')
        FROM pg_sequence AS s
        JOIN pg_class AS c ON c.oid = s.seqrelid
        JOIN asked AS a ON a.oid = c.relnamespace
        -- An identity column's sequence is part of the column (deptype 'i').
        WHERE NOT EXISTS (
            SELECT FROM pg_depend AS d
            WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('i', 'e')
        )
    ) AS sequences,
    (
        SELECT coalesce(json_agg(json_build_array(
            x.extname, xn.nspname, x.extversion, available.default_version
        ) ORDER BY x.extname COLLATE "C"), '[]')
        FROM pg_extension AS x
        JOIN pg_namespace AS xn ON xn.oid = x.extnamespace
        -- The version CREATE EXTENSION would install (the control files, read once).
        LEFT JOIN pg_available_extensions() AS available (name, default_version, comment)
          ON available.name = x.extname
    ) AS extensions,
    (
        SELECT coalesce(json_agg(json_build_array(
            p.pubname,
            p.puballtables,
            p.pubinsert,
            p.pubupdate,
            p.pubdelete,
            p.pubtruncate,
            CASE WHEN NOT p.puballtables THEN ARRAY(
                SELECT pt.schemaname || '.' || pt.tablename
                FROM pg_publication_tables AS pt
                WHERE pt.pubname = p.pubname
                ORDER BY pt.schemaname COLLATE "C", pt.tablename COLLATE "C"
            ) END
        ) ORDER BY p.pubname COLLATE "C"), '[]')
        FROM pg_publication AS p
    ) AS publications,
    (
        SELECT coalesce(json_agg(json_build_array(
            e.evtname,
            e.evtevent,
            fn.nspname,
            f.proname,
            e.evtenabled,
            e.evttags
        ) ORDER BY e.evtname COLLATE "C"), '[]')
        FROM pg_event_trigger AS e
        JOIN pg_proc AS f ON f.oid = e.evtfoid
        JOIN pg_namespace AS fn ON fn.oid = f.pronamespace
        WHERE NOT EXISTS (
            SELECT FROM extension_members AS x
            WHERE x.classid = 'pg_event_trigger'::regclass AND x.objid = e.oid
        )
    ) AS event_triggers,
    (
        -- Foreign tables of the asked schemas, for the advisors: who may read them.
        SELECT coalesce(json_agg(json_build_array(
            a.nspname,
            c.relname,
            pg_get_userbyid(c.relowner),
            coalesce(c.relacl, acldefault('r', c.relowner))::text[]
        ) ORDER BY a.nspname COLLATE "C", c.relname COLLATE "C"), '[]')
        FROM pg_class AS c
        JOIN asked AS a ON a.oid = c.relnamespace
        WHERE c.relkind = 'f'
          AND NOT EXISTS (
              SELECT FROM extension_members AS x
              WHERE x.classid = 'pg_class'::regclass AND x.objid = c.oid
          )
    ) AS foreign_tables,
    (
        -- pgmq's queue tables, whatever schemas are asked: whether the API may read them.
        -- NULL when there is no pgmq schema.
        SELECT CASE WHEN qn.oid IS NOT NULL THEN coalesce(json_agg(json_build_array(
            c.relname,
            c.relrowsecurity,
            pg_get_userbyid(c.relowner),
            coalesce(c.relacl, acldefault('r', c.relowner))::text[]
        ) ORDER BY c.relname COLLATE "C") FILTER (WHERE c.oid IS NOT NULL), '[]') END
        FROM (SELECT n.oid FROM pg_namespace AS n WHERE n.nspname = 'pgmq') AS qn
        LEFT JOIN pg_class AS c
          ON c.relnamespace = qn.oid AND c.relkind IN ('r', 'p') AND c.relname LIKE 'q\_%%'
        GROUP BY qn.oid
    ) AS queues,
    (
        -- Tables of the asked schemas whose storage parameters set autovacuum_enabled,
        -- with the value as written (off, false, 0 ...), for the advisors.
        SELECT coalesce(json_agg(json_build_array(
            a.nspname, c.relname, substr(option, length('autovacuum_enabled=') + 1)
        ) ORDER BY a.nspname COLLATE "C", c.relname COLLATE "C"), '[]')
        FROM pg_class AS c
        JOIN asked AS a ON a.oid = c.relnamespace
        CROSS JOIN LATERAL unnest(c.reloptions) AS option
        WHERE c.relkind = 'r' AND option LIKE 'autovacuum\_enabled=%%'
    ) AS autovacuum,
    (
        -- Collations made in the asked schemas (CREATE COLLATION). The ICU locale's
        -- column is colliculocale before PostgreSQL 17, colllocale from it: read by name.
        SELECT coalesce(json_agg(json_build_array(
            a.nspname,
            co.collname,
            co.collprovider,
            co.collcollate,
            co.collctype,
            coalesce(to_jsonb(co) ->> 'colllocale', to_jsonb(co) ->> 'colliculocale'),
            co.collisdeterministic,
            pg_get_userbyid(co.collowner)
        ) ORDER BY a.nspname COLLATE "C", co.collname COLLATE "C"), '[]')
        FROM pg_collation AS co
        JOIN asked AS a ON a.oid = co.collnamespace
        WHERE NOT EXISTS (
            SELECT FROM extension_members AS x
            WHERE x.classid = 'pg_collation'::regclass AND x.objid = co.oid
        )
    ) AS collations
