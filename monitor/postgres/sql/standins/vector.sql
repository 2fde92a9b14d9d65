-- Stand-in for pgvector: the types vector and halfvec with their dimensions, the
-- distance operators and functions, and the hnsw and ivfflat index methods with
-- their operator classes. Values are kept as text; distances are not computed.
DO $standin$
DECLARE
  kind text;
  ops text;
BEGIN
  FOREACH kind IN ARRAY ARRAY['vector', 'halfvec', 'sparsevec'] LOOP
    EXECUTE format('CREATE TYPE @extschema@.%I', kind);
    EXECUTE format($$CREATE FUNCTION @extschema@.%I(cstring) RETURNS @extschema@.%I
      LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'textin'$$, kind || '_in', kind);
    EXECUTE format($$CREATE FUNCTION @extschema@.%I(@extschema@.%I) RETURNS cstring
      LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'textout'$$, kind || '_out', kind);
    EXECUTE format($$CREATE FUNCTION @extschema@.%I(cstring[]) RETURNS integer
      LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'varchartypmodin'$$,
      kind || '_typmod_in');
    EXECUTE format($$CREATE FUNCTION @extschema@.%I(integer) RETURNS cstring
      LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'varchartypmodout'$$,
      kind || '_typmod_out');
    EXECUTE format('CREATE TYPE @extschema@.%1$I (INPUT = @extschema@.%2$I,'
      ' OUTPUT = @extschema@.%3$I, TYPMOD_IN = @extschema@.%4$I, TYPMOD_OUT = @extschema@.%5$I,'
      ' INTERNALLENGTH = VARIABLE, STORAGE = extended)',
      kind, kind || '_in', kind || '_out', kind || '_typmod_in', kind || '_typmod_out');
    -- Comparison, for the index methods (which are hash underneath).
    EXECUTE format($$CREATE FUNCTION @extschema@.%1$I(@extschema@.%2$I)
      RETURNS integer LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'hashvarlena'$$,
      kind || '_hash', kind);
    EXECUTE format($$CREATE FUNCTION @extschema@.%1$I(@extschema@.%2$I, @extschema@.%2$I)
      RETURNS boolean LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'byteaeq'$$,
      kind || '_eq', kind);
    EXECUTE format($$CREATE FUNCTION @extschema@.%1$I(@extschema@.%2$I, @extschema@.%2$I)
      RETURNS boolean LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'bytealt'$$,
      kind || '_lt', kind);
    EXECUTE format($$CREATE FUNCTION @extschema@.%1$I(@extschema@.%2$I, @extschema@.%2$I)
      RETURNS boolean LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'byteale'$$,
      kind || '_le', kind);
    EXECUTE format($$CREATE FUNCTION @extschema@.%1$I(@extschema@.%2$I, @extschema@.%2$I)
      RETURNS boolean LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'byteagt'$$,
      kind || '_gt', kind);
    EXECUTE format($$CREATE FUNCTION @extschema@.%1$I(@extschema@.%2$I, @extschema@.%2$I)
      RETURNS boolean LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'byteage'$$,
      kind || '_ge', kind);
    EXECUTE format('CREATE OPERATOR @extschema@.= (LEFTARG = @extschema@.%1$I,'
      ' RIGHTARG = @extschema@.%1$I, FUNCTION = @extschema@.%2$I)', kind, kind || '_eq');
    EXECUTE format('CREATE OPERATOR @extschema@.< (LEFTARG = @extschema@.%1$I,'
      ' RIGHTARG = @extschema@.%1$I, FUNCTION = @extschema@.%2$I)', kind, kind || '_lt');
    EXECUTE format('CREATE OPERATOR @extschema@.<= (LEFTARG = @extschema@.%1$I,'
      ' RIGHTARG = @extschema@.%1$I, FUNCTION = @extschema@.%2$I)', kind, kind || '_le');
    EXECUTE format('CREATE OPERATOR @extschema@.> (LEFTARG = @extschema@.%1$I,'
      ' RIGHTARG = @extschema@.%1$I, FUNCTION = @extschema@.%2$I)', kind, kind || '_gt');
    EXECUTE format('CREATE OPERATOR @extschema@.>= (LEFTARG = @extschema@.%1$I,'
      ' RIGHTARG = @extschema@.%1$I, FUNCTION = @extschema@.%2$I)', kind, kind || '_ge');
    FOREACH ops IN ARRAY ARRAY['l2_distance', 'inner_product', 'negative_inner_product',
                               'cosine_distance', 'l1_distance'] LOOP
      EXECUTE format($$CREATE FUNCTION @extschema@.%I(@extschema@.%2$I, @extschema@.%2$I)
        RETURNS double precision LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS 'SELECT 0::double precision'$$, ops, kind);
    END LOOP;
    EXECUTE format('CREATE OPERATOR @extschema@.<-> (LEFTARG = @extschema@.%1$I,'
      ' RIGHTARG = @extschema@.%1$I, FUNCTION = @extschema@.l2_distance, COMMUTATOR = <->)', kind);
    EXECUTE format('CREATE OPERATOR @extschema@.<#> (LEFTARG = @extschema@.%1$I,'
      ' RIGHTARG = @extschema@.%1$I, FUNCTION = @extschema@.negative_inner_product,'
      ' COMMUTATOR = <#>)', kind);
    EXECUTE format('CREATE OPERATOR @extschema@.<=> (LEFTARG = @extschema@.%1$I,'
      ' RIGHTARG = @extschema@.%1$I, FUNCTION = @extschema@.cosine_distance,'
      ' COMMUTATOR = <=>)', kind);
    EXECUTE format('CREATE OPERATOR @extschema@.<+> (LEFTARG = @extschema@.%1$I,'
      ' RIGHTARG = @extschema@.%1$I, FUNCTION = @extschema@.l1_distance, COMMUTATOR = <+>)',
      kind);
    EXECUTE format($$CREATE FUNCTION @extschema@.vector_dims(@extschema@.%I) RETURNS integer
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT 0'$$, kind);
    EXECUTE format($$CREATE FUNCTION @extschema@.l2_norm(@extschema@.%I)
      RETURNS double precision LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
      AS 'SELECT 0::double precision'$$, kind);
    EXECUTE format($$CREATE FUNCTION @extschema@.l2_normalize(@extschema@.%1$I)
      RETURNS @extschema@.%1$I LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT $1'$$,
      kind);
    EXECUTE format('CREATE CAST (real[] AS @extschema@.%I) WITH INOUT AS ASSIGNMENT', kind);
    EXECUTE format('CREATE CAST (@extschema@.%I AS real[]) WITH INOUT AS ASSIGNMENT', kind);
  END LOOP;
  EXECUTE 'CREATE CAST (@extschema@.vector AS @extschema@.halfvec) WITH INOUT AS IMPLICIT';
  EXECUTE 'CREATE CAST (@extschema@.halfvec AS @extschema@.vector) WITH INOUT AS IMPLICIT';
  EXECUTE 'CREATE FUNCTION @extschema@.vector_norm(@extschema@.vector) RETURNS double precision'
    ' LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS ''SELECT 0::double precision''';
  EXECUTE 'CREATE FUNCTION @extschema@.binary_quantize(@extschema@.vector) RETURNS bit'
    ' LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $q$SELECT B''0''::bit$q$';
  EXECUTE 'CREATE FUNCTION @extschema@.subvector(@extschema@.vector, integer, integer)'
    ' RETURNS @extschema@.vector LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS ''SELECT $1''';
  -- The index methods, as pgvector names them; hash underneath.
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_am WHERE amname = 'hnsw') THEN
    CREATE ACCESS METHOD hnsw TYPE INDEX HANDLER pg_catalog.hashhandler;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_am WHERE amname = 'ivfflat') THEN
    CREATE ACCESS METHOD ivfflat TYPE INDEX HANDLER pg_catalog.hashhandler;
  END IF;
  FOREACH kind IN ARRAY ARRAY['vector', 'halfvec', 'sparsevec'] LOOP
    FOREACH ops IN ARRAY ARRAY['l2', 'ip', 'cosine', 'l1'] LOOP
      EXECUTE format('CREATE OPERATOR CLASS @extschema@.%1$I %2$s FOR TYPE @extschema@.%3$I'
        ' USING hnsw AS OPERATOR 1 @extschema@.=,'
        ' FUNCTION 1 @extschema@.%4$I(@extschema@.%3$I)',
        kind || '_' || ops || '_ops', CASE WHEN ops = 'l2' THEN 'DEFAULT' ELSE '' END,
        kind, kind || '_hash');
      EXECUTE format('CREATE OPERATOR CLASS @extschema@.%1$I %2$s FOR TYPE @extschema@.%3$I'
        ' USING ivfflat AS OPERATOR 1 @extschema@.=,'
        ' FUNCTION 1 @extschema@.%4$I(@extschema@.%3$I)',
        kind || '_' || ops || '_ops', CASE WHEN ops = 'l2' THEN 'DEFAULT' ELSE '' END,
        kind, kind || '_hash');
    END LOOP;
  END LOOP;
END
$standin$;
