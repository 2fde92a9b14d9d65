-- Stand-in for pg_stat_statements: its view (always empty) and reset function.
CREATE FUNCTION @extschema@.pg_stat_statements_reset(
  userid oid DEFAULT 0, dbid oid DEFAULT 0, queryid bigint DEFAULT 0
) RETURNS void LANGUAGE sql AS 'SELECT NULL';
CREATE VIEW @extschema@.pg_stat_statements AS
  SELECT NULL::oid AS userid, NULL::oid AS dbid, NULL::boolean AS toplevel,
         NULL::bigint AS queryid, NULL::text AS query, NULL::bigint AS calls,
         NULL::double precision AS total_exec_time, NULL::double precision AS mean_exec_time,
         NULL::bigint AS rows
  WHERE false;
