-- What the snapshot must know before it reads anything else, in one round trip:
-- which of the asked schemas do not exist (and which schemas there are), where the migration ledger is (and
-- which deploy tool's shape it has), and
-- which objects sit behind an AccessExclusiveLock, granted or queued. Those are
-- left out of every later query: the server's deparse functions (pg_get_expr and
-- the like) open a table for an instant to read its column names, and on such a
-- table that instant would last until lock_timeout. pg_get_viewdef, and
-- pg_get_function_sqlbody for a BEGIN ATOMIC body, lock every relation the query
-- reads: a view or function that reads a locked relation is left out too.
WITH locked AS (
    -- A lock on an index (DROP INDEX, REINDEX) stands for a lock on its table.
    SELECT DISTINCT coalesce(i.indrelid, l.relation) AS oid
    FROM pg_locks AS l
    LEFT JOIN pg_index AS i ON i.indexrelid = l.relation
    WHERE l.locktype = 'relation'
      AND l.mode = 'AccessExclusiveLock'
      AND l.database = (SELECT d.oid FROM pg_database AS d WHERE d.datname = current_database())
),
ledger AS (
    -- Looked up in the catalogs, not with to_regclass(): that needs USAGE on the
    -- ledger's schema, and a role without it must still get its drift check.
    SELECT (
        SELECT c.oid
        FROM (SELECT parse_ident(%(ledger)s::text, false) AS part) AS name
        JOIN pg_namespace AS n
          ON n.nspname = CASE WHEN cardinality(name.part) > 1 THEN name.part[1] ELSE 'public' END
        JOIN pg_class AS c
          ON c.relnamespace = n.oid AND c.relname = name.part[cardinality(name.part)]
    ) AS oid
),
reads_locked AS (
    -- Views (through their rewrite rule) and functions that depend on a locked relation.
    SELECT DISTINCT d.classid, CASE d.classid
        WHEN 'pg_rewrite'::regclass THEN (SELECT r.ev_class FROM pg_rewrite AS r WHERE r.oid = d.objid)
        ELSE d.objid
    END AS oid
    FROM pg_depend AS d
    JOIN locked ON locked.oid = d.refobjid
    WHERE d.refclassid = 'pg_class'::regclass
      AND d.classid IN ('pg_rewrite'::regclass, 'pg_proc'::regclass)
),
skipped AS (
    SELECT c.oid, n.nspname, c.relname
    FROM pg_class AS c
    JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE ((n.nspname = ANY(%(schemas)s::text[]) AND c.relkind IN ('r', 'p', 'v', 'm'))
           OR c.oid = (SELECT ledger.oid FROM ledger))
      AND (c.oid IN (SELECT locked.oid FROM locked)
           OR c.oid IN (SELECT r.oid FROM reads_locked AS r WHERE r.classid = 'pg_rewrite'::regclass))
),
watched AS (
    SELECT c.oid
    FROM pg_class AS c
    JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY(%(schemas)s::text[]) AND c.relkind IN ('r', 'p', 'm')
),
skipped_functions AS (
    SELECT p.oid, n.nspname, p.proname, oidvectortypes(p.proargtypes) AS argument_types
    FROM reads_locked AS r
    JOIN pg_proc AS p ON p.oid = r.oid
    JOIN pg_namespace AS n ON n.oid = p.pronamespace
    WHERE r.classid = 'pg_proc'::regclass AND n.nspname = ANY(%(schemas)s::text[])
)
SELECT
    ARRAY(
        SELECT asked.name
        FROM unnest(%(schemas)s::text[]) WITH ORDINALITY AS asked (name, position)
        WHERE NOT EXISTS (SELECT FROM pg_namespace AS n WHERE n.nspname = asked.name)
        ORDER BY asked.position
    ) AS missing_schemas,
    ARRAY(SELECT skipped.oid FROM skipped) AS skipped_oids,
    ARRAY(SELECT skipped.nspname || '.' || skipped.relname FROM skipped) AS skipped_names,
    ARRAY(SELECT f.oid FROM skipped_functions AS f) AS skipped_functions,
    -- Spelled by the reader, its function names quoted (quote.signature).
    ARRAY(
        SELECT ARRAY[f.nspname, f.proname, f.argument_types] FROM skipped_functions AS f
    ) AS skipped_function_names,
    ARRAY(
        SELECT c.oid
        FROM pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY(%(schemas)s::text[]) AND c.relkind = 'm'
          AND c.oid NOT IN (SELECT skipped.oid FROM skipped)
    ) AS matviews,
    ln.nspname AS ledger_schema,
    lc.relname AS ledger_name,
    -- The ledger's one column that is read (`version`; Sqitch's `change`,
    -- postgres-migrations' `id`), and whether our role may read it: without the
    -- grant, only the ledger comparison is given up.
    ledger_columns.version IS NOT NULL AS ledger_has_version,
    coalesce(has_column_privilege(lc.oid, ledger_columns.version, 'SELECT'), false)
        AS ledger_may_read,
    -- Which deploy tool keeps it, by its columns: golang-migrate's flag of a
    -- migration that failed partway and Flyway's success are read where granted.
    CASE
        WHEN 'dirty' = ANY(ledger_columns.names)
             AND has_column_privilege(lc.oid, 'dirty', 'SELECT') THEN 'golang-migrate'
        WHEN ledger_columns.names @> ARRAY['installed_rank', 'success']::name[]
             AND has_column_privilege(lc.oid, 'success', 'SELECT') THEN 'flyway'
        WHEN ledger_columns.names @> ARRAY['change_id', 'change', 'project', 'committed_at']::name[]
             THEN 'sqitch'
        WHEN ledger_columns.names @> ARRAY['id', 'name', 'hash', 'executed_at']::name[]
             AND NOT 'version' = ANY(ledger_columns.names) THEN 'postgres-migrations'
        ELSE 'versions'
    END AS ledger_shape,
    -- How many objects of each kind the asked schemas hold: a kind over the cap is not
    -- read at all (catalog.Limits), rather than read into unbounded memory.
    json_build_object(
        'constraints', (
            SELECT count(*) FROM pg_constraint AS con
            WHERE con.conrelid IN (SELECT w.oid FROM watched AS w)
              AND con.contype IN ('p', 'u', 'f', 'c', 'x')
        ),
        'indexes', (
            SELECT count(*) FROM pg_index AS i WHERE i.indrelid IN (SELECT w.oid FROM watched AS w)
        ),
        'policies', (
            SELECT count(*) FROM pg_policy AS p WHERE p.polrelid IN (SELECT w.oid FROM watched AS w)
        ),
        'triggers', (
            SELECT count(*) FROM pg_trigger AS t
            WHERE t.tgrelid IN (SELECT w.oid FROM watched AS w) AND NOT t.tgisinternal
        ),
        'functions', (
            SELECT count(*) FROM pg_proc AS p
            JOIN pg_namespace AS n ON n.oid = p.pronamespace
            WHERE n.nspname = ANY(%(schemas)s::text[])
        ),
        'views', (
            SELECT count(*) FROM pg_class AS c
            JOIN pg_namespace AS n ON n.oid = c.relnamespace
            WHERE n.nspname = ANY(%(schemas)s::text[]) AND c.relkind IN ('v', 'm')
        )
    ) AS counts,
    -- Every schema but the server's own and those an extension made: what an
    -- unexpected or absent schema is told from.
    ARRAY(
        SELECT n.nspname::text
        FROM pg_namespace AS n
        WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
          AND NOT EXISTS (
              SELECT FROM pg_depend AS d
              WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e'
          )
        ORDER BY n.nspname COLLATE "C"
    ) AS database_schemas
FROM ledger
CROSS JOIN LATERAL (
    SELECT names, CASE
        WHEN 'version' = ANY(names) THEN 'version'
        WHEN names @> ARRAY['change_id', 'change', 'project', 'committed_at']::name[]
            THEN 'change'
        WHEN names @> ARRAY['id', 'name', 'hash', 'executed_at']::name[] THEN 'id'
    END AS version
    FROM (
        SELECT ARRAY(
            SELECT a.attname FROM pg_attribute AS a
            WHERE a.attrelid = ledger.oid AND a.attnum > 0 AND NOT a.attisdropped
        ) AS names
    ) AS columns
) AS ledger_columns
LEFT JOIN pg_class AS lc ON lc.oid = ledger.oid
LEFT JOIN pg_namespace AS ln ON ln.oid = lc.relnamespace
