-- The drift check's cheap first look, one round trip.
--
-- fingerprint: a summary of every catalog row a snapshot of the watched schemas
-- reads. DDL adds or removes rows (the counts move) or writes new row versions
-- (a new xmin, so the sums move); VACUUM and ANALYZE update pg_class in place and
-- move nothing. GRANT and REVOKE write a new row of the object's catalog (pg_class,
-- pg_attribute for a column, pg_proc, pg_type, pg_namespace), CREATE OR REPLACE a
-- new pg_proc or pg_rewrite row, ALTER DEFAULT PRIVILEGES a pg_default_acl row. When the fingerprint is unchanged, the snapshot and its deparsing
-- can be skipped. Index validity is counted too: it may change in place. The
-- migration ledger is followed through its statistics counters, lock-free.
-- Each part joins pg_class itself rather than a shared list of oids: the planner
-- then sees real row counts and hashes, where an IN (CTE) list makes it loop.
--
-- building: indexes being built right now ("schema.index"), which are invalid
-- only because their build has not finished.
WITH ns AS (
    SELECT n.oid, n.xmin FROM pg_namespace AS n WHERE n.nspname = ANY(%(schemas)s::text[])
),
parts (position, part) AS (
    SELECT 1, count(*) || '/' || coalesce(sum(ns.xmin::text::bigint), 0) FROM ns
    UNION ALL
    SELECT 2, count(*) || '/' || coalesce(sum(c.xmin::text::bigint), 0)
    FROM pg_class AS c
    JOIN ns ON ns.oid = c.relnamespace
    UNION ALL
    SELECT 3, count(*) || '/' || coalesce(sum(a.xmin::text::bigint), 0)
    FROM pg_attribute AS a
    JOIN pg_class AS c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p')
    JOIN ns ON ns.oid = c.relnamespace
    WHERE a.attnum > 0
    UNION ALL
    SELECT 4, count(*) || '/' || coalesce(sum(i.xmin::text::bigint), 0)
        || '/' || count(*) FILTER (WHERE i.indisvalid AND i.indisready)
    FROM pg_index AS i
    JOIN pg_class AS c ON c.oid = i.indrelid
    JOIN ns ON ns.oid = c.relnamespace
    UNION ALL
    SELECT 5, count(*) || '/' || coalesce(sum(x.xmin::text::bigint), 0)
    FROM pg_constraint AS x
    JOIN pg_class AS c ON c.oid = x.conrelid
    JOIN ns ON ns.oid = c.relnamespace
    UNION ALL
    SELECT 6, count(*) || '/' || coalesce(sum(p.xmin::text::bigint), 0)
    FROM pg_policy AS p
    JOIN pg_class AS c ON c.oid = p.polrelid
    JOIN ns ON ns.oid = c.relnamespace
    UNION ALL
    -- With their functions: a renamed function changes how a trigger is described.
    SELECT 7, count(*) || '/' || coalesce(sum(t.xmin::text::bigint), 0)
        || '/' || coalesce(sum(f.xmin::text::bigint), 0)
    FROM pg_trigger AS t
    JOIN pg_class AS c ON c.oid = t.tgrelid
    JOIN ns ON ns.oid = c.relnamespace
    JOIN pg_proc AS f ON f.oid = t.tgfoid
    UNION ALL
    -- The security surface: functions, view queries, types (enum labels and domain
    -- constraints with them), sequences, default privileges, and the database-wide
    -- extensions, publications and event triggers.
    SELECT 9, count(*) || '/' || coalesce(sum(p.xmin::text::bigint), 0)
    FROM pg_proc AS p
    JOIN ns ON ns.oid = p.pronamespace
    UNION ALL
    SELECT 10, count(*) || '/' || coalesce(sum(r.xmin::text::bigint), 0)
    FROM pg_rewrite AS r
    JOIN pg_class AS c ON c.oid = r.ev_class
    JOIN ns ON ns.oid = c.relnamespace
    UNION ALL
    SELECT 11, count(*) || '/' || coalesce(sum(t.xmin::text::bigint), 0)
        || '/' || (SELECT count(*) || '/' || coalesce(sum(e.xmin::text::bigint), 0)
                   FROM pg_enum AS e JOIN pg_type AS et ON et.oid = e.enumtypid
                   JOIN ns ON ns.oid = et.typnamespace)
        || '/' || (SELECT count(*) || '/' || coalesce(sum(x.xmin::text::bigint), 0)
                   FROM pg_constraint AS x JOIN pg_type AS xt ON xt.oid = x.contypid
                   JOIN ns ON ns.oid = xt.typnamespace)
    FROM pg_type AS t
    JOIN ns ON ns.oid = t.typnamespace
    UNION ALL
    SELECT 12, count(*) || '/' || coalesce(sum(s.xmin::text::bigint), 0)
    FROM pg_sequence AS s
    JOIN pg_class AS c ON c.oid = s.seqrelid
    JOIN ns ON ns.oid = c.relnamespace
    UNION ALL
    SELECT 13, count(*) || '/' || coalesce(sum(d.xmin::text::bigint), 0)
    FROM pg_default_acl AS d
    UNION ALL
    SELECT 14, (SELECT count(*) || '/' || coalesce(sum(x.xmin::text::bigint), 0)
                FROM pg_extension AS x)
        || '/' || (SELECT count(*) || '/' || coalesce(sum(p.xmin::text::bigint), 0)
                   FROM pg_publication AS p)
        || '/' || (SELECT count(*) || '/' || coalesce(sum(r.xmin::text::bigint), 0)
                   FROM pg_publication_rel AS r)
        || '/' || (SELECT count(*) || '/' || coalesce(sum(e.xmin::text::bigint), 0)
                   FROM pg_event_trigger AS e)
    UNION ALL
    SELECT 8, coalesce(
        (SELECT c.xmin::text || '/' || s.n_tup_ins || '/' || s.n_tup_upd || '/' || s.n_tup_del
         FROM pg_class AS c
         JOIN pg_stat_all_tables AS s ON s.relid = c.oid
         JOIN pg_namespace AS n ON n.oid = c.relnamespace
         -- Not to_regclass(): it needs USAGE on the ledger's schema.
         CROSS JOIN (SELECT parse_ident(%(ledger)s::text, false) AS part) AS name
         WHERE n.nspname
               = CASE WHEN cardinality(name.part) > 1 THEN name.part[1] ELSE 'public' END
           AND c.relname = name.part[cardinality(name.part)]),
        'no ledger'
    )
)
SELECT
    (SELECT string_agg(part, ':' ORDER BY position) FROM parts) AS fingerprint,
    ARRAY(
        SELECT n.nspname || '.' || c.relname
        FROM pg_stat_progress_create_index AS p
        JOIN pg_class AS c ON c.oid = p.index_relid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE p.datname = current_database()
        ORDER BY 1
    ) AS building
