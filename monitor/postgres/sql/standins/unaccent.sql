-- Stand-in for unaccent: its functions (returning the text as given) and dictionary.
CREATE TEXT SEARCH DICTIONARY @extschema@.unaccent (TEMPLATE = pg_catalog.simple);
CREATE FUNCTION @extschema@.unaccent(text) RETURNS text LANGUAGE sql STABLE STRICT
  AS $$ SELECT $1 $$;
CREATE FUNCTION @extschema@.unaccent(regdictionary, text) RETURNS text LANGUAGE sql STABLE STRICT
  AS $$ SELECT $2 $$;
