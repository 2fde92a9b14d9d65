-- Stand-in for pg_trgm: its functions and operators (no trigram index classes:
-- gin_trgm_ops and gist_trgm_ops need the real extension).
CREATE FUNCTION @extschema@.similarity(text, text) RETURNS real LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT 0::real $$;
CREATE FUNCTION @extschema@.word_similarity(text, text) RETURNS real LANGUAGE sql IMMUTABLE
  STRICT AS $$ SELECT 0::real $$;
CREATE FUNCTION @extschema@.strict_word_similarity(text, text) RETURNS real LANGUAGE sql
  IMMUTABLE STRICT AS $$ SELECT 0::real $$;
CREATE FUNCTION @extschema@.show_trgm(text) RETURNS text[] LANGUAGE sql IMMUTABLE STRICT
  AS $$ SELECT '{}'::text[] $$;
CREATE FUNCTION @extschema@.show_limit() RETURNS real LANGUAGE sql STABLE AS $$ SELECT 0.3::real $$;
CREATE FUNCTION @extschema@.similarity_op(text, text) RETURNS boolean LANGUAGE sql STABLE STRICT
  AS $$ SELECT false $$;
CREATE FUNCTION @extschema@.similarity_dist(text, text) RETURNS real LANGUAGE sql IMMUTABLE
  STRICT AS $$ SELECT 1::real $$;
CREATE OPERATOR @extschema@.% (LEFTARG = text, RIGHTARG = text,
  FUNCTION = @extschema@.similarity_op, COMMUTATOR = %);
CREATE OPERATOR @extschema@.<-> (LEFTARG = text, RIGHTARG = text,
  FUNCTION = @extschema@.similarity_dist, COMMUTATOR = <->);
