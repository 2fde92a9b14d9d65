-- Stand-in for Supabase Wrappers: each foreign data wrapper's handler, validator and
-- meta function by name, so CREATE FOREIGN DATA WRAPPER, SERVER and FOREIGN TABLE
-- run. The handler is never called: nothing is read from a foreign table here.
DO $standin$
DECLARE
  wrapper text;
BEGIN
  FOREACH wrapper IN ARRAY ARRAY['airtable', 'auth0', 'big_query', 'cal', 'calendly',
      'click_house', 'cognito', 'duckdb', 'firebase', 'hello_world', 'iceberg', 'logflare',
      'mssql', 'notion', 'paddle', 'redis', 's3', 'snowflake', 'stripe', 'wasm'] LOOP
    EXECUTE format('CREATE FUNCTION %s.%I() RETURNS fdw_handler LANGUAGE internal'
      ' STRICT AS %L', '@extschema@', wrapper || '_fdw_handler', 'fdw_handler_out');
    EXECUTE format('CREATE FUNCTION %s.%I(options text[], catalog oid) RETURNS void'
      ' LANGUAGE plpgsql AS %L', '@extschema@', wrapper || '_fdw_validator', 'BEGIN END');
    EXECUTE format('CREATE FUNCTION %s.%I() RETURNS TABLE (name text, version text,'
      ' author text, website text) LANGUAGE sql AS %L', '@extschema@',
      wrapper || '_fdw_meta', 'SELECT NULL::text, NULL::text, NULL::text, NULL::text');
  END LOOP;
END
$standin$;
